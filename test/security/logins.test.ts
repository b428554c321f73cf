// Races around logins: guesses sent all at once, logins in flight while the password changes
// or other logins are ended, and a login made over another one. Check-then-act let each of
// these through once.
import { expect } from "chai";
import { parseGeneration } from "../../src/domain/generation.js";
import { keys } from "../../src/stores/keys.js";
import { Browser, sidFromCookie } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { redisClient, type TestRedis } from "../helpers/redis.js";
import { type ClientSocket, connect, once } from "../helpers/socket.js";

const NEW_PASSWORD = "a brand new passphrase";

let address = 0;
/** A browser coming from its own address (parley trusts one proxy hop in these tests). */
function from(parley: TestParley, ip = `198.51.100.${++address}`): Browser {
  return new Browser(parley.url, { "x-forwarded-for": ip });
}

/** Whether this browser's login still works: for a page, and for a socket. */
async function stillLoggedIn(parley: TestParley, b: Browser): Promise<boolean> {
  const page = await b.get("/chat");
  let socket: ClientSocket | undefined;
  try {
    socket = await connect(parley.url, b);
  } catch {
    socket = undefined;
  }
  socket?.close();
  return page.status === 200 || socket !== undefined;
}

describe("login races", function () {
  this.timeout(60_000);
  let parley: TestParley;
  let redis: TestRedis;
  before(async () => {
    parley = await startParley({ env: { TRUST_PROXY: "1" } });
    redis = await redisClient();
  });
  after(async () => {
    await redis?.close();
    await parley?.close();
  });

  it("verifies at most 5 of 30 parallel guesses for one user, however they are timed", async () => {
    const name = uniqueName("race");
    await from(parley).register(name, PASSWORD);
    const b = from(parley);
    const _csrf = await b.csrf("/login");
    const guesses = Array.from({ length: 30 }, (_, i) =>
      i === 29 ? PASSWORD : `wrong guess ${i}`,
    );
    const replies = await Promise.all(
      guesses.map((password) => b.post("/login", { username: name, password, _csrf })),
    );
    const verified = replies.filter((r) => r.status === 401 || r.status === 303);
    const locked = replies.filter((r) => r.status === 429);
    expect(verified.length).to.be.at.most(5);
    expect(verified.length + locked.length).to.equal(30);
    for (const r of locked) expect(Number(r.headers.get("retry-after"))).to.be.within(1, 900);
  });

  it("verifies at most 100 of 150 parallel failures from one address", async () => {
    const b = from(parley);
    const _csrf = await b.csrf("/login");
    const replies = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        b.post("/login", { username: uniqueName(`nobody${i}`), password: "wrong guess", _csrf }),
      ),
    );
    const verified = replies.filter((r) => r.status === 401).length;
    expect(verified).to.be.at.most(100);
    expect(replies.filter((r) => r.status === 429).length).to.equal(150 - verified);
  });

  it("gives the address its point back on a success: only failures count", async () => {
    const name = uniqueName("ok");
    const ip = `198.51.100.${++address}`;
    await from(parley, ip).register(name, PASSWORD);
    for (let i = 0; i < 8; i++) {
      expect((await from(parley, ip).login(name, PASSWORD)).status).to.equal(303);
    }
  });

  it("ends every login that raced a password change, and keeps the changer's", async () => {
    const name = uniqueName("pw");
    const changer = from(parley);
    await changer.register(name, PASSWORD);
    const changerSocket = await connect(parley.url, changer);
    try {
      // Eight logins with the old password, each from its own address, in flight while the
      // password changes.
      const racers = Array.from({ length: 8 }, () => from(parley));
      const tokens = await Promise.all(racers.map((r) => r.csrf("/login")));
      const accountCsrf = await changer.csrf("/account");
      const logins = racers.map((r, i) =>
        r.post("/login", { username: name, password: PASSWORD, _csrf: tokens[i] as string }),
      );
      const change = changer.post("/account/password", {
        current: PASSWORD,
        password: NEW_PASSWORD,
        _csrf: accountCsrf,
      });
      const [changed, ...results] = await Promise.all([change, ...logins]);
      expect(changed.status).to.equal(303);
      const loggedIn = racers.filter((_, i) => results[i]?.status === 303);
      for (const r of loggedIn) expect(await stillLoggedIn(parley, r)).to.equal(false);
      // The changer's login and socket are carried over to the new credentials.
      expect((await changer.get("/chat")).status).to.equal(200);
      expect(changerSocket.connected).to.equal(true);
      expect(await stillLoggedIn(parley, changer)).to.equal(true);
      // And the new password works.
      expect((await from(parley).login(name, NEW_PASSWORD)).status).to.equal(303);
    } finally {
      changerSocket.close();
    }
  });

  it("ends every login that raced “end all other logins”", async () => {
    const name = uniqueName("ro");
    const keeper = from(parley);
    await keeper.register(name, PASSWORD);
    const racers = Array.from({ length: 6 }, () => from(parley));
    const tokens = await Promise.all(racers.map((r) => r.csrf("/login")));
    const csrf = await keeper.csrf("/sessions");
    const logins = racers.map((r, i) =>
      r.post("/login", { username: name, password: PASSWORD, _csrf: tokens[i] as string }),
    );
    // A fixed head start, deliberately: the logins are to be under way (not all done, not
    // all still to come) when the revoke runs; both orders are correct, the race is the case.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [ended] = await Promise.all([
      keeper.post("/sessions/revoke-others", { _csrf: csrf }),
      ...logins,
    ]);
    expect(ended.status).to.equal(303);
    // A racer is logged in afterwards only if its login read the new generation; one made
    // under the old generation (before or during the call) is over, even if its record
    // was written after the call listed the user's logins.
    const userId = await redis.get(keys.username(name));
    const current = parseGeneration(await redis.get(keys.userGeneration(userId ?? ""))).n;
    expect(current).to.be.greaterThan(0);
    for (const r of racers) {
      const sid = sidFromCookie(r.cookies.get("parley.sid"));
      const raw = sid ? await redis.get(keys.session(sid)) : null;
      const gen = raw ? ((JSON.parse(raw) as { login?: { gen?: number } }).login?.gen ?? 0) : -1;
      expect(await stillLoggedIn(parley, r), `login of generation ${gen}`).to.equal(
        gen === current,
      );
    }
    expect(await stillLoggedIn(parley, keeper)).to.equal(true);
  });

  it("a login over another login ends the old one like a logout, sockets included", async () => {
    const b = from(parley);
    await b.register(uniqueName("first"), PASSWORD);
    const second = uniqueName("second");
    await from(parley).register(second, PASSWORD);
    const oldSocket = await connect(parley.url, b);
    try {
      const revoked = once<{ reason: string }>(oldSocket, "session:revoked", 1000);
      const gone = once(oldSocket, "disconnect", 1000);
      // The login form is not shown to a logged-in user: post it with this session's token.
      const _csrf = await b.csrf("/account");
      const r = await b.post("/login", { username: second, password: PASSWORD, _csrf });
      expect(r.status).to.equal(303);
      expect((await revoked).reason).to.equal("logout");
      await gone;
    } finally {
      oldSocket.close();
    }
  });
});
