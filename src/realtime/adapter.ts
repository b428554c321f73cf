// The Socket.IO Redis adapter: how events reach sockets on the other processes.
//
// Pub/sub adapter: lowest latency for revocations and broadcasts, nothing stored per message;
// the streams adapter's replay is only useful with connection state recovery, which parley
// leaves off so every reconnect re-runs the handshake checks. On a cluster, sharded pub/sub
// (Redis 7): each room's channel lives on one shard, so broadcast traffic spreads over the
// shards instead of reaching every node. Its two connections are wrapped so that a Redis that
// comes and goes cannot crash the process or leave it deaf (adapter-clients.ts).
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import type { Logger } from "../logger.js";
import { isCluster, type Redis } from "../redis/client.js";
import { closeRedis, connectWithin, duplicateRedis } from "../redis/connect.js";
import { steadyPublisher, steadySubscriber } from "./adapter-clients.js";
import type { ParleyIo } from "./socket.js";

/** Attaches the adapter to `io`; resolves with a function that closes its connections. */
export async function attachAdapter(
  io: ParleyIo,
  redis: Redis,
  logger: Logger,
): Promise<() => Promise<void>> {
  const pub = duplicateRedis(redis, logger, "adapter-pub");
  const sub = duplicateRedis(redis, logger, "adapter-sub");
  const close = async () => {
    await Promise.all([closeRedis(pub), closeRedis(sub)]);
  };
  const connected = await Promise.allSettled([
    connectWithin(pub, "adapter-pub"),
    connectWithin(sub, "adapter-sub"),
  ]);
  const failed = connected.find((r) => r.status === "rejected");
  if (failed) {
    await close();
    throw failed.reason;
  }
  const [steadyPub, steadySub] = [steadyPublisher(pub, logger), steadySubscriber(sub, logger)];
  io.adapter(
    isCluster(redis)
      ? createShardedAdapter(steadyPub, steadySub, { subscriptionMode: "dynamic" })
      : // Answers to a process's requests (presence queries) go to that process alone.
        createAdapter(steadyPub, steadySub, {
          requestsTimeout: 2000,
          publishOnSpecificResponseChannel: true,
        }),
  );
  return close;
}
