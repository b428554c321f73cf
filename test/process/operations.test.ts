import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { freePort, type PrivateRedis, startRedisServer } from "../../src/redis/server.js";
import { eventually } from "../helpers/eventually.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, uniqueName } from "../helpers/parley.js";
import { killAll, runListening, useBuiltServer } from "../helpers/process.js";
import { type ClientSocket, call, connect, once } from "../helpers/socket.js";

const SECRET = "operations-test-secret-0123456789abcdef";

describe("operating parley as processes", function () {
  useBuiltServer();
  this.timeout(40_000);
  let redis: PrivateRedis;
  const sockets: ClientSocket[] = [];
  const tmp = () => mkdtempSync(path.join(os.tmpdir(), "parley-ops-"));

  before(async () => {
    // Our own append-only Redis: these tests stop and restart it.
    redis = await startRedisServer({ appendOnly: true, dir: tmp() });
  });
  afterEach(function () {
    for (const s of sockets.splice(0)) s.close();
    killAll.call(this);
  });
  after(async () => {
    await redis?.stop();
  });

  async function parley(extra: Record<string, string> = {}, args: string[] = []) {
    const port = await freePort();
    const r = await runListening(
      {
        PORT: String(port),
        REDIS_URL: redis.url,
        SESSION_SECRET: SECRET,
        PARLEY_DATA_DIR: tmp(),
        ...extra,
      },
      args,
    );
    return { ...r, url: `http://127.0.0.1:${port}` };
  }

  async function open(url: string, b: Browser, transports?: ("polling" | "websocket")[]) {
    const s = await connect(url, b, transports ? { transports } : {});
    sockets.push(s);
    return s;
  }

  it("runs as a cluster: workers share sessions, rooms and revocations, and stop on SIGTERM", async () => {
    const p = await parley({ PARLEY_WORKERS: "2" }, ["--cluster"]);
    const a = new Browser(p.url);
    const b = new Browser(p.url);
    await a.register(uniqueName("ca"), PASSWORD);
    await b.register(uniqueName("cb"), PASSWORD);
    const sa = await open(p.url, a, ["polling", "websocket"]);
    const sb = await open(p.url, b, ["polling"]);
    await call(sa, "room:join", { room: "cluster" });
    await call(sb, "room:join", { room: "cluster" });
    const got = once<{ text: string }>(sb, "message");
    await call(sa, "message:send", { room: "cluster", text: "through the cluster" });
    expect((await got).text).to.equal("through the cluster");
    const told = once(sb, "session:revoked", 1000);
    await b.post("/logout", { _csrf: await b.csrf("/chat") });
    await told;
    const started = Date.now();
    p.child.kill("SIGTERM");
    expect(await p.exited).to.equal(0);
    expect(Date.now() - started).to.be.below(10_000);
  });

  it("serves a cluster's metrics added up over its workers at every scrape", async () => {
    const metrics = await freePort();
    const p = await parley({ PARLEY_WORKERS: "2", METRICS_PORT: String(metrics) }, ["--cluster"]);
    const a = new Browser(p.url);
    await a.register(uniqueName("cm"), PASSWORD);
    // Three sockets: the primary spreads them over both workers (least connections).
    for (let i = 0; i < 3; i++) await open(p.url, a);
    for (let i = 0; i < 4; i++) {
      const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
      expect(/^parley_connected_sockets (\d+)/m.exec(text)?.[1], text.slice(0, 200)).to.equal("3");
      expect(/^parley_build_info\{[^}]*\} (\d+)/m.exec(text)?.[1]).to.equal("1");
      expect(/^parley_redis_up\{connection="main"\} (\d+)/m.exec(text)?.[1]).to.equal("1");
    }
    // The workers themselves serve no metrics of their own (they never listen on the port).
    expect(p.stdout()).to.not.include("EADDRINUSE");
  });

  it("on SIGTERM tells sockets, answers every event already sent, and exits 0 within 10 s", async () => {
    const p = await parley();
    const b = new Browser(p.url);
    await b.register(uniqueName("term"), PASSWORD);
    const s = await open(p.url, b);
    await call(s, "room:join", { room: "shutdown" });
    const shutdown = once(s, "server:shutdown", 5000);
    const acks = Array.from({ length: 15 }, (_, i) =>
      call(s, "message:send", { room: "shutdown", text: `in flight ${i}` }, 8000),
    );
    const started = Date.now();
    p.child.kill("SIGTERM");
    await shutdown;
    const results = await Promise.all(acks);
    for (const r of results) {
      expect(r.ok || r.error.code === "unavailable", JSON.stringify(r)).to.equal(true);
    }
    expect(await p.exited).to.equal(0);
    expect(Date.now() - started).to.be.below(10_000);
    // Whatever was acked ok is stored.
    const q = await parley();
    const reader = new Browser(q.url);
    await reader.register(uniqueName("reader"), PASSWORD);
    const rs = await open(q.url, reader);
    const history = await call(rs, "message:history", { room: "shutdown", limit: 100 });
    const stored = history.ok ? history.messages.map((m) => m.id) : [];
    for (const r of results) if (r.ok) expect(stored).to.include(r.message.id);
  });

  it("keeps users, sessions and acked messages across a Redis restart", async () => {
    const p = await parley();
    const b = new Browser(p.url);
    const name = uniqueName("persist");
    await b.register(name, PASSWORD);
    const s = await open(p.url, b);
    await call(s, "room:join", { room: "persist" });
    const sent = await call(s, "message:send", { room: "persist", text: "survives" });
    expect(sent.ok).to.equal(true);
    await redis.stop();
    expect((await b.get("/chat")).status).to.equal(503);
    await redis.restart();
    // parley reconnects by itself; the login and the history are still there.
    await eventually(async () => expect((await b.get("/chat")).status).to.equal(200), {
      what: "the chat page to be served again",
      within: 10_000,
      every: 100,
    });
    const s2 = await open(p.url, b);
    const joined = await call(s2, "room:join", { room: "persist" });
    expect(joined.ok && joined.history.map((m) => m.text)).to.include("survives");
    expect((await new Browser(p.url).login(name, PASSWORD)).status).to.equal(303);
  });

  it("when one process is killed, its clients reconnect to another and keep their login", async () => {
    const one = await parley();
    const two = await parley();
    const b = new Browser(one.url);
    await b.register(uniqueName("kill"), PASSWORD);
    const s = await open(one.url, b);
    const gone = once(s, "disconnect", 5000);
    one.child.kill("SIGKILL");
    await gone;
    b.baseUrl = two.url;
    const again = await open(two.url, b);
    expect((await call(again, "ping", {})).ok).to.equal(true);
    expect((await b.get("/chat")).status).to.equal(200);
  });
});
