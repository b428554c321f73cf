// parley on a Redis Sentinel set: a primary, two replicas and three sentinels on local ports.
// The primary is killed, hung, or its replicas stalled; a sentinel is hung or knows nothing.
// parley must refuse while there is no primary, follow the new one, and never lose an acked
// message nor keep a refused one.
import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "chai";
import type { Message } from "../../src/contract/events.js";
import { freePort } from "../../src/redis/server.js";
import { keys } from "../../src/stores/keys.js";
import { eventually } from "../helpers/eventually.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { ask } from "../helpers/redis.js";
import { SENTINEL_NAME, type SentinelSet, startSentinelSet } from "../helpers/sentinel.js";
import { type ClientSocket, call, connect, once } from "../helpers/socket.js";

/** Texts of a room's messages stored on the Redis at `port`, read directly. */
async function storedTexts(port: number, room: string): Promise<string[]> {
  const entries = (await ask(port, ["XRANGE", keys.roomMessages(room), "-", "+"])) as [
    string,
    string[],
  ][];
  return entries.map(([, fields]) => fields[fields.indexOf("t") + 1] as string);
}

/** Clients of the Redis at `port` blocked in a command (WAIT: waiting for its replicas). */
async function blockedClients(port: number): Promise<number> {
  const info = String(await ask(port, ["INFO", "clients"]));
  return Number(/blocked_clients:(\d+)/.exec(info)?.[1] ?? -1);
}

/** Pings until both sockets are answered ok, or `deadline` passes. */
async function flowing(sockets: ClientSocket[], deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    const answers = await Promise.all(sockets.map((s) => call(s, "ping", {}, 2000)));
    if (answers.every((a) => a.ok)) return true;
    await sleep(100);
  }
  return false;
}

