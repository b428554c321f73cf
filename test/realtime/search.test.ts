// message:search, message:around and the export: they reach every message the user may read
// at the moment of the event, and nothing else, on every process.
import { expect } from "chai";
import type { SearchResult } from "../../src/contract/events.js";
import { MessageStore } from "../../src/stores/messages.js";
import { useParley } from "../helpers/fixtures.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { type ClientSocket, call, connect } from "../helpers/socket.js";

describe("search, permalinks and export", function () {
  this.timeout(30_000);
  let parley: TestParley;
  const sockets: ClientSocket[] = [];
  useParley((p) => {
    parley = p;
  });
  after(async () => {
    for (const s of sockets) s.close();
  });

  async function person(prefix = "se", on: TestParley = parley) {
    const name = uniqueName(prefix);
    const browser = new Browser(on.url);
    await browser.register(name, PASSWORD);
    const socket = await connect(on.url, browser);
    sockets.push(socket);
    return { name, browser, socket };
  }
  let n = 0;
  const room = () => `srch-${Date.now().toString(36)}-${n++}`;
  // A word no other test uses, so results come from this test's messages only.
  const word = () => `w${Date.now().toString(36)}${n++}x`;

  async function send(socket: ClientSocket, r: string, text: string): Promise<string> {
    const ack = await call(socket, "message:send", { room: r, text });
    if (!ack.ok) throw new Error(JSON.stringify(ack));
    return ack.message.id;
  }

  async function search(socket: ClientSocket, query: string, extra: object = {}) {
    await parley.archiver.drain();
    const r = await call(socket, "message:search", { query, ...extra });
    if (!r.ok) throw new Error(JSON.stringify(r));
    return r;
  }

  const texts = (rs: SearchResult[]) => rs.map((r) => r.message.text);

  it("finds messages in the rooms the user reads (public, private, direct), newest first, with marked snippets", async () => {
    const a = await person();
    const b = await person();
    const c = await person();
    const w = word();
    const pub = room();
    const priv = room();
    const other = room();
    await call(a.socket, "room:join", { room: pub });
    await call(a.socket, "room:create", { room: priv, kind: "private" });
    await call(c.socket, "room:join", { room: other });
    const dm = await call(a.socket, "dm:open", { username: b.name });
    if (!dm.ok) throw new Error("dm");
    await call(b.socket, "room:join", { room: dm.room });
    // A few ms apart: results across rooms are ordered by time (then by id and room), and
    // messages of different rooms in the same millisecond have no order of their own.
    const tick = () => new Promise((r) => setTimeout(r, 5));
    await send(a.socket, pub, `public ${w} one`);
    await tick();
    await send(a.socket, priv, `private ${w} two`);
    await tick();
    await send(b.socket, dm.room, `direct ${w} three`);
    await send(c.socket, other, `elsewhere ${w} four`);
    await send(a.socket, pub, "nothing to see");
    const r = await search(a.socket, w);
    expect(texts(r.results)).to.deep.equal([
      `direct ${w} three`,
      `private ${w} two`,
      `public ${w} one`,
    ]);
    expect(r.next).to.equal(undefined);
    const hit = r.results[0] as SearchResult;
    expect(hit.snippet.filter((p) => p.match).map((p) => p.text)).to.deep.equal([w]);
    expect(hit.snippet.map((p) => p.text).join("")).to.equal(`direct ${w} three`);
    expect(hit.message.room).to.equal(dm.room);
    expect(hit.message.user.username).to.equal(b.name);
    // One room only; a room the user is not in is not searched, even when named.
    expect(texts((await search(a.socket, w, { room: priv })).results)).to.deep.equal([
      `private ${w} two`,
    ]);
    const refused = await call(a.socket, "message:search", { query: w, room: other });
    expect(refused.ok).to.equal(false);
    if (!refused.ok) expect(refused.error.code).to.equal("not_found");
    // c sees their own room only.
    expect(texts((await search(c.socket, w)).results)).to.deep.equal([`elsewhere ${w} four`]);
  });

  it("pages with next, leaves out deleted messages and shows edits at once", async () => {
    const a = await person();
    const w = word();
    const r = room();
    await call(a.socket, "room:join", { room: r });
    // Many messages, past the send budget: written through the instance's store.
    const store = new MessageStore(parley.redis, 1000, undefined, parley.archiver, parley.archive);
    const bulk = async (text: string) =>
      (await store.append(r, { id: "bulk", username: "bulk" }, text, Date.now())).message.id;
    const ids: string[] = [];
    for (let i = 0; i < 17; i++) ids.push(await bulk(`${w} number ${i}`));
    for (let i = 17; i < 19; i++) ids.push(await send(a.socket, r, `${w} number ${i}`));
    await parley.archiver.drain();
    // Deleted and edited after archiving: the pending change shows before PostgreSQL has it.
    await call(a.socket, "message:delete", { room: r, id: ids[18] as string });
    await call(a.socket, "message:edit", { room: r, id: ids[17] as string, text: `${w} changed` });
    const first = await call(a.socket, "message:search", { query: w });
    if (!first.ok) throw new Error(JSON.stringify(first));
    expect(first.results[0]?.message.text).to.equal(`${w} changed`);
    expect(first.results[0]?.snippet.map((p) => p.text).join("")).to.equal(`${w} changed`);
    expect(texts(first.results)).to.not.include(`${w} number 18`);
    expect(texts(first.results)).to.not.include(`${w} number 17`);
    await parley.archiver.drain();
    const page1 = await search(a.socket, w);
    expect(page1.results.length).to.equal(18);
    expect(page1.next).to.equal(undefined);
    // Paging: pages of 20.
    for (let i = 0; i < 6; i++) ids.push(await bulk(`${w} more ${i}`));
    const p1 = await search(a.socket, w);
    expect(p1.results.length).to.equal(20);
    expect(p1.next).to.be.a("string");
    const p2 = await search(a.socket, w, { before: p1.next });
    expect(p2.results.length).to.equal(4);
    expect(p2.next).to.equal(undefined);
    const seen = [...p1.results, ...p2.results].map((x) => x.message.id);
    expect(new Set(seen).size).to.equal(24);
  });

  it("leaves a room out from the very next search once the user is removed there, on another process", async () => {
    const other = await startParley();
    try {
      const owner = await person("own", other);
      const a = await person();
      const w = word();
      const r = room();
      await call(owner.socket, "room:create", { room: r, kind: "private" });
      await call(owner.socket, "room:invite", { room: r, username: a.name });
      const joined = await call(a.socket, "room:join", { room: r });
      expect(joined.ok).to.equal(true);
      await send(owner.socket, r, `secret ${w}`);
      await other.archiver.drain();
      expect(texts((await search(a.socket, w)).results)).to.deep.equal([`secret ${w}`]);
      const removed = await call(owner.socket, "room:remove", { room: r, username: a.name });
      expect(removed.ok).to.equal(true);
      // No wait: the removal answered, so the next search is refused the room.
      const after = await call(a.socket, "message:search", { query: w });
      if (!after.ok) throw new Error(JSON.stringify(after));
      expect(after.results).to.deep.equal([]);
    } finally {
      await other.close();
    }
  });

  it("answers a long phrase over a repetitive message at once (snippets cost what they show)", async () => {
    const a = await person();
    const r = room();
    await call(a.socket, "room:create", { room: r, kind: "private" });
    const w = word();
    for (let i = 0; i < 3; i++) await send(a.socket, r, `${w} ${"aa ".repeat(600)}`.trim());
    await parley.archiver.drain();
    const phrase = `"${Array.from({ length: 20 }, () => "aa").join(" ")}"`;
    // Answered, not `unavailable`: ts_headline took seconds per message on this, past the
    // search's 2 s deadline.
    const found = await search(a.socket, phrase);
    expect(found.results.length).to.equal(3);
    expect(found.results[0]?.snippet.some((p) => p.match && p.text === "aa")).to.equal(true);
    // Words inside <...> are words, not a tag to skip; a NUL in a query is a space.
    await send(a.socket, r, `the transfer was <not${w}> approved`);
    const tagged = await search(a.socket, `not${w}`);
    expect(tagged.results.map((x) => x.message.text)).to.deep.equal([
      `the transfer was <not${w}> approved`,
    ]);
    expect((await search(a.socket, `not${w}\u0000`)).results.length).to.equal(1);
  });

  it("refuses empty or oversized queries and malformed cursors, and keeps to a budget", async () => {
    const a = await person();
    for (const payload of [
      { query: "" },
      { query: "   " },
      { query: "x".repeat(201) },
      { query: "ok", before: "not-a-cursor" },
      // Exclusions alone cannot use the index (they would read every message): refused.
      { query: "-zzz" },
      { query: "-a -b" },
      { query: 5 },
    ]) {
      const r = await call(a.socket, "message:search", payload as never);
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.error.code).to.equal("invalid");
    }
    // Hostile query syntax is only words to websearch_to_tsquery: no error, no match.
    const odd = await call(a.socket, "message:search", {
      query: "'); DROP TABLE messages; -- & | !",
    });
    expect(odd.ok).to.equal(true);
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => call(a.socket, "message:search", { query: "anything" })),
    );
    const limited = answers.filter((r) => !r.ok && r.error.code === "rate_limited");
    expect(limited.length).to.be.at.least(1);
  });

  it("opens a message in context for a reader; an outsider gets what a missing room gets", async () => {
    const owner = await person();
    const outsider = await person();
    const r = room();
    await call(owner.socket, "room:create", { room: r, kind: "private" });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await send(owner.socket, r, `ctx ${i}`));
    const around = await call(owner.socket, "message:around", {
      room: r,
      id: ids[3] as string,
      context: 2,
    });
    if (!around.ok) throw new Error(JSON.stringify(around));
    expect(around.messages.map((m) => m.text)).to.deep.equal([
      "ctx 1",
      "ctx 2",
      "ctx 3",
      "ctx 4",
      "ctx 5",
    ]);
    const refused = await call(outsider.socket, "message:around", {
      room: r,
      id: ids[3] as string,
    });
    const missing = await call(outsider.socket, "message:around", {
      room: `${r}-none`,
      id: ids[3] as string,
    });
    const missingPrivate = await call(outsider.socket, "message:history", { room: r });
    expect(refused).to.deep.equal({ ...missingPrivate });
    expect(refused.ok).to.equal(false);
    if (!refused.ok) expect(refused.error.code).to.equal("not_found");
    // A room that does not exist: exactly the same answer.
    expect(missing).to.deep.equal(refused);
  });

  it("exports a room as JSON Lines for its owner, with tombstones, and for nobody else", async () => {
    const owner = await person();
    const member = await person();
    const r = room();
    await call(owner.socket, "room:create", { room: r, kind: "public" });
    await call(member.socket, "room:join", { room: r });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await send(owner.socket, r, `line ${i}`));
    await call(owner.socket, "message:delete", { room: r, id: ids[1] as string });
    await parley.archiver.drain();
    ids.push(await send(member.socket, r, "not archived yet"));
    const res = await owner.browser.get(`/rooms/${r}/export`);
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.match(/^application\/x-ndjson/);
    const lines = res.body
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((m) => m.id)).to.deep.equal(ids);
    expect(lines[1]).to.include({ deleted: true, text: "" });
    expect(lines[5].text).to.equal("not archived yet");
    const denied = await member.browser.get(`/rooms/${r}/export`);
    expect(denied.status).to.equal(404);
    const none = await owner.browser.get(`/rooms/${r}-none/export`);
    expect(none.status).to.equal(404);
  });
});
