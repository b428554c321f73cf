// Runs one incoming event through the per-event stages: the session check with the event's
// reads (guard.ts), its budget (budgets.ts, chosen by policy.ts's row), its schema
// (schemas.ts), its room standing (room-policy.ts), then its handler (handlers/); every
// outcome answers the ack (when given) with { ok: true, … } or { ok: false, error: { code,
// message } }. A refused session ends the socket: the ack gets `unauthorized`, the socket is
// told why (`session:revoked` with the real reason) and disconnected.
//
// Order: a socket's events are answered and take effect in the order they arrived. Every
// event's reads start at arrival (its session check joins the current batch); then it runs
// only in its turn: after every earlier event of its socket has run, and while none of them
// is still waiting (the Redis-counted send budget, an asynchronous handler: such an event
// holds its socket until it has answered). An event whose turn it is when its check answers
// (the usual case) runs at once, with no allocation for the queue.
//
// This is the hot path: it allocates as little as it can per event (no promise unless the
// handler itself is asynchronous). The clock is read when the event arrives and when its check
// answers (the guard's latency, a metric), and by the local budgets when one is taken.
import type { RateLimiterRedis } from "rate-limiter-flexible";
import type { AckError, ClientEventName, ErrorCode } from "../contract/events.js";
import { MAX_WAITING_EVENTS } from "../domain/limits.js";
import type { Logger } from "../logger.js";
import { REDIS_MAX_WAIT_MS } from "../redis/watchdog.js";
import type { EventBudgets } from "./budgets.js";
import type { Drain } from "./drain.js";
import type { CheckResult, Refusal, SessionGuard } from "./guard.js";
import { EventError, type Handlers } from "./handlers/index.js";
import { EVENT_POLICY } from "./policy.js";
import { admit, ownView, ROOM_REFUSALS, roomOf } from "./room-policy.js";
import { schemas } from "./schemas.js";
import type { ParleySocket } from "./socket.js";

export interface DispatchDeps {
  guard: SessionGuard;
  handlers: Handlers;
  sendLimiter: RateLimiterRedis;
  budgets: EventBudgets;
  /** Tells the socket's session why it ended and disconnects it (once per session). */
  endSession: (socket: ParleySocket, refusal: Refusal) => void;
  /** This process is ending the session right now: its events are refused. */
  isEnding: (sid: string) => boolean;
  logger: Logger;
  /** Told every event's outcome ("ok" or the error code) and its guard time in seconds. */
  observe: (outcome: string, guardSeconds: number) => void;
  /** Counts running events; refuses new ones once shutting down. */
  drain: Drain;
}

type Ack = (r: unknown) => void;
type AnyHandler = (s: ParleySocket, p: unknown, standing: string | null | undefined) => unknown;

const MESSAGES: Record<ErrorCode, string> = {
  unauthorized: "your session has ended: log in again",
  unavailable: "parley cannot reach its session store: try again shortly",
  forbidden: "not allowed",
  not_joined: "join the room first",
  not_found: "not found",
  invalid: "invalid payload",
  rate_limited: "too many events: slow down",
  unknown_event: "unknown event",
};

// Error answers without a custom message never change: build each once.
const FIXED: Record<ErrorCode, AckError> = Object.fromEntries(
  Object.entries(MESSAGES).map(([code, message]) => [
    code,
    { ok: false, error: { code, message } },
  ]),
) as Record<ErrorCode, AckError>;

function fail(code: ErrorCode, message?: string): AckError {
  return message === undefined ? FIXED[code] : { ok: false, error: { code, message } };
}

function isEvent(name: unknown): name is ClientEventName {
  return typeof name === "string" && Object.hasOwn(schemas, name);
}

/**
 * The longest an event waits behind earlier ones before it is answered `unavailable` instead
 * of run: two Redis deadlines (a healthy Redis answers in milliseconds; a send waiting for
 * its replicas takes at most about one second). So while Redis stalls, a socket's queued
 * events are all answered within a few seconds, not one deadline after another.
 */
export const MAX_QUEUE_WAIT_MS = 2 * REDIS_MAX_WAIT_MS;

/**
 * A socket's order: every event takes a number on arrival, and runs (after its check) only
 * when every earlier event of the socket has run and none is still being answered. Checks
 * usually answer in arrival order (one batch after another on one connection), but need not:
 * on a cluster one batch may wait on a slower node than the next.
 */
interface Queue {
  /** Numbers given out so far. */
  arrived: number;
  /** The number of the next event to run. */
  next: number;
  /** An event is running and has not answered (the Redis-counted budget, an async handler). */
  held: boolean;
  /** Checked events that cannot run yet, by number; null: refused already, skip it. */
  waiting: Map<number, (() => void) | null>;
  /** Entries of `waiting` that are steps (not skips). */
  steps: number;
  /** A check refused the session: every later event of the socket is refused too. */
  ended: boolean;
}

const queues = new WeakMap<ParleySocket, Queue>();

function queueOf(socket: ParleySocket): Queue {
  let q = queues.get(socket);
  if (!q) {
    q = { arrived: 0, next: 0, held: false, waiting: new Map(), steps: 0, ended: false };
    queues.set(socket, q);
  }
  return q;
}

/** Runs what is ready, in order, until an event holds the socket or the next is not ready. */
function pump(q: Queue): void {
  while (!q.held) {
    const step = q.waiting.get(q.next);
    if (step === undefined) return;
    q.waiting.delete(q.next);
    q.next++;
    if (step !== null) {
      q.steps--;
      step();
    }
  }
}