describe("on Redis Sentinel (a primary, two replicas, three sentinels)", function () {
  this.timeout(60_000);
  let set: SentinelSet;
  let one: TestParley;
  let two: TestParley;
  const sockets: ClientSocket[] = [];
  before(async () => {
    set = await startSentinelSet();
    // A sentinel that does not know the name comes first: it is outvoted, not believed.
    const env = {
      REDIS_SENTINELS: `${set.emptySentinel},${set.sentinels}`,
      REDIS_SENTINEL_NAME: SENTINEL_NAME,
    };
    one = await startParley({ env, redisUrl: "redis://" });
    two = await startParley({ env, redisUrl: "redis://" });
  });
  after(async () => {
    for (const s of sockets) s.close();
    await one?.close();
    await two?.close();
    await set?.stop();
  });

  it("refuses to start, saying what each sentinel answered, when none names the primary", async () => {
    const unreachable = `127.0.0.1:${await freePort()}`;
    let failure: unknown;
    await startParley({
      env: {
        REDIS_SENTINELS: `${unreachable},${set.sentinels}`,
        REDIS_SENTINEL_NAME: "not-monitored",
      },
      redisUrl: "redis://",
    })
      .then((p) => p.close())
      .catch((err: unknown) => {
        failure = err;
      });
    const text = String(failure);
    expect(text).to.match(/no sentinel in REDIS_SENTINELS names a primary for "not-monitored"/);
    expect(text).to.include(`${unreachable} `);
    expect(text).to.include(`${set.sentinels.split(",")[0]} does not monitor "not-monitored"`);
  });

  it("acks a message only once a replica holds it: with the replicas stalled, overlapping sends are refused and none is kept", async () => {
    const a = new Browser(one.url);
    await a.register(uniqueName("r"), PASSWORD);
    const s = await connect(one.url, a);
    sockets.push(s);
    const room = `rep-${Date.now().toString(36)}`;
    await call(s, "room:join", { room });
    expect((await call(s, "message:send", { room, text: "held by three" })).ok).to.equal(true);

    for (const port of set.replicaPorts) set.signal(port, "SIGSTOP");
    try {
      const sentAt = Date.now();
      const sends = [];
      for (let i = 0; i < 5; i++) {
        sends.push(call(s, "message:send", { room, text: `held by one ${i}` }, 8000));
        // A fixed pace, deliberately: the sends are to overlap (each one sent while earlier
        // ones still wait for the replicas), not to arrive as one batch.
        await sleep(20);
      }
      const answers = await Promise.all(sends);
      expect(answers.map((r) => (r.ok ? "ok" : r.error.code))).to.deep.equal(
        Array(5).fill("unavailable"),
      );
      expect(Date.now() - sentAt).to.be.below(5000);
      // Refused means not kept, on the primary itself.
      expect(await storedTexts(set.primaryPort, room)).to.deep.equal(["held by three"]);
    } finally {
      for (const port of set.replicaPorts) set.signal(port, "SIGCONT");
    }
    await set.waitForReplicas();
    expect((await call(s, "message:send", { room, text: "held again" })).ok).to.equal(true);
    const history = await call(s, "message:history", { room, limit: 10 });
    expect(history.ok && history.messages.map((m) => m.text)).to.deep.equal([
      "held by three",
      "held again",
    ]);
  });

  it("never acks a retry of a send its replicas have not confirmed: both refused, then one stored", async () => {
    const a = new Browser(one.url);
    await a.register(uniqueName("d"), PASSWORD);
    const first = await connect(one.url, a);
    const second = await connect(one.url, a);
    sockets.push(first, second);
    const room = `dedupe-${Date.now().toString(36)}`;
    await call(first, "room:join", { room });
    await call(second, "room:join", { room });
    const clientId = "retry-while-pending";
    for (const port of set.replicaPorts) set.signal(port, "SIGSTOP");
    try {
      // The same message from two tabs of one person while the replicas are stalled: the
      // second arrives while the first waits for them.
      const original = call(first, "message:send", { room, text: "exactly once", clientId }, 8000);
      await eventually(
        async () => expect(await blockedClients(set.primaryPort), "clients in WAIT").to.equal(1),
        { what: "the first send to wait for the replicas" },
      );
      const retry = await call(
        second,
        "message:send",
        { room, text: "exactly once", clientId },
        8000,
      );
      expect(retry.ok ? "ok" : retry.error.code).to.equal("unavailable");
      const answered = await original;
      expect(answered.ok ? "ok" : answered.error.code).to.equal("unavailable");
      expect(await storedTexts(set.primaryPort, room)).to.deep.equal([]);
    } finally {
      for (const port of set.replicaPorts) set.signal(port, "SIGCONT");
    }
    await set.waitForReplicas();
    const again = await call(first, "message:send", { room, text: "exactly once", clientId });
    const twice = await call(second, "message:send", { room, text: "exactly once", clientId });
    if (!again.ok || !twice.ok) throw new Error("refused once the replicas were back");
    expect(twice.message.id).to.equal(again.message.id);
    expect(await storedTexts(set.primaryPort, room)).to.deep.equal(["exactly once"]);
  });

  it("refuses while the primary is gone, then follows the failover with the logins and messages made before", async () => {
    // Before: two users on two processes, in one room.
    const a = new Browser(one.url);
    const b = new Browser(two.url);
    await a.register(uniqueName("a"), PASSWORD);
    await b.register(uniqueName("b"), PASSWORD);
    const sa = await connect(one.url, a);
    const sb = await connect(two.url, b);
    sockets.push(sa, sb);
    const room = `fo-${Date.now().toString(36)}`;
    await call(sa, "room:join", { room });
    await call(sb, "room:join", { room });
    await set.waitForReplicas(); // the logins (messages wait for a replica themselves)
    const before = once<Message>(sb, "message");
    expect((await call(sa, "message:send", { room, text: "before" })).ok).to.equal(true);
    expect((await before).text).to.equal("before");

    // One sentinel hangs as well: the other two still agree on a failover, and parley, which
    // asks all of them, follows it.
    set.signal(set.sentinelPorts[0] as number, "SIGSTOP");
    const killedAt = Date.now();
    set.signal(set.primaryPort, "SIGKILL");
    const failover = set.waitForFailover(set.primaryPort, 30_000).then((port) => ({
      port,
      at: Date.now(),
    }));

    // Fails closed at once, exactly as with one Redis that died.
    const down = await call(sa, "ping", {}, 5000);
    expect(down.ok ? "ok" : down.error.code).to.equal("unavailable");
    expect(Date.now() - killedAt).to.be.below(3000);
    const probe = new Browser(one.url);
    expect((await probe.get("/readyz")).status).to.equal(503);

    // Follows the new primary within the sentinels' failover time plus 5 s.
    const { port, at } = await failover;
    expect(set.replicaPorts).to.include(port);
    expect(await flowing([sa, sb], at + 5000), "events flow within 5 s").to.equal(true);

    // The sockets and logins made before the failover still work, across both processes,
    // and so does sending (the other replica confirms).
    let sent = await call(sa, "message:send", { room, text: "after" });
    for (let i = 0; !sent.ok && i < 40 && Date.now() < at + 5000; i++) {
      await sleep(100); // the remaining replica is still being attached to the new primary
      sent = await call(sa, "message:send", { room, text: "after" });
    }
    expect(sent.ok, "a message is confirmed within 5 s of the failover").to.equal(true);
    const history = await call(sb, "message:history", { room, limit: 10 });
    expect(history.ok && history.messages.map((m) => m.text)).to.deep.equal(["before", "after"]);
    expect((await a.get("/chat")).status).to.equal(200);
    expect((await probe.get("/readyz")).status).to.equal(200);

    // New logins work, and a logout on one process ends that login's socket on the other.
    const c = new Browser(one.url);
    expect((await c.register(uniqueName("c"), PASSWORD)).status).to.equal(303);
    const onTwo = new Browser(two.url);
    onTwo.cookies.set("parley.sid", c.cookies.get("parley.sid") ?? "");
    const sc = await connect(two.url, onTwo);
    sockets.push(sc);
    const told = once<{ reason: string }>(sc, "session:revoked", 2000);
    await c.logout();
    expect((await told).reason).to.equal("logout");

    const failovers = one.logs.filter((l) => l.event === "redis_failover");
    expect(failovers).to.have.length(1);
    expect(failovers[0]).to.include({ to: `127.0.0.1:${port}` });
    set.signal(set.sentinelPorts[0] as number, "SIGCONT");
  });
});

