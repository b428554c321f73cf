// PostgreSQL as the record of messages: the archiver copies messages, edits, deletions and
// mentions out of Redis, trims each room's stream only behind what it copied, history pages
// on past the window into PostgreSQL, and no message is dropped for lack of room.
import http from "node:http";
import { expect } from "chai";
import pg from "pg";
import { Archiver } from "../../src/archive/archiver.js";
import { type ArchiveStore, DELETED_VERSION } from "../../src/archive/store.js";
import type { Message } from "../../src/contract/events.js";
import { fencedEval } from "../../src/redis/fence.js";
import { keys } from "../../src/stores/keys.js";
import { script } from "../../src/stores/lua.js";
import { compareIds, MessageStore, paddedId } from "../../src/stores/messages.js";
import { eventually } from "../helpers/eventually.js";
import { useParley } from "../helpers/fixtures.js";
import { Browser } from "../helpers/http.js";
import {
  PASSWORD,
  startParley,
  type TestParley,
  testDatabaseUrl,
  uniqueName,
} from "../helpers/parley.js";
import type { TestRedis } from "../helpers/redis.js";
import { type ClientSocket, call, connect } from "../helpers/socket.js";

interface Row {
  ms: string;
  seq: string;
  body: string;
  deleted: boolean;
  edited_at: string | null;
  mentions: string[];
  version: string;
}

