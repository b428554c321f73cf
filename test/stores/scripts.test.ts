// Redis scripts as files: the loader's checks, EVALSHA, and the scripts that were once tested
// only through socket suites (rooms, messages, sessions, revocation, the guard's activity
// write), each against a real Redis.
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "chai";
import pino from "pino";
import type { Redis } from "../../src/redis/client.js";
import { connectRedis } from "../../src/redis/connect.js";
import { fencedEval } from "../../src/redis/fence.js";
import { loadScript, runScript } from "../../src/redis/scripts.js";
import { keys } from "../../src/stores/keys.js";
import { script } from "../../src/stores/lua.js";
import { MessageStore } from "../../src/stores/messages.js";
import { RoomStore } from "../../src/stores/rooms.js";
import {
  destroySession,
  ENDED_NOTE_SECONDS,
  endedNote,
  endSessions,
  recordActivity,
  saveSession,
} from "../../src/stores/sessions.js";
import { eventually } from "../helpers/eventually.js";
import { testRedisUrl, uniqueName } from "../helpers/parley.js";
import { countingCalls } from "../helpers/redis.js";

describe("Redis scripts as files", () => {
  let redis: Redis;
  before(async () => {
    redis = await connectRedis(testRedisUrl(), pino({ level: "silent" }));
  });
  after(async () => {
    await redis?.close();
  });

  describe("the loader", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "parley-lua-"));
    const file = (name: string, text: string) => {
      const p = path.join(dir, `${name}.lua`);
      writeFileSync(p, text);
      return pathToFileURL(p);
    };
    const header = "--[[\n  A test.\n  KEYS[1] a_key  a key\n  ARGV[1] value  a value\n]]\n";

    it("loads every script of the stores, each with the keys and arguments its header names", () => {
      const names = readdirSync(new URL("../../src/stores/lua/", import.meta.url))
        .filter((f) => f.endsWith(".lua"))
        .map((f) => f.slice(0, -4));
      expect(names.length).to.be.at.least(35);
      for (const name of names) {
        const s = script(name);
        expect(s.keys.length, name).to.be.above(0);
        expect(s.sha, name).to.match(/^[0-9a-f]{40}$/);
        // No numbered KEYS or ARGV outside the bindings (the loader refuses them).
        expect(s.text, name).to.not.include("${");
      }
    });

    const bound = "local a_key = KEYS[1]\nlocal value = ARGV[1]\n";
    const refused = (name: string, text: string, why: RegExp) =>
      expect(() => loadScript(file(name, text)), name).to.throw(why);

    it("refuses a script without a header, or whose bindings are not the header's, in order, right after it", () => {
      refused("bare", "return 1\n", /header/);
      refused(
        "unbound",
        `${header}local a_key = KEYS[1]\nreturn value\n`,
        /comes "local value = ARGV\[1\]"/,
      );
      refused(
        "swapped",
        `${header}local value = ARGV[1]\nlocal a_key = KEYS[1]\n`,
        /comes "local a_key = KEYS\[1\]"/,
      );
      refused(
        "late",
        `${header}redis.call('DEL', 'x')\n${bound}`,
        /comes "local a_key = KEYS\[1\]".*, not "redis\.call/,
      );
      refused(
        "in-a-block",
        `${header}if true then\n${bound}end\n`,
        /comes "local a_key = KEYS\[1\]".*, not "if true then"/,
      );
    });

    it("refuses KEYS or ARGV anywhere past the bindings: undeclared, rebound, by number or by a variable", () => {
      refused("numbered", `${header}${bound}return ARGV[1]\n`, /ARGV used past the bindings/);
      refused(
        "undeclared",
        `${header}${bound}local extra = ARGV[2]\n`,
        /ARGV used past the bindings/,
      );
      refused("rebound", `${header}${bound}local a = ARGV[1]\n`, /ARGV used past the bindings/);
      refused("loop", `${header}${bound}for i = 1, #KEYS do end\n`, /KEYS used past the bindings/);
      // A `--` inside a string is no comment: what follows it is still code.
      refused("string", `${header}${bound}return '--' .. ARGV[2]\n`, /ARGV used past the bindings/);
      // `---[[` opens no long comment: the line is a comment, the next line code.
      refused(
        "dashes",
        `${header}${bound}---[[\nreturn KEYS[1]\n--]]\n`,
        /KEYS used past the bindings/,
      );
      // In comments and strings they are words, not code.
      const fine = loadScript(
        file(
          "words",
          `${header}${bound}-- KEYS and ARGV\n--[==[ ARGV[9] ]==]\nreturn 'ARGV[2]' .. [[KEYS]]\n`,
        ),
      );
      expect(fine.keys).to.deep.equal(["a_key"]);
    });

    it("refuses a fence anywhere but first, and an include it cannot find", () => {
      refused(
        "fence-late",
        `${header}${bound}--- @include "fence"\nreturn 1\n`,
        /the fence must come first/,
      );
      refused(
        "write-before-fence",
        `${header}redis.call('SET', 'x', '1')\n--- @include "fence"\n${bound}`,
        /comes "local a_key = KEYS\[1\]"/,
      );
      refused("missing", `${header}${bound}--- @include "nowhere"\n`, /no include "nowhere"/);
    });

    it("pastes includes in once, and marks a script whose first line is the fence as fenced", () => {
      const s = loadScript(
        file(
          "fenced",
          `${header}--- @include "fence"\n${bound}--- @include "clock"\nreturn now_ms\n`,
        ),
      );
      expect(s.fenced).to.equal(true);
      expect(s.text.match(/redis\.call\('TIME'\)/g)?.length).to.equal(2); // the clock, the wrapper
      expect(s.text).to.include("-- (clock: included above)");
      expect(loadScript(file("plain-one", `${header}${bound}return 1\n`)).fenced).to.equal(false);
    });

    it("refuses calls with other keys or arguments than the header names, and each runner the other's scripts", async () => {
      const plain = loadScript(
        file("plain", `${header}local a_key = KEYS[1]\nlocal value = ARGV[1]\nreturn value\n`),
      );
      expect(await runScript(redis, plain, ["k"], ["v"])).to.equal("v");
      let err: unknown;
      await runScript(redis, plain, ["k"], []).catch((e: unknown) => {
        err = e;
      });
      expect(String(err)).to.match(/takes KEYS \(a_key\) and ARGV \(value\)/);
      err = undefined;
      await fencedEval(redis, plain, ["k"], ["v"]).catch((e: unknown) => {
        err = e;
      });
      expect(String(err)).to.match(/has no fence/);
      err = undefined;
      await runScript(redis, script("session-destroy"), ["k"], []).catch((e: unknown) => {
        err = e;
      });
      expect(String(err)).to.match(/is fenced/);
    });

    it("runs by EVALSHA: the script's text goes to Redis only when Redis does not know it", async () => {
      const plain = loadScript(
        file(
          "sha",
          `${header}local a_key = KEYS[1]\nlocal value = ARGV[1]\nreturn '${uniqueName("sha")}'\n`,
        ),
      );
      // Counted on this client (the server's commandstats would count every test's calls).
      const { client, calls } = countingCalls(redis, ["eval", "evalSha"]);
      await runScript(client, plain, ["k"], ["v"]); // new to Redis: NOSCRIPT, then EVAL once
      expect(calls).to.deep.equal({ eval: 1, evalSha: 1 });
      for (let i = 0; i < 5; i++) await runScript(client, plain, ["k"], ["v"]);
      expect(calls).to.deep.equal({ eval: 1, evalSha: 6 });
    });
  });

  describe("rooms", () => {
    let rooms: RoomStore;
    before(() => {
      rooms = new RoomStore(redis);
    });
    const ann = "00000000-0000-4000-8000-0000000000a1";
    const bob = "00000000-0000-4000-8000-0000000000b1";
    const cat = "00000000-0000-4000-8000-0000000000c1";
    const room = () => uniqueName("scr").replace(/_/g, "-");

    it("join creates a room with its joiner as owner, and joins others as members", async () => {
      const r = room();
      const first = await rooms.join(r, ann, Date.now());
      expect(first).to.include({ ok: true, created: true, kind: "public", role: "owner" });
      expect(await rooms.join(r, bob, Date.now())).to.include({ ok: true, role: "member" });
      expect(await redis.get(keys.roomAccess(r, bob))).to.equal("member");
      expect(await redis.hGetAll(keys.roomMembers(r))).to.deep.equal({
        [ann]: "owner",
        [bob]: "member",
      });
    });

    it("moderate: only an owner changes roles; a ban holds and is counted; unban frees it", async () => {
      const r = room();
      await rooms.join(r, ann, Date.now());
      await rooms.join(r, bob, Date.now());
      await rooms.join(r, cat, Date.now());
      expect((await rooms.moderate(r, "role", bob, cat, "moderator")).code).to.equal("forbidden");
      expect((await rooms.moderate(r, "role", ann, bob, "moderator")).code).to.equal("ok");
      expect((await rooms.moderate(r, "ban", bob, ann)).code).to.equal("forbidden"); // the owner
      expect(await rooms.moderate(r, "ban", bob, cat)).to.deep.equal({
        code: "ok",
        before: "member",
      });
      expect(await redis.get(keys.roomAccess(r, cat))).to.equal("banned");
      expect(await redis.hGet(keys.roomInfo(r), "bans")).to.equal("1");
      expect(await rooms.join(r, cat, Date.now())).to.deep.equal({ ok: false, code: "forbidden" });
      expect((await rooms.moderate(r, "unban", bob, cat)).code).to.equal("ok");
      expect(await redis.hGet(keys.roomInfo(r), "bans")).to.equal("0");
    });

    it("leave hands an owner's room to a moderator before a member, and an empty room keeps no owner", async () => {
      const r = room();
      await rooms.join(r, ann, Date.now());
      await rooms.join(r, bob, Date.now());
      await rooms.join(r, cat, Date.now());
      await rooms.moderate(r, "role", ann, cat, "moderator");
      expect(await rooms.leave(r, ann)).to.deep.equal({ left: "owner", heir: cat });
      expect(await redis.hGet(keys.roomInfo(r), "owner")).to.equal(cat);
      expect(await redis.get(keys.roomAccess(r, cat))).to.equal("owner");
      await rooms.leave(r, cat);
      await rooms.leave(r, bob);
      expect(await redis.hExists(keys.roomInfo(r), "owner")).to.equal(0);
      expect(await rooms.join(r, bob, Date.now())).to.include({ ok: true, role: "owner" });
    });

    it("markRead moves a listed room's position forward only, and stores nothing for an unlisted room", async () => {
      const r = room();
      await rooms.join(r, ann, Date.now());
      await rooms.markRead(ann, r, "100-5");
      await rooms.markRead(ann, r, "100-4");
      expect(await redis.hGet(keys.readPositions(ann), r)).to.equal("100-5");
      await rooms.markRead(ann, "never-listed-room", "100-5");
      expect(await redis.hExists(keys.readPositions(ann), "never-listed-room")).to.equal(0);
    });
  });

  describe("messages", () => {
    let messages: MessageStore;
    before(() => {
      messages = new MessageStore(redis, 1000);
    });
    const ann = { id: "00000000-0000-4000-8000-0000000000a2", username: "ann" };
    const bob = { id: "00000000-0000-4000-8000-0000000000b2", username: "bob" };

    it("append stores once per client id, answering a retry with the message first stored", async () => {
      const r = uniqueName("msg").replace(/_/g, "-");
      const first = await messages.append(r, ann, "hello", 1000, "client-1");
      const again = await messages.append(r, ann, "hello", 2000, "client-1");
      expect(first.fresh).to.equal(true);
      expect(again.fresh).to.equal(false);
      expect(again.message.id).to.equal(first.message.id);
      expect(await redis.xLen(keys.roomMessages(r))).to.equal(1);
      // Remembered for a day.
      const ttl = await redis.ttl(keys.sentByClient(r, ann.id, "client-1"));
      expect(ttl).to.be.within(86_000, 86_400);
    });

    it("revise lets only the author edit, the author or a moderator delete, and keeps no old text", async () => {
      const r = uniqueName("msg").replace(/_/g, "-");
      const { message } = await messages.append(r, ann, "first text", 1000);
      expect(await messages.revise(r, message.id, bob.id, { text: "x" }, 2000)).to.equal(
        "forbidden",
      );
      const edited = await messages.revise(r, message.id, ann.id, { text: "second" }, 2000);
      expect(edited).to.include({ text: "second", edited: 2000 });
      expect(
        await messages.revise(r, message.id, bob.id, { delete: true, moderator: false }, 3000),
      ).to.equal("forbidden");
      const gone = await messages.revise(
        r,
        message.id,
        bob.id,
        { delete: true, moderator: true },
        3000,
      );
      expect(gone).to.include({ deleted: true, text: "" });
      const stored = JSON.stringify(await redis.zRange(keys.roomEdits(r), 0, -1));
      expect(stored).to.not.include("first text");
      expect(await redis.xLen(keys.roomMessages(r))).to.equal(0);
    });
  });

  describe("sessions and revocation", () => {
    const record = (lastActive: number) =>
      JSON.stringify({ cookie: {}, passport: { user: "u" }, lastActive });

    it("a record is saved until its session is ended; the end leaves its reason for an hour", async () => {
      const sid = uniqueName("sid");
      await saveSession(redis, sid, record(1), 600);
      expect(await redis.ttl(keys.session(sid))).to.be.within(590, 600);
      await endSessions(redis, [sid], "logout", false);
      expect(await redis.exists(keys.session(sid))).to.equal(1); // not destroyed: the caller does
      expect(await endedNote(redis, sid)).to.equal("logout");
      expect(await redis.ttl(keys.endedSession(sid))).to.be.within(
        ENDED_NOTE_SECONDS - 10,
        ENDED_NOTE_SECONDS,
      );
      await destroySession(redis, sid);
      // A request that loaded the record before the end cannot save it back.
      await saveSession(redis, sid, record(2), 600);
      expect(await redis.exists(keys.session(sid))).to.equal(0);
    });

    it("ending many sessions at once leaves each note and deletes each record", async () => {
      const sids = [uniqueName("sid"), uniqueName("sid"), uniqueName("sid")];
      for (const sid of sids) await saveSession(redis, sid, record(1), 600);
      await endSessions(redis, sids, "password_changed", true);
      for (const sid of sids) {
        expect(await redis.exists(keys.session(sid))).to.equal(0);
        expect(await endedNote(redis, sid)).to.equal("password_changed");
      }
    });

    it("the guard's activity write moves lastActive forward only, renews the TTL, and leaves an ending session alone", async () => {
      const sid = uniqueName("sid");
      await saveSession(redis, sid, record(5000), 100);
      recordActivity(redis, sid, 900, 7000);
      await eventually(async () => {
        expect(await redis.ttl(keys.session(sid))).to.be.above(800);
      });
      expect(JSON.parse((await redis.get(keys.session(sid))) as string).lastActive).to.equal(7000);
      recordActivity(redis, sid, 950, 6000); // older: the TTL only
      await eventually(async () => {
        expect(await redis.ttl(keys.session(sid))).to.be.above(900);
      });
      expect(JSON.parse((await redis.get(keys.session(sid))) as string).lastActive).to.equal(7000);
      await endSessions(redis, [sid], "logout", false);
      recordActivity(redis, sid, 5000, 9000);
      const probe = uniqueName("sid"); // a write sent after it, on the same connection
      await saveSession(redis, probe, record(1), 60);
      expect(await redis.ttl(keys.session(sid))).to.be.below(1000);
      expect(JSON.parse((await redis.get(keys.session(sid))) as string).lastActive).to.equal(7000);
      // A deleted record stays deleted.
      await destroySession(redis, sid);
      recordActivity(redis, sid, 900, 10_000);
      await saveSession(redis, probe, record(1), 60);
      expect(await redis.exists(keys.session(sid))).to.equal(0);
    });
  });
});