describe("on Redis Sentinel, when the primary hangs instead of dying", function () {
  this.timeout(60_000);
  let set: SentinelSet;
  let parley: TestParley;
  let socket: ClientSocket | undefined;
  before(async () => {
    set = await startSentinelSet();
    parley = await startParley({
      env: { REDIS_SENTINELS: set.sentinels, REDIS_SENTINEL_NAME: SENTINEL_NAME },
      redisUrl: "redis://",
    });
  });
  after(async () => {
    socket?.close();
    await parley?.close();
    await set?.stop();
  });

  it("refuses during the hang, follows the failover, and the hung primary never acts on what was refused", async () => {
    const a = new Browser(parley.url);
    await a.register(uniqueName("h"), PASSWORD);
    socket = await connect(parley.url, a);
    const s = socket;
    const room = `hang-${Date.now().toString(36)}`;
    await call(s, "room:join", { room });
    await set.waitForReplicas();
    expect((await call(s, "message:send", { room, text: "before" })).ok).to.equal(true);

    set.signal(set.primaryPort, "SIGSTOP");
    const failover = set.waitForFailover(set.primaryPort, 30_000).then((port) => ({
      port,
      at: Date.now(),
    }));
    const sentAt = Date.now();
    const refused = await call(s, "message:send", { room, text: "during the hang" }, 5000);
    expect(refused.ok ? "ok" : refused.error.code).to.equal("unavailable");
    expect(Date.now() - sentAt).to.be.below(3000);

    const { at } = await failover;
    expect(await flowing([s], at + 5000), "events flow within 5 s").to.equal(true);

    // The hung primary resumes with parley's refused write still in its socket buffer. It is
    // still a primary for a moment (until the sentinels turn it into a replica): read it
    // there, directly, before it is wiped by a resync.
    set.signal(set.primaryPort, "SIGCONT");
    // A command on a new connection is read after what already sat in the resumed Redis's
    // socket buffers (those are readable when its event loop wakes; a new connection is
    // accepted first and read later): once this PING is answered, Redis has run what parley's
    // refused write left there.
    await ask(set.primaryPort, ["PING"]);
    expect(await storedTexts(set.primaryPort, room)).to.not.include("during the hang");

    let sent = await call(s, "message:send", { room, text: "after" });
    for (let i = 0; !sent.ok && i < 40 && Date.now() < at + 5000; i++) {
      await sleep(100);
      sent = await call(s, "message:send", { room, text: "after" });
    }
    expect(sent.ok).to.equal(true);
    const history = await call(s, "message:history", { room, limit: 10 });
    expect(history.ok && history.messages.map((m) => m.text)).to.deep.equal(["before", "after"]);
    expect((await a.get("/chat")).status).to.equal(200);
  });
});
