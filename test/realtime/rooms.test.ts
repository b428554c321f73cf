// Rooms on the server: membership that follows the user to every device, unread counts and
// read positions, the directory, private rooms and invitations, roles and moderation, and
// authorization re-checked per event on every process (a removal or ban holds from the next
// event, even before the socket has left the room).
import { expect } from "chai";
import type { Message, RoomSummary } from "../../src/contract/events.js";
import { keys } from "../../src/stores/keys.js";
import { Browser } from "../helpers/http.js";
import {
  PASSWORD,
  startParley,
  type TestParley,
  testRedisUrl,
  uniqueName,
} from "../helpers/parley.js";
import { redisClient, type TestRedis } from "../helpers/redis.js";
import { type ClientSocket, call, connect, once } from "../helpers/socket.js";

interface Person {
  name: string;
  browser: Browser;
  socket: ClientSocket;
}

describe("rooms on the server", function () {
  this.timeout(20_000);
  let one: TestParley;
  let two: TestParley;
  const sockets: ClientSocket[] = [];
  let n = 0;
  let db: TestRedis;
  before(async () => {
    one = await startParley();
    two = await startParley();
    db = await redisClient(testRedisUrl());
  });
  after(async () => {
    for (const s of sockets) s.close();
    await one?.close();
    await two?.close();
    await db?.close();
  });

  /** A user's id, read from Redis (for writing their standing behind parley's back). */
  const idOf = async (name: string) => (await db.get(keys.username(name))) as string;

  /** Fills a user's list with rooms and invitations of no real room; returns their id. */
  async function fillList(name: string, rooms: number, invitations = 0): Promise<string> {
    const id = await idOf(name);
    const entries: Record<string, string> = {};
    for (let i = 0; i < rooms; i++) entries[`filler-${i}`] = "0";
    for (let i = 0; i < invitations; i++) entries[`invited-${i}`] = "i:0";
    await db.hSet(keys.userRooms(id), entries);
    return id;
  }

  /** Opens a socket for the browser's login, and waits for its list of rooms. */
  async function open(
    browser: Browser,
    on: TestParley = one,
  ): Promise<{ socket: ClientSocket; rooms: RoomSummary[] }> {
    const there = new Browser(on.url);
    there.cookies.set("parley.sid", browser.cookies.get("parley.sid") ?? "");
    let listed: Promise<{ rooms: RoomSummary[] }> | undefined;
    const socket = await connect(on.url, there, {
      before: (s) => {
        listed = once<{ rooms: RoomSummary[] }>(s, "rooms");
      },
    });
    sockets.push(socket);
    return { socket, rooms: (await (listed as Promise<{ rooms: RoomSummary[] }>)).rooms };
  }

  async function person(prefix = "p", on: TestParley = one): Promise<Person> {
    const name = uniqueName(prefix);
    const browser = new Browser(on.url);
    await browser.register(name, PASSWORD);
    const { socket } = await open(browser, on);
    return { name, browser, socket };
  }
  const room = () => `r-${Date.now().toString(36)}-${n++}`;
  const code = (r: unknown) => (r as { error?: { code?: string } }).error?.code;

  it("follows the user to another device: rooms, unread counts and the read position", async () => {
    const a = await person("a");
    const b = await person("b");
    const r = room();
    const joined = await call(a.socket, "room:join", { room: r });
    expect(joined.ok && [joined.kind, joined.role]).to.deep.equal(["public", "owner"]);
    await call(b.socket, "room:join", { room: r });
    const sent: Message[] = [];
    for (const text of ["one", "two", "three"]) {
      const s = await call(b.socket, "message:send", { room: r, text });
      if (s.ok) sent.push(s.message);
    }
    // A's phone (another login, on the other process) gets the room with 3 unread, and is in it.
    const phone = new Browser(two.url);
    await phone.login(a.name, PASSWORD);
    const { socket, rooms } = await open(phone, two);
    expect(rooms.find((x) => x.room === r)).to.deep.include({ role: "owner", unread: 3 });
    const got = once<Message>(socket, "message");
    await call(b.socket, "message:send", { room: r, text: "four" });
    expect((await got).text).to.equal("four");
    // Read on the laptop up to "two": the phone's next list says 2 unread.
    expect((await call(a.socket, "room:read", { room: r, id: sent[1]?.id ?? "" })).ok).to.equal(
      true,
    );
    // A stale tab cannot move the position back.
    await call(a.socket, "room:read", { room: r, id: sent[0]?.id ?? "" });
    const list = await call(socket, "room:list", {});
    expect(list.ok && list.rooms.find((x) => x.room === r)?.unread).to.equal(2);
    // A DM follows both users too.
    const dm = await call(b.socket, "dm:open", { username: a.name });
    if (!dm.ok) throw new Error("dm:open failed");
    await call(b.socket, "room:join", { room: dm.room });
    await call(b.socket, "message:send", { room: dm.room, text: "psst" });
    const again = await call(socket, "room:list", {});
    expect(again.ok && again.rooms.find((x) => x.room === dm.room)).to.deep.include({
      kind: "dm",
      unread: 1,
    });
  });

  it("leaving is for every device, and a left room is not rejoined on connect", async () => {
    const a = await person("a");
    const r = room();
    await call(a.socket, "room:join", { room: r });
    const { socket: second } = await open(a.browser, two);
    const told = once<{ room: string; reason: string }>(second, "room:removed");
    expect(await call(a.socket, "room:leave", { room: r })).to.deep.equal({ ok: true, room: r });
    expect(await told).to.deep.equal({ room: r, reason: "left" });
    const { rooms } = await open(a.browser);
    expect(rooms.map((x) => x.room)).to.not.include(r);
    const send = await call(second, "message:send", { room: r, text: "still here?" });
    expect(code(send)).to.equal("not_joined");
  });

  it("lists public rooms in the directory with topic and member count, and searches by prefix", async () => {
    const a = await person("a");
    const b = await person("b");
    const prefix = `dir-${Date.now().toString(36)}`;
    const created = await call(a.socket, "room:create", {
      room: `${prefix}-x`,
      kind: "public",
      topic: "  all   about x ",
    });
    expect(created.ok && created.topic).to.equal("all about x");
    await call(b.socket, "room:join", { room: `${prefix}-x` });
    await call(a.socket, "room:create", { room: `${prefix}-hidden`, kind: "private" });
    const found = await call(b.socket, "room:directory", { query: prefix });
    expect(found.ok && found.rooms).to.deep.equal([
      { room: `${prefix}-x`, topic: "all about x", members: 2 },
    ]);
    // Creating a room that exists is refused; joining it is the way in.
    const dup = await call(b.socket, "room:create", { room: `${prefix}-x`, kind: "private" });
    expect(code(dup)).to.equal("invalid");
    expect(code(await call(b.socket, "room:directory", { query: "A*" }))).to.equal("invalid");
  });

  it("keeps rooms everyone left from crowding the directory out, and takes them out of its index", async () => {
    const a = await person("a");
    const prefix = `crowd-${Date.now().toString(36)}`;
    // 150 public rooms that everyone left (a join and a leave each), named to sort first.
    const emptied = Array.from(
      { length: 150 },
      (_, i) => `${prefix}-a${String(i).padStart(3, "0")}`,
    );
    await db.zAdd(
      keys.publicRooms,
      emptied.map((value) => ({ score: 0, value })),
    );
    await call(a.socket, "room:join", { room: `${prefix}-z` });
    const found = await call(a.socket, "room:directory", { query: prefix });
    expect(found.ok && found.rooms.map((r) => r.room)).to.deep.equal([`${prefix}-z`]);
    expect(await db.zScore(keys.publicRooms, emptied[0] as string)).to.equal(null);
    expect(await db.zScore(keys.publicRooms, `${prefix}-z`)).to.equal(0);
  });

  it("keeps a private room from those outside it until they are invited", async () => {
    const owner = await person("own");
    const guest = await person("guest");
    const r = room();
    expect((await call(owner.socket, "room:create", { room: r, kind: "private" })).ok).to.equal(
      true,
    );
    await call(owner.socket, "message:send", { room: r, text: "secret" });
    // Outsiders: the room does not exist, for joining, reading and listing members.
    expect(code(await call(guest.socket, "room:join", { room: r }))).to.equal("not_found");
    expect(code(await call(guest.socket, "message:history", { room: r }))).to.equal("not_found");
    expect(code(await call(guest.socket, "room:members", { room: r }))).to.equal("not_found");
    // A member cannot invite; the owner can, and the guest is told.
    const invited = once<{ room: string; by: { username: string } }>(guest.socket, "room:invited");
    expect(
      (await call(owner.socket, "room:invite", { room: r, username: guest.name })).ok,
    ).to.equal(true);
    expect((await invited).by.username).to.equal(owner.name);
    const listed = await call(guest.socket, "room:list", {});
    expect(listed.ok && listed.rooms.find((x) => x.room === r)?.role).to.equal("invited");
    const joined = await call(guest.socket, "room:join", { room: r });
    expect(joined.ok && joined.history.map((m) => m.text)).to.deep.equal(["secret"]);
    const members = await call(guest.socket, "room:members", { room: r });
    expect(members.ok && members.members.map((m) => [m.username, m.role, m.online])).to.deep.equal([
      [owner.name, "owner", true],
      [guest.name, "member", true],
    ]);
    const third = await person("third");
    const refused = await call(guest.socket, "room:invite", { room: r, username: third.name });
    expect(code(refused)).to.equal("forbidden");
  });

  it("lets owners and moderators moderate, and only owners change roles", async () => {
    const owner = await person("own");
    const mod = await person("mod");
    const member = await person("mem");
    const r = room();
    await call(owner.socket, "room:join", { room: r });
    await call(mod.socket, "room:join", { room: r });
    await call(member.socket, "room:join", { room: r });
    expect(code(await call(member.socket, "room:topic", { room: r, topic: "mine" }))).to.equal(
      "forbidden",
    );
    const updated = once<{ member?: { role: string } }>(member.socket, "room:updated");
    const promote = { room: r, username: mod.name, role: "moderator" as const };
    expect((await call(owner.socket, "room:role", promote)).ok).to.equal(true);
    expect((await updated).member?.role).to.equal("moderator");
    const topic = once<{ topic?: string }>(member.socket, "room:updated");
    expect((await call(mod.socket, "room:topic", { room: r, topic: "be kind" })).ok).to.equal(true);
    expect((await topic).topic).to.equal("be kind");
    // A moderator cannot change roles, nor act on the owner.
    const demoteSelf = { room: r, username: member.name, role: "moderator" as const };
    expect(code(await call(mod.socket, "room:role", demoteSelf))).to.equal("forbidden");
    expect(code(await call(mod.socket, "room:remove", { room: r, username: owner.name }))).to.equal(
      "forbidden",
    );
    // Demoted, the moderator loses the power from its next event.
    const demote = { room: r, username: mod.name, role: "member" as const };
    expect((await call(owner.socket, "room:role", demote)).ok).to.equal(true);
    expect(code(await call(mod.socket, "room:topic", { room: r, topic: "again" }))).to.equal(
      "forbidden",
    );
    expect(
      code(await call(owner.socket, "room:remove", { room: r, username: "nobody-x" })),
    ).to.equal("not_found");
  });

  it("removes and bans on every process at once: the next event is refused even before the socket leaves", async () => {
    const owner = await person("own");
    const target = await person("tgt");
    const r = room();
    await call(owner.socket, "room:join", { room: r });
    await call(target.socket, "room:join", { room: r });
    // The target also has a socket on the other process, in the room (joined on connect).
    const { socket: far } = await open(target.browser, two);
    const farTold = once<{ reason: string }>(far, "room:removed");
    const nearTold = once<{ reason: string }>(target.socket, "room:removed");
    const removed = call(owner.socket, "room:remove", { room: r, username: target.name });
    expect((await removed).ok).to.equal(true);
    // Sent the moment the removal is acked: refused by the per-event read, on both processes.
    const [a, b] = await Promise.all([
      call(target.socket, "message:send", { room: r, text: "after removal" }),
      call(far, "message:send", { room: r, text: "after removal, far" }),
    ]);
    expect([code(a), code(b)]).to.deep.equal(["forbidden", "forbidden"]);
    expect((await farTold).reason).to.equal("removed");
    expect((await nearTold).reason).to.equal("removed");
    // No message of the room reaches the removed user any more.
    let leaked = 0;
    far.on("message", (m: Message) => {
      if (m.room === r) leaked++;
    });
    await call(owner.socket, "message:send", { room: r, text: "without you" });
    // A removed member may come back; a banned one may not, until unbanned.
    expect((await call(target.socket, "room:join", { room: r })).ok).to.equal(true);
    expect((await call(owner.socket, "room:ban", { room: r, username: target.name })).ok).to.equal(
      true,
    );
    const rejoin = await call(target.socket, "room:join", { room: r });
    expect(code(rejoin)).to.equal("forbidden");
    expect(code(await call(far, "message:history", { room: r }))).to.equal("forbidden");
    expect(
      (await call(owner.socket, "room:unban", { room: r, username: target.name })).ok,
    ).to.equal(true);
    expect((await call(target.socket, "room:join", { room: r })).ok).to.equal(true);
    expect(leaked).to.equal(0);
  });

  it("stores nothing a banned user sends after the ban is answered, while they keep sending through it", async () => {
    const owner = await person("own");
    const target = await person("tgt");
    const r = room();
    await call(owner.socket, "room:join", { room: r });
    await call(target.socket, "room:join", { room: r });
    let bannedAt = 0;
    const sends: { started: number; ok: boolean; id?: string }[] = [];
    let sent = 0;
    const send = async () => {
      const started = performance.now();
      const res = await call(target.socket, "message:send", { room: r, text: `spam ${sent++}` });
      sends.push({ started, ok: res.ok, ...(res.ok ? { id: res.message.id } : {}) });
      if (!res.ok) expect(code(res)).to.equal("forbidden");
    };
    // The first send is accepted before the ban; then sends go on one after another while the
    // ban is under way, until it is answered (at most 14 in all: the send budget is 20)...
    await send();
    expect(sends[0]?.ok, "the send before the ban").to.equal(true);
    const racing = (async () => {
      while (bannedAt === 0 && sent < 14) await send();
    })();
    expect((await call(owner.socket, "room:ban", { room: r, username: target.name })).ok).to.equal(
      true,
    );
    bannedAt = performance.now();
    await racing;
    // ...and exactly three more after it was answered.
    for (let i = 0; i < 3; i++) await send();
    // Every send that started after the ban was answered was refused...
    const late = sends.filter((x) => x.started > bannedAt);
    expect(late).to.have.length(3);
    expect(late.every((x) => !x.ok)).to.equal(true);
    // ...and the room holds exactly the accepted ones.
    const history = await call(owner.socket, "message:history", { room: r, limit: 100 });
    const stored = history.ok ? history.messages.filter((m) => m.text.startsWith("spam")) : [];
    expect(stored.map((m) => m.id)).to.deep.equal(sends.filter((x) => x.ok).map((x) => x.id));
  });

  it("reads standing from Redis on every event: a change no socket was told of holds at once", async () => {
    const owner = await person("own");
    const target = await person("tgt");
    const r = room();
    await call(owner.socket, "room:create", { room: r, kind: "private" });
    await call(owner.socket, "room:invite", { room: r, username: target.name });
    await call(target.socket, "room:join", { room: r });
    expect((await call(target.socket, "typing", { room: r })).ok).to.equal(true);
    // Standing changed behind every process's back (the socket is still in the room).
    const id = await idOf(target.name);
    await db.set(keys.roomAccess(r, id), "banned");
    expect(code(await call(target.socket, "message:send", { room: r, text: "x" }))).to.equal(
      "forbidden",
    );
    await db.del(keys.roomAccess(r, id));
    expect(code(await call(target.socket, "typing", { room: r }))).to.equal("not_found");
    expect(code(await call(target.socket, "message:history", { room: r }))).to.equal("not_found");
    await db.set(keys.roomAccess(r, id), "member");
    expect((await call(target.socket, "message:send", { room: r, text: "y" })).ok).to.equal(true);
  });

  it("lets no refused join vouch for a send sent with it, though the socket is still in the room", async () => {
    const owner = await person("own");
    const target = await person("tgt");
    const r = room();
    await call(owner.socket, "room:join", { room: r });
    await call(target.socket, "room:join", { room: r });
    // Banned behind every process's back: the socket has not left the room.
    const id = await idOf(target.name);
    await db.set(keys.roomAccess(r, id), "banned");
    const [joined, sent] = await Promise.all([
      call(target.socket, "room:join", { room: r }),
      call(target.socket, "message:send", { room: r, text: "slipped through?" }),
    ]);
    expect([code(joined), code(sent)]).to.deep.equal(["forbidden", "forbidden"]);
  });

  it("takes a socket out of a room whose leave never reached its process (the standing sweep)", async () => {
    const quick = await startParley({ sweepIntervalMs: 100 });
    try {
      const owner = await person("own");
      const b = new Browser(quick.url);
      const name = uniqueName("tgt");
      await b.register(name, PASSWORD);
      const { socket } = await open(b, quick);
      const r = room();
      await call(owner.socket, "room:join", { room: r });
      await call(socket, "room:join", { room: r });
      const id = await idOf(name);
      const told = once<{ room: string; reason: string }>(socket, "room:removed", 5000);
      await db.del(keys.roomAccess(r, id));
      expect(await told).to.deep.equal({ room: r, reason: "removed" });
      let leaked = 0;
      socket.on("message", () => leaked++);
      await call(owner.socket, "message:send", { room: r, text: "not for you" });
      // A fixed wait, deliberately: nothing may arrive within it (the message crosses
      // processes through Redis, so a barrier on this socket would not cover it).
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(leaked).to.equal(0);
    } finally {
      await quick.close();
    }
  });

  it("hands the room to a member when there is no moderator, and to the next joiner when it is empty", async () => {
    const owner = await person("own");
    const member = await person("mem");
    const r = room();
    await call(owner.socket, "room:create", { room: r, kind: "public", topic: "kept" });
    await call(member.socket, "room:join", { room: r });
    await call(owner.socket, "room:leave", { room: r });
    const roles = await call(member.socket, "room:members", { room: r });
    expect(roles.ok && roles.members.map((m) => [m.username, m.role])).to.deep.equal([
      [member.name, "owner"],
    ]);
    await call(member.socket, "room:leave", { room: r });
    // Nobody left: the room keeps its topic, and whoever joins next owns it.
    const next = await call(owner.socket, "room:join", { room: r });
    expect(next.ok && [next.role, next.topic]).to.deep.equal(["owner", "kept"]);
    // A private room's name is taken for others too (that is all they learn).
    const p = room();
    await call(owner.socket, "room:create", { room: p, kind: "private", topic: "secret topic" });
    const probe = await call(member.socket, "room:create", { room: p, kind: "public" });
    expect(code(probe)).to.equal("invalid");
    expect(JSON.stringify(probe)).to.not.include("secret topic");
  });

  it("edits and deletes messages for everyone and every later read, keeping no original text", async () => {
    const owner = await person("own");
    const author = await person("auth");
    const other = await person("oth");
    const r = room();
    for (const p of [owner, author, other]) await call(p.socket, "room:join", { room: r });
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const sent = await call(author.socket, "message:send", { room: r, text: `original ${i}` });
      if (sent.ok) ids.push(sent.message.id);
    }
    const [m1, m2, m3, , m5] = ids as [string, string, string, string, string];
    const updated = once<Message>(other.socket, "message:updated");
    const edited = await call(author.socket, "message:edit", { room: r, id: m2, text: "fixed 2" });
    expect(edited.ok && [edited.message.text, typeof edited.message.edited]).to.deep.equal([
      "fixed 2",
      "number",
    ]);
    expect((await updated).text).to.equal("fixed 2");
    // Edited twice: the later text wins.
    await call(author.socket, "message:edit", { room: r, id: m2, text: "fixed 2 again" });
    // Only the author edits; the author or a moderator deletes; a member cannot.
    expect(code(await call(other.socket, "message:edit", { room: r, id: m3, text: "x" }))).to.equal(
      "forbidden",
    );
    expect(code(await call(other.socket, "message:delete", { room: r, id: m3 }))).to.equal(
      "forbidden",
    );
    expect((await call(author.socket, "message:delete", { room: r, id: m5 })).ok).to.equal(true);
    const byOwner = await call(owner.socket, "message:delete", { room: r, id: m1 });
    expect(byOwner.ok && byOwner.message.deleted).to.equal(true);
    expect(
      code(await call(author.socket, "message:edit", { room: r, id: m1, text: "y" })),
    ).to.equal("not_found");
    expect(
      code(await call(author.socket, "message:edit", { room: r, id: "1-0", text: "y" })),
    ).to.equal("not_found");
    // Every later read, page by page, sees the edits and tombstones in place.
    const pages: Message[] = [];
    let before: string | undefined;
    for (;;) {
      const page = await call(other.socket, "message:history", {
        room: r,
        limit: 2,
        ...(before ? { before } : {}),
      });
      if (!page.ok || page.messages.length === 0) break;
      pages.unshift(...page.messages);
      before = page.messages[0]?.id;
    }
    expect(pages.map((m) => [m.id, m.deleted ? "(deleted)" : m.text])).to.deep.equal([
      [m1, "(deleted)"],
      [m2, "fixed 2 again"],
      [m3, "original 3"],
      [ids[3], "original 4"],
      [m5, "(deleted)"],
    ]);
    // The original texts are gone from Redis.
    const entries = await db.xRange(keys.roomMessages(r), "-", "+");
    const stored = [
      ...entries.map((e) => JSON.stringify(e.message)),
      ...(await db.zRange(keys.roomEdits(r), 0, -1)),
    ].join("\n");
    expect(stored).to.include('"fixed 2 again"');
    for (const gone of ['"original 1"', '"original 2"', '"fixed 2"', '"original 5"']) {
      expect(stored).to.not.include(gone);
    }
  });

  it("records mentions of members: an event, and a count that lasts until the room is read", async () => {
    const a = await person("a");
    const b = await person("b");
    const outsider = await person("out");
    const r = room();
    await call(a.socket, "room:join", { room: r });
    await call(b.socket, "room:join", { room: r });
    const mentioned = once<{ room: string; message: Message }>(b.socket, "mention");
    let outsiderTold = 0;
    outsider.socket.on("mention", () => outsiderTold++);
    const sent = await call(a.socket, "message:send", {
      room: r,
      text: `hey @${b.name.toUpperCase()} and @${outsider.name}, mail me at x@${b.name}`,
    });
    expect((await mentioned).message.id).to.equal(sent.ok && sent.message.id);
    const listed = await call(b.socket, "room:list", {});
    expect(listed.ok && listed.rooms.find((x) => x.room === r)?.mentions).to.equal(1);
    // Read: the count goes (on every device).
    await call(b.socket, "room:read", { room: r, id: sent.ok ? sent.message.id : "" });
    const after = await call(b.socket, "room:list", {});
    expect(after.ok && after.rooms.find((x) => x.room === r)?.mentions).to.equal(0);
    expect(outsiderTold).to.equal(0);
  });

  it("bounds a user's list: no join past 300 rooms (invitations are counted apart)", async () => {
    const owner = await person("own");
    const victim = await person("vic");
    const id = await fillList(victim.name, 300);
    const r = room();
    await call(owner.socket, "room:create", { room: r, kind: "private" });
    const invited = await call(owner.socket, "room:invite", { room: r, username: victim.name });
    expect(invited.ok).to.equal(true);
    expect(code(await call(victim.socket, "room:join", { room: room() }))).to.equal("rate_limited");
    expect(await db.hLen(keys.userRooms(id))).to.equal(301);
  });

  it("refuses to create past the list's cap, and a removed member of a private room needs a new invitation", async () => {
    const owner = await person("own");
    const member = await person("mem");
    const r = room();
    await call(owner.socket, "room:create", { room: r, kind: "private" });
    await call(owner.socket, "room:invite", { room: r, username: member.name });
    expect((await call(member.socket, "room:join", { room: r })).ok).to.equal(true);
    await call(owner.socket, "room:remove", { room: r, username: member.name });
    // Removed: reading and rejoining the private room are refused until invited again.
    expect(code(await call(member.socket, "message:history", { room: r }))).to.equal("forbidden");
    expect(code(await call(member.socket, "room:join", { room: r }))).to.equal("not_found");
    expect(
      (await call(owner.socket, "room:invite", { room: r, username: member.name })).ok,
    ).to.equal(true);
    expect((await call(member.socket, "room:join", { room: r })).ok).to.equal(true);
    // A full list: creating is refused as such, not as a taken name.
    await fillList(member.name, 300);
    const created = await call(member.socket, "room:create", { room: room(), kind: "public" });
    expect(code(created)).to.equal("rate_limited");
  });

  it("keeps invitations from others apart: 50 pending at most, and they never stop the invitee joining", async () => {
    const spammer = await person("spam");
    const victim = await person("vic");
    // 299 rooms of the victim's own and 49 invitations already.
    const id = await fillList(victim.name, 299, 49);
    const rooms = [room(), room()];
    for (const r of rooms) await call(spammer.socket, "room:create", { room: r, kind: "private" });
    const first = await call(spammer.socket, "room:invite", {
      room: rooms[0] as string,
      username: victim.name,
    });
    expect(first.ok).to.equal(true);
    const second = await call(spammer.socket, "room:invite", {
      room: rooms[1] as string,
      username: victim.name,
    });
    expect(code(second)).to.equal("rate_limited");
    // The 50 invitations take none of the victim's 300 rooms: the 300th join works.
    expect((await call(victim.socket, "room:join", { room: room() })).ok).to.equal(true);
    expect(code(await call(victim.socket, "room:join", { room: room() }))).to.equal("rate_limited");
    // Taking up an invitation makes it one of the user's own rooms, within the same cap: the
    // list is full, so it waits until the user leaves one (an invitation never adds a 301st).
    const taken = await call(victim.socket, "room:join", { room: rooms[0] as string });
    expect(code(taken)).to.equal("rate_limited");
    expect(await db.hGet(keys.userRooms(id), rooms[0] as string)).to.match(/^i:/);
    await call(victim.socket, "room:leave", { room: "filler-0" });
    expect((await call(victim.socket, "room:join", { room: rooms[0] as string })).ok).to.equal(
      true,
    );
    expect(await db.hGet(keys.userRooms(id), rooms[0] as string)).to.not.match(/^i:/);
    expect(await db.hLen(keys.userRooms(id))).to.equal(300 + 49);
  });

  it("answers an edit made with a zero-padded id under the message's own id", async () => {
    const a = await person("a");
    const b = await person("b");
    const r = room();
    await call(a.socket, "room:join", { room: r });
    await call(b.socket, "room:join", { room: r });
    const sent = await call(a.socket, "message:send", { room: r, text: "padded" });
    if (!sent.ok) throw new Error("send failed");
    const [ms, seq] = sent.message.id.split("-");
    const seen = once<Message>(b.socket, "message:updated");
    const edited = await call(a.socket, "message:edit", {
      room: r,
      id: `000${ms}-00${seq}`,
      text: "unpadded",
    });
    expect(edited.ok && edited.message.id).to.equal(sent.message.id);
    expect((await seen).id).to.equal(sent.message.id);
  });

  it("announces a crowd leaving a room once, with the members still there", async () => {
    const stay = await person("stay");
    const r = room();
    await call(stay.socket, "room:join", { room: r });
    type Presence = {
      room: string;
      members?: { username: string }[];
      left?: { username: string }[];
    };
    const seen: Presence[] = [];
    let waiting: { done: (p: Presence) => boolean; resolve: () => void } | undefined;
    stay.socket.on("presence", (p: Presence) => {
      if (p.room !== r) return;
      seen.push(p);
      if (waiting?.done(p)) waiting.resolve();
    });
    const presence = (done: (p: Presence) => boolean) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no such presence within 3 s")), 3000);
        waiting = {
          done,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    const crowd: Person[] = [];
    const allIn = presence((p) => p.members?.length === 7);
    for (let i = 0; i < 6; i++) {
      const p = await person("go");
      await call(p.socket, "room:join", { room: r });
      crowd.push(p);
    }
    // The last join's announcement names all seven; nothing else is pending then.
    await allIn;
    const before = seen.length;
    const onlyStay = presence((p) => p.members?.length === 1);
    for (const p of crowd) p.socket.close();
    await onlyStay;
    // Six disconnects in one moment: one announcement (two at most, if they straddle the
    // gathering window), not one per socket; the last names only who stayed.
    expect(seen.length - before).to.be.within(1, 2);
    expect(seen.at(-1)?.members?.map((m) => m.username)).to.deep.equal([stay.name]);
    const left = seen.slice(before).flatMap((p) => p.left ?? []);
    expect(left.map((m) => m.username).sort()).to.deep.equal(crowd.map((p) => p.name).sort());
  });

  it("broadcasts nothing when someone leaves a room they are not in", async () => {
    const owner = await person("own");
    const outsider = await person("out");
    const r = room();
    await call(owner.socket, "room:create", { room: r, kind: "private" });
    let presence = 0;
    owner.socket.on("presence", () => presence++);
    for (let i = 0; i < 5; i++) await call(outsider.socket, "room:leave", { room: r });
    // A fixed wait, deliberately: no announcement may arrive within it, nor one sent late.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(presence).to.equal(0);
  });

  it("answers a join and a send sent together in order, and a send before a leave", async () => {
    const a = await person("a");
    const r = room();
    // Not awaited one by one: the send's batch may be read before the join has run.
    const [joined, sent, left] = await Promise.all([
      call(a.socket, "room:join", { room: r }),
      call(a.socket, "message:send", { room: r, text: "right after joining" }),
      call(a.socket, "room:leave", { room: r }),
    ]);
    expect([joined.ok, sent.ok, left.ok]).to.deep.equal([true, true, true]);
    expect(code(await call(a.socket, "message:send", { room: r, text: "gone" }))).to.equal(
      "not_joined",
    );
  });

  it("hands the room to a moderator when its owner leaves", async () => {
    const owner = await person("own");
    const mod = await person("mod");
    const member = await person("mem");
    const r = room();
    for (const p of [owner, member, mod]) await call(p.socket, "room:join", { room: r });
    const promoted = once(member.socket, "room:updated");
    await call(owner.socket, "room:role", { room: r, username: mod.name, role: "moderator" });
    await promoted;
    const told = once<{ member?: { username: string; role: string } }>(
      member.socket,
      "room:updated",
    );
    await call(owner.socket, "room:leave", { room: r });
    expect((await told).member).to.deep.include({ username: mod.name, role: "owner" });
    const roles = await call(member.socket, "room:members", { room: r });
    expect(roles.ok && roles.members.map((m) => [m.username, m.role])).to.deep.equal([
      [mod.name, "owner"],
      [member.name, "member"],
    ]);
  });
});
