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
// ("" none), what becomes of the account ("" nothing, "deactivated", "deleted"), and for
// "deactivated" the status epoch the list gave it (an older epoch than the record's does not
// mark it: a reactivation decided later in the list has already been written).
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
  if tonumber(ARGV[6]) > (tonumber(redis.call('HGET', KEYS[2], 'statusEpoch') or '0') or 0) then
    redis.call('HSET', KEYS[2], 'deactivated', '1', 'statusEpoch', ARGV[6])
  end
elseif ARGV[5] == 'deleted' then
  redis.call('HDEL', KEYS[2], 'username', 'hash', 'deactivated', 'pending')
  redis.call('HSET', KEYS[2], 'deleted', '1')
end
redis.call('HSET', KEYS[2], 'generationReason', ARGV[2])
return n
`;

// A user is created in fenced steps, because the name's key, the user's record and the list
// of accounts lie in different hash slots on a cluster:
//   1. the record, marked pending, with a deadline in Redis's clock (under a fresh id, so it
//      cannot collide);
//   2. the name, claimed with SET NX;
//   3. enrolment in the list of accounts, also marked pending there (the first account on an
//      empty database becomes an admin, and a registration that needed an empty database is
//      refused here if it is not);
//   4. the record's pending mark goes, only before its deadline;
//   5. the list's pending mark goes.
// A pending account cannot log in, counts neither as an account nor as an admin, and cannot
// become active after its deadline. So one left half-made by a failure is harmless: the
// registration undoes what it did, and if that fails too, the next registration sweeps the
// enrolment away (or, if step 4 had been done, settles it) and takes the name back.

/** How long a registration may take before it is abandoned (and its name taken back). */
const PENDING_HOLD_MS = 60_000;

const NOW_MS = `
local nowMs = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;

// KEYS: the user's hash. ARGV: deadline, id, username, hash, createdAt, hold (ms).
// Returns the deadline by which the registration must finish (Redis's clock, ms).
const WRITE_USER = `${FENCE}${NOW_MS}
local untilMs = nowMs + tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'username', ARGV[3], 'hash', ARGV[4], 'createdAt', ARGV[5], 'pending', '1', 'pendingUntil', untilMs)
return untilMs
`;

// The scripts on the list of accounts take KEYS: the list, the admins, the deactivated, the
// pending, the status epochs. Who counts as an active admin: a listed account, not pending,
// not deactivated, and in the admins set or among the ids (ARGV from `first` on) that
// ADMIN_USERNAMES names. "Never without an active admin" is decided in the same step as the
// change it guards, and so is the acting admin's own standing: two admins demoting,
// deactivating or deleting each other at once cannot both succeed, and an admin demoted or
// deactivated a moment ago cannot still act.
const ADMINS = `
local function active(id)
  return redis.call('ZSCORE', KEYS[1], id) ~= false and redis.call('ZSCORE', KEYS[4], id) == false
    and redis.call('SISMEMBER', KEYS[3], id) == 0
end
local function isActiveAdmin(id, first)
  if not active(id) then return false end
  if redis.call('SISMEMBER', KEYS[2], id) == 1 then return true end
  for i = first, #ARGV do if ARGV[i] == id then return true end end
  return false
end
local function otherActiveAdmins(except, first)
  local seen, n = {}, 0
  local function consider(id)
    if id ~= except and not seen[id] and active(id) then n = n + 1 end
    seen[id] = true
  end
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do consider(id) end
  for i = first, #ARGV do consider(ARGV[i]) end
  return n
end
local function isLast(id, first)
  return isActiveAdmin(id, first) and otherActiveAdmins(id, first) == 0
end
`;

// ARGV: deadline, id, createdAt, "1" if only the first account may enroll, its deadline.
// Returns 0 refused, 1 enrolled, 2 enrolled as the first account (admin). Registrations in
// flight count as accounts (an abandoned one is swept before: see UserStore.sweep).
const ENROLL = `${FENCE}
local first = redis.call('ZCARD', KEYS[1]) == 0
if ARGV[4] == '1' and not first then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[2])
if first then
  redis.call('SADD', KEYS[2], ARGV[2])
  return 2
end
return 1
`;

// KEYS: the user's hash. ARGV: deadline. 1 done; 0 too late (the registration was abandoned).
const ACTIVATE = `${FENCE}${NOW_MS}
local untilMs = tonumber(redis.call('HGET', KEYS[1], 'pendingUntil') or '0') or 0
if redis.call('HGET', KEYS[1], 'pending') ~= '1' or nowMs > untilMs then return 0 end
redis.call('HDEL', KEYS[1], 'pending', 'pendingUntil')
return 1
`;

