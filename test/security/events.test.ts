// Abuse through events other than message:send: floods of cheap events, joining every room
// there is, and payloads the store would read back differently from what was acked.
import { expect } from "chai";
import type { Member } from "../../src/contract/events.js";
import { MAX_ROOMS_PER_SOCKET } from "../../src/domain/limits.js";
import { LOCAL_BUDGETS } from "../../src/realtime/budgets.js";
import { useParley } from "../helpers/fixtures.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, type TestParley, uniqueName } from "../helpers/parley.js";
import { type ClientSocket, call, connect } from "../helpers/socket.js";

describe("event budgets and payload rules", function () {
  this.timeout(30_000);
  let parley: TestParley;
  // A clock the test moves, so budget windows can pass without waiting.
  let clock = Date.now();
  const sockets: ClientSocket[] = [];
  useParley(
    (p) => {
      parley = p;
    },
    { now: () => clock },
  );
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  async function user(): Promise<{ socket: ClientSocket; name: string }> {
    const b = new Browser(parley.url);
    const name = uniqueName();
    await b.register(name, PASSWORD);
    const socket = await connect(parley.url, b);
    sockets.push(socket);
    return { socket, name };
  }

  const codes = (acks: unknown[]) =>
    acks.map((a) => {
      const r = a as { ok: boolean; error?: { code: string } };
      return r.ok ? "ok" : (r.error?.code ?? "?");
    });

  it("relays at most the typing budget of a flood of 300 typing events", async () => {
    clock += 60_000;
    const room = `typing-${Date.now().toString(36)}`;
    const flooder = await user();
    const watcher = await user();
    await call(flooder.socket, "room:join", { room });
    await call(watcher.socket, "room:join", { room });
    let relayed = 0;
    watcher.socket.on("typing", () => {
      relayed++;
    });
    const acks = await Promise.all(
      Array.from({ length: 300 }, () => call(flooder.socket, "typing", { room })),
    );
    await call(watcher.socket, "ping", {}); // everything relayed before this has arrived
    const c = codes(acks);
    expect(c.filter((x) => x === "ok").length).to.equal(LOCAL_BUDGETS.typing.points);
    expect(c.filter((x) => x === "rate_limited").length).to.equal(
      300 - LOCAL_BUDGETS.typing.points,
    );
    expect(relayed).to.equal(LOCAL_BUDGETS.typing.points);
  });

  it("limits join/leave churn, so presence broadcasts cannot be flooded", async () => {
    clock += 60_000;
    const room = `churn-${Date.now().toString(36)}`;
    const churner = await user();
    const watcher = await user();
    await call(watcher.socket, "room:join", { room });
    let presence = 0;
    watcher.socket.on("presence", () => {
      presence++;
    });
    const acks: unknown[] = [];
    for (let i = 0; i < 50; i++) {
      acks.push(await call(churner.socket, "room:join", { room }));
      acks.push(await call(churner.socket, "room:leave", { room }));
    }
    await call(watcher.socket, "ping", {});
    const c = codes(acks);
    expect(c.filter((x) => x === "ok").length).to.equal(LOCAL_BUDGETS.membership.points);
    expect(c.filter((x) => x === "rate_limited").length).to.equal(
      100 - LOCAL_BUDGETS.membership.points,
    );
    expect(presence).to.be.at.most(LOCAL_BUDGETS.membership.points);
    // The next window opens the budget again.
    clock += LOCAL_BUDGETS.membership.seconds * 1000;
    expect((await call(churner.socket, "room:join", { room })).ok).to.equal(true);
  });

  it("budgets dm:open and message:history too", async () => {
    clock += 60_000;
    const a = await user();
    const b = await user();
    const dms = await Promise.all(
      Array.from({ length: 30 }, () => call(a.socket, "dm:open", { username: b.name })),
    );
    expect(codes(dms).filter((x) => x === "ok").length).to.equal(LOCAL_BUDGETS.dm.points);
    const histories = await Promise.all(
      Array.from({ length: 60 }, () => call(a.socket, "message:history", { room: "lobby" })),
    );
    expect(codes(histories).filter((x) => x === "ok").length).to.equal(
      LOCAL_BUDGETS.history.points,
    );
  });

  it(`caps the rooms one connection is in at ${MAX_ROOMS_PER_SOCKET}`, async () => {
    const { socket } = await user();
    const tag = Date.now().toString(36);
    const results: string[] = [];
    for (let i = 0; i < MAX_ROOMS_PER_SOCKET + 20; i++) {
      if (i % LOCAL_BUDGETS.membership.points === 0) clock += 60_000;
      results.push(...codes([await call(socket, "room:join", { room: `cap-${tag}-${i}` })]));
    }
    expect(results.filter((x) => x === "ok").length).to.equal(MAX_ROOMS_PER_SOCKET);
    expect(results.slice(MAX_ROOMS_PER_SOCKET)).to.deep.equal(Array(20).fill("rate_limited"));
    // Leaving one makes room for another; joining a room already joined is not counted.
    clock += 60_000;
    expect((await call(socket, "room:leave", { room: `cap-${tag}-0` })).ok).to.equal(true);
    expect((await call(socket, "room:join", { room: `cap-${tag}-1` })).ok).to.equal(true);
    expect((await call(socket, "room:join", { room: `cap-${tag}-new` })).ok).to.equal(true);
  });

  it('answers message:history before "0-0" with invalid, and logs nothing for it', async () => {
    clock += 60_000;
    const { socket } = await user();
    const warnings = () => parley.logs.filter((l) => (l.level as number) >= 40).length;
    const before = warnings();
    for (const id of ["0-0", "00-0", "0-00"]) {
      const r = await call(socket, "message:history", { room: "lobby", before: id });
      expect(r).to.deep.include({ ok: false });
      expect((r as { error: { code: string } }).error.code).to.equal("invalid");
    }
    expect((await call(socket, "message:history", { room: "lobby", before: "0-1" })).ok).to.equal(
      true,
    );
    expect(warnings()).to.equal(before);
  });

  it("stores exactly what it acks and broadcasts: lone surrogates become U+FFFD first", async () => {
    clock += 60_000;
    const room = `utf-${Date.now().toString(36)}`;
    const sender = await user();
    const reader = await user();
    await call(sender.socket, "room:join", { room });
    await call(reader.socket, "room:join", { room });
    const broadcast = new Promise<{ text: string; user: Member }>((resolve) =>
      reader.socket.once("message", resolve),
    );
    for (const [sent, stored] of [
      ["x\uD800y", "x\uFFFDy"],
      ["\uDC00 tail", "\uFFFD tail"],
    ] as const) {
      const ack = await call(sender.socket, "message:send", { room, text: sent });
      if (!ack.ok) throw new Error(ack.error.code);
      expect(ack.message.text).to.equal(stored);
    }
    expect((await broadcast).text).to.equal("x\uFFFDy");
    const history = await call(reader.socket, "message:history", { room });
    if (!history.ok) throw new Error(history.error.code);
    expect(history.messages.map((m) => m.text)).to.deep.equal(["x\uFFFDy", "\uFFFD tail"]);
  });
});
