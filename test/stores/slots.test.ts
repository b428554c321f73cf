import { randomUUID } from "node:crypto";
import { expect } from "chai";
import calculateSlot from "cluster-key-slot";
import pino from "pino";
import type { Redis } from "../../src/redis/client.js";
import { connectRedis } from "../../src/redis/connect.js";
import { AccountStore } from "../../src/stores/accounts.js";
import { keys } from "../../src/stores/keys.js";
import { migrateLayout } from "../../src/stores/migrations.js";
import { existAcrossSlots } from "../../src/stores/slots.js";
import { testRedisUrl, uniqueName } from "../helpers/parley.js";
import { countingCalls, redisClient } from "../helpers/redis.js";

describe("the key layout on Redis Cluster", () => {
  it("puts a session's ended-note in the session's slot, and a user's keys in the user's", () => {
    for (let i = 0; i < 50; i++) {
      const sid = uniqueName("sid");
      const id = uniqueName("user");
      expect(calculateSlot(keys.endedSession(sid))).to.equal(calculateSlot(keys.session(sid)));
      expect(calculateSlot(keys.userGeneration(id))).to.equal(calculateSlot(keys.user(id)));
      expect(calculateSlot(keys.userSessions(id))).to.equal(calculateSlot(keys.user(id)));
    }
    // The records themselves keep their plain names (no tag): they spread over the slots.
    expect(keys.session("abc")).to.equal("parley:sess:abc");
    expect(keys.user("abc")).to.equal("parley:user:abc");
    const slots = new Set(Array.from({ length: 50 }, () => calculateSlot(keys.user(uniqueName()))));
    expect(slots.size).to.be.above(40);
  });

  it("keeps the list of accounts and the sets its scripts read together in one slot", () => {
    const slot = calculateSlot(keys.users);
    for (const k of [keys.admins, keys.deactivatedUsers, keys.pendingUsers, keys.deletedUsers]) {
      expect(calculateSlot(k), k).to.equal(slot);
    }
  });
});

