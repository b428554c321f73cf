// Creates the Redis client every part shares, tuned to fail fast: commands are bounded in
// time and refused (not queued) while disconnected, so a Redis outage answers 503 instead of
// hanging requests, and reconnection happens in the background.
import type { Logger } from "pino";
import { createClient, type RedisClientType } from "redis";

export type Redis = RedisClientType;

/** How long any single Redis command may take before it is failed (ms). */
export const REDIS_COMMAND_TIMEOUT_MS = 2000;

export async function connectRedis(
  url: string,
  logger: Logger,
  name = "main",
  onError: () => void = () => undefined,
): Promise<Redis> {
  const client: Redis = createClient({
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout: REDIS_COMMAND_TIMEOUT_MS },
    socket: {
      connectTimeout: 2000,
      // Retry forever with a capped backoff: parley recovers by itself when Redis is back.
      reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 1000),
    },
  });
  // One log line per state change, not one per failed reconnect attempt.
  let up = false;
  client.on("ready", () => {
    if (!up) logger.info({ event: "redis_up", client: name }, "redis connection ready");
    up = true;
  });
  client.on("error", (err: Error) => {
    onError();
    if (up) logger.error({ event: "redis_down", client: name, err: err.message }, "redis lost");
    up = false;
  });
  await client.connect();
  return client;
}

/** True when an error came from Redis being unreachable or slow rather than from a bug. */
export function isRedisUnavailable(err: unknown, client: Redis): boolean {
  if (!(err instanceof Error)) return false;
  if (!client.isReady) return true;
  return /Timeout|ClientClosed|ClientOffline|SocketClosed|ECONNREFUSED|ECONNRESET|EPIPE|Connection/i.test(
    `${err.name} ${err.message}`,
  );
}
