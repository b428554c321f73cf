// Redis's clock as parley sees it: the offset between Redis's clock and ours, measured whenever
// a connection becomes ready, so a fenced write can carry a deadline in Redis's own clock.
import calculateSlot from "cluster-key-slot";
import type { RedisClientType, RedisClusterType } from "redis";
import { isCluster, type Redis } from "./client.js";

/**
 * Redis's clock minus ours (ms), measured when each connection becomes ready, as its lower
 * bound: Redis read its clock before the reply reached us. A deadline built on the lower
 * bound falls, in Redis's clock, no later than the moment parley gives up.
 */
export const clockOffsets = new WeakMap<Redis, number>();

export function measureClock(client: RedisClientType, into: (offset: number) => void): void {
  client.time().then(
    (reply) => {
      const [seconds, micros] = reply as unknown as [string, string];
      const theirs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      into(theirs - Date.now());
    },
    () => undefined,
  );
}

/** Each cluster node's clock offset, by address (measured as its connection becomes ready). */
const nodeOffsets = new WeakMap<RedisClusterType, Map<string, number>>();

export function clusterClock(cluster: RedisClusterType): (node: string, offset: number) => void {
  const offsets = new Map<string, number>();
  nodeOffsets.set(cluster, offsets);
  return (node, offset) => {
    offsets.set(node, offset);
  };
}

/**
 * The offset for a write to `key`: on a cluster, that of the primary serving the key's slot
 * (a fence is judged by the clock of the node that runs it); if unknown yet, the lowest
 * known, whose deadline falls earliest.
 */
export function offsetFor(client: Redis, key: string | undefined): number {
  if (!isCluster(client)) return clockOffsets.get(client) ?? 0;
  const offsets = nodeOffsets.get(client);
  if (!offsets || offsets.size === 0) return 0;
  const address = key === undefined ? undefined : client.slots[calculateSlot(key)]?.master.address;
  const own = address === undefined ? undefined : offsets.get(address);
  return own ?? Math.min(...offsets.values());
}
