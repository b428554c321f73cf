// Users in Redis: a hash per user and a lower-cased name -> id key whose SET NX makes two
// concurrent registrations of one name impossible to both succeed. Each user also has a
// credentials generation (a counter in its own string key, so the per-event check can MGET it
// beside the session): the hash and the generation are always read together atomically, and
// changed together in one script, so a login can never pair an old password with a new
// generation.
import { randomUUID } from "node:crypto";
import { FENCE, fencedEval, type Redis } from "../redis.js";
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

/**
 * A user's credentials generation as stored: "<n>", or "<n>:<handle>" where <handle> is the
 * login that made the last change and was carried over to generation n. Absent means 0.
 */
export interface Generation {
  readonly n: number;
  readonly kept: string | undefined;
  /** False for a value parley never writes: then no login is current (fail closed). */
  readonly valid: boolean;
}

const GENERATION_RE = /^(\d{1,15})(?::([A-Za-z0-9_-]{1,64}))?$/;

export function parseGeneration(raw: string | null | undefined): Generation {
  if (raw === null || raw === undefined) return { n: 0, kept: undefined, valid: true };
  const m = GENERATION_RE.exec(raw);
  if (!m) return { n: 0, kept: undefined, valid: false };
  return { n: Number(m[1]), kept: m[2], valid: true };
}

/**
 * Whether a login is current: made under the user's generation, or the login that made the
 * last change (carried over by its handle, so no stale copy of its record saved by a request
 * that raced the change can lose that).
 */
export function loginIsCurrent(
  login: { gen?: number | undefined; handle?: string | undefined },
  g: Generation,
): boolean {
  if (!g.valid) return false;
  return (login.gen ?? 0) === g.n || (g.kept !== undefined && login.handle === g.kept);
}

// KEYS: generation, user hash. ARGV: deadline, reason, new hash ("" keeps it), carried handle
// ("" none).
// Moves the generation on, optionally sets the hash, and names the login carried over, all
// at once: no instant exists where the changer's own login is stale, nor one where another
// login made with the old password looks current. Removing an account must also go through
// here: deleting the generation key would make generation-0 logins current again.
const CHANGE_CREDENTIALS = `${FENCE}
local cur = redis.call('GET', KEYS[1])
local n = 0
if cur then n = tonumber(string.match(cur, '^(%d+)')) or 0 end
n = n + 1
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[1], n .. ':' .. ARGV[4])
else
  redis.call('SET', KEYS[1], tostring(n))
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'hash', ARGV[3]) end
redis.call('HSET', KEYS[2], 'generationReason', ARGV[2])
return n
`;

// A user is created in two fenced steps, because the name's key and the user's record lie in
// different hash slots on a cluster: first the record (under a fresh id, so it cannot
// collide), then the name, claimed with SET NX. So there is never a name without its user.
// A record whose name was taken is deleted; one whose claim failed on the way stays behind,
// unreachable (no name leads to it), and harmless.

// KEYS: the user's hash. ARGV: deadline, id, username, hash, createdAt.
const WRITE_USER = `${FENCE}
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'username', ARGV[3], 'hash', ARGV[4], 'createdAt', ARGV[5])
return 1
`;

// KEYS: the name's key. ARGV: deadline, id.
const CLAIM_NAME = `${FENCE}
if redis.call('SET', KEYS[1], ARGV[2], 'NX') == false then return 0 end
return 1
`;

// KEYS: the name's key. ARGV: deadline, id, the id the name leads to now.
// Takes a name over only from a user whose record does not exist: on a cluster, a failover
// can lose a record written just before it while its name survives; the name is not lost
// for good.
const RECLAIM_NAME = `${FENCE}
if redis.call('GET', KEYS[1]) ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;

// KEYS: the user's hash. ARGV: deadline.
const DROP_USER = `${FENCE}
return redis.call('DEL', KEYS[1])
`;

export class UserStore {
  constructor(private readonly redis: Redis) {}

  async create(username: string, hash: string, now: number): Promise<UserCredentials> {
    const id = randomUUID();
    await fencedEval(this.redis, WRITE_USER, [keys.user(id)], [id, username, hash, String(now)]);
    let claimed = await fencedEval(this.redis, CLAIM_NAME, [keys.username(username)], [id]);
    if (Number(claimed) !== 1) {
      // Taken: by a user who exists, or by a record a failover lost (see RECLAIM_NAME).
      const holder = await this.redis.get(keys.username(username));
      if (holder && (await this.redis.exists(keys.user(holder))) === 0) {
        claimed = await fencedEval(
          this.redis,
          RECLAIM_NAME,
          [keys.username(username)],
          [id, holder],
        );
      }
    }
    if (Number(claimed) !== 1) {
      await fencedEval(this.redis, DROP_USER, [keys.user(id)], []).catch(() => undefined);
      throw new UsernameTakenError();
    }
    return { id, username, hash, createdAt: now, generation: 0 };
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
      generation: parseGeneration(gen).n,
    };
  }

  async byUsername(username: string): Promise<UserCredentials | undefined> {
    const id = await this.redis.get(keys.username(username));
    return id ? this.byId(id) : undefined;
  }

  async generation(id: string): Promise<Generation> {
    return parseGeneration(await this.redis.get(keys.userGeneration(id)));
  }

  /** Why the credentials last changed (the reason given to changeCredentials). */
  async generationReason(id: string): Promise<string | undefined> {
    return (await this.redis.hGet(keys.user(id), "generationReason")) ?? undefined;
  }

  /**
   * Starts a new credentials generation (optionally with a new password hash): every login
   * made under an earlier one is refused from now on, except the one with handle
   * `keepHandle`, which is carried over. Returns the new generation.
   */
  async changeCredentials(
    id: string,
    o: { reason: string; hash?: string; keepHandle?: string },
  ): Promise<number> {
    const reply = await fencedEval(
      this.redis,
      CHANGE_CREDENTIALS,
      [keys.userGeneration(id), keys.user(id)],
      [o.reason, o.hash ?? "", o.keepHandle ?? ""],
    );
    return Number(reply);
  }
}
