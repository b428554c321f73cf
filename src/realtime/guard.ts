// The per-event session check: the hot path of parley.
//
// Before any socket event runs, its session is confirmed in Redis: the record still exists,
// still belongs to the socket's user, and was made under the user's current credentials
// generation (a password change or "end all other logins" moves it on, so a login that raced
// the change is refused too). Cost: checks that arrive in the same turn of the event loop
// share ONE MGET of each session record and its user's generation (flushed on setImmediate),
// so an event costs one Redis round trip when alone and 1/N of one under load (0.087 round
// trips per event measured with 50 busy clients, before the generation joined the read: the
// same round trips, twice the keys); a check never reuses a read that started before its
// event arrived,
// so nothing that arrived after a logout is processed. A record that did not change since the
// last check is recognised by byte comparison, without parsing it again. An event that touches a
// room's content adds that room's kind and the user's standing there to the same MGET (two
// keys, no extra round trip; see room-policy.ts). Activity refreshes the session's idle TTL with
// at most one EXPIRE per session per min(idle/10, 60 s), capped at the absolute lifetime
// (never extended).
import { RESP_TYPES } from "redis";
import type { Redis } from "../redis.js";
import { keys } from "../stores/keys.js";
import { mGetAcrossSlots } from "../stores/slots.js";
import { loginIsCurrent, parseGeneration } from "../stores/users.js";

/** Why a login is refused: record gone, past its absolute lifetime, older credentials, or
 * someone else's. */
export type Refusal = "gone" | "expired" | "stale" | "mismatch";
export type CheckResult = "ok" | "unavailable" | Refusal;
/**
 * Told the verdict; for a check made with a room, also that room's kind and the user's
 * standing in it as read in the same batch (null: none), and the batch's number (see
 * SessionGuard.sent).
 */
export type CheckCallback = (
  result: CheckResult,
  kind?: string | null,
  standing?: string | null,
  batch?: number,
) => void;

/** What we last saw of a session: its raw record, owner, login time and last TTL refresh. */
interface Known {
  raw: Buffer;
  userId: string;
  createdAt: number;
  generation: number;
  handle: string;
  touchedAt: number;
  /** The generation value last compared, and whether the login was current under it. */
  generationRaw: Buffer | null | undefined;
  current: boolean;
}

interface StoredLogin {
  passport?: { user?: unknown };
  login?: { createdAt?: unknown; gen?: unknown; handle?: unknown };
}

export interface GuardOptions {
  idleSeconds: number;
  absoluteSeconds: number;
  now: () => number;
  /** Called once per batched Redis read, with the number of checks it answered. */
  onRoundTrip?: (checks: number) => void;
}

export class SessionGuard {
  // The batch being collected, as parallel arrays swapped on flush: no object per check.
  private sids: string[] = [];
  private users: string[] = [];
  private rooms: (string | undefined)[] = [];
  private callbacks: CheckCallback[] = [];
  private scheduled = false;
  private readonly known = new Map<string, Known>();
  private readonly touchEveryMs: number;
  private readonly flushNow = () => this.flush();
  /** Replies as Buffers: an unchanged record is recognised without decoding it. */
  private readonly raw: ReturnType<typeof bufferClient>;
  /** Redis round trips made by checks (for metrics and the benchmark). */
  roundTrips = 0;
  checks = 0;
  /**
   * Batches sent so far. Commands on one connection run in the order sent, so a write sent
   * after batch `b` went out runs after that batch's reads: its effect is newer than what
   * batch `b` (and any earlier one) saw. (On a cluster a read redirected by MOVED or ASK is
   * sent again, later: it then sees a newer state, still one read after the event arrived.)
   */
  sent = 0;

  constructor(
    private readonly redis: Redis,
    private readonly o: GuardOptions,
  ) {
    this.touchEveryMs = Math.min((o.idleSeconds * 1000) / 10, 60_000);
    this.raw = bufferClient(redis);
  }

  /** Forget a session (its sockets are gone). */
  forget(sid: string): void {
    this.known.delete(sid);
  }

