import { existsSync, mkdtempSync, readFileSync, statSync, symlinkSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { freePort } from "../../src/redis/server.js";
import { testRedisUrl } from "../helpers/parley.js";
import { killAll, portOpen, run, useBuiltServer, waitFor } from "../helpers/process.js";

describe("starting parley (its entry point, built)", function () {
  useBuiltServer();
  this.timeout(30_000);
  afterEach(killAll);

  const dataDir = () => mkdtempSync(path.join(os.tmpdir(), "parley-start-"));

  it("stops on a bad configuration with exit 1 and one line per problem, no stack trace", async () => {
    const r = run({ PORT: "abc", LOG_LEVEL: "loud", PARLEY_DATA_DIR: dataDir() });
    expect(await r.exited).to.equal(1);
    const lines = r.stderr().trim().split("\n");
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/^parley: PORT /);
    expect(lines[1]).to.match(/^parley: LOG_LEVEL /);
    expect(r.stderr()).to.not.match(/\n\s+at /);
  });

  it("requires REDIS_URL and SESSION_SECRET in production", async () => {
    const r = run({ NODE_ENV: "production", PARLEY_DATA_DIR: dataDir() });
    expect(await r.exited).to.equal(1);
    expect(r.stderr()).to.include("REDIS_URL").and.include("SESSION_SECRET");
  });

  it("says how to install redis-server when it is missing and no REDIS_URL is set", async () => {
    // A PATH with node and nothing else (node and redis-server often share /usr/bin).
    const bin = dataDir();
    symlinkSync(process.execPath, path.join(bin, "node"));
    const r = run({ PATH: bin, PARLEY_DATA_DIR: dataDir() });
    expect(await r.exited).to.equal(1);
    expect(r.stderr()).to.match(/redis-server was not found on PATH/);
    expect(r.stderr()).to.include("apt-get install redis-server");
  });

  it("without REDIS_URL and DATABASE_URL starts a private redis-server and PostgreSQL, serves, and stops it all on SIGTERM", async () => {
    const dir = dataDir();
    const port = await freePort();
    const r = run({ PORT: String(port), PARLEY_DATA_DIR: dir, DATABASE_URL: "" });
    await waitFor(() => r.stdout().includes('"event":"listening"'), 30_000, "listening");
    const logged = /"event":"private_redis","port":(\d+)/.exec(r.stdout());
    const redisPort = Number(logged?.[1]);
    expect(redisPort).to.be.greaterThan(0);
    const pg = /"event":"private_postgres","port":(\d+)/.exec(r.stdout());
    const pgPort = Number(pg?.[1]);
    expect(pgPort).to.be.greaterThan(0);
    // Reachable by parley only: its password is readable by its owner alone.
    const pwMode = statSync(path.join(dir, "postgres", "password")).mode & 0o777;
    expect(pwMode).to.equal(0o600);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).to.equal(200);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).to.equal(200);
    expect(existsSync(path.join(dir, "redis", "appendonlydir"))).to.equal(true);
    expect(readFileSync(path.join(dir, "session-secret"), "utf8").trim().length).to.be.at.least(32);
    const started = Date.now();
    r.child.kill("SIGTERM");
    expect(await r.exited).to.equal(0);
    expect(Date.now() - started).to.be.below(10_000);
    expect(await portOpen(redisPort)).to.equal(false);
    expect(await portOpen(pgPort)).to.equal(false);
  });

  it("uses REDIS_URL when it is set, starting no Redis of its own", async () => {
    const port = await freePort();
    const r = run({ PORT: String(port), REDIS_URL: testRedisUrl(), PARLEY_DATA_DIR: dataDir() });
    await waitFor(() => r.stdout().includes('"event":"listening"'), 20_000, "listening");
    expect(r.stdout()).to.not.include("private_redis");
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).to.equal(200);
    r.child.kill("SIGTERM");
    expect(await r.exited).to.equal(0);
  });

  it("says, in one line, that it cannot reach REDIS_URL instead of waiting for ever", async () => {
    const port = await freePort(); // nothing listens there
    const r = run({
      REDIS_URL: `redis://:secret-pw@127.0.0.1:${port}`,
      PARLEY_DATA_DIR: dataDir(),
    });
    expect(await r.exited).to.equal(1);
    const lines = r.stderr().trim().split("\n");
    expect(lines).to.deep.equal([`parley: REDIS_URL: cannot connect to redis://127.0.0.1:${port}`]);
  });

  it("names PORT when the port is taken", async () => {
    const blocker = net.createServer().listen(0, "127.0.0.1");
    await new Promise((r) => blocker.once("listening", r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = run({ PORT: String(port), REDIS_URL: testRedisUrl(), PARLEY_DATA_DIR: dataDir() });
      expect(await r.exited).to.equal(1);
      expect(r.stderr()).to.match(/^parley: PORT \d+ is already in use/);
    } finally {
      blocker.close();
    }
  });

  describe("says what is wrong with Redis in one line naming the setting and the address", () => {
    /** What it printed: the lines of stderr, and stdout's lines (JSON logs) above debug. */
    async function refused(env: Record<string, string>) {
      const r = run({
        PARLEY_DATA_DIR: dataDir(),
        SESSION_SECRET: "startup-test-secret-0123456789ab",
        ...env,
      });
      expect(await r.exited).to.equal(1);
      const logged = r
        .stdout()
        .split("\n")
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .filter((l) => l.level >= 30);
      return { lines: r.stderr().trim().split("\n"), logged };
    }

    it("a port that accepts but never answers", async () => {
      const silent = net
        .createServer((socket) => socket.on("error", () => undefined))
        .listen(0, "127.0.0.1");
      await new Promise((r) => silent.once("listening", r));
      const port = (silent.address() as net.AddressInfo).port;
      try {
        const { lines, logged } = await refused({ REDIS_URL: `redis://127.0.0.1:${port}` });
        expect(lines).to.have.length(1);
        expect(lines[0]).to.match(
          new RegExp(
            `^parley: REDIS_URL: redis://127\\.0\\.0\\.1:${port} accepted the connection but did not answer`,
          ),
        );
        expect(logged.map((l) => l.msg)).to.not.include("redis connection ready");
      } finally {
        silent.close();
      }
    });

    it("a Redis that needs a password REDIS_URL does not give (NOAUTH)", async () => {
      const { startRedisServer } = await import("../../src/redis/server.js");
      const locked = await startRedisServer({ appendOnly: false, password: "the-password-0123" });
      try {
        const { lines, logged } = await refused({ REDIS_URL: `redis://127.0.0.1:${locked.port}` });
        expect(lines).to.deep.equal([
          `parley: REDIS_URL: redis://127.0.0.1:${locked.port} requires a password: put it in REDIS_URL (redis://:password@host:port)`,
        ]);
        expect(logged.map((l) => l.msg)).to.not.include("redis connection ready");
      } finally {
        await locked.stop();
      }
    });

    it("cluster nodes none of which answers", async () => {
      const a = await freePort();
      const b = await freePort();
      const { lines } = await refused({ REDIS_CLUSTER_NODES: `127.0.0.1:${a},127.0.0.1:${b}` });
      expect(lines).to.deep.equal([
        `parley: REDIS_CLUSTER_NODES: no Redis Cluster node answers at 127.0.0.1:${a}, 127.0.0.1:${b}`,
      ]);
    });

    it("a port out of range, in words", async () => {
      const r = run({ PORT: "70000", PARLEY_DATA_DIR: dataDir() });
      expect(await r.exited).to.equal(1);
      expect(r.stderr().trim()).to.equal(
        'parley: PORT must be a whole number from 0 to 65535 (got "70000")',
      );
    });
  });
});
