// Per-user event budgets: every client event has one (its class is in policy.ts), so no event
// can be used to flood a room or the server; opening a connection has one per user and one per
// client address (handshake.ts). `message:send` is counted in Redis across every socket and process of the
// user (20 in 10 s); the others are counted in this process, per user, in fixed
// windows, because they are cheap to serve and must not add a Redis round trip per event.
// The count is synchronous (no promise; one small object per active user and class) so it
// cannot reorder a socket's events; rate-limiter-flexible's memory limiter answers through a
// promise and would. Every event counts, accepted or not, unknown event names included. A
// user's window is reused while they stay active and dropped by the sweep once it has ended.

import { MAX_CONNECTIONS_PER_LOGIN, MAX_CONNECTIONS_PER_USER } from "../domain/limits.js";

export interface Budget {
  /** Events allowed per window. */
  readonly points: number;
  readonly seconds: number;
}

/** Budgets counted in this process; events sharing a class share one budget. */
export const LOCAL_BUDGETS = {
  membership: { points: 30, seconds: 10 }, // room:join, room:leave and room:create together
  // Listing rooms, the directory and member lists (each a few Redis reads).
  rooms: { points: 30, seconds: 10 },
  // Topic, invitations, removals, bans and roles.
  moderation: { points: 30, seconds: 10 },
  // Editing and deleting messages.
  revise: { points: 20, seconds: 10 },
  // Read positions: the page reports one as messages are seen, at most about once a second.
  read: { points: 30, seconds: 10 },
  typing: { points: 20, seconds: 10 },
  history: { points: 40, seconds: 10 },
  // Full-text search in PostgreSQL (and a read of the user's rooms): the dearest read.
  search: { points: 10, seconds: 10 },
  dm: { points: 20, seconds: 10 },
  activity: { points: 10, seconds: 10 },
  // ping does no I/O beyond the session check; its budget only stops a runaway client.
  ping: { points: 20_000, seconds: 10 },
  // Event names outside the contract (answered `unknown_event`).
  unknown: { points: 20, seconds: 10 },
  // Opening connections (engine.io handshakes), per user across their logins: each costs a
  // login check, the user's rooms list and presence. A tab reconnecting after a restart
  // takes one; a page never needs more than a few.
  connect: { points: 30, seconds: 10 },
  // Engine.io requests that read a session (handshakes and upgrades carrying the session
  // cookie), per client address, before the user is known. Generous: an office behind one
  // address reconnects at once after a restart (a handshake and an upgrade per tab). Those
  // without a cookie read nothing and are refused (401) freely.
  connectAddress: { points: 600, seconds: 10 },
} as const satisfies Record<string, Budget>;

export type BudgetClass = keyof typeof LOCAL_BUDGETS;

/** The Redis-counted budget of message:send, across all of a user's sockets. */
export const MESSAGE_SEND_BUDGET: Budget = { points: 20, seconds: 10 };

interface Window {
  start: number;
  used: number;
}

export class EventBudgets {
  private readonly windows = new Map<BudgetClass, Map<string, Window>>();

  /** `scale` multiplies every budget's points (benchmarks only: config's budgetScale). */
  constructor(
    private readonly now: () => number,
    private readonly scale = 1,
  ) {
    for (const c of Object.keys(LOCAL_BUDGETS) as BudgetClass[]) this.windows.set(c, new Map());
  }

  /** Counts one event of `userId` in `cls`; false when over budget. */
  take(cls: BudgetClass, userId: string): boolean {
    const budget = LOCAL_BUDGETS[cls];
    const byUser = this.windows.get(cls) as Map<string, Window>;
    const now = this.now();
    let w = byUser.get(userId);
    if (!w) {
      w = { start: now, used: 0 };
      byUser.set(userId, w);
    } else if (now - w.start >= budget.seconds * 1000) {
      w.start = now;
      w.used = 0;
    }
    w.used++;
    return w.used <= budget.points * this.scale;
  }

  /** The most live connections one login may hold on this process. */
  get connectionsPerLogin(): number {
    return MAX_CONNECTIONS_PER_LOGIN * this.scale;
  }

  /** The most live connections one user may hold on this process. */
  get connectionsPerUser(): number {
    return MAX_CONNECTIONS_PER_USER * this.scale;
  }

  /** Drops windows that have ended (called by the periodic sweep). */
  prune(): void {
    const now = this.now();
    for (const [cls, byUser] of this.windows) {
      const ms = LOCAL_BUDGETS[cls].seconds * 1000;
      for (const [user, w] of byUser) if (now - w.start >= ms) byUser.delete(user);
    }
  }
}
