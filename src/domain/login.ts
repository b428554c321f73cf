// The login record: the fields parley keeps in a logged-in express-session record, how a
// record read back from Redis is parsed, and a login's lifetime. Every path that deals with
// logins (the HTTP session and its store, the pages' login check, /sessions, the per-event
// guard, the handshake) uses these definitions instead of declaring its own.
//
// Lifetime: a login ends `idleSeconds` after its last recorded activity, and never later than
// `absoluteSeconds` after it was made (its deadline); nothing extends the deadline.
//
// Activity is only what the user does: a page request, or an event sent on a socket (the chat
// page reports real interaction as the `activity` event). Transport traffic (long polls,
// upgrades, heartbeats) never is. Both paths record activity by the same rule: at most once
// per `activityEveryMs` (min(idle / 10, 60 s)), one write that sets `lastActive` and renews
// the record's TTL (`ttlSeconds`). So /sessions shows when a login was last used, whether in
// pages or in chat, and the idle timeout is honoured within a tenth of itself.

/** The fields parley keeps in every logged-in session record, under `login`. */
export interface LoginInfo {
  /** Opaque, non-secret name of the login (its /sessions entry). */
  handle: string;
  /** When the login was made (ms since the epoch). */
  createdAt: number;
  /** When its user was last active, to `activityEveryMs` (ms since the epoch). */
  lastActive: number;
  ip: string;
  userAgent: string;
  /** The credentials generation the login was made under (absent in older records: 0). */
  gen?: number;
}

/** The parts of a stored session record that say who is logged in. */
export interface SessionFields {
  passport?: { user?: string };
  login?: LoginInfo;
}

/** A logged-in record, parsed and checked: whose it is and its login fields. */
export interface LoginRecord {
  userId: string;
  login: LoginInfo;
}

export interface LoginLifetime {
  idleSeconds: number;
  absoluteSeconds: number;
}

/**
 * Parses a session record as stored (JSON); undefined when it is not a well-formed login
 * (malformed, anonymous, or missing a field the checks rely on).
 */
export function parseLoginRecord(raw: string | null | undefined): LoginRecord | undefined {
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const fields = parsed as { passport?: { user?: unknown }; login?: Record<string, unknown> };
  const userId = fields?.passport?.user;
  const login = fields?.login;
  if (typeof userId !== "string" || login === null || typeof login !== "object") return undefined;
  const { handle, createdAt, lastActive, ip, userAgent, gen } = login;
  if (
    typeof handle !== "string" ||
    typeof createdAt !== "number" ||
    (gen !== undefined && typeof gen !== "number")
  ) {
    return undefined;
  }
  return {
    userId,
    login: {
      handle,
      createdAt,
      lastActive: typeof lastActive === "number" ? lastActive : createdAt,
      ip: typeof ip === "string" ? ip : "",
      userAgent: typeof userAgent === "string" ? userAgent : "",
      ...(gen === undefined ? {} : { gen }),
    },
  };
}

/** The moment the login ends whatever its activity (ms since the epoch). */
export function loginDeadline(login: { createdAt: number }, absoluteSeconds: number): number {
  return login.createdAt + absoluteSeconds * 1000;
}

/** Whether the login is past its absolute lifetime at `now`. */
export function isPastDeadline(
  login: { createdAt: number },
  now: number,
  absoluteSeconds: number,
): boolean {
  return now >= loginDeadline(login, absoluteSeconds);
}

/**
 * The Redis TTL to give the record on activity at `now`: the idle timeout, cut short by the
 * deadline (rounded up to whole seconds; the exact deadline is enforced in-process too).
 * At or below 0 the login is over: the record is deleted, not written.
 */
export function ttlSeconds(login: { createdAt: number }, now: number, o: LoginLifetime): number {
  return Math.min(o.idleSeconds, Math.ceil((loginDeadline(login, o.absoluteSeconds) - now) / 1000));
}

/** How often activity is recorded, at most: min(idle / 10, 60 s). */
export function activityEveryMs(idleSeconds: number): number {
  return Math.min((idleSeconds * 1000) / 10, 60_000);
}

/** Whether activity at `now` should be recorded, the last recording having been at `last`. */
export function activityDue(last: number, now: number, idleSeconds: number): boolean {
  return now - last >= activityEveryMs(idleSeconds);
}
