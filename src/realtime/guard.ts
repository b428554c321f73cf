// The per-event session check: the hot path of parley.
//
// Before any socket event runs, its session is confirmed in Redis: the record still exists,
// still belongs to the socket's user, and was made under the user's current credentials
// generation (a password change or "end all other logins" moves it on, so a login that raced
// the change is refused too). The record's shape, parsing and lifetime rules are
// domain/login.ts's.
//
// Cost: checks that arrive in the same turn of the event loop share ONE MGET of each session
// record and its user's generation (flushed on setImmediate), so an event costs one Redis
// round trip when alone and a fraction of one under load (`npm run bench` measures it:
// docs/performance.md has the latest figures). A check never reuses a read that
// started before its event arrived, so nothing that arrived after a logout is processed. A
// record that did not change since the last check is recognised by byte comparison, without
// parsing it again. An event that touches a room's content adds that room's kind and the
// user's standing there to the same MGET (two keys, no extra round trip; see room-policy.ts).
// Activity is recorded as domain/login.ts says: at most one write per session per
// min(idle / 10, 60 s), setting `lastActive` and the idle TTL, capped at the deadline.
import { RESP_TYPES } from "redis";
import { loginIsCurrent, parseGeneration } from "../domain/generation.js";
import {
  activityDue,
  isPastDeadline,
  type LoginLifetime,
  parseLoginRecord,
  ttlSeconds,
} from "../domain/login.js";
import type { Redis } from "../redis/client.js";
import { keys } from "../stores/keys.js";
import { recordActivity } from "../stores/sessions.js";
import { mGetAcrossSlots } from "../stores/slots.js";

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
  /** When it was last checked (the guard's clock), for prune(). */
  seenAt: number;
}

export interface GuardOptions extends LoginLifetime {
  now: () => number;
  /** Called once per batched Redis read, with the number of checks it answered. */
  onRoundTrip?: (checks: number) => void;
  /** A check's callback threw (a bug): told here, the batch's other checks still answered. */
  onCallbackError?: (err: unknown) => void;
}

export class SessionGuard {
  // The batch being collected, as parallel arrays swapped on flush: no object per check.
  private sids: string[] = [];
  private users: string[] = [];
  private rooms: (string | undefined)[] = [];
  private acts: boolean[] = [];
  private callbacks: CheckCallback[] = [];
  private scheduled = false;
  private readonly known = new Map<string, Known>();
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
    this.raw = bufferClient(redis);
  }

  /** Forget a session (its sockets are gone). */
  forget(sid: string): void {
    this.known.delete(sid);
  }

  /** The user a session belonged to when this guard last read it (a hint: checks confirm it). */
  knownUser(sid: string): string | undefined {
    return this.known.get(sid)?.userId;
  }

  /** Sessions whose last read this guard remembers. */
  get cachedSessions(): number {
    return this.known.size;
  }

  /**
   * Forgets sessions not checked in the last `idleMs`: only a cache (the next check of such a
   * session parses its record again), so idle sockets do not each hold a copy of their record.
   */
  prune(idleMs: number): void {
    const before = this.o.now() - idleMs;
    for (const [sid, k] of this.known) if (k.seenAt < before) this.known.delete(sid);
  }

  /**
   * Confirms that session `sid` exists in Redis now, belongs to `userId` and is current; with
   * `room` (a room name, not a DM), also reads the room's kind and the user's standing in it
   * in the same round trip. `activity`: the event is something the user did (policy.ts), so
   * it counts towards the idle timeout.
   */
  check(
    sid: string,
    userId: string,
    callback: CheckCallback,
    room?: string,
    activity = false,
  ): void {
    this.checks++;
    this.sids.push(sid);
    this.users.push(userId);
    this.rooms.push(room);
    this.acts.push(activity);
    this.callbacks.push(callback);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  /**
   * The same check as a promise (connection time, where allocation does not matter). Not
   * activity: connecting is not something the user did on the page.
   */
  checkAsync(sid: string, userId: string): Promise<CheckResult> {
    return new Promise((resolve) => this.check(sid, userId, resolve));
  }

  private flush(): void {
    const { sids, users, rooms, acts, callbacks } = this;
    this.sids = [];
    this.users = [];
    this.rooms = [];
    this.acts = [];
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
            acts[i] as boolean,
          );
          const cb = callbacks[i] as CheckCallback;
          // One callback that throws must not keep the rest of the batch unanswered (each
          // socket's later events wait on its answer).
          try {
            if (rooms[i] === undefined || result !== "ok") cb(result);
            else cb(result, latin1(values[j + 2]), latin1(values[j + 3]), batch);
          } catch (err) {
            this.o.onCallbackError?.(err);
          }
        }
      },
      () => {
        for (const cb of callbacks) {
          try {
            cb("unavailable");
          } catch (err) {
            this.o.onCallbackError?.(err);
          }
        }
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
    activity: boolean,
  ): CheckResult {
    if (raw === null) {
      this.known.delete(sid);
      return "gone";
    }
    let k = this.known.get(sid);
    if (!k?.raw.equals(raw)) {
      const record = parseLoginRecord(raw.toString("utf8"));
      if (!record) {
        this.known.delete(sid);
        return "mismatch";
      }
      k = {
        // A copy: the reply's Buffer is a view into the connection's read chunk (up to 64 KiB,
        // shared with the rest of the batch), which would otherwise stay alive with the entry.
        raw: Buffer.from(raw),
        userId: record.userId,
        createdAt: record.login.createdAt,
        generation: record.login.gen ?? 0,
        handle: record.login.handle,
        // Activity was last recorded when the record says (by a page, or another process).
        touchedAt: Math.max(k?.touchedAt ?? 0, record.login.lastActive),
        generationRaw: undefined,
        current: false,
        seenAt: now,
      };
      this.known.set(sid, k);
    }
    k.seenAt = now;
    if (k.userId !== userId) return "mismatch";
    // The generation is parsed only when its bytes differ from what this login last saw.
    if (k.generationRaw === undefined || !sameBytes(k.generationRaw, genRaw)) {
      k.generationRaw = genRaw && Buffer.from(genRaw);
      k.current = loginIsCurrent(
        { gen: k.generation, handle: k.handle },
        parseGeneration(genRaw?.toString("latin1")),
      );
    }
    if (!k.current) return "stale";
    if (isPastDeadline(k, now, this.o.absoluteSeconds)) return "expired";
    if (activity && activityDue(k.touchedAt, now, this.o.idleSeconds)) {
      k.touchedAt = now;
      recordActivity(this.redis, sid, ttlSeconds(k, now, this.o), now);
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

function bufferClient(redis: Redis) {
  return redis.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
}
