// The Socket.IO Redis adapter's two connections, made safe for a Redis that comes and goes.
//
// The adapter fires its Redis calls and forgets them: it never looks at the promise of a
// PUBLISH, a SUBSCRIBE or an UNSUBSCRIBE. With a Redis that is down or dies while a call is in
// flight, each of those is an unhandled rejection, and Node.js ends the process on one. It is
// also worse than a crash for a SUBSCRIBE: node-redis records a subscription only once Redis
// confirmed it, so one that failed is not renewed when the connection comes back, and the
// adapter would stay deaf to every other process (no broadcasts, no revocations) for good.

import type { RedisClusterType } from "redis";
import type { Logger } from "../logger.js";
import { isCluster, isRedisReady, type Redis } from "../redis/client.js";
import { TOPOLOGY_CHANGED } from "../redis/cluster.js";

/** Every (un)subscribe the adapters call, plain, pattern and sharded. */
const SUBSCRIPTIONS = new Set<string | symbol>([
  "subscribe",
  "unsubscribe",
  "pSubscribe",
  "pUnsubscribe",
  "sSubscribe",
  "sUnsubscribe",
]);

/** A publisher whose failures are logged and answered as "nobody received it". */
export function steadyPublisher(pub: Redis, logger: Logger): Redis {
  return new Proxy(pub, {
    get(target, prop, receiver) {
      if (prop === "publish" || prop === "sPublish") {
        return (channel: string, message: string | Buffer) =>
          target[prop](channel, message).catch((err: Error) => {
            logger.debug({ event: "adapter_publish_failed", err: err.message });
            return 0;
          });
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * A subscriber whose (un)subscribes never reject: one that fails is tried again each time the
 * connection is ready, until Redis confirms it. They run one after another, in the order the
 * adapter asked for them, so a leave retried late never undoes a later join.
 */
export function steadySubscriber(sub: Redis, logger: Logger): Redis {
  let chain: Promise<void> = Promise.resolve();

  const untilDone = (method: string, args: unknown[]): Promise<void> =>
    new Promise<void>((resolve) => {
      const attempt = () => {
        if (!sub.isOpen) return resolve(); // closed for good: nothing left to renew
        const call = (sub as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
          method
        ] as (...a: unknown[]) => Promise<unknown>;
        call.apply(sub, args).then(
          () => resolve(),
          (err: Error) => {
            logger.debug({ event: "adapter_subscribe_failed", method, err: err.message });
            // Ready again already (a reply lost in a reset that was since repaired), or a
            // cluster (no "ready" of its own): soon. Otherwise once the connection is back.
            if (isRedisReady(sub)) setTimeout(attempt, 100).unref();
            else if (isCluster(sub)) setTimeout(attempt, 250).unref();
            else sub.once("ready", attempt);
          },
        );
      };
      attempt();
    });

  if (isCluster(sub)) {
    // One renewal waits in the chain at most: changes that come while one waits are covered
    // by it, since it asks for every subscription held when it starts.
    let waiting = false;
    keepShardedSubscriptions(sub, (held) => {
      if (waiting) return;
      waiting = true;
      chain = chain.then(async () => {
        waiting = false;
        for (const args of held()) await untilDone("sSubscribe", args);
      });
    });
  }

  return new Proxy(sub, {
    get(target, prop, receiver) {
      if (typeof prop === "string" && SUBSCRIPTIONS.has(prop)) {
        return (...args: unknown[]) => {
          if (isCluster(target)) remember(target, prop, args);
          chain = chain.then(() => untilDone(prop, args));
          return chain;
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The sharded subscriptions asked for on each cluster: channel -> [listener, bufferMode]. */
const sharded = new WeakMap<object, Map<string, unknown[]>>();

function remember(cluster: object, method: string, args: unknown[]): void {
  const channels = sharded.get(cluster) ?? new Map<string, unknown[]>();
  sharded.set(cluster, channels);
  const [channel, listener] = args as [string | string[] | undefined, unknown];
  const names = channel === undefined ? [...channels.keys()] : [channel].flat();
  for (const name of names) {
    if (method === "sSubscribe") channels.set(name, [name, ...args.slice(1)]);
    // Unsubscribing one listener of a channel the adapter holds with one listener, or all.
    else if (
      method === "sUnsubscribe" &&
      (listener === undefined || channels.get(name)?.[1] === listener)
    ) {
      channels.delete(name);
    }
  }
}

/**
 * On a cluster, a shard's subscriptions live on a connection to that shard's primary. When
 * the primary dies and its replica takes over, node-redis drops that connection with its
 * listeners and renews only non-sharded ones; when a slot moves (a graceful failover, a
 * migration, a primary back as a replica), Redis unsubscribes its channels and node-redis
 * 5.12.1 drops the listeners without renewing them. The adapter would stay deaf to every
 * room (and revocation) whose channel lies there. So whenever the slots' owners change,
 * every sharded subscription the adapter holds is asked for again; node-redis sends nothing
 * for one still in place, and subscribes the lost ones on their new primary.
 */
function keepShardedSubscriptions(
  cluster: RedisClusterType,
  again: (held: () => unknown[][]) => void,
): void {
  const renew = () => again(() => [...(sharded.get(cluster)?.values() ?? [])]);
  // When the client's view of the slots was renewed (a failover, graceful or not, or a
  // migrated slot: Redis itself then unsubscribes the channels it no longer serves) ...
  cluster.on(TOPOLOGY_CHANGED, renew);
  // ... or node-redis renewed it by itself (a MOVED reply) and the primaries differ.
  let primaries = "";
  const timer = setInterval(() => {
    if (!cluster.isOpen) return;
    const now = cluster.masters
      .map((m) => m.address)
      .sort()
      .join(",");
    if (now === primaries) return;
    const first = primaries === "";
    primaries = now;
    if (!first) renew();
  }, RENEW_EVERY_MS);
  timer.unref();
  cluster.on("disconnect", () => clearInterval(timer));
}

/** How often a cluster's primaries are compared with the last ones seen (ms). */
const RENEW_EVERY_MS = 250;
