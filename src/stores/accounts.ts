// Accounts in Redis: a hash per user, a lower-cased name -> id key whose SET NX makes two
// concurrent registrations of one name impossible to both succeed, and the list of accounts
// with its admins and deactivated. Reading accounts and administering them is here; creating
// them is registration.ts, and passwords and credentials generations are credentials.ts (the
// hash and the generation are always read together atomically here, in byId).

import { parseGeneration } from "../domain/generation.js";
import type { Account, UserCredentials } from "../domain/types.js";
import type { Redis } from "../redis/client.js";
import { fencedEval } from "../redis/fence.js";
import { CredentialStore } from "./credentials.js";
import { keys } from "./keys.js";
import { script } from "./lua.js";
import { FREE_NAME, Registrations } from "./registration.js";

export type { Account, User, UserCredentials } from "../domain/types.js";

const DELIST = script("accounts-delist");
const RELIST = script("accounts-relist");
const SET_STATUS = script("accounts-set-status");
const SET_ADMIN = script("accounts-set-admin");

/** A user id as parley makes them (a UUID). */
export function isAccountId(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id);
}

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

export class AccountStore {
  /** Creating accounts (and sweeping registrations left half-made). */
  readonly registrations: Registrations;
  /** Credentials generations and password hashes. */
  readonly credentials: CredentialStore;

  /**
   * @param adminNames lower-cased usernames that ADMIN_USERNAMES makes admins (while an
   * account of that name exists; see docs/accounts.md).
   */
  constructor(
    private readonly redis: Redis,
    private readonly adminNames: ReadonlySet<string> = new Set(),
  ) {
    this.registrations = new Registrations(redis);
    this.credentials = new CredentialStore(redis);
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
   * Promotes or demotes an admin, as `actorId`, who must be an active admin as it happens
   * ("forbidden"). "last": the last active admin is never demoted.
   */
  async setAdmin(actorId: string, id: string, admin: boolean): Promise<AdminOutcome> {
    const r = await fencedEval(this.redis, SET_ADMIN, keys.accountList, [
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
    const r = (await fencedEval(this.redis, SET_STATUS, keys.accountList, [
      actorId,
      id,
      active ? "0" : "1",
      ...(await this.configAdminIds()),
    ])) as number[];
    return { outcome: outcome(Number(r[0])), epoch: Number(r[1] ?? 0) };
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
      [...keys.accountList, keys.deletedUsers],
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
      [...keys.accountList, keys.deletedUsers],
      [d.id, d.score, d.admin, d.deactivated],
    );
  }

  /** Frees a username while it still leads to this account. */
  async freeName(id: string, username: string): Promise<void> {
    await fencedEval(this.redis, FREE_NAME, [keys.username(username)], [id]);
  }
}
