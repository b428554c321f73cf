// Registration: an account is created in fenced steps, and one left half-made is swept.
import { randomUUID } from "node:crypto";
import type { UserCredentials } from "../domain/types.js";
import type { Redis } from "../redis/client.js";
import { fencedEval } from "../redis/fence.js";
import { keys } from "./keys.js";
import { script } from "./lua.js";

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

/** Slack for the difference between clocks (this process's, and Redis nodes' on a cluster). */
const CLOCK_SLACK_MS = 5_000;

const WRITE_USER = script("user-write");
const CLAIM_NAME = script("name-claim");
const RECLAIM_NAME = script("name-reclaim");
const DROP_USER = script("user-drop");
// The scripts on the list of accounts take its five keys (keys.accountList).
const ENROLL = script("accounts-enroll");
const ACTIVATE = script("user-activate");
const SETTLE = script("accounts-settle");
const UNENROLL = script("accounts-unenroll");
export const FREE_NAME = script("name-free");

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

export class Registrations {
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
        await fencedEval(this.redis, ENROLL, keys.accountList, [
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
      await fencedEval(this.redis, UNENROLL, keys.accountList, [
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
   * Whether a username leads to an account or a registration in flight (not one abandoned):
   * a pre-check; the step that claims a name decides for good.
   */
  async nameInUse(username: string, now: number): Promise<boolean> {
    const holder = await this.redis.get(keys.username(username));
    return holder !== null && !(await this.abandoned(holder, now));
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
}
