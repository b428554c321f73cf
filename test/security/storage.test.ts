// Every key parley keeps on behalf of a user expires, is capped per account, or counts against
// a stated quota: nothing an account does makes Redis keep something for ever.
import { expect } from "chai";
import {
  MAX_BANS_PER_ROOM,
  MAX_LOGINS_PER_USER,
  REMOVED_SECONDS,
  ROOMS_PER_DAY,
} from "../../src/domain/limits.js";
import { keys } from "../../src/stores/keys.js";
import { RoomStore } from "../../src/stores/rooms.js";
import { useParley } from "../helpers/fixtures.js";
import { Browser } from "../helpers/http.js";
import { type Minted, mintAccounts, mintLogin, mintNamed } from "../helpers/minted.js";
import { PASSWORD, type TestParley, uniqueName } from "../helpers/parley.js";
import type { TestRedis } from "../helpers/redis.js";
import { barrier, type ClientSocket, call, connect, once } from "../helpers/socket.js";

describe("storage an account can make parley keep", function () {
  this.timeout(30_000);
  let parley: TestParley;
  let redis: TestRedis;
  const sockets: ClientSocket[] = [];
  after(() => {
    for (const s of sockets) s.close();
  });
  useParley((p, r) => {
    parley = p;
    redis = r;
  });
  const open = async (who: Minted) => {
    const s = await connect(parley.url, who.browser);
    sockets.push(s);
    return s;
  };
  const code = (r: unknown) => (r as { error?: { code?: string } }).error?.code;

  it("stores no read position for a room outside the user's list, an invented DM included", async () => {
    const [a] = await mintAccounts(redis, parley.url, 1, "rd");
    const me = a as Minted;
    const socket = await open(me);
    const dm = [me.id, "ffffffff-ffff-4fff-8fff-ffffffffffff"].sort();
    // A DM has no standing to check before the handler: the store itself refuses to keep it.
    const read = await call(socket, "room:read", { room: `dm:${dm[0]}:${dm[1]}`, id: "99-1" });
    expect(read.ok).to.equal(true);
    expect(await redis.exists(keys.readPositions(me.id))).to.equal(0);
    // And a DM with nobody cannot be joined, so nothing can be sent there either.
    const joined = await call(socket, "room:join", { room: `dm:${dm[0]}:${dm[1]}` });
    expect(code(joined)).to.equal("not_found");
    expect(await redis.exists(keys.userRooms(me.id))).to.equal(0);
    // Nor does a refused join of a private room keep a list entry or a read position.
    const [owner] = await mintAccounts(redis, parley.url, 1, "priv");
    const secret = `priv-${me.id.slice(0, 8)}`;
    await call(await open(owner as Minted), "room:create", { room: secret, kind: "private" });
    expect(code(await call(socket, "room:join", { room: secret }))).to.equal("not_found");
    expect(await redis.exists(keys.readPositions(me.id))).to.equal(0);
    expect(await redis.exists(keys.userRooms(me.id))).to.equal(0);
    const sent = await call(socket, "message:send", { room: `dm:${dm[0]}:${dm[1]}`, text: "x" });
    expect(code(sent)).to.equal("not_joined");
    expect(await redis.exists(keys.roomMessages(`dm:${dm[0]}:${dm[1]}`))).to.equal(0);
  });

  it("lets a removal's standing expire, and keeps at most 10,000 bans per room", async () => {
    const [owner, member] = await mintAccounts(redis, parley.url, 2, "mod");
    const o = owner as Minted;
    const m = member as Minted;
    const room = `bans-${o.id.slice(0, 8)}`;
    const ownerSocket = await open(o);
    const memberSocket = await open(m);
    await call(ownerSocket, "room:join", { room });
    await call(memberSocket, "room:join", { room });
    expect((await call(ownerSocket, "room:remove", { room, username: m.username })).ok).to.equal(
      true,
    );
    const ttl = await redis.ttl(keys.roomAccess(room, m.id));
    expect(ttl).to.be.within(REMOVED_SECONDS - 60, REMOVED_SECONDS);
    // Bans: the cap, counted in the room (store level: a thousand accounts are not needed).
    const store = new RoomStore(redis as never);
    for (let i = 0; i < MAX_BANS_PER_ROOM; i += 500) {
      const codes = await Promise.all(
        Array.from({ length: Math.min(500, MAX_BANS_PER_ROOM - i) }, async (_, k) => {
          const target = `00000000-0000-4000-8000-${String(i + k).padStart(12, "0")}`;
          return (await store.moderate(room, "ban", o.id, target)).code;
        }),
      );
      expect(codes.every((c) => c === "ok")).to.equal(true);
    }
    const over = await call(ownerSocket, "room:ban", { room, username: m.username }, 10_000);
    expect(code(over)).to.equal("rate_limited");
    expect(await redis.get(keys.roomAccess(room, m.id))).to.equal("removed");
    // Lifting one frees its place.
    const first = "00000000-0000-4000-8000-000000000000";
    expect((await store.moderate(room, "unban", o.id, first)).code).to.equal("ok");
    expect((await call(ownerSocket, "room:ban", { room, username: m.username })).ok).to.equal(true);
  });

  it("counts rooms created against a daily quota; joining rooms that exist costs none of it", async () => {
    const [u, other] = await mintAccounts(redis, parley.url, 2, "quota");
    const me = u as Minted;
    const store = new RoomStore(redis as never);
    const prefix = `q-${me.id.slice(0, 8)}`;
    for (let i = 0; i < ROOMS_PER_DAY; i++) {
      const r = await store.join(`${prefix}-${i}`, me.id, Date.now());
      expect(r.ok && r.created).to.equal(true);
      await store.leave(`${prefix}-${i}`, me.id);
    }
    const socket = await open(me);
    expect(code(await call(socket, "room:join", { room: `${prefix}-more` }))).to.equal(
      "rate_limited",
    );
    expect(
      code(await call(socket, "room:create", { room: `${prefix}-more`, kind: "private" })),
    ).to.equal("rate_limited");
    expect(await redis.exists(keys.roomKind(`${prefix}-more`))).to.equal(0);
    // A room someone else made is joined freely.
    const theirs = `${prefix}-theirs`;
    expect((await store.join(theirs, (other as Minted).id, Date.now())).ok).to.equal(true);
    expect((await call(socket, "room:join", { room: theirs })).ok).to.equal(true);
  });

  it("keeps at most 100 logins per user: a login past them ends the oldest", async () => {
    const b = new Browser(parley.url);
    const name = uniqueName("many");
    await b.register(name, PASSWORD);
    const id = (await redis.get(keys.username(name))) as string;
    const minted: Minted[] = [];
    // Made a second apart, oldest first (the registration's login is older than them all).
    const start = Date.now() - 3_600_000;
    for (let i = 0; i < MAX_LOGINS_PER_USER; i++) {
      minted.push(await mintLogin(redis, parley.url, { id, username: name }, 0, start + i * 1000));
    }
    const oldest = await connect(parley.url, (minted[0] as Minted).browser);
    sockets.push(oldest);
    const revoked = once<{ reason: string }>(oldest, "session:revoked");
    const c = new Browser(parley.url);
    expect((await c.login(name, PASSWORD)).status).to.equal(303);
    // The registration's login and the first minted one were the oldest two.
    expect((await revoked).reason).to.equal("revoked");
    expect(await redis.hLen(keys.userSessions(id))).to.equal(MAX_LOGINS_PER_USER);
    expect((await c.get("/chat")).status).to.equal(200);
  });

  it("mentions at most 10 accounts per message, however the names are written", async () => {
    // Ten pairs of accounts "x" and "x.": "@x." could name both.
    const stems = Array.from({ length: 10 }, () => uniqueName("men"));
    const [author] = await mintAccounts(redis, parley.url, 1, "auth");
    const named = await mintNamed(redis, parley.url, [...stems, ...stems.map((n) => `${n}.`)]);
    const room = `men-${(author as Minted).id.slice(0, 8)}`;
    const a = await open(author as Minted);
    await call(a, "room:join", { room });
    const told: string[] = [];
    const theirs: ClientSocket[] = [];
    for (const n of named) {
      const s = await open(n);
      theirs.push(s);
      await call(s, "room:join", { room });
      s.on("mention", () => told.push(n.username));
    }
    const text = stems.map((n) => `@${n}.`).join(" ");
    const sent = await call(a, "message:send", { room, text });
    expect(sent.ok).to.equal(true);
    await barrier(a, ...theirs);
    // Each token names one account: "x." itself, since it exists.
    expect(told.sort()).to.deep.equal(stems.map((n) => `${n}.`).sort());
    const counted = await Promise.all(
      named.map((n) => redis.hGet(keys.mentions(n.id), room).then(Number)),
    );
    expect(counted.filter((x) => x > 0)).to.have.length(10);
  });

  it("never hands a room to a deleted account: it stays without an owner until someone joins", async () => {
    const [owner, heir, next] = await mintAccounts(redis, parley.url, 3, "heir");
    const room = `heir-${(owner as Minted).id.slice(0, 8)}`;
    const o = await open(owner as Minted);
    const h = await open(heir as Minted);
    await call(o, "room:join", { room });
    await call(h, "room:join", { room });
    // The heir's account is deleted (as the account page does it: the id joins the set).
    await redis.sAdd(keys.deletedUsers, (heir as Minted).id);
    expect((await call(o, "room:leave", { room })).ok).to.equal(true);
    expect(await redis.hGet(keys.roomInfo(room), "owner")).to.equal(null);
    expect(await redis.get(keys.roomAccess(room, (heir as Minted).id))).to.equal("member");
    const n = await open(next as Minted);
    const joined = await call(n, "room:join", { room });
    expect(joined.ok && joined.role).to.equal("owner");
  });
});
