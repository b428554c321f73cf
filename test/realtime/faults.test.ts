import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "chai";
import { type PrivateRedis, startRedisServer } from "../../src/redis/server.js";
import { Browser } from "../helpers/http.js";
import { startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { type ClientSocket, call, connect } from "../helpers/socket.js";

describe("when Redis stops and comes back", () => {
  let redis: PrivateRedis;
  let parley: TestParley;
  let socket: ClientSocket | undefined;
  before(async () => {
    // Append-only on, as in production: the login must survive the restart.
    redis = await startRedisServer({
      appendOnly: true,
      dir: mkdtempSync(path.join(os.tmpdir(), "parley-faults-")),
    });
    parley = await startParley({ redisUrl: redis.url });
  });
  after(async () => {
    socket?.close();
    await parley?.close();
    await redis?.stop();
  });

  it("refuses events with `unavailable`, keeps the socket and recovers without a restart", async () => {
    const b = new Browser(parley.url);
    await b.register(uniqueName(), "correct horse battery");
    socket = await connect(parley.url, b);
    const s = socket;
    expect((await call(s, "ping", {})).ok).to.equal(true);

    await redis.stop();
    const started = Date.now();
    const down = await call(s, "ping", {}, 5000);
    expect(down).to.deep.include({ ok: false });
    expect(!down.ok && down.error.code).to.equal("unavailable");
    expect(Date.now() - started).to.be.below(3000);
    expect(s.connected).to.equal(true);

    const probe = new Browser(parley.url);
    expect((await probe.get("/healthz")).status).to.equal(200);
    expect((await probe.get("/readyz")).status).to.equal(503);
    const page = await probe.get("/login");
    expect(page.status).to.equal(503);
    // A form post is refused too (and the login limiter is never bypassed).
    const post = await b.post("/login", { username: "x", password: "y", _csrf: "z" });
    expect(post.status).to.equal(503);
    expect(page.body).to.not.match(/at .*\.js:\d+/);
    const handshake = await fetch(`${parley.url}/socket.io/?EIO=4&transport=polling`, {
      headers: { cookie: b.cookieHeader() },
    });
    expect(handshake.status).to.equal(503);

    await redis.restart();
    const deadline = Date.now() + 10_000;
    let ok = false;
    while (!ok && Date.now() < deadline) {
      ok = (await call(s, "ping", {}, 2000).catch(() => ({ ok: false }))).ok;
      if (!ok) await sleep(200);
    }
    expect(ok).to.equal(true);
    expect((await probe.get("/readyz")).status).to.equal(200);
    // One log line per state change, not one per failed reconnect attempt or request (the
    // adapter's pub/sub connections follow the main one and log theirs at debug).
    const events = parley.logs.filter((l) => l.client === "main").map((l) => l.event);
    expect(events.filter((e) => e === "redis_down")).to.have.length(1);
    expect(events.filter((e) => e === "redis_up")).to.have.length(2);
  });
});
