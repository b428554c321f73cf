// Starts a private PostgreSQL: what `npm start` uses when DATABASE_URL is unset, and what the
// tests use so they never touch a shared database. It mirrors the private redis-server
// (src/redis/server.ts):
// - one per data directory: a lock file names the parley that owns it, a second parley on it
//   is refused, and a server left running by a parley that was killed is stopped first;
// - its own process group, stopped by parley on the way out (fast shutdown, then immediate),
//   and on any exit path that skips stop();
// - reachable only by parley: it listens on 127.0.0.1 only, with no Unix socket, and every
//   connection needs the role's password (scram-sha-256), generated once per data directory
//   and kept in a file only parley's user can read;
// - if it dies while parley runs, it is restarted (at most 5 times a minute).
//
// The binaries are Debian's (`postgresql` package: /usr/lib/postgresql/<major>/bin), or
// whatever PG_BIN names, or initdb/postgres on PATH (Homebrew, other distributions).
// PostgreSQL refuses to run as root: a parley running as root runs it as the `postgres` user
// (which Debian's package creates), with the cluster directory owned by that user.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import pg from "pg";
import type { Logger } from "pino";
import { alive, freePort, lock, restartPolicy, waitForExit } from "../redis/server.js";

export interface PrivatePostgres {
  /** postgres://parley:<password>@127.0.0.1:<port>/parley: never log it. */
  readonly url: string;
  readonly port: number;
  readonly pid: () => number | undefined;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

export class PostgresMissingError extends Error {
  constructor() {
    super(
      "PostgreSQL was not found (initdb and postgres): install it (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) or set DATABASE_URL",
    );
    this.name = "PostgresMissingError";
  }
}

/** The directory holding initdb and postgres, or undefined. */
export function findPostgresBin(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates: string[] = [];
  if (env.PG_BIN) candidates.push(env.PG_BIN);
  try {
    const majors = readdirSync("/usr/lib/postgresql")
      .filter((d) => /^\d+$/.test(d))
      .sort((a, b) => Number(b) - Number(a));
    for (const m of majors) candidates.push(`/usr/lib/postgresql/${m}/bin`);
  } catch {
    // not Debian's layout
  }
  for (const dir of candidates) {
    if (existsSync(path.join(dir, "initdb")) && existsSync(path.join(dir, "postgres"))) return dir;
  }
  const which = spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" });
  const found = which.stdout.trim();
  if (which.status === 0 && found) {
    const dir = path.dirname(found);
    if (existsSync(path.join(dir, "postgres"))) return dir;
  }
  return undefined;
}

/** The user the server runs as: ourselves, or `postgres` when we are root. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return undefined;
  const id = (flag: string) => {
    const r = spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
    return r.status === 0 ? Number(r.stdout.trim()) : Number.NaN;
  };
  const uid = id("-u");
  const gid = id("-g");
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error(
      "PostgreSQL cannot run as root and there is no `postgres` user: run parley as another user, or set DATABASE_URL",
    );
  }
  return { uid, gid };
}

function loadOrCreatePassword(file: string): string {
  try {
    const existing = readFileSync(file, "utf8").trim();
    if (/^[A-Za-z0-9_-]{32,}$/.test(existing)) return existing;
  } catch {
    // created below
  }
  const password = randomBytes(32).toString("base64url");
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/** The pid in a cluster's postmaster.pid, if that process still runs postgres there. */
function runningPostmaster(cluster: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(cluster, "postmaster.pid"), "utf8").split("\n")[0]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
    if (existsSync("/proc/self")) {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (!cmd.includes("postgres")) return undefined;
    }
    return pid;
  } catch {
    return undefined;
  }
}

async function stopPid(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGINT"); // fast shutdown: sessions end, a checkpoint is written
  } catch {
    return;
  }
  if (await waitForExit(pid, 10_000)) return;
  try {
    process.kill(pid, "SIGQUIT"); // immediate: recovery runs at the next start
  } catch {
    return;
  }
  if (!(await waitForExit(pid, 3_000))) process.kill(pid, "SIGKILL");
}

async function waitUntilAccepting(
  url: string,
  child: ChildProcess,
  deadlineMs: number,
): Promise<void> {
  const until = Date.now() + deadlineMs;
  let last: unknown;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`postgres exited with code ${child.exitCode}`);
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await c.connect();
      await c.end();
      return;
    } catch (err) {
      last = err;
      await c.end().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `postgres did not accept connections within ${deadlineMs} ms (${(last as Error)?.message})`,
  );
}

