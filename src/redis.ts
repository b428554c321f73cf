// Creates the Redis clients parley uses, tuned to fail fast and never to act late.
//
// - Disconnected: commands are refused at once (no offline queue), so an outage answers 503
//   or `unavailable` instead of queueing; reconnection happens in the background.
// - Hung (a stopped process, a stalled disk, a half-open connection: no FIN, no RST):
//   node-redis's command timeout only covers a command still waiting to be written, never
//   one already sent, so it cannot help. A watchdog instead keeps one PING in flight per
//   connection: when a PING (queued behind every command before it) has no reply within
//   REDIS_REPLY_DEADLINE_MS, or a new connection is not ready by then, the connection is
//   suspect and is reset with a TCP RST. node-redis then fails every pending command at once
//   and reconnects. The RST matters: a resumed Redis still executes what sits in its socket
//   buffer after a FIN, but discards it after a RST, so nothing that parley already refused
//   (an event answered `unavailable`, a page answered 503) is acted on later. So no Redis
//   call waits longer than the deadline plus one watchdog tick (1.75 s).
import dc from "node:diagnostics_channel";
import type net from "node:net";
import type { Logger } from "pino";
import { createClient, type RedisClientType } from "redis";

export type Redis = RedisClientType;

/** How long a Redis reply may take before its connection is reset (ms). */
export const REDIS_REPLY_DEADLINE_MS = 1500;
/** How often the watchdog looks (ms). */
const WATCH_EVERY_MS = 250;
/** The longest any Redis call can wait before it fails (ms). */
export const REDIS_MAX_WAIT_MS = REDIS_REPLY_DEADLINE_MS + WATCH_EVERY_MS;

// node-redis keeps its socket private. Every TCP client socket is announced on this
// channel when created; a socket's own `connect` event comes first, and node-redis's
// `connect` event follows in the same turn (microtasks only, no other I/O in between), so
// the socket that connected last when a client says "connect" is that client's.
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
}

function options(url: string) {
  return {
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2000,
      // Retry forever with a capped backoff: parley recovers by itself when Redis is back.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000),
    },
  };
}

/** Logs state changes once each, and resets the connection when Redis stops answering. */
function supervise(client: Redis, name: string, hooks: RedisHooks): Redis {
  const { logger } = hooks;
  let up = false;
  let socket: net.Socket | undefined;
  let connectedAt = 0; // a connection that is not ready yet
  let pingSentAt = 0; // the watchdog's PING in flight
  let pingEpoch = 0;
  let closing = false;

  client.on("connect", () => {
    socket = lastConnected;
    connectedAt = performance.now();
  });
  const info = hooks.follower ? logger.debug.bind(logger) : logger.info.bind(logger);
  const error = hooks.follower ? logger.debug.bind(logger) : logger.error.bind(logger);
  client.on("ready", () => {
    connectedAt = 0;
    pingSentAt = 0;
    if (!up) info({ event: "redis_up", client: name }, "redis connection ready");
    up = true;
  });
  client.on("error", (err: Error) => {
    hooks.onError?.();
    connectedAt = 0;
    pingSentAt = 0;
    if (up && !closing)
      error({ event: "redis_down", client: name, err: err.message }, "redis lost");
    up = false;
  });

  const reset = (why: string) => {
    pingSentAt = 0;
    connectedAt = 0;
    pingEpoch++;
    logger.warn(
      { event: "redis_unresponsive", client: name, why, deadlineMs: REDIS_REPLY_DEADLINE_MS },
      "redis did not answer in time: resetting the connection",
    );
    if (socket && !socket.destroyed) socket.resetAndDestroy();
  };

  const timer = setInterval(() => {
    const now = performance.now();
    if (connectedAt > 0) {
      if (now - connectedAt > REDIS_REPLY_DEADLINE_MS) reset("connection not ready");
      return;
    }
    if (!client.isReady) return;
    if (pingSentAt > 0) {
      if (now - pingSentAt > REDIS_REPLY_DEADLINE_MS) reset("no reply");
      return;
    }
    pingSentAt = now;
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

export async function connectRedis(
  url: string,
  logger: Logger,
  name = "main",
  onError: () => void = () => undefined,
): Promise<Redis> {
  const client = supervise(createClient(options(url)) as Redis, name, { logger, onError });
  await client.connect();
  return client;
}

/** Another connection to the same Redis (pub/sub), supervised the same way. */
export function duplicateRedis(client: Redis, logger: Logger, name: string): Redis {
  return supervise(client.duplicate() as Redis, name, { logger, follower: true });
}

/** True when an error came from Redis being unreachable or slow rather than from a bug. */
export function isRedisUnavailable(err: unknown, client: Redis): boolean {
  if (!(err instanceof Error)) return false;
  if (!client.isReady) return true;
  return /Timeout|ClientClosed|ClientOffline|SocketClosed|ECONNREFUSED|ECONNRESET|EPIPE|Connection|Disconnects/i.test(
    `${err.name} ${err.message}`,
  );
}
