// Ending logins: the one place that destroys session records, starts new credentials
// generations, and tells whoever listens (the realtime layer) which sessions ended and why,
// so their sockets can be told and disconnected. Every ended session leaves a short-lived
// note of why it ended, so a socket that notices the end itself (its next event) is told the
// real reason too.
import type { RevokedReason } from "../domain/types.js";
import type { Redis } from "../redis/client.js";
import type { AccountStore } from "../stores/accounts.js";
import type { SessionIndex } from "../stores/session-index.js";
import { endedNote, endSessions } from "../stores/sessions.js";

export type RevocationReason = RevokedReason;

export type RevocationListener = (sids: readonly string[], reason: RevocationReason) => void;
export type EndingListener = (sids: readonly string[], ending: boolean) => void;

const REASONS: ReadonlySet<string> = new Set<RevokedReason>([
  "logout",
  "revoked",
  "password_changed",
  "expired",
  "deactivated",
  "account_deleted",
]);

/** A stored reason, or `revoked` when none (or an unknown one) was stored. */
export function revokedReason(stored: string | null | undefined): RevokedReason {
  return stored && REASONS.has(stored) ? (stored as RevokedReason) : "revoked";
}

export class Revocation {
  private readonly listeners: RevocationListener[] = [];
  private readonly endingListeners: EndingListener[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly index: SessionIndex,
    private readonly users: AccountStore,
  ) {}

  onRevoke(listener: RevocationListener): void {
    this.listeners.push(listener);
  }

  /**
   * Told when sessions are about to be ended here (`true`, before anything is written) and
   * when that is over (`false`: ended and notified, or failed). Lets this process refuse the
   * sessions' events at once, before its own Redis writes land and the notice goes out.
   */
  onEnding(listener: EndingListener): void {
    this.endingListeners.push(listener);
  }

  private async ending<T>(sids: readonly string[], work: () => Promise<T>): Promise<T> {
    for (const l of this.endingListeners) l(sids, true);
    try {
      return await work();
    } finally {
      for (const l of this.endingListeners) l(sids, false);
    }
  }

  /** Destroys the given logins of one user (handle -> sid) in Redis, then notifies. */
  async endLogins(
    userId: string,
    logins: readonly { handle: string; sid: string }[],
    reason: RevocationReason,
  ): Promise<void> {
    if (logins.length === 0) return;
    const sids = logins.map((l) => l.sid);
    await this.ending(sids, async () => {
      await endSessions(this.redis, sids, reason, true);
      await this.index.remove(
        userId,
        logins.map((l) => l.handle),
      );
      this.notify(sids, reason);
    });
  }

  /**
   * Ends every login of the user except `keepSid` (carried over), however they are timed:
   * the credentials generation moves on (with the new password hash, if any) in the same
   * step that re-stamps the kept login, so a login racing this call is refused too.
   */
  async endOtherLogins(
    userId: string,
    keep: { sid: string; handle: string } | undefined,
    reason: RevocationReason,
    newHash?: string,
  ): Promise<{ generation: number; ended: number }> {
    return this.endLoginsWith(userId, keep, reason, {
      ...(newHash !== undefined ? { hash: newHash } : {}),
    });
  }

  /**
   * Deactivates or deletes an account: the change and the new credentials generation land in
   * one step, so every login of the account, including one racing this call, is over, and
   * their sockets are told why (`deactivated`, `account_deleted`) on every process.
   */
  async endAccount(
    userId: string,
    status: "deactivated" | "deleted",
    epoch?: number,
  ): Promise<number> {
    const reason = status === "deleted" ? "account_deleted" : "deactivated";
    return (
      await this.endLoginsWith(userId, undefined, reason, {
        status,
        ...(epoch === undefined ? {} : { epoch }),
      })
    ).ended;
  }

  private async endLoginsWith(
    userId: string,
    keep: { sid: string; handle: string } | undefined,
    reason: RevocationReason,
    change: { hash?: string; status?: "deactivated" | "deleted"; epoch?: number },
  ): Promise<{ generation: number; ended: number }> {
    // The logins known now are refused here from this moment (a login made meanwhile is
    // refused by the new generation).
    const known = (await this.index.list(userId, true))
      .filter((l) => l.sid !== keep?.sid)
      .map((l) => l.sid);
    return this.ending(known, async () => {
      const generation = await this.users.credentials.changeCredentials(userId, {
        reason,
        ...change,
        ...(keep ? { keepHandle: keep.handle } : {}),
      });
      const others = (await this.index.list(userId, true)).filter((l) => l.sid !== keep?.sid);
      await this.endLogins(userId, others, reason);
      return { generation, ended: others.length };
    });
  }

  /**
   * Ends sessions that `destroy` removes through express-session (logout, a login replacing
   * another, an expired or stale login seen by a page). The note is written first: from then
   * on no save can bring the record back (see the store's guarded set), and a socket that
   * notices the end itself is told the real reason. Then the sockets are told everywhere.
   */
  async end(
    sids: readonly string[],
    reason: RevocationReason,
    destroy: () => Promise<void>,
  ): Promise<void> {
    if (sids.length === 0) return destroy();
    await this.ending(sids, async () => {
      await endSessions(this.redis, sids, reason, false);
      await destroy();
      this.notify(sids, reason);
    });
  }

  /**
   * Why a login the per-event check refused has ended: the note left when it was ended, the
   * reason the credentials generation moved on, or expiry.
   */
  async reasonFor(
    sid: string,
    userId: string,
    refusal: "gone" | "expired" | "stale" | "mismatch",
  ): Promise<RevocationReason> {
    if (refusal === "expired") return "expired";
    if (refusal === "stale")
      return revokedReason(await this.users.credentials.generationReason(userId));
    const note = await endedNote(this.redis, sid);
    if (note) return revokedReason(note);
    return refusal === "gone" ? "expired" : "revoked";
  }

  notify(sids: readonly string[], reason: RevocationReason): void {
    for (const l of this.listeners) l(sids, reason);
  }
}
