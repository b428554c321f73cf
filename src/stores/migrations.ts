// Layout migrations: bringing a Redis written by an older parley to the key layout this one
// writes (run once per Redis at start-up, under a lock; see migrateLayout).
import type { Logger } from "pino";
import { isCluster, type Redis } from "../redis/client.js";
import { runScript } from "../redis/scripts.js";
import { NewerDataError } from "../version.js";
import { isAccountId } from "./accounts.js";
import { keys } from "./keys.js";
import { script } from "./lua.js";

const MOVE = script("layout-move");

/** How long one process may hold the migration before another takes over (ms). */
const MIGRATION_LOCK_MS = 60_000;

/**
 * Brings a Redis written by an older parley to the current layout. Version 2 moved keys to
 * slot-aware names: users' generations and session indexes, and recent ended-notes (a
 * cluster never had the old names). Version 3 lists existing accounts (listAccounts). Runs
 * once per Redis (a version key records it; one process at a time, under a lock). Stop every
 * older parley before starting this version: an older process still running would go on
 * writing the old names, and would create accounts that are not listed.
 */
export async function migrateLayout(redis: Redis, logger: Logger): Promise<void> {
  const found = await redis.get(keys.layout);
  if (found !== null && /^\d+$/.test(found) && Number(found) > Number(LAYOUT)) {
    throw new NewerDataError(`Redis holds key layout ${found} (this parley writes ${LAYOUT})`);
  }
  if (found !== LAYOUT) {
    logger.info(
      { event: "redis_layout", from: found ?? "none", to: LAYOUT },
      `moving Redis from key layout ${found ?? "none"} to ${LAYOUT}`,
    );
  }
  if (isCluster(redis)) {
    if ((await redis.get(keys.layout)) !== LAYOUT) {
      await listAccounts(redis, logger);
      await redis.set(keys.layout, LAYOUT);
    }
    return;
  }
  if ((await redis.get(keys.layout)) === LAYOUT) return;
  const lock = `${keys.layout}-lock`;
  if ((await redis.set(lock, "1", { NX: true, PX: MIGRATION_LOCK_MS })) !== "OK") {
    // Another process is moving the keys: wait for it (or for its lock to lapse).
    const until = Date.now() + MIGRATION_LOCK_MS + 5000;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      if ((await redis.get(keys.layout)) === LAYOUT) return;
      if ((await redis.exists(lock)) === 0) return migrateLayout(redis, logger);
    }
    throw new Error(`another parley has been moving Redis keys to layout ${LAYOUT} for too long`);
  }
  const from = await redis.get(keys.layout);
  if (from === "2" || from === "3") {
    await listAccounts(redis, logger);
    await redis.set(keys.layout, LAYOUT);
    await redis.del(lock);
    return;
  }
  const renames: Array<[string, (id: string) => string, string]> = [
    ["parley:user-gen:", keys.userGeneration, "gen"],
    ["parley:user-sessions:", keys.userSessions, "index"],
    ["parley:ended:", keys.endedSession, "note"],
  ];
  let moved = 0;
  for (const [prefix, to, kind] of renames) {
    for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      const old = (batch as string[]).filter((name) => !name.includes("{"));
      // One batch at a time, pipelined.
      const done = await Promise.all(
        old.map((name) => runScript(redis, MOVE, [name, to(name.slice(prefix.length))], [kind])),
      );
      moved += done.reduce<number>((sum, n) => sum + Number(n), 0);
    }
  }
  if (moved > 0) {
    logger.info({ event: "redis_layout", version: 2, moved }, `moved ${moved} keys to layout 2`);
  }
  await listAccounts(redis, logger);
  await redis.set(keys.layout, LAYOUT);
  await redis.del(lock);
}

/** The key layout this parley writes (see migrateLayout). */
const LAYOUT = "4";

/**
 * Layouts 3 and 4: accounts made before the list of accounts existed are listed, and when no
 * account is an admin yet, the oldest becomes one: it was the first account created on
 * that database. Deactivated accounts join the list's deactivated set (so they do not count
 * as active admins), and registrations an older parley left half-made and listed join the
 * pending ones, past their deadline, to be swept. Idempotent. On a cluster every primary's
 * keys are scanned (the records of different users lie on different shards).
 */
async function listAccounts(redis: Redis, logger: Logger): Promise<void> {
  const prefix = keys.user("");
  const nodes = isCluster(redis)
    ? await Promise.all(redis.masters.map((m) => redis.nodeClient(m)))
    : [redis];
  let listed = 0;
  for (const node of nodes) {
    for await (const batch of node.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      const ids = (batch as string[]).map((k) => k.slice(prefix.length)).filter(isAccountId);
      // Read, then listed (idempotent: NX); the two keys lie in different slots on a cluster.
      const added = await Promise.all(
        ids.map(async (id) => {
          const [username, hash, pending, createdAt, deactivated] = await redis.hmGet(
            keys.user(id),
            ["username", "hash", "pending", "createdAt", "deactivated"],
          );
          if (pending && (await redis.zScore(keys.users, id)) !== null) {
            await redis.zAdd(keys.pendingUsers, { score: 0, value: id }, { condition: "NX" });
          }
          if (!username || !hash || pending) return 0;
          if (deactivated === "1") await redis.sAdd(keys.deactivatedUsers, id);
          return redis.zAdd(
            keys.users,
            { score: Number(createdAt) || 0, value: id },
            { condition: "NX" },
          );
        }),
      );
      listed += added.reduce<number>((sum, n) => sum + Number(n), 0);
    }
  }
  let firstAdmin: string | undefined;
  if ((await redis.sCard(keys.admins)) === 0) {
    firstAdmin = (await redis.zRange(keys.users, 0, 0))[0];
    if (firstAdmin) await redis.sAdd(keys.admins, firstAdmin);
  }
  if (listed > 0 || firstAdmin) {
    logger.info(
      { event: "redis_layout", version: Number(LAYOUT), listed, firstAdmin },
      `listed ${listed} existing accounts${firstAdmin ? "; the oldest is now an admin" : ""}`,
    );
  }
}
