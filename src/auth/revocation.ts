// Ending logins: the one place that destroys session records and tells whoever listens
// (the realtime layer) which sessions ended, so their sockets can be disconnected.
import type { RevokedReason } from "../realtime/events.js";
import type { Redis } from "../redis.js";
import { keys } from "../stores/keys.js";
import type { SessionIndex } from "../stores/session-index.js";

export type RevocationReason = RevokedReason;

export type RevocationListener = (sids: readonly string[], reason: RevocationReason) => void;

export class Revocation {
  private readonly listeners: RevocationListener[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly index: SessionIndex,
  ) {}

  onRevoke(listener: RevocationListener): void {
    this.listeners.push(listener);
  }

  /** Destroys the given logins of one user (handle -> sid) in Redis, then notifies. */
  async endLogins(
    userId: string,
    logins: readonly { handle: string; sid: string }[],
    reason: RevocationReason,
  ): Promise<void> {
    if (logins.length === 0) return;
    await this.redis.del(logins.map((l) => keys.session(l.sid)));
    await this.index.remove(
      userId,
      logins.map((l) => l.handle),
    );
    this.notify(
      logins.map((l) => l.sid),
      reason,
    );
  }

  /** Called after a session was destroyed through express-session (logout). */
  notify(sids: readonly string[], reason: RevocationReason): void {
    for (const l of this.listeners) l(sids, reason);
  }
}
