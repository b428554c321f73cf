// Which parley is running (its version in /healthz, the start-up log and parley_build_info),
// and a parley that finds Redis written by a newer one refuses to start with one clear line.
import { readFileSync } from "node:fs";
import { expect } from "chai";
import pg from "pg";
import { freePort, type PrivateRedis, startRedisServer } from "../../src/redis/server.js";
import { startParley, testDatabaseUrl } from "../helpers/parley.js";
import { killAll, run, runListening, useBuiltServer } from "../helpers/process.js";

const VERSION = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;

describe("versions", function () {
  useBuiltServer();
  this.timeout(40_000);
  let redis: PrivateRedis;
  before(async () => {
    redis = await startRedisServer({ appendOnly: false });
  });
  afterEach(function () {
    killAll.call(this);
  });
  after(async () => {
    await redis?.stop();
  });

  it("reports its version in /healthz, the start-up log and parley_build_info", async () => {
    expect(VERSION).to.match(/^\d+\.\d+\.\d+$/);
    const port = await freePort();
    const metrics = await freePort();
    const r = await runListening({
      PORT: String(port),
      METRICS_PORT: String(metrics),
      REDIS_URL: redis.url,
      SESSION_SECRET: "versions-test-secret-0123456789abcdefgh",
    });
    const listening = r
      .stdout()
      .split("\n")
      .map((l) => (l ? (JSON.parse(l) as Record<string, unknown>) : {}))
      .find((l) => l.event === "listening");
    expect(listening?.version).to.equal(VERSION);
    const plain = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(plain.headers.get("x-parley-version")).to.equal(VERSION);
    expect(await plain.text()).to.equal("ok");
    const json = await fetch(`http://127.0.0.1:${port}/healthz`, {
      headers: { accept: "application/json" },
    });
    expect(await json.json()).to.deep.equal({ status: "ok", version: VERSION });
    const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
    expect(text).to.include(`parley_build_info{version="${VERSION}",node="${process.version}"} 1`);
  });

  it("refuses to start on a Redis a newer parley wrote, with one line naming it", async () => {
    const { createClient } = await import("redis");
    const c = createClient({ url: redis.url });
    await c.connect();
    await c.set("parley:layout", "9");
    try {
      const refused = await startParley({ redisUrl: redis.url }).then(
        (p) => p.close().then(() => undefined),
        (err: unknown) => err as Error,
      );
      expect(refused?.message).to.match(
        /^Redis holds key layout 9 \(this parley writes \d+\), newer than parley/,
      );
      const r = run({
        PORT: String(await freePort()),
        REDIS_URL: redis.url,
        SESSION_SECRET: "versions-test-secret-0123456789abcdefgh",
      });
      expect(await r.exited).to.equal(1);
      const lines = (r.stdout() + r.stderr()).split("\n").filter((l) => l.includes("layout 9"));
      expect(lines).to.have.length(1);
      expect(r.stderr()).to.not.match(/\n\s+at /);
    } finally {
      await c.del("parley:layout");
      await c.quit();
    }
  });

  it("refuses to start on a PostgreSQL a newer parley migrated", async () => {
    // Migrated by this parley first (as a database in use is).
    await (await startParley({ redisUrl: redis.url })).close();
    const db = new pg.Client(testDatabaseUrl());
    await db.connect();
    await db.query(
      "INSERT INTO parley_migrations (name, run_on) VALUES ('999_from_the_future', now())",
    );
    try {
      const refused = await startParley({ redisUrl: redis.url }).then(
        (p) => p.close().then(() => undefined),
        (err: unknown) => err as Error,
      );
      expect(refused?.message).to.match(/^PostgreSQL holds migration 999_from_the_future, newer/);
    } finally {
      await db.query("DELETE FROM parley_migrations WHERE name = '999_from_the_future'");
      await db.end();
    }
  });
});
