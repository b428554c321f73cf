// Message ids that count ("<ms>-<n>"), unread counts from them, and the user's list with its
// pending direct messages: the stores against a real Redis.
import { expect } from "chai";
import pino from "pino";
import { MAX_PENDING_DMS } from "../../src/domain/limits.js";
import type { Redis } from "../../src/redis/client.js";
import { connectRedis } from "../../src/redis/connect.js";
import { keys } from "../../src/stores/keys.js";
import { MessageStore } from "../../src/stores/messages.js";
import { RoomStore } from "../../src/stores/rooms.js";
import { testRedisUrl, uniqueName } from "../helpers/parley.js";

describe("message ids that count, and unread counts from them", () => {
  let redis: Redis;
  let messages: MessageStore;
  let rooms: RoomStore;
  const ann = { id: "00000000-0000-4000-8000-00000000000a", username: "ann" };
  const bob = { id: "00000000-0000-4000-8000-00000000000b", username: "bob" };
  before(async () => {
    redis = await connectRedis(testRedisUrl(), pino({ level: "silent" }));
    messages = new MessageStore(redis, 1000);
    rooms = new RoomStore(redis);
  });
  after(async () => {
    await redis?.close();
  });
  const room = () => uniqueName("cnt").replace(/_/g, "-");
  const seqOf = (id: string) => Number(id.split("-")[1]);
  const msOf = (id: string) => Number(id.split("-")[0]);

  it("numbers a room's messages 1, 2, 3… with time parts that never go back", async () => {
    const r = room();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await messages.append(r, ann, `m${i}`, 1)).message.id);
    expect(ids.map(seqOf)).to.deep.equal([1, 2, 3, 4, 5]);
    for (let i = 1; i < ids.length; i++) {
      expect(msOf(ids[i] as string)).to.be.at.least(msOf(ids[i - 1] as string));
    }
    // A counter whose time part is ahead of Redis's clock (a clock stepped back) is kept.
    const ahead = Date.now() + 60_000;
    await redis.hSet(keys.roomCounts(r), "ms", String(ahead));
    const next = (await messages.append(r, ann, "after", 1)).message.id;
    expect(next).to.equal(`${ahead}-6`);
    expect((await messages.page(r, 10)).map((m) => m.text)).to.deep.equal([
      "m0",
      "m1",
      "m2",
      "m3",
      "m4",
      "after",
    ]);
  });

  it("goes on after a stream an older parley wrote, counting only what comes after it", async () => {
    const r = room();
    // Three messages as an older parley wrote them (Redis's own ids).
    for (let i = 0; i < 3; i++) {
      await redis.xAdd(keys.roomMessages(r), "*", { u: bob.id, n: "bob", t: `old ${i}`, ts: "1" });
    }
    const [old] = await redis.xRevRange(keys.roomMessages(r), "+", "-", { COUNT: 1 });
    // An older writer whose clock ran ahead: its last id is in the future.
    const future = `${Date.now() + 30_000}-0`;
    await redis.xAdd(keys.roomMessages(r), future, { u: bob.id, n: "bob", t: "old 3", ts: "1" });
    const first = (await messages.append(r, bob, "new 1", 1)).message.id;
    expect(seqOf(first)).to.equal(1);
    expect(msOf(first)).to.be.above(msOf(future));
    await messages.append(r, bob, "new 2", 1);
    // Ann read up to the old message before the upgrade: the two new ones are unread.
    await redis.hSet(keys.userRooms(ann.id), r, "1");
    await redis.hSet(keys.readPositions(ann.id), r, old?.id ?? "0-0");
    await redis.set(keys.roomKind(r), "public");
    await redis.set(keys.roomAccess(r, ann.id), "member");
    expect((await rooms.list(ann.id)).find((x) => x.room === r)?.unread).to.equal(2);
    // An older parley writing again in a rolling upgrade (an id newer than the counter's).
    const later = `${msOf(first) + 50_000}-0`;
    await redis.xAdd(keys.roomMessages(r), later, { u: bob.id, n: "bob", t: "old 4", ts: "1" });
    const third = (await messages.append(r, bob, "new 3", 1)).message.id;
    expect(seqOf(third)).to.equal(3);
    expect(msOf(third)).to.be.above(msOf(later));
  });

  it("never counts one's own messages, and starts a joiner's count after what the room held", async () => {
    const r = room();
    await rooms.join(r, ann.id, 1);
    for (let i = 0; i < 4; i++) await messages.append(r, ann, `before ${i}`, 1);
    // Bob joins after four messages: none of them is unread for him.
    await rooms.join(r, bob.id, 2);
    const unreadOf = async (id: string) => (await rooms.list(id)).find((x) => x.room === r)?.unread;
    expect(await unreadOf(bob.id)).to.equal(0);
    await messages.append(r, ann, "one", 1);
    await messages.append(r, ann, "two", 1);
    expect(await unreadOf(bob.id)).to.equal(2);
    expect(await unreadOf(ann.id)).to.equal(0);
    // Bob writes: what came before is read.
    await messages.append(r, bob, "reply", 1);
    expect(await unreadOf(bob.id)).to.equal(0);
    expect(await unreadOf(ann.id)).to.equal(1);
  });
});

describe("a user's list: direct messages others start", () => {
  let redis: Redis;
  let rooms: RoomStore;
  before(async () => {
    redis = await connectRedis(testRedisUrl(), pino({ level: "silent" }));
    rooms = new RoomStore(redis);
  });
  after(async () => {
    await redis?.close();
  });
  const id = (n: number) => `00000000-0000-4000-9000-${String(n).padStart(12, "0")}`;

  it("keeps them apart and capped, the oldest leaving first; opening one makes it the user's own", async () => {
    const victim = id(999_999);
    await redis.del([keys.userRooms(victim), keys.readPositions(victim)]);
    for (let i = 0; i < MAX_PENDING_DMS + 5; i++) {
      expect(await rooms.addDm(victim, `dm:${id(i)}:${victim}`, 1000 + i, "dm", "5-0")).to.equal(
        true,
      );
    }
    const list = await redis.hGetAll(keys.userRooms(victim));
    expect(Object.keys(list)).to.have.length(MAX_PENDING_DMS);
    expect(list[`dm:${id(0)}:${victim}`]).to.equal(undefined);
    expect(list[`dm:${id(MAX_PENDING_DMS + 4)}:${victim}`]).to.equal(
      `d:${1000 + MAX_PENDING_DMS + 4}`,
    );
    // The evicted DMs' read positions went with them.
    expect(await redis.hLen(keys.readPositions(victim))).to.equal(MAX_PENDING_DMS);
    // The user's own 300 rooms are untouched: fill 299, then one more fits.
    await redis.hSet(
      keys.userRooms(victim),
      Object.fromEntries(Array.from({ length: 299 }, (_, i) => [`own-${i}`, "0"])),
    );
    expect(await rooms.addDm(victim, `dm:${victim}:${id(1_000_000)}`, 1, "join")).to.equal(true);
    expect(await rooms.addDm(victim, `dm:${victim}:${id(1_000_001)}`, 1, "join")).to.equal(false);
    // Opening a pending one makes it the user's own, within the same cap: not while full.
    const pending = `dm:${id(MAX_PENDING_DMS + 4)}:${victim}`;
    expect(await rooms.addDm(victim, pending, 2, "join")).to.equal(false);
    await redis.hDel(keys.userRooms(victim), "own-0");
    expect(await rooms.addDm(victim, pending, 2, "join")).to.equal(true);
    expect(await redis.hGet(keys.userRooms(victim), pending)).to.equal("2");
  });
});
