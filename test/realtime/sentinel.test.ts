// parley on a Redis Sentinel set: a primary, a replica and three sentinels on local ports.
// The primary is killed; parley must refuse while there is none, then follow the new one.
import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "chai";
import type { Message } from "../../src/realtime/events.js";
import { freePort } from "../../src/redis-server.js";
import { Browser } from "../helpers/http.js";
import { startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { SENTINEL_NAME, type SentinelSet, startSentinelSet } from "../helpers/sentinel.js";
import { type ClientSocket, call, connect, once } from "../helpers/socket.js";

const PASSWORD = "correct horse battery";

describe("on Redis Sentinel (a primary, a replica, three sentinels)", function () {
  this.timeout(60_000);
  let set: SentinelSet;
  let one: TestParley;
  let two: TestParley;
  const sockets: ClientSocket[] = [];
  before(async () => {
    set = await startSentinelSet();
    const env = { REDIS_SENTINELS: set.sentinels, REDIS_SENTINEL_NAME: SENTINEL_NAME };
    one = await startParley({ env, redisUrl: "redis://" });
    two = await startParley({ env, redisUrl: "redis://" });
  });
  after(async () => {
    for (const s of sockets) s.close();
    await one?.close();
    await two?.close();
    await set?.stop();
  });

  it("refuses to start, in one line, when no sentinel names the primary", async () => {
    const env = { REDIS_SENTINELS: `${set.sentinels},127.0.0.1:${await freePort()}` };
    let failure: unknown;
    await startParley({
      env: { ...env, REDIS_SENTINEL_NAME: "not-monitored" },
      redisUrl: "redis://",
    })
      .then((p) => p.close())
      .catch((err: unknown) => {
        failure = err;
      });
    expect(String(failure)).to.match(
      /no sentinel in REDIS_SENTINELS names a primary for "not-monitored"/,
    );
  });

  it("acks a message only once a replica holds it: with the replica stalled, a send is refused and not kept", async () => {
    const a = new Browser(one.url);
    await a.register(uniqueName("r"), PASSWORD);
    const s = await connect(one.url, a);
    sockets.push(s);
    const room = `rep-${Date.now().toString(36)}`;
    await call(s, "room:join", { room });
    expect((await call(s, "message:send", { room, text: "held by two" })).ok).to.equal(true);

    set.pauseReplica();
    try {
      const sentAt = Date.now();
      const refused = await call(s, "message:send", { room, text: "held by one" }, 5000);
      expect(refused.ok ? "ok" : refused.error.code).to.equal("unavailable");
      expect(Date.now() - sentAt).to.be.below(2000);
    } finally {
      set.resumeReplica();
    }
    await set.waitForReplica();
    expect((await call(s, "message:send", { room, text: "held again" })).ok).to.equal(true);
    const history = await call(s, "message:history", { room, limit: 10 });
    expect(history.ok && history.messages.map((m) => m.text)).to.deep.equal([
      "held by two",
      "held again",
    ]);
  });

  it("refuses while the primary is gone, then follows the failover with the logins made before", async () => {
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
    await set.waitForReplica(); // the logins (messages wait for the replica themselves)
    const before = once<Message>(sb, "message");
    expect((await call(sa, "message:send", { room, text: "before" })).ok).to.equal(true);
    expect((await before).text).to.equal("before");

    const killedAt = Date.now();
    set.killPrimary();
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
    expect(port).to.equal(set.replicaPort);
    let flowing = false;
    while (!flowing && Date.now() < at + 5000) {
      const [p1, p2] = await Promise.all([call(sa, "ping", {}, 2000), call(sb, "ping", {}, 2000)]);
      flowing = p1.ok && p2.ok;
      if (!flowing) await sleep(100);
    }
    expect(flowing, "events flow on both processes within 5 s of the failover").to.equal(true);

    // The sockets and logins made before the failover still work, across both processes.
    const after = once<Message>(sb, "message", 5000);
    const sent = await call(sa, "message:send", { room, text: "after" });
    expect(sent.ok).to.equal(true);
    expect((await after).text).to.equal("after");
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
    expect(failovers[0]).to.include({ to: `127.0.0.1:${set.replicaPort}` });
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
    await set.waitForReplica();
    expect((await call(s, "message:send", { room, text: "before" })).ok).to.equal(true);

    set.pausePrimary();
    const failover = set.waitForFailover(set.primaryPort, 30_000).then((port) => ({
      port,
      at: Date.now(),
    }));
    const sentAt = Date.now();
    const refused = await call(s, "message:send", { room, text: "during the hang" }, 5000);
    expect(refused.ok ? "ok" : refused.error.code).to.equal("unavailable");
    expect(Date.now() - sentAt).to.be.below(3000);

    const { at } = await failover;
    let flowing = false;
    while (!flowing && Date.now() < at + 5000) {
      flowing = (await call(s, "ping", {}, 2000)).ok;
      if (!flowing) await sleep(100);
    }
    expect(flowing, "events flow within 5 s of the failover").to.equal(true);
    expect((await call(s, "message:send", { room, text: "after" })).ok).to.equal(true);

    // The hung primary resumes (and is turned into a replica by the sentinels): whatever it
    // still held from parley was refused already and is not acted on anywhere.
    set.resumePrimary();
    await sleep(1500);
    const history = await call(s, "message:history", { room, limit: 10 });
    expect(history.ok && history.messages.map((m) => m.text)).to.deep.equal(["before", "after"]);
    expect((await a.get("/chat")).status).to.equal(200);
  });
});
