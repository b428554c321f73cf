// Redis Cluster: connecting from the nodes that answer, supervising each node's connection as
// it appears, and following failovers and migrated slots that node-redis would only learn of
// from a MOVED reply.
import type { Logger } from "pino";
import { createClient, createCluster, type RedisClientType, type RedisClusterType } from "redis";
import { options, type Redis } from "./client.js";
import { clusterClock, measureClock } from "./clock.js";
import { within } from "./errors.js";
import { REDIS_REPLY_DEADLINE_MS, type RedisHooks, supervise } from "./watchdog.js";

/**
 * A Redis Cluster client: `nodes` to discover the cluster from, `url` for credentials (its
 * host is not used). Each node's connection has the same watchdog as a single Redis.
 */
export async function connectRedisCluster(
  nodes: readonly { host: string; port: number }[],
  url: string,
  logger: Logger,
  name = "main",
  onError: () => void = () => undefined,
): Promise<Redis> {
  const { socket, ...rest } = options(url);
  const u = new URL(url);
  const credentials = {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
  // node-redis discovers the cluster from the root nodes one after another, and one that
  // accepts but never answers holds it for ever: start from those that answer a PING.
  const answering = await Promise.all(
    nodes.map(async (n) => {
      const probe = createClient({
        socket: { host: n.host, port: n.port, connectTimeout: 1000, reconnectStrategy: false },
        ...credentials,
      });
      probe.on("error", () => undefined);
      try {
        await within(
          probe.connect().then(() => probe.ping()),
          REDIS_REPLY_DEADLINE_MS,
        );
        return n;
      } catch {
        return undefined;
      } finally {
        if (probe.isOpen) probe.destroy();
      }
    }),
  );
  const roots = answering.filter((n) => n !== undefined);
  const cluster = createCluster({
    rootNodes: (roots.length > 0 ? roots : nodes).map((n) => ({
      socket: { host: n.host, port: n.port },
    })),
    defaults: {
      disableOfflineQueue: rest.disableOfflineQueue,
      ...credentials,
      socket,
    },
  }) as unknown as RedisClusterType;
  const unwatch = watchCluster(cluster, name, { logger, onError }, true);
  // node-redis waits for every primary, retrying for ever: bound the wait at start-up.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `cannot connect to the Redis Cluster within ${CLUSTER_START_MS / 1000} s (a node in REDIS_CLUSTER_NODES may be unreachable or hung, or a primary down)`,
          ),
        ),
      CLUSTER_START_MS,
    );
  });
  const connecting = cluster.connect();
  connecting.catch(() => undefined);
  try {
    await Promise.race([connecting, late]);
  } catch (err) {
    unwatch();
    try {
      cluster.destroy();
    } catch {
      // never connected
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return cluster;
}

/** How long a cluster may take to connect at start-up (ms). */
export const CLUSTER_START_MS = 10_000;

/**
 * Supervises each node connection of a cluster as it appears (the cluster announces a node
 * client's first connection; later ones are seen by the client's own events).
 */
export function watchCluster(
  cluster: RedisClusterType,
  name: string,
  hooks: RedisHooks,
  fenced: boolean,
): () => void {
  const clock = clusterClock(cluster);
  const watched = new WeakSet<object>();
  cluster.on("node-connect", (node: { host: string; port: number }) => {
    const shard = [...cluster.masters, ...cluster.replicas].find(
      (m) => m.host === node.host && m.port === node.port,
    );
    const client = shard?.client as RedisClientType | undefined;
    if (!client || watched.has(client)) return;
    watched.add(client);
    const address = `${node.host}:${node.port}`;
    supervise(
      client,
      `${name} ${address}`,
      {
        ...hooks,
        tcpPort: node.port,
        ...(fenced ? { onReady: () => measureClock(client, (o) => clock(address, o)) } : {}),
      },
      true,
    );
  });
  // Each node's connection reports through its watchdog; these only repeat it.
  cluster.on("node-error", () => undefined);
  cluster.on("error", () => hooks.onError?.());

  // node-redis learns a new topology only from a MOVED or ASK reply. With no offline queue,
  // commands for a primary that died fail at once ("offline") and never get one, so after its
  // replica takes over, parley would keep failing for that primary's slots. While a primary's
  // connection is down, ask a live node for the slots again (node-redis's own rediscovery,
  // reached through its cluster's `_slots`: internal, hence the pinned version and the
  // failover test that depends on it).
  const slots = (cluster as unknown as { _slots?: Partial<SlotsInternals> })._slots;
  if (typeof slots?.rediscover !== "function") {
    hooks.logger.error(
      "this node-redis has no cluster rediscovery: failovers will not be followed",
    );
    return () => undefined;
  }
  const rediscover = slots.rediscover.bind(slots);
  let busy = false;
  let announced: string | undefined; // the owners last announced (the first view is not)
  const timer = setInterval(() => {
    if (!cluster.isOpen || busy) return;
    const live = cluster.masters.filter((m) => m.client?.isReady);
    const ask = live[Math.floor(Math.random() * live.length)]?.client as
      | RedisClientType
      | undefined;
    if (!ask) return;
    busy = true;
    const down = live.length < cluster.masters.length;
    // Who serves each slot now, asked of a live primary within the reply deadline (a hung
    // node cannot hold this up), compared with what the client believes.
    // Announced once per real change of owners (a primary that stays down does not repeat
    // it), including one that a MOVED reply, or a rediscovery that outlived its bound, made.
    within(ask.sendCommand<unknown[]>(["CLUSTER", "SLOTS"]), REDIS_REPLY_DEADLINE_MS)
      .then(async (reply) => {
        if (down || slotOwners(reply) !== believedOwners(cluster)) {
          await within(rediscover(ask), REDIS_REPLY_DEADLINE_MS * 2).catch(() => undefined);
        }
      })
      .catch(() => undefined)
      .then(() => {
        const now = believedOwners(cluster);
        if (now === announced) return;
        const first = announced === undefined;
        announced = now;
        if (!first) cluster.emit(TOPOLOGY_CHANGED);
      })
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, REDISCOVER_EVERY_MS);
  timer.unref();
  cluster.on("disconnect", () => clearInterval(timer));
  return () => clearInterval(timer);
}

/** The part of node-redis's cluster internals parley uses (see watchCluster). */
interface SlotsInternals {
  rediscover(startWith: RedisClientType): Promise<void>;
}
/**
 * How often a cluster checks who serves its slots (ms). A failover (graceful or not), a
 * primary that returns as a replica, or a migrated slot is followed within this; node-redis
 * itself only notices from a MOVED reply, which subscriptions and failed commands never get.
 */
const REDISCOVER_EVERY_MS = 1000;

/** Emitted on a cluster client once its view of the slots was renewed (see watchCluster). */
export const TOPOLOGY_CHANGED = "parley:topology-changed";

/** "from-to@host:port" for each slot range of a CLUSTER SLOTS reply, sorted. */
function slotOwners(reply: unknown[]): string {
  return reply
    .map((range) => {
      const [from, to, primary] = range as [number, number, [string, number]];
      return `${from}-${to}@${primary[0]}:${primary[1]}`;
    })
    .sort()
    .join(",");
}

/** The same, as the client believes it. */
function believedOwners(cluster: RedisClusterType): string {
  const ranges: string[] = [];
  const slots = cluster.slots;
  let start = 0;
  for (let i = 1; i <= slots.length; i++) {
    const owner = slots[start]?.master.address;
    if (i === slots.length || slots[i]?.master.address !== owner) {
      ranges.push(`${start}-${i - 1}@${owner}`);
      start = i;
    }
  }
  return ranges.sort().join(",");
}
