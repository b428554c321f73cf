import { expect } from "chai";
import type WebSocket from "ws";
import { Browser } from "../helpers/http.js";
import { startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { poll, pollingHandshake, rawWebSocket } from "../helpers/raw.js";
import { type ClientSocket, call, connect, once } from "../helpers/socket.js";

describe("bad traffic affects only the offender", () => {
  let parley: TestParley;
  let bystander: ClientSocket;
  let offender: Browser;
  before(async () => {
    parley = await startParley();
    const b = new Browser(parley.url);
    await b.register(uniqueName("by"), "correct horse battery");
    bystander = await connect(parley.url, b);
    await call(bystander, "room:join", { room: "calm" });
    offender = new Browser(parley.url);
    await offender.register(uniqueName("bad"), "correct horse battery");
  });
  after(async () => {
    bystander?.close();
    await parley?.close();
  });

  const bystanderStillChats = async () =>
    expect((await call(bystander, "ping", {})).ok).to.equal(true);

  function closed(ws: WebSocket): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("connection not closed within 3 s")), 3000);
      ws.once("close", () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  it("closes a WebSocket that sends a packet over 16 KiB", async () => {
    const s = await connect(parley.url, offender);
    const gone = once(s, "disconnect");
    s.emit("message:send", { room: "lobby", text: "x".repeat(17 * 1024) });
    await gone;
    await bystanderStillChats();
  });

  it("answers a polling POST over 16 KiB with 413", async () => {
    const sid = await pollingHandshake(parley.url, { cookie: offender.cookieHeader() });
    const res = await poll(parley.url, `&sid=${sid}`, {
      method: "POST",
      body: `42["message:send",{"room":"lobby","text":"${"y".repeat(17 * 1024)}"}]`,
      headers: { cookie: offender.cookieHeader() },
    });
    expect(res.status).to.equal(413);
    await bystanderStillChats();
  });

  for (const [what, frame] of [
    ["a truncated Socket.IO packet", '42["message:send",'],
    ["an unknown packet type", "4{bad"],
    ["an engine.io packet of an unknown type", "9hello"],
    ["binary where text is expected", Buffer.from([0xff, 0x00, 0x13, 0x37])],
  ] as const) {
    it(`closes a connection that sends ${what}`, async () => {
      const ws = await rawWebSocket(parley.url, { cookie: offender.cookieHeader() });
      const done = closed(ws);
      ws.send("40");
      ws.send(frame);
      await done;
      await bystanderStillChats();
    });
  }

  it("keeps others chatting while one socket sends 1000 events in a second", async () => {
    const s = await connect(parley.url, offender);
    try {
      const flood = Array.from({ length: 1000 }, () => call(s, "ping", {}, 10_000));
      const started = Date.now();
      const mine = await call(bystander, "message:send", { room: "calm", text: "still fine" });
      expect(mine.ok).to.equal(true);
      expect(Date.now() - started).to.be.below(2000);
      const results = await Promise.all(flood);
      expect(results.every((r) => r.ok)).to.equal(true);
    } finally {
      s.close();
    }
  });

  it("keeps others chatting through a thousand handshakes from one address", async () => {
    const before = parley.realtime.io.engine.clientsCount;
    const storm = Array.from({ length: 1000 }, () =>
      fetch(`${parley.url}/socket.io/?EIO=4&transport=polling`).then((r) => r.status),
    );
    const mine = await call(bystander, "message:send", { room: "calm", text: "during the storm" });
    expect(mine.ok).to.equal(true);
    const statuses = await Promise.all(storm);
    expect(statuses.every((st) => st === 401)).to.equal(true);
    // None of them got an engine.io session.
    expect(parley.realtime.io.engine.clientsCount).to.be.at.most(before);
  });
});
