// Starts a private redis-server from PATH: what `npm start` uses when REDIS_URL is unset, and
// what the tests use so they never touch a shared Redis.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory (for fault tests). */
  restart(): Promise<void>;
}

export class RedisServerMissingError extends Error {
  constructor() {
    super(
      "redis-server was not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL",
    );
    this.name = "RedisServerMissingError";
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server did not listen on port ${port} within ${deadlineMs} ms`);
}

export async function startRedisServer(opts: {
  dir?: string;
  appendOnly: boolean;
  port?: number;
}): Promise<PrivateRedis> {
  const probe = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
  if (probe.error) throw new RedisServerMissingError();
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ? path.resolve(opts.dir) : undefined;
  if (dir) mkdirSync(dir, { recursive: true });
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    opts.appendOnly ? "yes" : "no",
    "--daemonize",
    "no",
    "--loglevel",
    "warning",
    ...(dir ? ["--dir", dir] : []),
  ];
  let child: ChildProcess;
  const launch = async () => {
    child = spawn("redis-server", args, { stdio: "ignore" });
    await waitForPort(port, child, 10_000);
  };
  await launch();
  const stop = async () => {
    const c = child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => c.kill("SIGKILL"), 5000);
      c.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      c.kill("SIGTERM");
    });
  };
  return { url: `redis://127.0.0.1:${port}`, port, stop, restart: launch };
}
