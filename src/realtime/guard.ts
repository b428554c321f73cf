// The per-event session check: the hot path of parley.
//
// Before any socket event runs, its session is confirmed in Redis: the record still exists
// and still belongs to the socket's user. Cost: checks that arrive in the same turn of the
// event loop share ONE pipelined MGET (flushed on setImmediate), so an event costs one Redis
// round trip when alone and 1/N of one under load; a check never reuses a read that started
// before its event arrived, so nothing that arrived after a logout is processed. Activity
// refreshes the session's idle TTL with at most one EXPIRE per session per
// min(idle/10, 60 s), capped at the absolute lifetime (never extended).
import type { Redis } from "../redis.js";
import { keys } from "../stores/keys.js";

export type CheckResult = "ok" | "unauthorized" | "unavailable";

interface StoredLogin {
  passport?: { user?: unknown };
  login?: { createdAt?: unknown };
}

interface Pending {
  sid: string;
  userId: string;
  resolve: (r: CheckResult) => void;
}

/** What we last saw for a session: the raw record and when we last extended its TTL. */
interface Seen {
  raw: string;
  userId: string;
  createdAt: number;
  touchedAt: number;
}

export interface GuardOptions {
  idleSeconds: number;
  absoluteSeconds: number;
  now: () => number;
  /** Called once per batched Redis read, with the number of checks it answered. */
  onRoundTrip?: (checks: number) => void;
}

export class SessionGuard {
  private batch: Pending[] = [];
  private scheduled = false;
  /** Parsed-record cache keyed by sid: a record that did not change needs no JSON.parse. */
  private readonly seen = new Map<string, Seen>();
  private readonly touchEveryMs: number;
  /** Redis round trips made by checks (for metrics and the benchmark). */
  roundTrips = 0;
  checks = 0;

  constructor(
    private readonly redis: Redis,
    private readonly o: GuardOptions,
  ) {
    this.touchEveryMs = Math.min((o.idleSeconds * 1000) / 10, 60_000);
  }

  /** Confirms that session `sid` exists in Redis now and belongs to `userId`. */
  check(sid: string, userId: string): Promise<CheckResult> {
    this.checks++;
    return new Promise((resolve) => {
      this.batch.push({ sid, userId, resolve });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Forget a session (its sockets are gone). */
  forget(sid: string): void {
    this.seen.delete(sid);
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = [];
    this.scheduled = false;
    const sids = [...new Set(batch.map((p) => p.sid))];
    this.roundTrips++;
    this.o.onRoundTrip?.(batch.length);
    this.redis.mGet(sids.map(keys.session)).then(
      (values) => {
        const now = this.o.now();
        const verdict = new Map<string, string | undefined>();
        sids.forEach((sid, i) => {
          verdict.set(sid, this.owner(sid, values[i] ?? null, now));
        });
        for (const p of batch) p.resolve(verdict.get(p.sid) === p.userId ? "ok" : "unauthorized");
      },
      () => {
        for (const p of batch) p.resolve("unavailable");
      },
    );
  }

  /** The user a raw session record belongs to (refreshing its idle TTL when due). */
  private owner(sid: string, raw: string | null, now: number): string | undefined {
    if (raw === null) {
      this.seen.delete(sid);
      return undefined;
    }
    let s = this.seen.get(sid);
    if (!s || s.raw !== raw) {
      const parsed = parse(raw);
      const userId = parsed?.passport?.user;
      const createdAt = parsed?.login?.createdAt;
      if (typeof userId !== "string" || typeof createdAt !== "number") {
        this.seen.delete(sid);
        return undefined;
      }
      s = { raw, userId, createdAt, touchedAt: s?.touchedAt ?? now };
      this.seen.set(sid, s);
    }
    const deadline = s.createdAt + this.o.absoluteSeconds * 1000;
    if (now >= deadline) return undefined;
    if (now - s.touchedAt >= this.touchEveryMs) {
      s.touchedAt = now;
      const ttl = Math.min(this.o.idleSeconds, Math.ceil((deadline - now) / 1000));
      // EXPIRE on a key that was deleted meanwhile is a no-op: activity never revives a login.
      if (ttl > 0) this.redis.expire(keys.session(sid), ttl).catch(() => undefined);
    }
    return s.userId;
  }
}

function parse(raw: string): StoredLogin | undefined {
  try {
    return JSON.parse(raw) as StoredLogin;
  } catch {
    return undefined;
  }
}