export async function startPostgresServer(opts: {
  /** The directory it keeps everything in (made if missing). */
  dir: string;
  port?: number;
  /** Tests: no fsync, no full-page writes (a crash may lose the data; fine for a test run). */
  fast?: boolean;
  supervise?: boolean;
  logger?: Logger;
}): Promise<PrivatePostgres> {
  const bin = findPostgresBin();
  if (!bin) throw new PostgresMissingError();
  const runAs = serverUser();
  const dir = path.resolve(opts.dir);
  const cluster = path.join(dir, "cluster");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The server's user (when it is not ours) needs to pass through, never to list or read.
  chmodSync(dir, runAs ? 0o711 : 0o700);
  if (runAs) chmodSync(path.dirname(dir), 0o711);
  if (runAs) {
    // Every directory above it must let that user through (a checkout under /root does not).
    const reach = spawnSync("sh", ["-c", 'cd "$1"', "sh", dir], { ...runAs, stdio: "ignore" });
    if (reach.status !== 0) {
      throw new Error(
        `PostgreSQL runs as the postgres user (parley is root), which cannot reach ${dir}: set PARLEY_DATA_DIR to a directory it can reach (e.g. under /var/lib), or set DATABASE_URL`,
      );
    }
  }
  let unlock: (() => void) | undefined = lock(dir);
  let child: ChildProcess | undefined;
  let stopping = false;
  const died = restartPolicy(opts.logger, "private_postgres", "private PostgreSQL");
  const onExit = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGQUIT");
  };
  try {
    const password = loadOrCreatePassword(path.join(dir, "password"));
    if (!existsSync(path.join(cluster, "PG_VERSION"))) {
      rmSync(cluster, { recursive: true, force: true });
      mkdirSync(cluster, { mode: 0o700 });
      const pwfile = path.join(dir, `initdb-pw.${process.pid}`);
      writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
      if (runAs) {
        chownSync(cluster, runAs.uid, runAs.gid);
        chownSync(pwfile, runAs.uid, runAs.gid);
      }
      const init = spawnSync(
        path.join(bin, "initdb"),
        [
          "-D",
          cluster,
          "-U",
          "parley",
          `--pwfile=${pwfile}`,
          "--auth=scram-sha-256",
          "-E",
          "UTF8",
          "--locale=C",
          "--no-instructions",
        ],
        { encoding: "utf8", ...(runAs ?? {}) },
      );
      rmSync(pwfile, { force: true });
      if (init.status !== 0) {
        rmSync(cluster, { recursive: true, force: true });
        throw new Error(`initdb failed: ${(init.stderr || init.stdout).trim().split("\n")[0]}`);
      }
    }
    const port = opts.port ?? (await freePort());
    const url = `postgres://parley:${encodeURIComponent(password)}@127.0.0.1:${port}/parley`;
    const args = [
      "-D",
      cluster,
      "-p",
      String(port),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=200",
      ...(opts.fast
        ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        : []),
    ];

    const launch = async () => {
      stopping = false;
      process.off("exit", onExit);
      process.once("exit", onExit);
      const stale = runningPostmaster(cluster);
      if (stale !== undefined) {
        opts.logger?.warn(
          { event: "private_postgres_stale", pid: stale },
          "stopping a PostgreSQL left running by an earlier parley",
        );
        await stopPid(stale);
      }
      const c = spawn(path.join(bin, "postgres"), args, {
        stdio: ["ignore", "ignore", "ignore"],
        detached: true,
        ...(runAs ?? {}),
      });
      child = c;
      c.once("exit", (code, signal) => {
        if (stopping || child !== c || !opts.supervise) return;
        const pause = died(code, signal);
        if (pause === undefined) return;
        setTimeout(() => {
          if (!stopping) launch().catch(() => undefined);
        }, pause);
      });
      const admin = url.replace(/\/parley$/, "/postgres");
      await waitUntilAccepting(admin, c, 30_000);
      const client = new pg.Client({
        connectionString: admin,
        connectionTimeoutMillis: 5_000,
        query_timeout: 30_000,
      });
      await client.connect();
      try {
        await client.query("CREATE DATABASE parley");
      } catch (err) {
        if ((err as { code?: string }).code !== "42P04") throw err; // it exists
      } finally {
        await client.end();
      }
    };

    const stop = async () => {
      stopping = true;
      const c = child;
      if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
        await stopPid(c.pid);
        await exited;
      }
      process.off("exit", onExit);
    };

    try {
      await launch();
    } catch (err) {
      await stop();
      throw err;
    }
    return {
      url,
      port,
      pid: () => child?.pid,
      stop: async () => {
        await stop();
        unlock?.();
        unlock = undefined;
      },
      restart: async () => {
        unlock ??= lock(dir);
        await launch();
      },
    };
  } catch (err) {
    unlock?.();
    throw err;
  }
}
