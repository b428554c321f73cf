import { expect } from "chai";
import type { Member, Message } from "../../src/contract/events.js";
import { useParley } from "../helpers/fixtures.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { barrier, type ClientSocket, call, callRaw, connect, once } from "../helpers/socket.js";

interface Person {
  name: string;
  browser: Browser;
  socket: ClientSocket;
}

describe("chat events", () => {
  let parley: TestParley;
  const sockets: ClientSocket[] = [];
  let n = 0;
  useParley((p) => {
    parley = p;
  });
  after(async () => {
    for (const s of sockets) s.close();
  });

  async function person(prefix = "p"): Promise<Person> {
    const name = uniqueName(prefix);
    const browser = new Browser(parley.url);
    await browser.register(name, PASSWORD);
    const socket = await connect(parley.url, browser);
    sockets.push(socket);
    return { name, browser, socket };
  }
  const room = () => `room-${Date.now().toString(36)}-${n++}`;
  const code = (r: unknown) => (r as { error?: { code?: string } }).error?.code;

  describe("room:join and room:leave", () => {
    it("returns the room, its history oldest first and its members, and tells the others", async () => {
      const a = await person("a");
      const b = await person("b");
      const r = room();
      await call(a.socket, "room:join", { room: r });
      for (const text of ["one", "two", "three"])
        await call(a.socket, "message:send", { room: r, text });
      const presence = once<{ room: string; members: Member[] }>(a.socket, "presence");
      const joined = await call(b.socket, "room:join", { room: r });
      expect(joined.ok).to.equal(true);
      if (!joined.ok) return;
      expect(joined.room).to.equal(r);
      expect(joined.history.map((m) => m.text)).to.deep.equal(["one", "two", "three"]);
      expect(joined.members.map((m) => m.username).sort()).to.deep.equal([a.name, b.name].sort());
      const p = await presence;
      expect(p.room).to.equal(r);
      expect(p.members.map((m) => m.username)).to.include(b.name);
      const left = once<{ room: string; members: Member[] }>(a.socket, "presence");
      expect(await call(b.socket, "room:leave", { room: r })).to.deep.equal({ ok: true, room: r });
      expect((await left).members.map((m) => m.username)).to.deep.equal([a.name]);
    });

    it("returns at most 50 messages of history", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      // Stay under the send limit of 20 per 10 s by storing through several users.
      for (let u = 0; u < 3; u++) {
        const p = await person();
        await call(p.socket, "room:join", { room: r });
        for (let i = 0; i < 19; i++)
          await call(p.socket, "message:send", { room: r, text: `m${u}-${i}` });
      }
      const joined = await call(a.socket, "room:join", { room: r });
      expect(joined.ok && joined.history.length).to.equal(50);
      expect(joined.ok && joined.history[49]?.text).to.equal("m2-18");
    });

    it("refuses invalid room names with `invalid`", async () => {
      const a = await person();
      for (const bad of [
        "",
        "Upper",
        "-dash",
        "a".repeat(33),
        "has space",
        "dm:x",
        "session:abc",
        42,
        null,
      ]) {
        expect(code(await call(a.socket, "room:join", { room: bad })), String(bad)).to.equal(
          "invalid",
        );
      }
    });
  });

  describe("message:send", () => {
    it("stores a retry with the same clientId once and answers it with the first message", async () => {
      const a = await person("a");
      const b = await person("b");
      const r = room();
      await call(a.socket, "room:join", { room: r });
      await call(b.socket, "room:join", { room: r });
      const got: Message[] = [];
      b.socket.on("message", (m) => got.push(m));
      const clientId = "c1a2b3c4d5e6";
      const first = await call(a.socket, "message:send", { room: r, text: "once", clientId });
      const retry = await call(a.socket, "message:send", { room: r, text: "once", clientId });
      // Another person's identical client id is theirs: stored for them.
      const theirs = await call(b.socket, "message:send", { room: r, text: "mine", clientId });
      if (!first.ok || !retry.ok || !theirs.ok) throw new Error("refused");
      expect(retry.message).to.deep.equal(first.message);
      expect(theirs.message.id).to.not.equal(first.message.id);
      const history = await call(b.socket, "message:history", { room: r });
      expect(history.ok && history.messages.map((m) => m.text)).to.deep.equal(["once", "mine"]);
      await barrier(b.socket);
      // Delivered again with the same id (the first delivery may have been lost with the
      // answer): pages keep one message per id.
      expect([...new Map(got.map((m) => [m.id, m.text])).values()]).to.deep.equal(["once", "mine"]);
      // Deleted since: a retry is answered with the tombstone and delivers nothing.
      const deleted = await call(a.socket, "message:delete", { room: r, id: first.message.id });
      expect(deleted.ok).to.equal(true);
      const seen = got.length;
      const late = await call(a.socket, "message:send", { room: r, text: "once", clientId });
      if (!late.ok) throw new Error(late.error.code);
      expect(late.message).to.deep.include({ id: first.message.id, deleted: true, text: "" });
      await barrier(b.socket);
      expect(got.length, "nothing delivered again").to.equal(seen);
      // The same client id with other text is not the same message: refused, not stored.
      const other = await call(a.socket, "message:send", { room: r, text: "different", clientId });
      expect(code(other)).to.equal("invalid");
      // A malformed client id is refused, nothing stored.
      expect(
        code(await call(a.socket, "message:send", { room: r, text: "x", clientId: "<bad>" })),
      ).to.equal("invalid");
    });

    it("stores and broadcasts a trimmed message whose sender is the session's user", async () => {
      const a = await person("a");
      const b = await person("b");
      const r = room();
      await call(a.socket, "room:join", { room: r });
      await call(b.socket, "room:join", { room: r });
      const got = once<Message>(b.socket, "message");
      const sent = await call(a.socket, "message:send", {
        room: r,
        text: "  hello  ",
        user: { id: "forged", username: "admin" },
        from: "admin",
        id: "9999999999999-0",
      });
      expect(sent.ok).to.equal(true);
      if (!sent.ok) return;
      const m = await got;
      expect(m).to.deep.equal(sent.message);
      expect(m.text).to.equal("hello");
      expect(m.user.username).to.equal(a.name);
      expect(m.id).to.not.equal("9999999999999-0");
      expect(m.room).to.equal(r);
      expect(m.ts).to.be.closeTo(Date.now(), 5000);
    });

    it("needs the room joined (`not_joined`) and 1–2000 characters (`invalid`)", async () => {
      const a = await person();
      const r = room();
      expect(code(await call(a.socket, "message:send", { room: r, text: "hi" }))).to.equal(
        "not_joined",
      );
      await call(a.socket, "room:join", { room: r });
      for (const text of ["", "   ", "x".repeat(2001), 12, undefined]) {
        expect(
          code(await call(a.socket, "message:send", { room: r, text })),
          String(text).slice(0, 9),
        ).to.equal("invalid");
      }
      expect(
        (await call(a.socket, "message:send", { room: r, text: "x".repeat(2000) })).ok,
      ).to.equal(true);
    });

    it("answers `rate_limited` past 20 sends in 10 s for one user across sockets", async () => {
      const a = await person();
      const second = await connect(parley.url, a.browser);
      sockets.push(second);
      const r = room();
      await call(a.socket, "room:join", { room: r });
      await call(second, "room:join", { room: r });
      const results = [];
      for (let i = 0; i < 10; i++)
        results.push(await call(a.socket, "message:send", { room: r, text: `a${i}` }));
      for (let i = 0; i < 10; i++)
        results.push(await call(second, "message:send", { room: r, text: `b${i}` }));
      expect(results.every((x) => x.ok)).to.equal(true);
      expect(code(await call(second, "message:send", { room: r, text: "21st" }))).to.equal(
        "rate_limited",
      );
      expect(code(await call(a.socket, "message:send", { room: r, text: "22nd" }))).to.equal(
        "rate_limited",
      );
    });
  });

  describe("message:history", () => {
    it("pages backwards with before and limit, oldest first", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const s = await call(a.socket, "message:send", { room: r, text: `h${i}` });
        if (s.ok) ids.push(s.message.id);
      }
      const last = await call(a.socket, "message:history", { room: r, limit: 2 });
      expect(last.ok && last.messages.map((m) => m.text)).to.deep.equal(["h4", "h5"]);
      const older = await call(a.socket, "message:history", { room: r, before: ids[4], limit: 3 });
      expect(older.ok && older.messages.map((m) => m.text)).to.deep.equal(["h1", "h2", "h3"]);
      for (const bad of [{ limit: 0 }, { limit: 101 }, { limit: 1.5 }, { before: "nope" }]) {
        expect(
          code(await call(a.socket, "message:history", { room: r, ...bad })),
          JSON.stringify(bad),
        ).to.equal("invalid");
      }
    });
  });

  describe("typing", () => {
    it("reaches the others in the room and needs the room joined", async () => {
      const a = await person("a");
      const b = await person("b");
      const r = room();
      expect(code(await call(a.socket, "typing", { room: r }))).to.equal("not_joined");
      await call(a.socket, "room:join", { room: r });
      await call(b.socket, "room:join", { room: r });
      const seen = once<{ room: string; user: Member }>(b.socket, "typing");
      expect(await call(a.socket, "typing", { room: r })).to.deep.equal({ ok: true });
      const t = await seen;
      expect(t.room).to.equal(r);
      expect(t.user.username).to.equal(a.name);
    });
  });

  describe("direct messages", () => {
    it("gives both users the same room, admits only them and delivers only to them", async () => {
      const a = await person("a");
      const b = await person("b");
      const c = await person("c");
      const ab = await call(a.socket, "dm:open", { username: b.name });
      const ba = await call(b.socket, "dm:open", { username: a.name.toUpperCase() });
      expect(ab.ok && ab.room).to.match(/^dm:/);
      expect(ab.ok && ba.ok && ab.room === ba.room).to.equal(true);
      if (!ab.ok) return;
      expect(code(await call(c.socket, "room:join", { room: ab.room }))).to.equal("forbidden");
      expect(code(await call(c.socket, "message:history", { room: ab.room }))).to.equal(
        "forbidden",
      );
      const cMessages: Message[] = [];
      c.socket.on("message", (m) => cMessages.push(m));
      // b has not joined the room: the message still reaches b.
      const got = once<Message>(b.socket, "message");
      await call(a.socket, "room:join", { room: ab.room });
      await call(a.socket, "message:send", { room: ab.room, text: "just for you" });
      expect((await got).text).to.equal("just for you");
      await barrier(c.socket);
      expect(cMessages).to.deep.equal([]);
    });

    it("answers `not_found` for an unknown user and `invalid` for oneself", async () => {
      const a = await person();
      expect(code(await call(a.socket, "dm:open", { username: uniqueName("ghost") }))).to.equal(
        "not_found",
      );
      expect(code(await call(a.socket, "dm:open", { username: a.name }))).to.equal("invalid");
    });
  });

  describe("the contract itself", () => {
    it("answers ping with the server time", async () => {
      const a = await person();
      const pong = await call(a.socket, "ping", {});
      expect(pong.ok && pong.ts).to.be.closeTo(Date.now(), 5000);
    });

    it("answers `unknown_event` for events outside the contract", async () => {
      const a = await person();
      expect(code(await callRaw(a.socket, "admin:delete", {}))).to.equal("unknown_event");
      expect(code(await callRaw(a.socket, "__proto__", {}))).to.equal("unknown_event");
      expect(code(await callRaw(a.socket, "constructor", {}))).to.equal("unknown_event");
    });

    it("answers `invalid` for payloads that are not objects of the right shape", async () => {
      const a = await person();
      for (const payload of [undefined, null, "lobby", 7, ["lobby"], { room: { $gt: "" } }]) {
        expect(
          code(await callRaw(a.socket, "room:join", payload)),
          JSON.stringify(payload),
        ).to.equal("invalid");
      }
    });

    it("keeps __proto__ in a payload harmless", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      const payload = JSON.parse(
        `{"room":"${r}","text":"proto","__proto__":{"polluted":true}}`,
      ) as unknown;
      expect(
        (await callRaw(a.socket, "message:send", payload)) as { ok: boolean },
      ).to.have.property("ok", true);
      expect(({} as { polluted?: boolean }).polluted).to.equal(undefined);
    });
  });

  describe("persistence", () => {
    it("keeps acked messages across a restart of the app", async () => {
      const a = await person();
      const r = room();
      await call(a.socket, "room:join", { room: r });
      const sent = await call(a.socket, "message:send", { room: r, text: "still here" });
      expect(sent.ok).to.equal(true);
      const again = await startParley();
      try {
        const b = new Browser(again.url);
        await b.register(uniqueName(), PASSWORD);
        const s = await connect(again.url, b);
        sockets.push(s);
        const joined = await call(s, "room:join", { room: r });
        expect(joined.ok && joined.history.map((m) => m.text)).to.deep.equal(["still here"]);
      } finally {
        await again.close();
      }
    });
  });
});