  /**
   * Confirms that session `sid` exists in Redis now, belongs to `userId` and is current; with
   * `room` (a room name, not a DM), also reads the room's kind and the user's standing in it
   * in the same round trip.
   */
  check(sid: string, userId: string, callback: CheckCallback, room?: string): void {
    this.checks++;
    this.sids.push(sid);
    this.users.push(userId);
    this.rooms.push(room);
    this.callbacks.push(callback);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  /** The same check as a promise (connection time, where allocation does not matter). */
  checkAsync(sid: string, userId: string): Promise<CheckResult> {
    return new Promise((resolve) => this.check(sid, userId, resolve));
  }

  private flush(): void {
    const { sids, users, rooms, callbacks } = this;
    this.sids = [];
    this.users = [];
    this.rooms = [];
    this.callbacks = [];
    this.scheduled = false;
    this.roundTrips++;
    const batch = ++this.sent;
    this.o.onRoundTrip?.(sids.length);
    const n = sids.length;
    // Each check reads its session record and its user's generation, and for a room event
    // the room's kind and the user's standing there; duplicate keys (several sockets of one
    // session or user) are fine for MGET.
    const readKeys: string[] = [];
    const at = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      at[i] = readKeys.length;
      const userId = users[i] as string;
      readKeys.push(keys.session(sids[i] as string), keys.userGeneration(userId));
      const room = rooms[i];
      if (room !== undefined) readKeys.push(keys.roomKind(room), keys.roomAccess(room, userId));
    }
    // One MGET on one Redis: the session and the generation are read at one instant. On a
    // cluster they lie in different slots and are read by separate commands, so a check that
    // interleaves with a password change may see the new session with the old generation:
    // the changer's own sockets are then refused once (fail closed) and reconnect.
    mGetAcrossSlots(this.redis, readKeys, (names) => this.raw.mGet(names)).then(
      (values) => {
        const now = this.o.now();
        for (let i = 0; i < n; i++) {
          const j = at[i] as number;
          const result = this.verdict(
            sids[i] as string,
            users[i] as string,
            values[j] ?? null,
            values[j + 1] ?? null,
            now,
          );
          const cb = callbacks[i] as CheckCallback;
          if (rooms[i] === undefined || result !== "ok") cb(result);
          else cb(result, latin1(values[j + 2]), latin1(values[j + 3]), batch);
        }
      },
      () => {
        for (const cb of callbacks) cb("unavailable");
      },
    );
  }

  /** Whether a raw session record lets `userId` act now, under generation `genRaw`. */
  private verdict(
    sid: string,
    userId: string,
    raw: Buffer | null,
    genRaw: Buffer | null,
    now: number,
  ): CheckResult {
    if (raw === null) {
      this.known.delete(sid);
      return "gone";
    }
    let k = this.known.get(sid);
    if (!k?.raw.equals(raw)) {
      const parsed = parse(raw.toString("utf8"));
      const owner = parsed?.passport?.user;
      const createdAt = parsed?.login?.createdAt;
      const gen = parsed?.login?.gen ?? 0;
      const handle = parsed?.login?.handle ?? "";
      if (
        typeof owner !== "string" ||
        typeof createdAt !== "number" ||
        typeof gen !== "number" ||
        typeof handle !== "string"
      ) {
        this.known.delete(sid);
        return "mismatch";
      }
      k = {
        raw,
        userId: owner,
        createdAt,
        generation: gen,
        handle,
        touchedAt: k?.touchedAt ?? now,
        generationRaw: undefined,
        current: false,
      };
      this.known.set(sid, k);
    }
    if (k.userId !== userId) return "mismatch";
    // The generation is parsed only when its bytes differ from what this login last saw.
    if (k.generationRaw === undefined || !sameBytes(k.generationRaw, genRaw)) {
      k.generationRaw = genRaw;
      k.current = loginIsCurrent(
        { gen: k.generation, handle: k.handle },
        parseGeneration(genRaw?.toString("latin1")),
      );
    }
    if (!k.current) return "stale";
    const deadline = k.createdAt + this.o.absoluteSeconds * 1000;
    if (now >= deadline) return "expired";
    if (now - k.touchedAt >= this.touchEveryMs) {
      k.touchedAt = now;
      const ttl = Math.min(this.o.idleSeconds, Math.ceil((deadline - now) / 1000));
      // EXPIRE on a key that was deleted meanwhile is a no-op: activity never revives a login.
      this.redis.expire(keys.session(sid), ttl).catch(() => undefined);
    }
    return "ok";
  }
}

function latin1(b: Buffer | null | undefined): string | null {
  return b ? b.toString("latin1") : null;
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

function parse(raw: string): StoredLogin | undefined {
  try {
    return JSON.parse(raw) as StoredLogin;
  } catch {
    return undefined;
  }
}

function bufferClient(redis: Redis) {
  return redis.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
}