describe("moving keys of the old layout (before version 2)", () => {
  let redis: Redis;
  before(async () => {
    redis = await connectRedis(testRedisUrl(), pino({ level: "silent" }));
  });
  after(async () => {
    await redis?.close();
  });

  it("renames generations, session indexes and ended-notes once, keeping their TTL", async () => {
    const id = uniqueName("old");
    const sid = uniqueName("oldsid");
    await redis.del(keys.layout);
    await redis.set(`parley:user-gen:${id}`, "3:h1");
    await redis.hSet(`parley:user-sessions:${id}`, "h1", sid);
    await redis.set(`parley:ended:${sid}`, "logout", { EX: 600 });
    // Both names exist (an older parley went on writing the old one): they are merged, and a
    // generation never goes back.
    const both = uniqueName("both");
    await redis.set(`parley:user-gen:${both}`, "9:h2");
    await redis.set(keys.userGeneration(both), "7");
    await redis.hSet(`parley:user-sessions:${both}`, { h2: "sid2", h1: "old" });
    await redis.hSet(keys.userSessions(both), "h1", "sid1");
    const lower = uniqueName("lower");
    await redis.set(`parley:user-gen:${lower}`, "2");
    await redis.set(keys.userGeneration(lower), "5:h3");

    await migrateLayout(redis, pino({ level: "silent" }));
    expect(await redis.get(keys.userGeneration(id))).to.equal("3:h1");
    expect(await redis.hGetAll(keys.userSessions(id))).to.deep.equal({ h1: sid });
    expect(await redis.get(keys.endedSession(sid))).to.equal("logout");
    expect(await redis.ttl(keys.endedSession(sid))).to.be.within(590, 600);
    expect(await redis.get(keys.userGeneration(both))).to.equal("9:h2");
    expect(await redis.hGetAll(keys.userSessions(both))).to.deep.equal({ h1: "sid1", h2: "sid2" });
    expect(await redis.get(keys.userGeneration(lower))).to.equal("5:h3");
    expect(
      await redis.exists([
        `parley:user-gen:${id}`,
        `parley:user-sessions:${id}`,
        `parley:ended:${sid}`,
        `parley:user-gen:${both}`,
        `parley:user-sessions:${both}`,
        `parley:user-gen:${lower}`,
      ]),
    ).to.equal(0);
    expect(await redis.get(keys.layout)).to.equal("4");
    expect(await redis.exists(`${keys.layout}-lock`)).to.equal(0);

    // Once recorded, it never runs again.
    await redis.set(`parley:user-gen:${id}`, "9");
    await migrateLayout(redis, pino({ level: "silent" }));
    expect(await redis.get(keys.userGeneration(id))).to.equal("3:h1");
    await redis.del(`parley:user-gen:${id}`);
  });

  it("lets processes that start together wait for the one moving the keys", async () => {
    const id = uniqueName("together");
    await redis.del(keys.layout);
    await redis.set(`parley:user-gen:${id}`, "4");
    const silent = pino({ level: "silent" });
    await Promise.all([migrateLayout(redis, silent), migrateLayout(redis, silent)]);
    expect(await redis.get(keys.userGeneration(id))).to.equal("4");
    expect(await redis.exists(`parley:user-gen:${id}`)).to.equal(0);
    expect(await redis.get(keys.layout)).to.equal("4");
  });

  it("brings a layout-3 database's deactivated and half-made accounts into the list's sets", async () => {
    const db = await redisClient(`${testRedisUrl()}/8`);
    try {
      await db.flushDb();
      await db.set(keys.layout, "3");
      const [admin, off, half] = [randomUUID(), randomUUID(), randomUUID()];
      const rec = (id: string, username: string, extra: Record<string, string> = {}) =>
        db.hSet(keys.user(id), { id, username, hash: "h", createdAt: "1", ...extra });
      await rec(admin, "admin");
      await rec(off, "off", { deactivated: "1" });
      await rec(half, "half", { pending: "1" });
      for (const id of [admin, off, half]) await db.zAdd(keys.users, { score: 1, value: id });
      await db.sAdd(keys.admins, [admin, off]);
      const client = await connectRedis(`${testRedisUrl()}/8`, pino({ level: "silent" }));
      try {
        await migrateLayout(client, pino({ level: "silent" }));
        expect(await db.sMembers(keys.deactivatedUsers)).to.deep.equal([off]);
        expect(await db.zRange(keys.pendingUsers, 0, -1)).to.deep.equal([half]);
        // The deactivated admin does not count: the only active admin stays one.
        const users = new AccountStore(client);
        expect(await users.delist(admin)).to.equal("last");
        // The half-made one is swept by the next count (its deadline long past).
        expect(await users.registrations.count(Date.now())).to.equal(2);
        expect(await db.exists(keys.user(half))).to.equal(0);
      } finally {
        await client.close();
      }
      expect(await db.get(keys.layout)).to.equal("4");
    } finally {
      await db.flushDb();
      await db.close();
    }
  });

  it("lists the accounts of an older parley (layout 2), the oldest as the admin", async () => {
    const db = await redisClient(`${testRedisUrl()}/8`);
    try {
      await db.flushDb();
      await db.set(keys.layout, "2");
      const ids = [randomUUID(), randomUUID(), randomUUID()];
      await db.hSet(keys.user(ids[0] as string), {
        id: ids[0] as string,
        username: "second",
        hash: "h",
        createdAt: "2000",
      });
      await db.hSet(keys.user(ids[1] as string), {
        id: ids[1] as string,
        username: "first",
        hash: "h",
        createdAt: "1000",
      });
      // Half-made (pending) and deleted accounts are not listed.
      await db.hSet(keys.user(ids[2] as string), {
        id: ids[2] as string,
        username: "half",
        hash: "h",
        createdAt: "500",
        pending: "1",
      });
      await db.hSet(keys.user(randomUUID()), { deleted: "1", createdAt: "1" });
      await db.set(keys.userGeneration(ids[0] as string), "1");
      const client = await connectRedis(`${testRedisUrl()}/8`, pino({ level: "silent" }));
      await migrateLayout(client, pino({ level: "silent" })).finally(() => client.close());
      expect(await db.zRange(keys.users, 0, -1)).to.deep.equal([ids[1], ids[0]]);
      expect(await db.sMembers(keys.admins)).to.deep.equal([ids[1]]);
      expect(await db.get(keys.layout)).to.equal("4");
    } finally {
      await db.flushDb();
      await db.close();
    }
  });
});

describe("existAcrossSlots (the sweep's read)", () => {
  let redis: Redis;
  before(async () => {
    redis = await connectRedis(testRedisUrl(), pino({ level: "silent" }));
  });
  after(async () => {
    await redis?.close();
  });

  it("says which of 2,500 keys exist, in order, in three scripts instead of 2,500 commands", async () => {
    const tag = randomUUID();
    const names = Array.from({ length: 2500 }, (_, i) => `test:exists:${tag}:${i}`);
    // Every third key exists; the rest do not (or vanished).
    const present = names.filter((_, i) => i % 3 === 0);
    for (let i = 0; i < present.length; i += 500) {
      await redis.mSet(present.slice(i, i + 500).map((k) => [k, "1"] as [string, string]));
    }
    const { client, calls } = countingCalls(redis, ["eval", "exists"]);
    const exist = await existAcrossSlots(client, names);
    expect(exist).to.have.length(2500);
    expect(exist.every((e, i) => e === (i % 3 === 0))).to.equal(true);
    expect(calls).to.deep.equal({ eval: 3, exists: 0 });
    expect(await existAcrossSlots(client, [])).to.deep.equal([]);
    await redis.del(present);
  });
});