// KEYS: the pending. ARGV: deadline, id.
const SETTLE = `${FENCE}
return redis.call('ZREM', KEYS[1], ARGV[2])
`;

/** Slack for the difference between clocks (this process's, and Redis nodes' on a cluster). */
const CLOCK_SLACK_MS = 5_000;

// ARGV: deadline, id, "1" to undo the caller's own registration now (it knows step 4 was not
// done), else only once its deadline has passed, with slack for another node's clock (a
// sweep: then step 4 can no longer happen).
const UNENROLL = `${FENCE}${NOW_MS}
local untilMs = redis.call('ZSCORE', KEYS[4], ARGV[2])
if untilMs == false then return 0 end
if ARGV[3] ~= '1' and tonumber(untilMs) + ${CLOCK_SLACK_MS} >= nowMs then return 0 end
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
return 1
`;

// KEYS: the name's key. ARGV: deadline, id. Frees a name only while it leads to `id`.
const FREE_NAME = `${FENCE}
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
return redis.call('DEL', KEYS[1])
`;

// KEYS: the five, then the deleted. ARGV: deadline, id, admin ids from ADMIN_USERNAMES (from 3).
// Returns {-1} refused (the last active admin, while other accounts exist), else {1, the
// account's score in the list ("" if unlisted), "1" if it was an admin, "1" if deactivated}:
// what relisting puts back if the rest of the deletion fails.
const DELIST = `${FENCE}${ADMINS}
local id = ARGV[2]
local others = redis.call('ZCARD', KEYS[1]) - redis.call('ZCARD', KEYS[4])
if isLast(id, 3) and others > 1 then return {-1} end
local score = redis.call('ZSCORE', KEYS[1], id) or ''
local wasAdmin = tostring(redis.call('SREM', KEYS[2], id))
local wasDeactivated = tostring(redis.call('SREM', KEYS[3], id))
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[4], id)
redis.call('SADD', KEYS[6], id)
return {1, score, wasAdmin, wasDeactivated}
`;

// KEYS: the five, then the deleted. ARGV: deadline, id, score, was admin, was deactivated.
// Undoes DELIST when the rest of a deletion failed.
const RELIST = `${FENCE}
local id = ARGV[2]
redis.call('SREM', KEYS[6], id)
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[1], ARGV[3], id) end
if ARGV[4] == '1' then redis.call('SADD', KEYS[2], id) end
if ARGV[5] == '1' then redis.call('SADD', KEYS[3], id) end
return 1
`;

// ARGV: deadline, acting admin's id, target id, "1" to deactivate or "0" to reactivate, admin
// ids from ADMIN_USERNAMES (from 5). Marks the account in the list and moves its status
// epoch on; the record follows (changeCredentials or REACTIVATE) with that epoch, so when a
// deactivation and a reactivation cross, the record ends as the list decided last.
// Returns {1, epoch} done, {0} not an account, {-1} the last active admin, {-2} the actor is
// not an active admin (any more).
const SET_STATUS = `${FENCE}${ADMINS}
if not isActiveAdmin(ARGV[2], 5) then return {-2} end
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false then return {0} end
if ARGV[4] == '1' then
  if isLast(ARGV[3], 5) then return {-1} end
  redis.call('SADD', KEYS[3], ARGV[3])
else
  redis.call('SREM', KEYS[3], ARGV[3])
end
return {1, redis.call('HINCRBY', KEYS[5], ARGV[3], 1)}
`;

// KEYS: the user's hash. ARGV: deadline, status epoch. Lifts the record's mark unless a later
// decision was written already. The logins that deactivation ended stay ended.
const REACTIVATE = `${FENCE}
if redis.call('HEXISTS', KEYS[1], 'hash') == 0 then return 0 end
if tonumber(ARGV[2]) > (tonumber(redis.call('HGET', KEYS[1], 'statusEpoch') or '0') or 0) then
  redis.call('HDEL', KEYS[1], 'deactivated')
  redis.call('HSET', KEYS[1], 'statusEpoch', ARGV[2])
end
return 1
`;

// ARGV: deadline, acting admin's id, target id, "1" to promote, "0" to demote, admin ids from
// ADMIN_USERNAMES (from 5). Returns 1 done, 0 not an account, -1 refused: the last active
// admin is never demoted, -2 the actor is not an active admin (any more).
const SET_ADMIN = `${FENCE}${ADMINS}
if not isActiveAdmin(ARGV[2], 5) then return -2 end
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false then return 0 end
if ARGV[4] == '1' then
  redis.call('SADD', KEYS[2], ARGV[3])
  return 1
end
if isLast(ARGV[3], 5) then return -1 end
redis.call('SREM', KEYS[2], ARGV[3])
return 1
`;

