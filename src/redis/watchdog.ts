// The hang watchdog. A hung Redis (a stopped process, a stalled disk, a half-open connection:
// no FIN, no RST) is not noticed by node-redis: its command timeout only covers a command
// still waiting to be written, never one already sent. The watchdog instead keeps one PING in
// flight per connection: when a PING (queued behind every command before it) has no reply
// within REDIS_REPLY_DEADLINE_MS while nothing at all arrives on the connection, or a new
// connection is not ready by then, the connection is suspect and is reset (its TCP socket
// reset; a TLS client, whose socket cannot be found, is destroyed and connected again).
// node-redis then fails every pending command at once and reconnects. A connection whose
// bytes keep arriving is busy, not hung (a long reply ahead of the PING), and is left alone
// for up to REDIS_BUSY_LIMIT_MS (5 s); parley bounds every read by what it returns, so that
// stays short. A PING goes out at most one tick after the last one settled and is judged at
// most one tick late, so on a quiet connection no Redis call waits longer than the deadline
// plus two ticks (1.75 s), and on a busy one no longer than the busy limit plus two ticks; the
// per-event check has its own deadline (2 s). A reset does not unsend what Redis already
// received: a stopped Redis that resumes still runs what sits in its socket buffer, after a
// RST as after a FIN. Writes that must not happen once parley has given up on them are
// therefore fenced (fence.ts).
import dc from "node:diagnostics_channel";
import type net from "node:net";
import calculateSlot from "cluster-key-slot";
import type { Logger } from "pino";
import type { RedisClientType } from "redis";
import { isCluster, type Redis } from "./client.js";

/** How long a Redis reply may take before its connection is reset (ms). */
export const REDIS_REPLY_DEADLINE_MS = 1250;
/**
 * The longest a PING may wait while bytes keep arriving ahead of it (ms): past it the
 * connection is reset all the same. parley's reads are bounded by what they return, so a
 * healthy connection never streams that long; this bounds what any call waits.
 */
export const REDIS_BUSY_LIMIT_MS = 4 * REDIS_REPLY_DEADLINE_MS;
/** How often the watchdog looks (ms). */
export const WATCH_EVERY_MS = 250;
/** The longest any Redis call can wait before it fails (ms). */
export const REDIS_MAX_WAIT_MS = REDIS_REPLY_DEADLINE_MS + 2 * WATCH_EVERY_MS;

// node-redis keeps its socket private. Every TCP client socket is announced on this
// channel when created; a socket's own `connect` event comes first, and node-redis's
// `connect` event follows in the same turn (microtasks only, no other I/O in between), so
// the socket that connected last when a client says "connect" is that client's.
// (TLS sockets are not announced: a TLS client is reset by destroying and reconnecting it.)
let lastConnected: net.Socket | undefined;
dc.subscribe("net.client.socket", (message) => {
  const socket = (message as { socket: net.Socket }).socket;
  socket.once("connect", () => {
    lastConnected = socket;
  });
});

export interface RedisHooks {
  logger: Logger;
  /** Called on every connection error (metrics). */
  onError?: () => void;
  /** Connections that follow the main one (pub/sub) log their state changes at debug. */
  follower?: boolean;
  /** The server's port for a plain TCP connection; undefined for TLS (no socket to reset). */
  tcpPort?: number | undefined;
  /** Called each time the connection becomes ready. */
  onReady?: () => void;
}

/**
 * Logs state changes once each, and resets the connection when Redis stops answering.
 * `connectedNow`: the client is connecting at this very moment (a cluster's node client, whose
 * first connection is announced by the cluster): take the socket that just connected.
 */
