// The private redis-server that `npm start` runs when REDIS_URL is unset: one per data
// directory whatever happens to parley, restarted when it dies, closed to other local users,
// and stopped with parley however parley is stopped.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { createClient } from "redis";
import { freePort, startRedisServer } from "../../src/redis/server.js";
import { eventually } from "../helpers/eventually.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, testDatabaseUrl } from "../helpers/parley.js";
import {
  entryPoint,
  killAll,
  portOpen,
  run,
  runListening,
  track,
  waitFor,
} from "../helpers/process.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function privateRedisOf(stdout: string): { port: number; pid: number } {
  const m = /"event":"private_redis","port":(\d+),"pid":(\d+)/.exec(stdout);
  if (!m) throw new Error("no private_redis line");
  return { port: Number(m[1]), pid: Number(m[2]) };
}

describe("the private redis-server", function () {
  this.timeout(60_000);
  afterEach(killAll);
  const dataDir = () => mkdtempSync(path.join(os.tmpdir(), "parley-redis-"));
  const leftovers: number[] = [];
  after(() => {
    for (const pid of leftovers) if (alive(pid)) process.kill(pid, "SIGKILL");
  });

  it("is never run twice on one directory: a server left by a killed parley is stopped first", async () => {
    const dir = dataDir();
    const port = await freePort();
    const first = await runListening({ PORT: String(port), PARLEY_DATA_DIR: dir });
    const orphan = privateRedisOf(first.stdout()).pid;
    leftovers.push(orphan);
    const b = new Browser(`http://127.0.0.1:${port}`);
    const name = `keep_${Date.now().toString(36)}`;
    expect((await b.register(name, PASSWORD)).status).to.equal(303);
    first.child.kill("SIGKILL"); // as the OOM killer does: the server is left behind
    await first.exited;
    expect(alive(orphan)).to.equal(true);

    const second = await runListening({ PORT: String(port), PARLEY_DATA_DIR: dir });
    const next = privateRedisOf(second.stdout()).pid;
    leftovers.push(next);
    expect(second.stdout()).to.include('"event":"private_redis_stale"');
    expect(alive(orphan)).to.equal(false);
    expect(next).not.to.equal(orphan);
    // What the first one stored is still there (it wrote its append-only file on SIGTERM).
    expect((await new Browser(`http://127.0.0.1:${port}`).login(name, PASSWORD)).status).to.equal(
      303,
    );
    second.child.kill("SIGTERM");
    expect(await second.exited).to.equal(0);
    expect(alive(next)).to.equal(false);
  });

  it("starts at once after a parley killed with SIGKILL, while that one is a zombie not yet reaped", async () => {
    const dir = dataDir();
    const port = await freePort();
    // `exec sleep` makes sleep the parent of parley, and sleep never reaps it: once killed,
    // parley stays a zombie (its pid answers kill(pid, 0)) for as long as sleep runs.
    const holder = track(
      spawn(
        "sh",
        ["-c", `"${process.execPath}" "${entryPoint()}" & echo "pid $!"; exec sleep 60`],
        {
          env: {
            PATH: process.env.PATH ?? "",
            PORT: String(port),
            PARLEY_DATA_DIR: dir,
            DATABASE_URL: testDatabaseUrl(),
          },
          stdio: ["ignore", "pipe", "ignore"],
        },
      ),
    );
    let out = "";
    holder.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    await waitFor(() => out.includes('"event":"listening"'), 20_000, "the first parley");
    const pid = Number(/^pid (\d+)$/m.exec(out)?.[1]);
    leftovers.push(privateRedisOf(out).pid);
    process.kill(pid, "SIGKILL");
    await waitFor(
      () => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") === true,
      5000,
      "the killed parley to be a zombie",
    );
    expect(alive(pid), "a zombie still answers kill(pid, 0)").to.equal(true);
    const second = await runListening({ PORT: String(port), PARLEY_DATA_DIR: dir });
    leftovers.push(privateRedisOf(second.stdout()).pid);
    expect(second.stdout()).to.not.include("another parley");
    second.child.kill("SIGTERM");
    expect(await second.exited).to.equal(0);
  });

  it("never stops a process that an old pid file names but that is not its server", async () => {
    const dir = dataDir();
    const unrelated = await startRedisServer({ appendOnly: false });
    try {
      mkdirSync(path.join(dir, "redis"), { recursive: true });
      writeFileSync(path.join(dir, "redis", "redis.pid"), `${unrelated.pid()}\n`);
      const r = await runListening({ PORT: String(await freePort()), PARLEY_DATA_DIR: dir });
      leftovers.push(privateRedisOf(r.stdout()).pid);
      expect(alive(unrelated.pid() as number)).to.equal(true);
      expect(r.stdout()).not.to.include("private_redis_stale");
      r.child.kill("SIGTERM");
      expect(await r.exited).to.equal(0);
    } finally {
      await unrelated.stop();
    }
  });

  it("refuses a second parley on the same data directory, with one clear line", async () => {
    const dir = dataDir();
    const first = await runListening({ PORT: String(await freePort()), PARLEY_DATA_DIR: dir });
    leftovers.push(privateRedisOf(first.stdout()).pid);
    const second = run({ PORT: String(await freePort()), PARLEY_DATA_DIR: dir });
    expect(await second.exited).to.equal(1);
    expect(second.stderr()).to.match(/^parley: another parley \(pid \d+\) is using .*\n$/);
    first.child.kill("SIGTERM");
    expect(await first.exited).to.equal(0);
  });

  it("is restarted when it dies while parley runs, and parley recovers", async () => {
    const dir = dataDir();
    const port = await freePort();
    const r = await runListening({ PORT: String(port), PARLEY_DATA_DIR: dir });
    const { pid } = privateRedisOf(r.stdout());
    process.kill(pid, "SIGKILL");
    await waitFor(() => r.stdout().includes('"event":"private_redis_exited"'), 5000, "restart", r);
    await eventually(
      async () => expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).to.equal(200),
      { what: "parley to be ready again", within: 10_000, every: 100 },
    );
    r.child.kill("SIGTERM");
    expect(await r.exited).to.equal(0);
  });

  it("needs a password that is neither in its command line nor readable by others", async () => {
    const dir = dataDir();
    const r = await runListening({ PORT: String(await freePort()), PARLEY_DATA_DIR: dir });
    const { port, pid } = privateRedisOf(r.stdout());
    const password = readFileSync(path.join(dir, "redis-password"), "utf8").trim();
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).not.to.include(password);
    const mode = statSync(path.join(dir, "redis-password")).mode;
    expect(mode & 0o077).to.equal(0);
    const anonymous = createClient({ url: `redis://127.0.0.1:${port}` });
    anonymous.on("error", () => undefined);
    await anonymous.connect();
    const refused = await anonymous.get("x").then(
      () => "answered",
      (err: Error) => err.message,
    );
    expect(refused).to.match(/NOAUTH/);
    await anonymous.close();
    expect(r.stdout()).not.to.include(password);
    r.child.kill("SIGTERM");
    expect(await r.exited).to.equal(0);
  });

  it("stops with parley on Ctrl-C without logging that Redis was lost", async () => {
    const dir = dataDir();
    const port = await freePort();
    // Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
    const child = track(
      spawn(process.execPath, [entryPoint()], {
        env: {
          PATH: process.env.PATH ?? "",
          PORT: String(port),
          PARLEY_DATA_DIR: dir,
          DATABASE_URL: testDatabaseUrl(),
        },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      }),
    );
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    await waitFor(() => out.includes('"event":"listening"'), 20_000, "listening");
    const { port: redisPort } = privateRedisOf(out);
    process.kill(-(child.pid as number), "SIGINT");
    expect(await exited).to.equal(0);
    expect(out).not.to.include('"event":"redis_down"');
    expect(await portOpen(redisPort)).to.equal(false);
  });

  it("`npm start` stops everything on SIGTERM to npm, and does not rebuild a built tree", async () => {
    const dir = dataDir();
    const port = await freePort();
    for (const round of [1, 2]) {
      const stamp = path.join("dist", ".built");
      const builtBefore = round === 2 ? statSync(stamp).mtimeMs : 0;
      const npm = track(
        spawn("npm", ["start", "--silent"], {
          env: {
            ...process.env,
            PORT: String(port),
            PARLEY_DATA_DIR: dir,
            LOG_LEVEL: "info",
            REDIS_URL: "",
          },
          stdio: ["ignore", "pipe", "pipe"],
        }),
      );
      let out = "";
      npm.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
      });
      await waitFor(() => out.includes('"event":"listening"'), 60_000, "npm start to listen");
      // The first start may build; the second finds the tree built and starts at once.
      if (round === 2) expect(statSync(stamp).mtimeMs).to.equal(builtBefore);
      const { pid } = privateRedisOf(out);
      leftovers.push(pid);
      // No DATABASE_URL here either: its private PostgreSQL stops with it too.
      const pgPort = Number(/"event":"private_postgres","port":(\d+)/.exec(out)?.[1]);
      expect(pgPort).to.be.greaterThan(0);
      const stopped = Date.now();
      npm.kill("SIGTERM");
      await waitFor(() => !alive(pid), 10_000, "the private redis to stop");
      expect(await portOpen(pgPort)).to.equal(false);
      await eventually(async () => expect(await portOpen(port)).to.equal(false), {
        what: "parley's port to close",
        within: 10_000,
        every: 100,
      });
      expect(Date.now() - stopped).to.be.below(10_000);
    }
  });
});
