// The Redis clients parley uses: one Redis (or the primary a Sentinel set names) or a Redis
// Cluster, and the options every connection shares. Disconnected, commands are refused at once
// (no offline queue), so an outage answers 503 or `unavailable` instead of queueing;
// reconnection happens in the background (see connect.ts, and watchdog.ts for a hung Redis).
import type { RedisClientType, RedisClusterType } from "redis";

/** One Redis (or the primary of a Sentinel set), or a Redis Cluster. */
export type Redis = RedisClientType | RedisClusterType;

/** True for a Redis Cluster client (node-redis's cluster has `masters`; a client has not). */
export function isCluster(redis: Redis): redis is RedisClusterType {
  return "masters" in redis;
}

/**
 * Whether Redis can take commands now: the client is ready, or, on a cluster, every primary's
 * connection is (a cluster with a primary away cannot serve that primary's keys).
 */
export function isRedisReady(redis: Redis): boolean {
  if (!isCluster(redis)) return redis.isReady;
  return redis.isOpen && redis.masters.length > 0 && redis.masters.every((m) => m.client?.isReady);
}

/** The port of a redis:// URL (TCP); undefined for rediss:// (TLS). */
export function tcpPortOf(url: string): number | undefined {
  const u = new URL(url);
  return u.protocol === "redis:" ? Number(u.port || 6379) : undefined;
}

export function options(url: string) {
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
