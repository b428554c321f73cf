// Users in Redis: a hash per user and a lower-cased name -> id key whose SET NX makes two
// concurrent registrations of one name impossible to both succeed. Each user also has a
// credentials generation (a counter in its own string key, so the per-event check can MGET it
// beside the session): the hash and the generation are always read together atomically, and
// changed together in one script, so a login can never pair an old password with a new
// generation.
import { randomUUID } from "node:crypto";
import type { Redis } from "../redis/client.js";
import { fencedEval } from "../redis/fence.js";
import { keys } from "./keys.js";
import { script } from "./lua.js";

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

const CHANGE_CREDENTIALS = script("user-change-credentials");

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

const WRITE_USER = script("user-write");

// The scripts on the list of accounts take its five keys (LIST_KEYS); who counts as an
// active admin is decided in lua/includes/admins.lua.
const ENROLL = script("accounts-enroll");

const ACTIVATE = script("user-activate");

const SETTLE = script("accounts-settle");

/** Slack for the difference between clocks (this process's, and Redis nodes' on a cluster). */
const CLOCK_SLACK_MS = 5_000;

const UNENROLL = script("accounts-unenroll");

const FREE_NAME = script("name-free");

const DELIST = script("accounts-delist");

const RELIST = script("accounts-relist");

const SET_STATUS = script("accounts-set-status");

const REACTIVATE = script("user-reactivate");

const SET_ADMIN = script("accounts-set-admin");

const CLAIM_NAME = script("name-claim");

const RECLAIM_NAME = script("name-reclaim");

const DROP_USER = script("user-drop");

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
      await fencedEval(this.redis, UNENROLL, LIST_KEYS, [
        id,
        now ? "1" : "0",
        String(CLOCK_SLACK_MS),
      ]),
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