describe("the archive: PostgreSQL as the record of messages", function () {
  this.timeout(30_000);
  let parley: TestParley;
  let redis: TestRedis;
  let db: pg.Client;
  const sockets: ClientSocket[] = [];
  useParley(
    (p, r) => {
      parley = p;
      redis = r;
    },
    { env: { ROOM_WINDOW: "100", ROOM_BACKLOG: "1000" } },
  );
  before(async () => {
    db = new pg.Client(testDatabaseUrl());
    await db.connect();
  });
  after(async () => {
    for (const s of sockets) s.close();
    await db.end();
  });

  async function person(prefix = "ar") {
    const name = uniqueName(prefix);
    const browser = new Browser(parley.url);
    await browser.register(name, PASSWORD);
    const socket = await connect(parley.url, browser);
    sockets.push(socket);
    return { name, browser, socket };
  }
  let n = 0;
  const room = () => `arch-${Date.now().toString(36)}-${n++}`;

  async function rows(r: string): Promise<Row[]> {
    return (
      await db.query<Row>(
        "SELECT ms, seq, body, deleted, edited_at, mentions, version FROM messages WHERE room = $1 AND NOT withdrawn ORDER BY ms, seq",
        [r],
      )
    ).rows;
  }

  /** A message store on the instance's Redis and archive (sends without the per-user budget). */
  function store(backlog = 1000): MessageStore {
    return new MessageStore(parley.redis, backlog, undefined, parley.archiver, parley.archive);
  }

  /** Every message of a room, paging back through message:history from the newest. */
  async function wholeHistory(socket: ClientSocket, r: string): Promise<Message[]> {
    const out: Message[] = [];
    let before: string | undefined;
    for (;;) {
      const page = await call(socket, "message:history", {
        room: r,
        limit: 100,
        ...(before ? { before } : {}),
      });
      if (!page.ok) throw new Error(JSON.stringify(page));
      out.unshift(...page.messages);
      if (page.messages.length < 100) return out;
      before = page.messages[0]?.id;
    }
  }

  it("copies messages, edits, deletions and mentions into PostgreSQL within a second", async () => {
    const a = await person();
    const b = await person("men");
    const r = room();
    await call(a.socket, "room:join", { room: r });
    await call(b.socket, "room:join", { room: r });
    const sent: string[] = [];
    for (const text of ["first", `hello @${b.name}`, "to be edited", "to be deleted"]) {
      const ack = await call(a.socket, "message:send", { room: r, text });
      if (!ack.ok) throw new Error(JSON.stringify(ack));
      sent.push(ack.message.id);
    }
    await call(a.socket, "message:edit", { room: r, id: sent[2] as string, text: "edited" });
    await call(a.socket, "message:delete", { room: r, id: sent[3] as string });
    const got = await eventually(
      async () => {
        const rs = await rows(r);
        expect(rs.map((x) => x.body)).to.deep.equal(["first", `hello @${b.name}`, "edited", ""]);
        return rs;
      },
      { what: "the room's messages in PostgreSQL", within: 2000 },
    );
    expect(got.map((x) => `${x.ms}-${x.seq}`)).to.deep.equal(sent);
    expect(got[1]?.mentions).to.deep.equal([b.name.toLowerCase()]);
    expect(got[2]?.edited_at).to.not.equal(null);
    expect(got[3]?.deleted).to.equal(true);
    expect(Number(got[3]?.version)).to.equal(DELETED_VERSION);
    // Then Redis hears of it: the cursor is the last message, and nothing is pending.
    await eventually(async () => {
      expect(await redis.hGet(keys.roomCounts(r), "aid")).to.equal(sent[3]);
      expect(await redis.zCard(keys.roomPendingEdits(r))).to.equal(0);
    });
  });

  it("is idempotent: archiving a room again, or an older version again, changes nothing", async () => {
    const a = await person();
    const r = room();
    await call(a.socket, "room:join", { room: r });
    const ack = await call(a.socket, "message:send", { room: r, text: "original" });
    if (!ack.ok) throw new Error("send failed");
    await call(a.socket, "message:edit", { room: r, id: ack.message.id, text: "newer" });
    await parley.archiver.drain();
    const before = await rows(r);
    // Replays: the original version (0) and the edit again.
    const [ms, seq] = ack.message.id.split("-").map(Number) as [number, number];
    const base = { ms, seq, userId: "x", username: "x", ts: 1, deleted: false, mentions: [] };
    await parley.archive.upsert(r, [{ ...base, text: "original", version: 0 }]);
    await parley.archive.upsert(r, [
      { ...base, text: "newer", version: Number(before[0]?.version) },
    ]);
    await redis.hDel(keys.roomCounts(r), ["aid", "a"]);
    parley.archiver.touch(r);
    await parley.archiver.drain();
    expect(await rows(r)).to.deep.equal(before);
  });

  it("trims the stream only behind what PostgreSQL holds, and history pages back to the first message", async () => {
    const a = await person();
    const r = room();
    await call(a.socket, "room:join", { room: r });
    const messages = store();
    const ids: string[] = [];
    for (let i = 0; i < 350; i++) {
      const { message } = await messages.append(r, { id: "u1", username: "writer" }, `m${i}`, i);
      ids.push(message.id);
    }
    // An edit and a deletion far behind the window, before and after archiving.
    await messages.revise(r, ids[10] as string, "u1", { text: "m10 edited" }, 1);
    await parley.archiver.drain();
    await messages.revise(r, ids[20] as string, "u1", { delete: true, moderator: false }, 2);
    const length = await redis.xLen(keys.roomMessages(r));
    expect(length).to.be.below(350).and.at.least(100);
    const t = await redis.hGet(keys.roomCounts(r), "t");
    expect(t).to.be.a("string");
    // Every message, in order, once: the old ones from PostgreSQL, the deletion not yet
    // archived laid over them from Redis.
    const all = await wholeHistory(a.socket, r);
    expect(all.map((m) => m.id)).to.deep.equal(ids);
    expect(all[10]?.text).to.equal("m10 edited");
    expect(all[20]?.deleted).to.equal(true);
    expect(all[20]?.text).to.equal("");
    expect(all[300]?.text).to.equal("m300");
    // A message deep in PostgreSQL, in its context across the boundary with Redis.
    const around = await call(a.socket, "message:around", {
      room: r,
      id: ids[5] as string,
      context: 3,
    });
    if (!around.ok) throw new Error(JSON.stringify(around));
    expect(around.messages.map((m) => m.id)).to.deep.equal(ids.slice(2, 9));
    const last = ids.length - 1;
    const near = await call(a.socket, "message:around", { room: r, id: ids[last] as string });
    if (!near.ok) throw new Error(JSON.stringify(near));
    expect(near.messages.map((m) => m.id)).to.deep.equal(ids.slice(last - 25));
    const missing = await call(a.socket, "message:around", { room: r, id: "1-999999" });
    expect(missing.ok).to.equal(false);
    if (!missing.ok) expect(missing.error.code).to.equal("not_found");
    // The old edits that PostgreSQL holds are gone from Redis; the pending deletion stays.
    await parley.archiver.drain();
    const pendingAfter = await redis.zCard(keys.roomPendingEdits(r));
    expect(pendingAfter).to.equal(0);
    expect(await redis.zCard(keys.roomEdits(r))).to.equal(0);
  });

  it("refuses a send, rather than drop a message, when PostgreSQL is ROOM_BACKLOG behind", async () => {
    const r = room();
    // No archiver behind this store: the room's messages wait.
    const waiting = new MessageStore(parley.redis, 1000);
    for (let i = 0; i < 1000; i++) {
      await waiting.append(r, { id: "u2", username: "w" }, `x${i}`, i);
    }
    let refused: unknown;
    await waiting.append(r, { id: "u2", username: "w" }, "one too many", 1).catch((e) => {
      refused = e;
    });
    expect((refused as Error)?.name).to.equal("RedisUnavailableError");
    expect(await redis.xLen(keys.roomMessages(r))).to.equal(1000);
    // The archiver catches up (the sweep finds the room), and sends go on.
    await redis.sAdd(keys.archiveRooms, r);
    await parley.archiver.sweep();
    await parley.archiver.drain();
    expect((await rows(r)).length).to.equal(1000);
    await waiting.append(r, { id: "u2", username: "w" }, "room again", 2);
  });

  it("replays a batch that was written but not acknowledged (an archiver killed in between)", async () => {
    const r = room();
    // Written behind the instance's archiver's back (no hooks: not marked, not registered),
    // so that only the dying archiver below copies them.
    const messages = new MessageStore(parley.redis, 1000);
    for (let i = 0; i < 30; i++) await messages.append(r, { id: "u3", username: "k" }, `k${i}`, i);
    // This archiver dies after PostgreSQL committed and before Redis heard of it.
    const dying = new Archiver(
      parley.redis,
      {
        upsert: async (room: string, list: Parameters<ArchiveStore["upsert"]>[1]) => {
          await parley.archive.upsert(room, list);
          throw new Error("killed");
        },
      } as unknown as ArchiveStore,
      parley.logs as never,
      parley.metrics,
      { window: 100, retentionDays: 0, now: Date.now },
    );
    await redis.del(keys.archiveLease(r));
    let killed: unknown;
    await dying.archiveRoom(r).catch((e) => {
      killed = e;
    });
    expect((killed as Error)?.message).to.equal("killed");
    expect((await rows(r)).length).to.equal(30);
    expect(await redis.hGet(keys.roomCounts(r), "aid")).to.equal(null);
    // The next archiver (here, the instance's own) writes the batch again: nothing doubles.
    parley.archiver.touch(r);
    await parley.archiver.drain();
    const after = await rows(r);
    expect(after.length).to.equal(30);
    expect(await redis.hGet(keys.roomCounts(r), "a")).to.equal("30");
  });

  it("shares the work between two processes: every message once, none lost", async () => {
    const other = await startParley({ env: { ROOM_WINDOW: "100" } });
    try {
      const r = room();
      const one = store();
      const two = new MessageStore(other.redis, 1000, undefined, other.archiver, other.archive);
      const sends: Promise<{ message: Message }>[] = [];
      for (let i = 0; i < 200; i++) {
        const s = i % 2 === 0 ? one : two;
        sends.push(s.append(r, { id: "u4", username: "two" }, `t${i}`, i));
      }
      const ids = (await Promise.all(sends)).map((x) => x.message.id);
      await eventually(async () => expect((await rows(r)).length).to.equal(200), {
        what: "all 200 messages in PostgreSQL",
        within: 5000,
      });
      const got = (await rows(r)).map((x) => `${x.ms}-${x.seq}`);
      expect(new Set(got)).to.deep.equal(new Set(ids));
    } finally {
      await other.close();
    }
  });

  it("imports the history of a Redis-only installation on its first start", async () => {
    // A room as the parley before PostgreSQL left it: counted ids, counts, an edit, and no
    // trace of an archive (no room set entry, no import mark).
    const r = room();
    const ms = Date.now() - 60_000;
    for (let i = 1; i <= 5; i++) {
      await redis.xAdd(keys.roomMessages(r), `${ms + i}-${i}`, {
        u: "old-user",
        n: "oldtimer",
        t: `old ${i}`,
        ts: String(ms + i),
      });
    }
    await redis.hSet(keys.roomCounts(r), { n: "5", ms: String(ms + 5) });
    await redis.xDel(keys.roomMessages(r), `${ms + 3}-3`);
    await redis.zAdd(keys.roomEdits(r), {
      score: 0,
      value: `${paddedId(`${ms + 3}-3`)}|${JSON.stringify({ u: "old-user", n: "oldtimer", t: "old 3 edited", ts: ms + 3, edited: ms + 10 })}`,
    });
    // And a room from before counting began: ids made by Redis (no counts at all), more
    // than a batch and the window, so the archiver trims it by id only.
    const uncounted = room();
    const old: string[] = [];
    for (let i = 0; i < 700; i++) {
      old.push(
        await redis.xAdd(keys.roomMessages(uncounted), "*", {
          u: "old-user",
          n: "oldtimer",
          t: `older ${i}`,
          ts: String(ms + i),
        }),
      );
    }
    await redis.del(keys.archiveImported);
    const fresh = await startParley({ env: { ROOM_WINDOW: "100" } });
    try {
      await eventually(
        async () =>
          expect((await rows(r)).map((x) => x.body)).to.deep.equal([
            "old 1",
            "old 2",
            "old 3 edited",
            "old 4",
            "old 5",
          ]),
        { what: "the old messages in PostgreSQL", within: 5000 },
      );
      expect(await redis.exists(keys.archiveImported)).to.equal(1);
      expect(await redis.sIsMember(keys.archiveRooms, r)).to.equal(1);
      await eventually(
        async () =>
          expect((await rows(uncounted)).map((x) => `${x.ms}-${x.seq}`)).to.deep.equal(old),
        { what: "all 700 uncounted messages in PostgreSQL", within: 10_000 },
      );
      expect(await redis.xLen(keys.roomMessages(uncounted))).to.be.at.least(100);
    } finally {
      await fresh.close();
    }
  });
  it("keeps the later of two edits, whatever the clocks of the processes that made them", async () => {
    const r = room();
    const messages = store();
    const { message } = await messages.append(r, { id: "u5", username: "e" }, "v0", 1);
    // The first edit on a process whose clock runs a minute ahead, then one made after it.
    await messages.revise(r, message.id, "u5", { text: "first edit" }, Date.now() + 60_000);
    await parley.archiver.drain();
    await messages.revise(r, message.id, "u5", { text: "second edit" }, Date.now());
    await parley.archiver.drain();
    expect((await rows(r)).map((x) => x.body)).to.deep.equal(["second edit"]);
  });

  it("removes from PostgreSQL a message taken back after the archiver copied it", async () => {
    const a = await person();
    const r = room();
    await call(a.socket, "room:join", { room: r });
    const messages = store();
    const kept = await messages.append(r, { id: "u6", username: "t" }, "kept", 1);
    const taken = await messages.append(r, { id: "u6", username: "t" }, "taken back", 2);
    await parley.archiver.drain();
    expect((await rows(r)).length).to.equal(2);
    // What message-append's caller does when the replicas do not confirm in time.
    await fencedEval(
      parley.redis,
      script("message-take-back"),
      [keys.roomMessages(r), keys.roomMessages(r), keys.roomPendingEdits(r), keys.roomCounts(r)],
      [taken.message.id, paddedId(taken.message.id), "u6", "3600"],
    );
    parley.archiver.touch(r);
    await parley.archiver.drain();
    expect((await rows(r)).map((x) => x.body)).to.deep.equal(["kept"]);
    // Kept as a withdrawn row at the highest version: an older copy committed late loses.
    await parley.archive.upsert(r, [
      {
        ms: Number(taken.message.id.split("-")[0]),
        seq: Number(taken.message.id.split("-")[1]),
        userId: "u6",
        username: "t",
        text: "taken back",
        ts: 2,
        deleted: false,
        mentions: [],
        version: 0,
      },
    ]);
    expect((await rows(r)).map((x) => x.body)).to.deep.equal(["kept"]);
    const history = await call(a.socket, "message:history", { room: r });
    if (!history.ok) throw new Error(JSON.stringify(history));
    expect(history.messages.map((m) => m.id)).to.deep.equal([kept.message.id]);
  });

  it("exports a room past its window, in order, once each, with the part not archived yet", async () => {
    const owner = await person();
    const r = room();
    await call(owner.socket, "room:create", { room: r, kind: "public" });
    const messages = store();
    const ids: string[] = [];
    for (let i = 0; i < 1200; i++) {
      ids.push((await messages.append(r, { id: "u7", username: "x" }, `e${i}`, i)).message.id);
    }
    await messages.revise(r, ids[3] as string, "u7", { delete: true, moderator: false }, 1);
    await parley.archiver.drain();
    expect(await redis.xLen(keys.roomMessages(r))).to.be.below(1200);
    ids.push((await messages.append(r, { id: "u7", username: "x" }, "tail", 1)).message.id);
    const res = await owner.browser.get(`/rooms/${r}/export`);
    expect(res.status).to.equal(200);
    const lines = res.body
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Message);
    expect(lines.map((m) => m.id)).to.deep.equal(ids);
    expect(lines[3]).to.include({ deleted: true, text: "" });
    expect(lines.at(-1)?.text).to.equal("tail");
  });
  it("stops an export when its login ends, at the next page", async () => {
    const owner = await person();
    const r = room();
    await call(owner.socket, "room:create", { room: r, kind: "public" });
    const messages = store(100_000);
    const long = "x".repeat(1900);
    for (let i = 0; i < 4000; i++) {
      await messages.append(r, { id: "u8", username: "x" }, `${i} ${long}`, i);
    }
    await parley.archiver.drain();
    // About 8 MB: far more than the socket buffers hold, so the export is mid-way when the
    // login ends.
    const cookie = owner.browser.cookieHeader();
    const received = await new Promise<number>((resolve, reject) => {
      const req = http.get(`${parley.url}/rooms/${r}/export`, { headers: { cookie } }, (res) => {
        expect(res.statusCode).to.equal(200);
        let bytes = 0;
        let loggedOut = false;
        res.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
          if (!loggedOut && bytes > 100_000) {
            loggedOut = true;
            res.pause();
            owner.browser.logout().then(() => res.resume(), reject);
          }
        });
        res.on("end", () => resolve(bytes));
        res.on("error", () => resolve(bytes));
        res.on("aborted", () => resolve(bytes));
      });
      req.on("error", () => undefined);
    });
    expect(received).to.be.below(4000 * 1900);
  });
  it("shows an edit the archiver commits while a page is being read from PostgreSQL", async () => {
    const r = room();
    const writer = store();
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      ids.push((await writer.append(r, { id: "u9", username: "x" }, `p${i}`, i)).message.id);
    }
    await parley.archiver.drain();
    const old = ids[10] as string;
    await writer.revise(r, old, "u9", { text: "p10 edited" }, 1);
    // A reader whose PostgreSQL page is read just before the archiver copies that edit,
    // clears its mark and drops its record from Redis (all before the marks are read).
    let raced = false;
    const reads = {
      page: async (room: string, limit: number, before: string) => {
        const rows = await parley.archive.page(room, limit, before);
        if (!raced) {
          raced = true;
          await parley.archiver.drain();
        }
        return rows;
      },
      after: parley.archive.after.bind(parley.archive),
      one: parley.archive.one.bind(parley.archive),
      many: parley.archive.many.bind(parley.archive),
    };
    const reader = new MessageStore(parley.redis, 1000, undefined, parley.archiver, reads);
    const t = (await redis.hGet(keys.roomCounts(r), "t")) as string;
    expect(compareIds(old, t)).to.be.below(0);
    const page = await reader.page(r, 20, ids[20]);
    expect(raced).to.equal(true);
    expect(page.map((m) => m.id)).to.deep.equal(ids.slice(0, 20));
    expect(page[10]?.text).to.equal("p10 edited");
  });
  it("writes an edit made after the room's edit counter went back (a failover lost increments)", async () => {
    const r = room();
    const messages = store();
    const { message } = await messages.append(r, { id: "u10", username: "e" }, "v0", 1);
    for (const text of ["one", "two", "three"]) {
      await messages.revise(r, message.id, "u10", { text }, Date.now());
    }
    await parley.archiver.drain();
    expect((await rows(r)).map((x) => x.body)).to.deep.equal(["three"]);
    // The replica that took over had not seen the last increments.
    await redis.hSet(keys.roomCounts(r), "ev", "1");
    await messages.revise(r, message.id, "u10", { text: "after the failover" }, Date.now());
    await parley.archiver.drain();
    expect((await rows(r)).map((x) => x.body)).to.deep.equal(["after the failover"]);
    expect(await redis.zCard(keys.roomPendingEdits(r))).to.equal(0);
  });
});
