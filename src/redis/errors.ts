// How parley tells a Redis that is away or slow from a bug: RedisUnavailableError for what
// parley itself decides (a deadline passed, a primary down), isRedisUnavailable for errors
// node-redis and Redis raise.
import { isRedisReady, type Redis } from "./client.js";

/** Redis cannot answer now (down, hung, or a write not confirmed in time): refuse, never allow. */
export class RedisUnavailableError extends Error {
  override readonly name = "RedisUnavailableError";
}

/** Rejects when `p` has not settled within `ms`. */
export function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailableError("Timeout: no answer in time")), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** True when an error came from Redis being unreachable or slow rather than from a bug. */
export function isRedisUnavailable(err: unknown, client: Redis): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof RedisUnavailableError || !isRedisReady(client)) return true;
  return /Timeout|ClientClosed|ClientOffline|SocketClosed|ECONNREFUSED|ECONNRESET|EPIPE|Socket closed|client is (offline|closed)|connection is not ready|Disconnects|READONLY|CLUSTERDOWN|TRYAGAIN|\bLATE write/i.test(
    `${err.name} ${err.message}`,
  );
}
