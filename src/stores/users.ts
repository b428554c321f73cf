// Users in Redis: a hash per user and a lower-cased name -> id key whose SET NX makes two
// concurrent registrations of one name impossible to both succeed. Each user also has a
// credentials generation (a counter in its own string key, so the per-event check can MGET it
// beside the session): the hash and the generation are always read together atomically, and
// changed together in one script, so a login can never pair an old password with a new
// generation.
import { randomUUID } from "node:crypto";
import type { Redis } from "../redis.js";
import { keys } from "./keys.js";

export interface User {
  readonly id: string;
  readonly username: string;
  readonly hash: string;
  readonly createdAt: number;
}

/** A user as read at one instant, with the generation of the credentials read. */
export interface UserCredentials extends User {
  readonly generation: number;
}

export class UsernameTakenError extends Error {
  constructor() {
    super("username taken");
    this.name = "UsernameTakenError";
  }
}

/** Parses a stored generation (absent = 0). */
export function parseGeneration(raw: string | null | undefined): number {
  const n = raw ? Number(raw) : 0;
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

// KEYS: generation, user hash, [the session carried over]. ARGV: reason, new hash ("" keeps).
// Bumps the generation, optionally sets the hash, and re-stamps the carried-over session with
// the new generation, all at once: no instant exists where the changer's own login is stale,
// nor one where another login made with the old password looks current.
const CHANGE_CREDENTIALS = `
local g = redis.call('INCR', KEYS[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], 'hash', ARGV[2]) end
redis.call('HSET', KEYS[2], 'generationReason', ARGV[1])
if KEYS[3] then
  local raw = redis.call('GET', KEYS[3])
  if raw then
    local ok, s = pcall(cjson.decode, raw)
    if ok and type(s) == 'table' and type(s.login) == 'table' then
      s.login.gen = g
      redis.call('SET', KEYS[3], cjson.encode(s), 'KEEPTTL')
    end
  end
end
return g
`;

export class UserStore {
  constructor(private readonly redis: Redis) {}

  async create(username: string, hash: string, now: number): Promise<UserCredentials> {
    const id = randomUUID();
    const claimed = await this.redis.set(keys.username(username), id, { condition: "NX" });
    if (claimed !== "OK") throw new UsernameTakenError();
    const user: User = { id, username, hash, createdAt: now };
    await this.redis.hSet(keys.user(id), {
      id,
      username,
      hash,
      createdAt: String(now),
    });
    return { ...user, generation: 0 };
  }

  async byId(id: string): Promise<UserCredentials | undefined> {
    const [h, gen] = (await this.redis
      .multi()
      .hGetAll(keys.user(id))
      .get(keys.userGeneration(id))
      .exec()) as unknown as [Record<string, string>, string | null];
    if (!h?.id || !h.username || !h.hash) return undefined;
    return {
      id: h.id,
      username: h.username,
      hash: h.hash,
      createdAt: Number(h.createdAt),
      generation: parseGeneration(gen),
    };
  }

  async byUsername(username: string): Promise<UserCredentials | undefined> {
    const id = await this.redis.get(keys.username(username));
    return id ? this.byId(id) : undefined;
  }

  async generation(id: string): Promise<number> {
    return parseGeneration(await this.redis.get(keys.userGeneration(id)));
  }

  /** Why the credentials last changed (the reason given to changeCredentials). */
  async generationReason(id: string): Promise<string | undefined> {
    return (await this.redis.hGet(keys.user(id), "generationReason")) ?? undefined;
  }

  /**
   * Starts a new credentials generation (optionally with a new password hash): every login
   * made under an earlier one is refused from now on, except `keepSessionKey`'s, which is
   * carried over. Returns the new generation.
   */
  async changeCredentials(
    id: string,
    o: { reason: string; hash?: string; keepSessionKey?: string },
  ): Promise<number> {
    const reply = await this.redis.eval(CHANGE_CREDENTIALS, {
      keys: [
        keys.userGeneration(id),
        keys.user(id),
        ...(o.keepSessionKey ? [o.keepSessionKey] : []),
      ],
      arguments: [o.reason, o.hash ?? ""],
    });
    return Number(reply);
  }
}
