// Accounts and logins made directly in Redis, for tests at the scale of an attack (hundreds of
// accounts): no argon2 hash to compute and no form to post, so 400 logins take a moment. Each
// is a real account record (made by parley's own AccountStore, with a hash that matches no
// password) and a session record shaped as parley's login writes it, with its cookie signed by
// the test secret. Everything after that (handshakes, event checks) is parley's own path.
import { randomBytes } from "node:crypto";
import { AccountStore } from "../../src/stores/accounts.js";
import { keys } from "../../src/stores/keys.js";
import { SessionIndex } from "../../src/stores/session-index.js";
import { signSid } from "../../tools/session-cookie.js";
import { Browser } from "./http.js";
import { TEST_SECRET, uniqueName } from "./parley.js";
import type { TestRedis } from "./redis.js";

export interface Minted {
  id: string;
  username: string;
  sid: string;
  /** A Browser holding the login's cookie, for connect() and pages. */
  browser: Browser;
}

/** An argon2id hash of nothing anyone types: these accounts are never logged in by password. */
const NO_PASSWORD = "$argon2id$v=19$m=19456,t=2,p=1$bm9wYXNzd29yZA$bm9wYXNzd29yZG5vcGFzc3dvcmQ";

/** A login record for `userId`, as parley stores it, under a new session id. */
export async function mintLogin(
  redis: TestRedis,
  url: string,
  user: { id: string; username: string },
  generation = 0,
  now = Date.now(),
): Promise<Minted> {
  const sid = randomBytes(24).toString("base64url");
  const handle = randomBytes(16).toString("base64url");
  const record = {
    cookie: { originalMaxAge: 43_200_000, httpOnly: true, path: "/", sameSite: "lax" },
    passport: { user: user.id },
    login: {
      handle,
      createdAt: now,
      lastActive: now,
      ip: "127.0.0.1",
      userAgent: "minted",
      gen: generation,
    },
  };
  await redis.set(keys.session(sid), JSON.stringify(record), { EX: 1800 });
  await new SessionIndex(redis as never, 43_200).add(user.id, handle, sid);
  const browser = new Browser(url);
  browser.cookies.set("parley.sid", signSid(sid, TEST_SECRET));
  return { ...user, sid, browser };
}

/** `n` new accounts, each logged in once; `prefix` starts their names. */
export function mintAccounts(
  redis: TestRedis,
  url: string,
  n: number,
  prefix = "m",
): Promise<Minted[]> {
  return mintNamed(
    redis,
    url,
    Array.from({ length: n }, () => uniqueName(prefix)),
  );
}

/** New accounts of these names, each logged in once. */
export async function mintNamed(
  redis: TestRedis,
  url: string,
  names: readonly string[],
): Promise<Minted[]> {
  const users = new AccountStore(redis as never);
  const out: Minted[] = [];
  for (let i = 0; i < names.length; i += 50) {
    const batch = await Promise.all(
      names.slice(i, i + 50).map(async (name) => {
        const u = await users.registrations.create(name, NO_PASSWORD, Date.now());
        return mintLogin(redis, url, { id: u.id, username: u.username }, u.generation);
      }),
    );
    out.push(...batch);
  }
  return out;
}
