// Reads and writes that span many keys, made so that they also work on Redis Cluster, where
// one command may only touch keys of one hash slot (see keys.ts for the layout).
//
// On one Redis (or Sentinel) nothing changes: one MGET, one script. On a cluster the keys
// are grouped by slot and each group is sent at once, in parallel: the same single wait for
// the caller, one command per slot touched instead of one in all.
import calculateSlot from "cluster-key-slot";
import { isCluster, type Redis } from "../redis/client.js";
import { runScript } from "../redis/scripts.js";
import { script } from "./lua.js";

/** Splits `items` into groups whose keys (`keyOf`) share a slot; one group on one Redis. */
export function bySlot<T>(redis: Redis, items: readonly T[], keyOf: (item: T) => string): T[][] {
  if (!isCluster(redis)) return [[...items]];
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const slot = calculateSlot(keyOf(item));
    const group = groups.get(slot);
    if (group) group.push(item);
    else groups.set(slot, [item]);
  }
  return [...groups.values()];
}

/**
 * MGET of `names` with `mget` (the client's own, so its type mapping holds), one per slot
 * on a cluster; values come back in the order of `names`.
 */
export async function mGetAcrossSlots<V>(
  redis: Redis,
  names: string[],
  mget: (names: string[]) => Promise<V[]>,
): Promise<(V | undefined)[]> {
  if (!isCluster(redis)) return mget(names);
  const indexes = bySlot(
    redis,
    names.map((_, i) => i),
    (i) => names[i] as string,
  );
  const out = new Array<V | undefined>(names.length);
  await Promise.all(
    indexes.map(async (group) => {
      const values = await mget(group.map((i) => names[i] as string));
      group.forEach((i, j) => {
        out[i] = values[j];
      });
    }),
  );
  return out;
}

const EXISTS_EACH = script("exists-each");

/** Keys per EXISTS_EACH script: Redis is held for well under a millisecond per call. */
const EXISTS_CHUNK = 1000;

/**
 * Whether each of `names` exists, in order: one script per 1,000 keys, not one command per
 * key. On a cluster a script may only read keys of one slot: one per slot with several keys,
 * a plain EXISTS for a key alone in its slot.
 */
export async function existAcrossSlots(redis: Redis, names: readonly string[]): Promise<boolean[]> {
  const out = new Array<boolean>(names.length).fill(false);
  const groups = bySlot(
    redis,
    names.map((_, i) => i),
    (i) => names[i] as string,
  );
  const calls: Promise<void>[] = [];
  for (const group of groups) {
    if (group.length === 1) {
      // Alone in its slot (the usual case on a cluster: session records carry no hash tag):
      // a plain EXISTS, pipelined with the rest.
      const i = group[0] as number;
      calls.push(
        redis.exists(names[i] as string).then((n) => {
          out[i] = n === 1;
        }),
      );
      continue;
    }
    for (let at = 0; at < group.length; at += EXISTS_CHUNK) {
      const part = group.slice(at, at + EXISTS_CHUNK);
      calls.push(
        runScript(
          redis,
          EXISTS_EACH,
          part.map((i) => names[i] as string),
          [],
        ).then((reply) => {
          const flags = reply as number[];
          part.forEach((i, j) => {
            out[i] = flags[j] === 1;
          });
        }),
      );
    }
  }
  await Promise.all(calls);
  return out;
}