function isPromise(v: unknown): v is Promise<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === "function";
}

export function dispatch(d: DispatchDeps, socket: ParleySocket, packet: unknown[]): void {
  const n = packet.length;
  const last = packet[n - 1];
  const ack = n > 1 && typeof last === "function" ? (last as Ack) : undefined;
  if (d.drain.draining) {
    ack?.(fail("unavailable", "the server is shutting down: reconnect shortly"));
    return;
  }
  const event = packet[0];
  const payload = ack && n === 2 ? undefined : packet[1];
  const arrived = performance.now();
  let guardSeconds = 0;
  let held = false;
  const q = queueOf(socket);
  if (q.held && q.arrived - q.next >= MAX_WAITING_EVENTS) {
    ack?.(fail("rate_limited", "too many events waiting for an answer: slow down"));
    return;
  }
  d.drain.begin();
  const seq = q.arrived++;
  const policy = isEvent(event) ? EVENT_POLICY[event] : undefined;
  // A room event reads the room's kind and the user's standing in the session's batch.
  const rule = policy?.room;
  const room = rule ? roomOf(payload) : undefined;
  let roomKind: string | null | undefined;
  let standing: string | null | undefined;
  let batch = 0;

  let replied = false;
  const reply = (r: unknown) => {
    if (replied) return;
    replied = true;
    try {
      const err = (r as AckError).error;
      d.observe(err ? err.code : "ok", guardSeconds);
      ack?.(r);
    } finally {
      // Done, whatever the ack did: the drain and the socket's later events go on.
      d.drain.end();
      if (held) {
        held = false;
        q.held = false;
        pump(q);
      }
    }
  };
  const holdSocket = () => {
    if (!held) {
      held = true;
      q.held = true;
    }
  };

  const failed = (err: unknown) => {
    if (err instanceof EventError) return reply(fail(err.code, err.message));
    d.logger.warn(
      {
        event: "socket_event_failed",
        name: String(event),
        err: err instanceof Error ? err.message : String(err),
      },
      "event failed",
    );
    reply(fail("unavailable"));
  };

  const run = () => {
    if (!isEvent(event)) return reply(fail("unknown_event"));
    const parsed = schemas[event].safeParse(payload);
    if (!parsed.success) return reply(fail("invalid", parsed.error.issues[0]?.message));
    if (rule && room !== undefined) {
      const seen = ownView(socket, room, batch, standing);
      standing = seen.standing;
      const code = admit(rule, roomKind, standing, seen.ownJoinIsNewer);
      if (code) return reply(fail(code, ROOM_REFUSALS[code]));
    }
    let result: unknown;
    try {
      // The schema and the handler are chosen by the same key.
      result = (d.handlers[event] as AnyHandler)(socket, parsed.data, standing);
    } catch (err) {
      return failed(err);
    }
    if (isPromise(result)) {
      holdSocket();
      result.then(reply, failed);
    } else reply(result);
  };

  const afterCheck = (verdict: CheckResult) => {
    if (verdict === "unavailable") return reply(fail("unavailable"));
    if (verdict !== "ok" || q.ended || !socket.connected || d.isEnding(socket.data.sid)) {
      reply(fail("unauthorized"));
      if (verdict !== "ok" && !q.ended && socket.connected) {
        // The session is over: nothing after this event runs, whatever its own read said.
        q.ended = true;
        d.endSession(socket, verdict);
      }
      return;
    }
    if (!policy) {
      if (!d.budgets.take("unknown", socket.data.userId)) return reply(fail("rate_limited"));
      return reply(fail("unknown_event"));
    }
    const budget = policy.budget;
    if (budget === "redis") {
      // Counted in Redis: every such event counts against the sender's limit, accepted or not.
      holdSocket();
      d.sendLimiter.consume(socket.data.userId).then(run, (rej: unknown) => {
        if (rej instanceof Error)
          reply(fail("unavailable")); // Redis error: fail closed
        else reply(fail("rate_limited"));
      });
      return;
    }
    if (!d.budgets.take(budget, socket.data.userId)) return reply(fail("rate_limited"));
    run();
  };

  d.guard.check(
    socket.data.sid,
    socket.data.userId,
    (verdict: CheckResult, kind, stand, readIn) => {
      guardSeconds = (performance.now() - arrived) / 1000;
      roomKind = kind;
      standing = stand;
      batch = readIn ?? 0;
      if (!q.held && seq === q.next) {
        // Its turn (the usual case): run now, then whatever became ready behind it.
        q.next++;
        afterCheck(verdict);
        if (q.waiting.size > 0) pump(q);
      } else if (q.steps >= MAX_WAITING_EVENTS) {
        q.waiting.set(seq, null);
        reply(fail("rate_limited", "too many events waiting for an answer: slow down"));
      } else {
        const readyAt = performance.now();
        q.waiting.set(seq, () => {
          // Waited behind events that each took Redis's whole deadline (a stalled Redis):
          // answered now, not acted on seconds later.
          if (performance.now() - readyAt > MAX_QUEUE_WAIT_MS) reply(fail("unavailable"));
          else afterCheck(verdict);
        });
        q.steps++;
      }
    },
    room,
    policy?.activity ?? false,
  );
}
