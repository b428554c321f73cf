// Connecting, duplicating, pinging and closing Redis connections, each supervised by the
// watchdog (watchdog.ts) and measuring Redis's clock for fenced writes (clock.ts).
import type { Logger } from "pino";
import { createClient, type RedisClientType, type RedisClusterType } from "redis";
import { isCluster, isRedisReady, options, type Redis, tcpPortOf } from "./client.js";
import { clockOffsets, measureClock } from "./clock.js";
import { CLUSTER_START_MS, watchCluster } from "./cluster.js";
import { RedisUnavailableError, within } from "./errors.js";
import { REDIS_MAX_WAIT_MS, supervise } from "./watchdog.js";

export async function connectRedis(
  url: string,
  logger: Logger,
  name = "main",
  onError: () => void = () => undefined,
): Promise<Redis> {
  const client: RedisClientType = supervise(createClient(options(url)) as RedisClientType, name, {
    logger,
    onError,
    tcpPort: tcpPortOf(url),
    onReady: () => measureClock(client, (offset) => clockOffsets.set(client, offset)),
  });
  await firstConnect(client);
  // Connected is not answering: a server that needs a password (NOAUTH), or something on
  // that port that is not Redis, shows only at the first command. Asked once now, so start-up
  // fails with one line that says which (main.ts).
  await within(client.ping(), REDIS_MAX_WAIT_MS).catch((err: unknown) => {
    client.destroy();
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(
      /NOAUTH|WRONGPASS/.test(message) ? message : `Redis did not answer: ${message}`,
    );
  });
  return client;
}

/**
 * Connects, or fails with the first connection error: at start-up an unreachable Redis is
 * reported at once (main.ts prints one line), instead of being retried for ever in silence.
 * Once connected, the client retries by itself whatever happens.
 */
async function firstConnect(client: RedisClientType): Promise<void> {
  let onError: (err: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    onError = reject;
  });
  client.once("error", onError);
  const connecting = client.connect();
  connecting.catch(() => undefined);
  try {
    await Promise.race([connecting, failed]);
  } catch (err) {
    if (client.isOpen) client.destroy();
    throw err;
  } finally {
    client.off("error", onError);
  }
}

/**
 * Connects another connection (duplicateRedis) at start-up, failing rather than waiting for
 * ever (a cluster's discovery can hang on a node that accepts and never answers).
 */
export async function connectWithin(client: Redis, name: string): Promise<void> {
  const connecting = client.connect() as Promise<unknown>;
  connecting.catch(() => undefined);
  try {
    await within(connecting, CLUSTER_START_MS);
  } catch (err) {
    await closeRedis(client).catch(() => undefined);
    throw new Error(`cannot connect Redis connection "${name}": ${(err as Error).message}`);
  }
}

/**
 * Another connection to the same Redis, supervised the same way: for pub/sub, or (`fenced`)
 * for fenced writes of their own, which need this connection's view of Redis's clock.
 */
export function duplicateRedis(
  client: Redis,
  logger: Logger,
  name: string,
  opts: { fenced?: boolean } = {},
): Redis {
  if (isCluster(client)) {
    // Discovered from the primaries known to answer, not the configured list: a hung node in
    // REDIS_CLUSTER_NODES would hold node-redis's discovery for ever.
    const live = client.masters
      .filter((m) => m.client?.isReady)
      .map((m) => ({ socket: { host: m.host, port: m.port } }));
    const copy = client.duplicate(
      live.length > 0 ? { rootNodes: live } : {},
    ) as unknown as RedisClusterType;
    watchCluster(copy, name, { logger, follower: true }, opts.fenced === true);
    return copy;
  }
  const url = (client.options as { url?: string } | undefined)?.url ?? "redis://localhost";
  const copy: RedisClientType = supervise(client.duplicate() as RedisClientType, name, {
    logger,
    follower: true,
    tcpPort: tcpPortOf(url),
    ...(opts.fenced
      ? { onReady: () => measureClock(copy, (offset) => clockOffsets.set(copy, offset)) }
      : {}),
  });
  return copy;
}

/** PING, answered by every primary of a cluster (a keyless PING goes to one at random). */
export async function pingRedis(redis: Redis): Promise<void> {
  if (!isCluster(redis)) {
    await redis.ping();
    return;
  }
  if (!isRedisReady(redis)) throw new RedisUnavailableError("a cluster primary is down");
  await Promise.all(redis.masters.map((m) => (m.client as RedisClientType).ping()));
}

/**
 * Closes a client, letting replies already asked for arrive, but never waiting longer than
 * any Redis call may (a hung Redis at shutdown would otherwise hold it for ever): then it is
 * destroyed.
 */
export async function closeRedis(client: Redis): Promise<void> {
  if (!client.isOpen) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, REDIS_MAX_WAIT_MS);
  });
  await Promise.race([client.close().catch(() => undefined), late]);
  clearTimeout(timer);
  if (client.isOpen) {
    try {
      client.destroy();
    } catch {
      // already closed
    }
  }
}
