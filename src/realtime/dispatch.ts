// Runs one incoming event: session check first (guard.ts), then the event's schema, then its
// handler; every outcome answers the ack (when given) with { ok: true, … } or
// { ok: false, error: { code, message } }. Events are taken in arrival order because each
// socket's checks resolve in the order their batched reads were sent.
import type { RateLimiterRedis } from "rate-limiter-flexible";
import type { Logger } from "../logger.js";
import type { AckError, ClientEventName, ErrorCode } from "./events.js";
import type { SessionGuard } from "./guard.js";
import { EventError, type Handlers, type ParleySocket } from "./handlers.js";
import { schemas } from "./schemas.js";

export interface DispatchDeps {
  guard: SessionGuard;
  handlers: Handlers;
  sendLimiter: RateLimiterRedis;
  logger: Logger;
  /** Told every event's outcome ("ok" or the error code) and its guard time in seconds. */
  observe?: (outcome: string, guardSeconds: number) => void;
  /** Events being handled now (shutdown waits for them). */
  inFlight: number;
  /** Shutting down: new events are refused with `unavailable`. */
  draining: boolean;
}

const MESSAGES: Record<ErrorCode, string> = {
  unauthorized: "your session has ended: log in again",
  unavailable: "parley cannot reach its session store: try again shortly",
  forbidden: "not allowed",
  not_joined: "join the room first",
  not_found: "not found",
  invalid: "invalid payload",
  rate_limited: "too many messages: slow down",
  unknown_event: "unknown event",
};

function fail(code: ErrorCode, message = MESSAGES[code]): AckError {
  return { ok: false, error: { code, message } };
}

function isEvent(name: unknown): name is ClientEventName {
  return typeof name === "string" && Object.hasOwn(schemas, name);
}

function ackOf(packet: unknown[]): ((r: unknown) => void) | undefined {
  const last = packet[packet.length - 1];
  return packet.length > 1 && typeof last === "function"
    ? (last as (r: unknown) => void)
    : undefined;
}

export async function dispatch(
  d: DispatchDeps,
  socket: ParleySocket,
  packet: unknown[],
): Promise<void> {
  if (d.draining) {
    ackOf(packet)?.(fail("unavailable", "the server is shutting down: reconnect shortly"));
    return;
  }
  d.inFlight++;
  try {
    await handle(d, socket, packet);
  } finally {
    d.inFlight--;
  }
}

async function handle(d: DispatchDeps, socket: ParleySocket, packet: unknown[]): Promise<void> {
  const [event, ...args] = packet;
  const ack = ackOf(packet);
  const payload = args[0];
  const arrived = performance.now();
  let guardSeconds = 0;
  const reply = (r: unknown) => {
    d.observe?.(
      (r as { ok?: boolean; error?: { code?: string } }).ok
        ? "ok"
        : ((r as AckError).error?.code ?? "invalid"),
      guardSeconds,
    );
    if (ack) ack(r);
  };

  const verdict = await d.guard.check(socket.data.sid, socket.data.userId);
  guardSeconds = (performance.now() - arrived) / 1000;
  if (verdict === "unauthorized") {
    reply(fail("unauthorized"));
    socket.emit("session:revoked", { reason: "expired" });
    socket.disconnect(true);
    return;
  }
  if (verdict === "unavailable") return reply(fail("unavailable"));
  if (!socket.connected) return reply(fail("unauthorized"));

  if (!isEvent(event)) return reply(fail("unknown_event"));
  try {
    if (event === "message:send") {
      const limited = await d.sendLimiter.consume(socket.data.userId).then(
        () => false,
        (rej: unknown) => {
          if (rej instanceof Error) throw rej; // Redis error: fail closed below
          return true;
        },
      );
      if (limited) return reply(fail("rate_limited"));
    }
    const parsed = schemas[event].safeParse(payload);
    if (!parsed.success) {
      return reply(fail("invalid", parsed.error.issues[0]?.message ?? MESSAGES.invalid));
    }
    // The schema and the handler are chosen by the same key.
    const handler = d.handlers[event] as (s: ParleySocket, p: unknown) => unknown;
    reply(await handler(socket, parsed.data));
  } catch (err) {
    if (err instanceof EventError) return reply(fail(err.code, err.message));
    d.logger.warn(
      {
        event: "socket_event_failed",
        name: event,
        err: err instanceof Error ? err.message : String(err),
      },
      "event failed",
    );
    reply(fail("unavailable"));
  }
}