export function supervise<C extends RedisClientType>(
  client: C,
  name: string,
  hooks: RedisHooks,
  connectedNow = false,
): C {
  const { logger } = hooks;
  let up = false;
  let socket: net.Socket | undefined;
  let connectedAt = 0; // a connection that is not ready yet
  let pingSentAt = 0; // the watchdog's PING in flight (or the last progress seen since)
  let readAtMark = 0; // bytes the socket had read when pingSentAt was set
  let firstSentAt = 0; // when the PING in flight was sent (progress never moves this)
  let pingEpoch = 0;
  let closing = false;
  let everUp = false;
  pingsInFlight.set(client, () => pingSentAt);

  const connected = () => {
    // Only a plain TCP socket to the server's port is taken for this client's.
    socket =
      hooks.tcpPort !== undefined && lastConnected?.remotePort === hooks.tcpPort
        ? lastConnected
        : undefined;
    connectedAt = performance.now();
  };
  client.on("connect", connected);
  if (connectedNow) connected();
  const info = hooks.follower ? logger.debug.bind(logger) : logger.info.bind(logger);
  const error = hooks.follower ? logger.debug.bind(logger) : logger.error.bind(logger);
  client.on("ready", () => {
    connectedAt = 0;
    pingSentAt = 0;
    // The first connection is not news (start-up says so when it listens, or why it cannot);
    // coming back after a loss is.
    if (!up)
      (everUp ? info : logger.debug.bind(logger))(
        { event: "redis_up", client: name },
        "redis connection ready",
      );
    up = true;
    everUp = true;
    hooks.onReady?.();
  });
  client.on("error", (err: Error) => {
    hooks.onError?.();
    connectedAt = 0;
    pingSentAt = 0;
    if (up && !closing)
      error({ event: "redis_down", client: name, err: err.message }, "redis lost");
    up = false;
  });

  const originalDestroy = client.destroy.bind(client);
  const reset = (why: string) => {
    pingSentAt = 0;
    connectedAt = 0;
    pingEpoch++;
    logger.warn(
      { event: "redis_unresponsive", client: name, why, deadlineMs: REDIS_REPLY_DEADLINE_MS },
      "redis did not answer in time: resetting the connection",
    );
    if (socket && !socket.destroyed) {
      try {
        socket.resetAndDestroy();
        return;
      } catch {
        // not a TCP socket: fall through
      }
    }
    try {
      originalDestroy();
    } catch {
      // already closed
    }
    client.connect().catch(() => undefined);
  };

  // Judged after the poll phase (setImmediate): a reply that arrived while the event loop
  // was busy is read first, so a stalled process does not reset a healthy connection.
  const judge = (why: string, since: () => number) =>
    setImmediate(() => {
      const started = since();
      if (started > 0 && performance.now() - started > REDIS_REPLY_DEADLINE_MS) reset(why);
    });

  const timer = setInterval(() => {
    const now = performance.now();
    if (connectedAt > 0) {
      if (now - connectedAt > REDIS_REPLY_DEADLINE_MS) {
        judge("connection not ready", () => connectedAt);
      }
      return;
    }
    if (!client.isReady) return;
    if (pingSentAt > 0) {
      if (now - pingSentAt <= REDIS_REPLY_DEADLINE_MS) return;
      // Bytes still arriving mean Redis answers: a long reply ahead of the PING (someone's
      // large read) is a busy connection, not a hung one. The wait counts from the last
      // progress seen, so only a connection that has gone quiet for the deadline is reset.
      const read = socket?.bytesRead ?? 0;
      if (read !== readAtMark && now - firstSentAt < REDIS_BUSY_LIMIT_MS) {
        readAtMark = read;
        pingSentAt = now;
        return;
      }
      judge("no reply", () => pingSentAt);
      return;
    }
    pingSentAt = now;
    firstSentAt = now;
    readAtMark = socket?.bytesRead ?? 0;
    const epoch = ++pingEpoch;
    const settle = () => {
      if (epoch === pingEpoch) pingSentAt = 0;
    };
    client.ping().then(settle, settle);
  }, WATCH_EVERY_MS);
  timer.unref();

  // Stopping the client stops its watchdog, and is not an outage worth an error line.
  for (const method of ["close", "destroy", "quit", "disconnect"] as const) {
    const original = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
    if (typeof original !== "function") continue;
    Object.defineProperty(client, method, {
      configurable: true,
      value: (...args: unknown[]) => {
        closing = true;
        clearInterval(timer);
        return original.apply(client, args);
      },
    });
  }
  return client;
}

/** When each connection's watchdog PING in flight was sent (performance.now(); 0 if none). */
const pingsInFlight = new WeakMap<object, () => number>();

/**
 * The earliest moment (Date.now() clock) at which the watchdog may reset the connection that
 * carries a write to `key` sent now. The watchdog resets a connection when its PING has had
 * no reply for the deadline: a PING sent after the write ends that no earlier than the
 * deadline from now, but one already in flight ends it a deadline from when it was sent,
 * which may be any moment from now on.
 */
export function earliestReset(client: Redis, key: string | undefined, now: number): number {
  const node = isCluster(client)
    ? key === undefined
      ? undefined
      : client.slots[calculateSlot(key)]?.master.client
    : client;
  const sent = node ? (pingsInFlight.get(node)?.() ?? 0) : 0;
  const since = sent > 0 ? Math.min(0, sent - performance.now()) : 0;
  return now + since + REDIS_REPLY_DEADLINE_MS;
}