// KEYS: the name's key. ARGV: deadline, id.
const CLAIM_NAME = `${FENCE}
if redis.call('SET', KEYS[1], ARGV[2], 'NX') == false then return 0 end
return 1
`;

// KEYS: the name's key. ARGV: deadline, id, the id the name leads to now.
// Takes a name over only from a user whose record does not exist, was deleted, or was left
// half-made past its deadline: on a cluster, a failover can lose a record written just before
// it while its name survives, and a failure between the steps leaves a pending account; the
// name is not lost for good.
const RECLAIM_NAME = `${FENCE}
if redis.call('GET', KEYS[1]) ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;

// KEYS: the user's hash. ARGV: deadline. Only a record still pending: never a real account.
const DROP_USER = `${FENCE}
if redis.call('HGET', KEYS[1], 'pending') ~= '1' then return 0 end
return redis.call('DEL', KEYS[1])
`;

/** A user id as parley makes them (a UUID). */
export function isAccountId(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id);
}

/** The keys of the list of accounts, in the order its scripts take them. */
const LIST_KEYS = [
  keys.users,
  keys.admins,
  keys.deactivatedUsers,
  keys.pendingUsers,
  keys.accountEpochs,
];

/** What an admin action on an account came to. */
export type AdminOutcome = "done" | "not_found" | "last" | "forbidden";

function outcome(code: number): AdminOutcome {
  return code === 1 ? "done" : code === 0 ? "not_found" : code === -1 ? "last" : "forbidden";
}

/** What DELIST took away, for RELIST to put back. */
export interface Delisted {
  readonly id: string;
  readonly score: string;
  readonly admin: string;
  readonly deactivated: string;
}

export class UserStore {
  /**
   * @param adminNames lower-cased usernames that ADMIN_USERNAMES makes admins (while an
   * account of that name exists; see README).
   */
  constructor(
    private readonly redis: Redis,
    private readonly adminNames: ReadonlySet<string> = new Set(),
  ) {}

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
    await this.sweep(now).catch(() => undefined);
    const id = randomUUID();
    const pendingUntil = Number(
      await fencedEval(
        this.redis,
        WRITE_USER,
        [keys.user(id)],
        [id, username, hash, String(now), String(PENDING_HOLD_MS)],
      ),
    );
    let claimed = await fencedEval(this.redis, CLAIM_NAME, [keys.username(username)], [id]);
    if (Number(claimed) !== 1) {
      // Taken: by a user who exists, or by a record a failover lost, deleted or left half-made.
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
    let enrolled = 0;
    try {
      enrolled = Number(
        await fencedEval(this.redis, ENROLL, LIST_KEYS, [
          id,
          String(now),
          onlyIfFirst ? "1" : "0",
          String(pendingUntil),
        ]),
      );
      if (enrolled === 0) throw new NotFirstAccountError();
      if (Number(await fencedEval(this.redis, ACTIVATE, [keys.user(id)], [])) !== 1) {
        throw new Error("registration took too long and was abandoned");
      }
    } catch (err) {
      // A fenced write reported failed cannot happen later, so this registration is undone
      // here; whatever this cannot undo, the next sweep does. (If ACTIVATE ran but its reply
      // was lost, the record stays complete but unlisted and nameless: nobody can log in to
      // it, and the person registers again.)
      await this.undo(id, username, true).catch(() => undefined);
      throw err;
    }
    // If this fails the account is complete all the same; a later sweep settles it.
    await fencedEval(this.redis, SETTLE, [keys.pendingUsers], [id]).catch(() => undefined);
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

  /**
   * Undoes a registration that will not be completed: enrolment, name, record. `now`: the
   * registration's own, which knows its record was not activated; else a sweep's, done only
   * once the registration's deadline has passed in Redis's clock.
   */
  private async undo(id: string, username: string | null | undefined, now: boolean) {
    const unlisted = Number(
      await fencedEval(this.redis, UNENROLL, LIST_KEYS, [id, now ? "1" : "0"]),
    );
    if (!now && unlisted !== 1) return;
    if (username) await fencedEval(this.redis, FREE_NAME, [keys.username(username)], [id]);
    await fencedEval(this.redis, DROP_USER, [keys.user(id)], []);
  }

  /**
   * Cleans up after registrations past their deadline: one that never completed is undone;
   * one that completed but whose last step failed is settled. A few per call.
   */
  private async sweep(now: number): Promise<void> {
    const ids = await this.redis.zRangeByScore(keys.pendingUsers, "-inf", now - CLOCK_SLACK_MS, {
      LIMIT: { offset: 0, count: 10 },
    });
    for (const id of ids) {
      const [pending, username] = await this.redis.hmGet(keys.user(id), ["pending", "username"]);
      if (username && pending !== "1") {
        await fencedEval(this.redis, SETTLE, [keys.pendingUsers], [id]);
        continue;
      }
      // Past its deadline a pending record can no longer be activated, so undoing is safe.
      await this.undo(id, username, false);
    }
  }

  /** Whether the account a name leads to is gone, deleted, or a registration abandoned. */
  private async abandoned(id: string, now: number): Promise<boolean> {
    const [pending, pendingUntil, createdAt, deleted] = await this.redis.hmGet(keys.user(id), [
      "pending",
      "pendingUntil",
      "createdAt",
      "deleted",
    ]);
    if (createdAt === null || createdAt === undefined || deleted === "1") return true;
    return pending === "1" && now > Number(pendingUntil ?? 0) + CLOCK_SLACK_MS;
  }

  /**
   * Whether an account with this id exists (deleted ones included: their conversations can
   * still be read), not counting a registration still in flight. One small read.
   */
  async exists(id: string): Promise<boolean> {
    if (!isAccountId(id)) return false;
    const [have, pending] = await this.redis.hmGet(keys.user(id), ["id", "pending"]);
    return have === id && pending !== "1";
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

  /**
   * Whether a username leads to an account or a registration in flight (not one abandoned):
   * a pre-check; the step that claims a name decides for good.
   */
  async nameInUse(username: string, now: number): Promise<boolean> {
    const holder = await this.redis.get(keys.username(username));
    return holder !== null && !(await this.abandoned(holder, now));
  }

  /** The ids the usernames lead to (undefined where none). */
  async idsOf(usernames: readonly string[]): Promise<(string | undefined)[]> {
    const ids = await Promise.all(usernames.map((n) => this.redis.get(keys.username(n))));
    return ids.map((id) => id ?? undefined);
  }

  /** The usernames of complete accounts among `ids` (others are left out). */
  async usernames(ids: readonly string[]): Promise<Map<string, string>> {
    const rows = await Promise.all(
      ids.map((id) => this.redis.hmGet(keys.user(id), ["username", "pending"])),
    );
    const out = new Map<string, string>();
    rows.forEach(([username, pending], i) => {
      if (username && pending !== "1") out.set(ids[i] as string, username);
    });
    return out;
  }

  async byUsername(username: string): Promise<UserCredentials | undefined> {
    const id = await this.redis.get(keys.username(username));
    return id ? this.byId(id) : undefined;
  }

  /**
   * Accounts, newest first: up to `count` from `offset` (registrations in flight are left
   * out), and how many accounts are listed in all.
   */
  async list(offset: number, count: number): Promise<{ accounts: Account[]; total: number }> {
    const [ids, total, admins, deactivated] = await Promise.all([
      this.redis.zRange(keys.users, offset, offset + count - 1, { REV: true }),
      this.redis.zCard(keys.users),
      this.redis.sMembers(keys.admins),
      this.redis.sMembers(keys.deactivatedUsers),
    ]);
    const adminSet = new Set(admins);
    const deactivatedSet = new Set(deactivated);
    const records = await Promise.all(ids.map((id) => this.redis.hGetAll(keys.user(id))));
    const accounts: Account[] = [];
    records.forEach((h, i) => {
      const id = ids[i] as string;
      if (!h.username || !h.hash || h.pending === "1" || h.deleted === "1") return;
      accounts.push({
        id,
        username: h.username,
        createdAt: Number(h.createdAt),
        // Either mark: between the two steps of a (de)activation, show it deactivated.
        deactivated: h.deactivated === "1" || deactivatedSet.has(id),
        admin: adminSet.has(id),
      });
    });
    return { accounts, total };
  }

  /** Whether `user` is an admin now: made one in parley, or named in ADMIN_USERNAMES. */
  async isAdmin(user: { id: string; username: string }): Promise<boolean> {
    if (this.adminNames.has(user.username.toLowerCase())) return true;
    return (await this.redis.sIsMember(keys.admins, user.id)) === 1;
  }

  /** Whether ADMIN_USERNAMES names this username (then only the first account may take it). */
  isConfiguredAdminName(username: string): boolean {
    return this.adminNames.has(username.toLowerCase());
  }

  /** The ADMIN_USERNAMES names, each with the id of the account that has it (or null). */
  private async configAdmins(): Promise<[string, string | null][]> {
    const names = [...this.adminNames];
    const ids = await Promise.all(names.map((n) => this.redis.get(keys.username(n))));
    return names.map((n, i) => [n, ids[i] ?? null]);
  }

  /** The ADMIN_USERNAMES names that no account has (reserved; logged at start-up). */
  async unclaimedAdminNames(): Promise<string[]> {
    return (await this.configAdmins()).filter(([, id]) => !id).map(([n]) => n);
  }

  /** The ids of the accounts ADMIN_USERNAMES names (for the "last active admin" checks). */
  private async configAdminIds(): Promise<string[]> {
    return (await this.configAdmins())
      .map(([, id]) => id)
      .filter((id): id is string => typeof id === "string" && isAccountId(id));
  }

  /**
   * How many accounts exist, registrations in flight included (0: the next registration
   * makes the first admin). Abandoned registrations are swept first, so one cannot keep the
   * database from counting as empty.
   */
  async count(now: number): Promise<number> {
    await this.sweep(now);
    return this.redis.zCard(keys.users);
  }

  /**
   * Promotes or demotes an admin, as `actorId`, who must be an active admin as it happens
   * ("forbidden"). "last": the last active admin is never demoted.
   */
  async setAdmin(actorId: string, id: string, admin: boolean): Promise<AdminOutcome> {
    const r = await fencedEval(this.redis, SET_ADMIN, LIST_KEYS, [
      actorId,
      id,
      admin ? "1" : "0",
      ...(await this.configAdminIds()),
    ]);
    return outcome(Number(r));
  }

  /**
   * Deactivates or reactivates an account in the list, as `actorId`, who must be an active
   * admin as it happens ("forbidden"); the last active admin is never deactivated ("last").
   * Returns the status epoch to write the record with: for a deactivation, through
   * changeCredentials (Revocation.endAccount), which also ends its logins; for a
   * reactivation, through reactivateRecord.
   */
  async setStatus(
    actorId: string,
    id: string,
    active: boolean,
  ): Promise<{ outcome: AdminOutcome; epoch: number }> {
    const r = (await fencedEval(this.redis, SET_STATUS, LIST_KEYS, [
      actorId,
      id,
      active ? "0" : "1",
      ...(await this.configAdminIds()),
    ])) as number[];
    return { outcome: outcome(Number(r[0])), epoch: Number(r[1] ?? 0) };
  }

  /** Lifts the record's deactivation (see setStatus); false if there is no such account. */
  async reactivateRecord(id: string, epoch: number): Promise<boolean> {
    return Number(await fencedEval(this.redis, REACTIVATE, [keys.user(id)], [String(epoch)])) === 1;
  }

  /**
   * The first step of deleting an account: it leaves the list of accounts and the admins and
   * joins the deleted ("last": refused, it is the last active admin and other accounts
   * exist). Then Revocation.endAccount ends its logins and empties its record, and freeName
   * frees its name. If ending its logins fails, relist puts it back as it was.
   */
  async delist(id: string): Promise<Delisted | "last"> {
    const r = (await fencedEval(
      this.redis,
      DELIST,
      [...LIST_KEYS, keys.deletedUsers],
      [id, ...(await this.configAdminIds())],
    )) as (number | string)[];
    if (Number(r[0]) !== 1) return "last";
    return { id, score: String(r[1] ?? ""), admin: String(r[2]), deactivated: String(r[3]) };
  }

  /** Undoes delist after the rest of a deletion failed. */
  async relist(d: Delisted): Promise<void> {
    await fencedEval(
      this.redis,
      RELIST,
      [...LIST_KEYS, keys.deletedUsers],
      [d.id, d.score, d.admin, d.deactivated],
    );
  }

  /** Frees a username while it still leads to this account. */
  async freeName(id: string, username: string): Promise<void> {
    await fencedEval(this.redis, FREE_NAME, [keys.username(username)], [id]);
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
      /** For "deactivated": the status epoch from setStatus. */
      epoch?: number;
    },
  ): Promise<number> {
    const reply = await fencedEval(
      this.redis,
      CHANGE_CREDENTIALS,
      [keys.userGeneration(id), keys.user(id)],
      [o.reason, o.hash ?? "", o.keepHandle ?? "", o.status ?? "", String(o.epoch ?? 0)],
    );
    return Number(reply);
  }
}
