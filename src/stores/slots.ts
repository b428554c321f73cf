// Reads and writes that span many keys, made so that they also work on Redis Cluster, where
// one command may only touch keys of one hash slot (see keys.ts for the layout).
//
// On one Redis (or Sentinel) nothing changes: one MGET, one script. On a cluster the keys
// are grouped by slot and each group is sent at once, in parallel: the same single wait for
// the caller, one command per slot touched instead of one in all.
import calculateSlot from "cluster-key-slot";
import type { Logger } from "pino";
import { isCluster, type Redis } from "../redis.js";
import { keys } from "./keys.js";

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

// KEYS: the old name, the new name. Moves a key to its new name (its TTL too) unless a key
// already has the new name; idempotent, so processes starting together may all run it.
const MOVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DEL', KEYS[1]) return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
return 1
`;

/**
 * Moves keys written by parley before the slot-aware layout (version 2) to their new names:
 * users' generations and session indexes, and recent ended-notes. Runs once per Redis (a
 * version key records it); a cluster is always new, so it starts at version 2.
 */
export async function migrateLayout(redis: Redis, logger: Logger): Promise<void> {
  if (isCluster(redis)) {
    await redis.set(keys.layout, "2");
    return;
  }
  if ((await redis.get(keys.layout)) === "2") return;
  const renames: Array<[string, (id: string) => string]> = [
    ["parley:user-gen:", keys.userGeneration],
    ["parley:user-sessions:", keys.userSessions],
    ["parley:ended:", keys.endedSession],
  ];
  let moved = 0;
  for (const [prefix, to] of renames) {
    for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      for (const name of batch as string[]) {
        if (name.includes("{")) continue; // already the new layout
        moved += Number(
          await redis.eval(MOVE, { keys: [name, to(name.slice(prefix.length))], arguments: [] }),
        );
      }
    }
  }
  await redis.set(keys.layout, "2");
  if (moved > 0) {
    logger.info({ event: "redis_layout", version: 2, moved }, `moved ${moved} keys to layout 2`);
  }
}
