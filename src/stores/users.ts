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
  /** An admin deactivated the account: it cannot log in (its logins ended then). */
  readonly deactivated: boolean;
}

/** An account as the admin page lists it. */
export interface Account {
  readonly id: string;
  readonly username: string;
  readonly createdAt: number;
  readonly deactivated: boolean;
  /** Made an admin in parley (the first account, or promoted); ADMIN_USERNAMES is apart. */
  readonly admin: boolean;
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

/** Registration needed an empty database (no invite, or closed) and it was not empty. */
export class NotFirstAccountError extends Error {
  constructor() {
    super("registration is not open and this is not the first account");
    this.name = "NotFirstAccountError";
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
// ("" none), what becomes of the account ("" nothing, "deactivated", "deleted").
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
if ARGV[5] == 'deactivated' then
  redis.call('HSET', KEYS[2], 'deactivated', '1')
elseif ARGV[5] == 'deleted' then
  redis.call('HDEL', KEYS[2], 'username', 'hash', 'deactivated', 'pending')
  redis.call('HSET', KEYS[2], 'deleted', '1')
end
redis.call('HSET', KEYS[2], 'generationReason', ARGV[2])
return n
`;

// A user is created in four fenced steps, because the name's key, the user's record and the
// list of accounts lie in different hash slots on a cluster: first the record, marked
// pending (under a fresh id, so it cannot collide); then the name, claimed with SET NX; then
// the account is enrolled in the list (the first one on an empty database becomes an admin,
// and a registration that needed an empty database is refused here if it is not); last, the
// pending mark goes. A pending account cannot log in, so one left half-made by a failure is
// harmless, and its name is taken back after a minute (RECLAIM_NAME).

// KEYS: the user's hash. ARGV: deadline, id, username, hash, createdAt.
const WRITE_USER = `${FENCE}
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'username', ARGV[3], 'hash', ARGV[4], 'createdAt', ARGV[5], 'pending', '1')
return 1
`;

// KEYS: the list of accounts, the admins. ARGV: deadline, id, createdAt, "1" if only the first
// account may enroll. Returns 0 refused, 1 enrolled, 2 enrolled as the first account (admin).
const ENROLL = `${FENCE}
local first = redis.call('ZCARD', KEYS[1]) == 0
if ARGV[4] == '1' and not first then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
if first then
  redis.call('SADD', KEYS[2], ARGV[2])
  return 2
end
return 1
`;

// KEYS: the user's hash. ARGV: deadline.
const ACTIVATE = `${FENCE}
return redis.call('HDEL', KEYS[1], 'pending')
`;

// KEYS: the name's key. ARGV: deadline, id. Frees a name only while it leads to `id`.
const FREE_NAME = `${FENCE}
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
return redis.call('DEL', KEYS[1])
`;

// KEYS: the list of accounts, the admins, the deleted. ARGV: deadline, id.
const DELIST = `${FENCE}
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
`;

// KEYS: the user's hash. ARGV: deadline, "1" to deactivate, "0" to reactivate.
// Reactivating only lifts the mark: the logins that deactivation ended stay ended.
const SET_ACTIVE = `${FENCE}
if redis.call('HEXISTS', KEYS[1], 'hash') == 0 then return 0 end
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'deactivated', '1')
else redis.call('HDEL', KEYS[1], 'deactivated') end
return 1
`;

// KEYS: the admins, the list of accounts. ARGV: deadline, id, "1" to promote, "0" to demote.
// Returns 1 done, 0 not an account, -1 refused: the last admin is never demoted.
const SET_ADMIN = `${FENCE}
if redis.call('ZSCORE', KEYS[2], ARGV[2]) == false then return 0 end
if ARGV[3] == '1' then
  redis.call('SADD', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 1 and redis.call('SCARD', KEYS[1]) <= 1 then
  return -1
end
redis.call('SREM', KEYS[1], ARGV[2])
return 1
`;

/** How long a half-made (pending) account holds its name before another may take it. */
const PENDING_HOLD_MS = 60_000;

// KEYS: the name's key. ARGV: deadline, id.
const CLAIM_NAME = `${FENCE}
if redis.call('SET', KEYS[1], ARGV[2], 'NX') == false then return 0 end
return 1
`;

// KEYS: the name's key. ARGV: deadline, id, the id the name leads to now.
// Takes a name over only from a user whose record does not exist, or was left half-made
// (pending) over a minute ago: on a cluster, a failover can lose a record written just before
// it while its name survives, and a failure between the steps leaves a pending account; the
// name is not lost for good.
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

  /**
   * Creates an account. `onlyIfFirst`: refused (NotFirstAccountError) unless the database has
   * no account yet (registration without an invite while it needs one). The first account
   * is an admin (`admin` in the result).
   */
  async create(
    username: string,
    hash: string,
    now: number,
    onlyIfFirst = false,
  ): Promise<UserCredentials & { admin: boolean }> {
    const id = randomUUID();
    await fencedEval(this.redis, WRITE_USER, [keys.user(id)], [id, username, hash, String(now)]);
    let claimed = await fencedEval(this.redis, CLAIM_NAME, [keys.username(username)], [id]);
    if (Number(claimed) !== 1) {
      // Taken: by a user who exists, or by a record a failover lost, or one left half-made.
      const holder = await this.redis.get(keys.username(username));
      if (holder && (await this.abandoned(holder, now))) {
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
    const enrolled = Number(
      await fencedEval(
        this.redis,
        ENROLL,
        [keys.users, keys.admins],
        [id, String(now), onlyIfFirst ? "1" : "0"],
      ),
    );
    if (enrolled === 0) {
      await fencedEval(this.redis, FREE_NAME, [keys.username(username)], [id]).catch(
        () => undefined,
      );
      await fencedEval(this.redis, DROP_USER, [keys.user(id)], []).catch(() => undefined);
      throw new NotFirstAccountError();
    }
    await fencedEval(this.redis, ACTIVATE, [keys.user(id)], []);
    return {
      id,
      username,
      hash,
      createdAt: now,
      deactivated: false,
      generation: 0,
      admin: enrolled === 2,
    };
  }

  /** Whether the account a name leads to is gone, or was left half-made over a minute ago. */
  private async abandoned(id: string, now: number): Promise<boolean> {
    const [pending, createdAt] = await this.redis.hmGet(keys.user(id), ["pending", "createdAt"]);
    if (createdAt === null || createdAt === undefined) return true;
    return pending === "1" && now - Number(createdAt) > PENDING_HOLD_MS;
  }

  /** A complete account (not pending, not deleted), with its generation read atomically. */
  async byId(id: string): Promise<UserCredentials | undefined> {
    const [h, gen] = (await this.redis
      .multi()
      .hGetAll(keys.user(id))
      .get(keys.userGeneration(id))
      .exec()) as unknown as [Record<string, string>, string | null];
    if (!h?.id || !h.username || !h.hash || h.pending === "1") return undefined;
    return {
      id: h.id,
      username: h.username,
      hash: h.hash,
      createdAt: Number(h.createdAt),
      deactivated: h.deactivated === "1",
      generation: parseGeneration(gen).n,
    };
  }

  async byUsername(username: string): Promise<UserCredentials | undefined> {
    const id = await this.redis.get(keys.username(username));
    return id ? this.byId(id) : undefined;
  }

  /** Accounts, newest first: `count` from `offset`, and how many there are in all. */
  async list(offset: number, count: number): Promise<{ accounts: Account[]; total: number }> {
    const [ids, total, admins] = await Promise.all([
      this.redis.zRange(keys.users, offset, offset + count - 1, { REV: true }),
      this.redis.zCard(keys.users),
      this.redis.sMembers(keys.admins),
    ]);
    const adminSet = new Set(admins);
    const records = await Promise.all(ids.map((id) => this.redis.hGetAll(keys.user(id))));
    const accounts: Account[] = [];
    records.forEach((h, i) => {
      const id = ids[i] as string;
      if (!h.username) return;
      accounts.push({
        id,
        username: h.username,
        createdAt: Number(h.createdAt),
        deactivated: h.deactivated === "1",
        admin: adminSet.has(id),
      });
    });
    return { accounts, total };
  }

  /** Whether the account was made an admin in parley (see also ADMIN_USERNAMES). */
  async isAdmin(id: string): Promise<boolean> {
    return (await this.redis.sIsMember(keys.admins, id)) === 1;
  }

  /** How many accounts are admins in parley (ADMIN_USERNAMES aside). */
  async adminCount(): Promise<number> {
    return this.redis.sCard(keys.admins);
  }

  /** How many accounts exist (0: the next registration makes the first admin). */
  async count(): Promise<number> {
    return this.redis.zCard(keys.users);
  }

  /** Promotes or demotes an admin. "last": the only admin is never demoted. */
  async setAdmin(id: string, admin: boolean): Promise<"done" | "not_found" | "last"> {
    const r = Number(
      await fencedEval(this.redis, SET_ADMIN, [keys.admins, keys.users], [id, admin ? "1" : "0"]),
    );
    return r === 1 ? "done" : r === 0 ? "not_found" : "last";
  }

  /**
   * Lifts a deactivation (false if there is no such account). Deactivating goes through
   * changeCredentials (status "deactivated"), so that the account's logins end with it.
   */
  async reactivate(id: string): Promise<boolean> {
    return Number(await fencedEval(this.redis, SET_ACTIVE, [keys.user(id)], ["0"])) === 1;
  }

  /**
   * The rest of deleting an account, once changeCredentials (status "deleted") has ended its
   * logins and emptied its record: its name is freed and it leaves the list of accounts.
   */
  async forget(id: string, username: string): Promise<void> {
    await fencedEval(this.redis, FREE_NAME, [keys.username(username)], [id]);
    await fencedEval(this.redis, DELIST, [keys.users, keys.admins, keys.deletedUsers], [id]);
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
    o: {
      reason: string;
      hash?: string;
      keepHandle?: string;
      /** Deactivates or deletes the account in the same step. */
      status?: "deactivated" | "deleted";
    },
  ): Promise<number> {
    const reply = await fencedEval(
      this.redis,
      CHANGE_CREDENTIALS,
      [keys.userGeneration(id), keys.user(id)],
      [o.reason, o.hash ?? "", o.keepHandle ?? "", o.status ?? ""],
    );
    return Number(reply);
  }
}
