// Credentials generations: the rule that decides whether a login is still current. Pure: the
// store reads the stored value (stores/credentials.ts), the per-event check and the pages
// compare it with what each login recorded.

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
