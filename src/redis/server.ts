// Starts a private redis-server from PATH: what `npm start` uses when REDIS_URL is unset, and
// what the tests use so they never touch a shared Redis.
//
// The private server of a data directory is supervised and never duplicated:
// - a lock file names the parley that owns the directory; a second parley on it is refused;
// - redis-server writes its pid file there; a server left running by a parley that was
//   killed (SIGKILL, the OOM killer) is stopped before a new one starts, so two servers never
//   share one append-only directory;
// - it runs in its own process group, so a terminal's Ctrl-C reaches parley, which then stops
//   it after closing its own connections (no "redis lost" on the way out);
// - if it dies while parley runs, it is restarted (at most 5 times a minute, one log line each);
// - it listens on 127.0.0.1 with a generated password (kept beside the session secret, mode
//   0600); its configuration goes through stdin, so the password is not in the process list.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Logger } from "pino";

export interface PrivateRedis {
  /** redis://[:password@]127.0.0.1:port: never log it (it may carry the password). */
  readonly url: string;
  readonly port: number;
  /** The server's process id now (it changes when it is restarted). */
  readonly pid: () => number | undefined;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and releases the directory. */
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

export class DataDirBusyError extends Error {
  constructor(dir: string, pid: number) {
    super(`another parley (pid ${pid}) is using ${dir}: stop it first, or set PARLEY_DATA_DIR`);
    this.name = "DataDirBusyError";
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

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether `pid` is a redis-server working in `dir` (a redis-server changes into its data
 * directory), where /proc can tell (Linux); elsewhere, whether it is a redis-server at all.
 * An old pid file can name a process that has nothing to do with this directory (after a
 * reboot, even another Redis): that one is never touched.
 */
function isServerOf(pid: number, dir: string): boolean {
  try {
    return (
      readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("redis-server") &&
      realpathSync(readlinkSync(`/proc/${pid}/cwd`)) === realpathSync(dir)
    );
  } catch {
    if (existsSync("/proc/self")) return false;
    const ps = spawnSync("ps", ["-o", "command=", "-p", String(pid)], { encoding: "utf8" });
    return ps.stdout.trim().startsWith("redis-server");
  }
}

function readPid(file: string): number | undefined {
  return readHolder(file)?.pid;
}

/** A lock file's holder: its pid and, where /proc tells, when that process started. */
function readHolder(file: string): { pid: number; started?: string } | undefined {
  try {
    const [first = "", second] = readFileSync(file, "utf8").trim().split(/\s+/);
    const pid = Number(first);
    if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
    return second ? { pid, started: second } : { pid };
  } catch {
    return undefined;
  }
}

/**
 * A process's state and start time from /proc/<pid>/stat (Linux): the state letter (Z: a
 * zombie, dead but not yet reaped) and the start time in clock ticks since boot, which tells
 * one process from a later one that reuses its pid. Undefined where there is no /proc entry.
 */
export function procStat(pid: number): { state: string; started: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may hold anything: fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "", started: fields[19] ?? "" };
  } catch {
    return undefined;
  }
}

/**
 * Whether the lock's holder is still running: a live process (not a zombie: a parley killed
 * with SIGKILL stays one until its parent reaps it) that started when the lock says, so a
 * later process that got the same pid is not taken for it. Without /proc, whether the pid
 * answers a signal.
 */
function holderAlive(holder: { pid: number; started?: string }): boolean {
  if (!existsSync("/proc/self/stat")) return alive(holder.pid);
  const stat = procStat(holder.pid);
  if (!stat || stat.state === "Z" || stat.state === "X") return false;
  return holder.started === undefined || holder.started === stat.started;
}

/**
 * Takes the directory's lock for this process, or says who holds it. The lock file appears
 * with its content in one step (written aside, then hard-linked into place), so no one ever
 * reads an empty lock; a stale one is moved aside under a unique name before it is replaced,
 * so two starters cannot both take it over.
 */
export function lock(dir: string): () => void {
  const file = path.join(dir, "parley.lock");
  const mine = path.join(dir, `parley.lock.${process.pid}`);
  const fd = openSync(mine, "w", 0o600);
  const started = procStat(process.pid)?.started;
  writeFileSync(fd, `${process.pid}${started ? ` ${started}` : ""}\n`);
  closeSync(fd);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(mine, file);
        return () => {
          if (readPid(file) === process.pid) unlinkSync(file);
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        const holder = readHolder(file);
        if (holder !== undefined && holder.pid !== process.pid && holderAlive(holder)) {
          throw new DataDirBusyError(dir, holder.pid);
        }
        // Left by a parley that is gone: move it aside (only one starter can), then retry.
        try {
          renameSync(file, `${file}.stale.${process.pid}`);
          unlinkSync(`${file}.stale.${process.pid}`);
        } catch {
          // someone else moved it first
        }
      }
    }
    throw new Error(`could not lock ${dir}`);
  } finally {
    unlinkSync(mine);
  }
}

export async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

/** Stops a redis-server that an earlier parley left running on this directory. */
async function stopStale(pidFile: string, dir: string, logger: Logger | undefined): Promise<void> {
  const pid = readPid(pidFile);
  if (pid === undefined || !alive(pid) || !isServerOf(pid, dir)) return;
  logger?.warn(
    { event: "private_redis_stale", pid },
    "stopping a redis-server left running by an earlier parley",
  );
  process.kill(pid, "SIGTERM"); // it writes its append-only file and exits
  if (!(await waitForExit(pid, 5000))) {
    process.kill(pid, "SIGKILL");
    await waitForExit(pid, 2000);
  }
}

/** The private server's password, generated once per data directory. */
export function loadOrCreateRedisPassword(dataDir: string): string {
  const file = path.join(dataDir, "redis-password");
  try {
    const existing = readFileSync(file, "utf8").trim();
    if (/^[A-Za-z0-9_-]{32,}$/.test(existing)) return existing;
  } catch {
    // not there yet: create it below
  }
  mkdirSync(dataDir, { recursive: true });
  const password = randomBytes(32).toString("base64url");
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return password;
}

const MAX_RESTARTS_PER_MINUTE = 5;

/**
 * The restart rule of a private server (Redis, PostgreSQL) that died unasked: restarted after
 * a growing pause, at most 5 times a minute, one log line each; then given up (logged).
 * Returns what to call on each death: the pause before the restart, or undefined.
 */
export function restartPolicy(
  logger: Logger | undefined,
  name: string,
  label: string,
): (code: number | null, signal: NodeJS.Signals | null) => number | undefined {
  const restarts: number[] = [];
  return (code, signal) => {
    const now = Date.now();
    while (restarts.length > 0 && now - (restarts[0] as number) > 60_000) restarts.shift();
    if (restarts.length >= MAX_RESTARTS_PER_MINUTE) {
      logger?.error(
        { event: `${name}_gave_up`, code, signal },
        `the ${label} keeps dying: not restarting it again`,
      );
      return undefined;
    }
    restarts.push(now);
    logger?.error(
      { event: `${name}_exited`, code, signal, restart: restarts.length },
      `the ${label} exited: restarting it`,
    );
    return 250 * restarts.length;
  };
}

export async function startRedisServer(opts: {
  dir?: string;
  appendOnly: boolean;
  port?: number;
  password?: string;
  /** Restart the server when it dies unasked (logging each restart). */
  supervise?: boolean;
  logger?: Logger;
}): Promise<PrivateRedis> {
  const probe = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
  if (probe.error) throw new RedisServerMissingError();
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ? path.resolve(opts.dir) : undefined;
  if (dir) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700); // also when it existed: the password is not all that guards it
  }
  const pidFile = dir ? path.join(dir, "redis.pid") : undefined;
  const config = [
    `port ${port}`,
    "bind 127.0.0.1",
    'save ""',
    `appendonly ${opts.appendOnly ? "yes" : "no"}`,
    "daemonize no",
    "loglevel warning",
    ...(dir ? [`dir "${dir}"`, `pidfile "${pidFile}"`] : []),
    ...(opts.password ? [`requirepass ${opts.password}`] : []),
  ].join("\n");

  let child: ChildProcess | undefined;
  let stopping = false;
  let unlock: (() => void) | undefined;
  const died = restartPolicy(opts.logger, "private_redis", "private redis-server");

  // It runs in its own process group, so nothing else stops it if parley exits on a path
  // that skips stop() (a forced exit, a crash): do it here.
  const onExit = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };

  const launch = async () => {
    stopping = false;
    process.off("exit", onExit);
    process.once("exit", onExit);
    if (dir) {
      unlock ??= lock(dir);
      if (pidFile) await stopStale(pidFile, dir, opts.logger);
      if (stopping) return; // stopped meanwhile: start nothing
    }
    // Its own process group: a terminal's Ctrl-C reaches parley, not the server.
    const c = spawn("redis-server", ["-"], { stdio: ["pipe", "ignore", "ignore"], detached: true });
    c.stdin?.end(`${config}\n`);
    child = c;
    c.once("exit", (code, signal) => {
      if (stopping || child !== c || !opts.supervise) return;
      const pause = died(code, signal);
      if (pause === undefined) return;
      setTimeout(() => {
        if (!stopping) launch().catch(() => undefined);
      }, pause);
    });
    await waitForPort(port, c, 10_000);
  };

  const stop = async () => {
    stopping = true;
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => c.kill("SIGKILL"), 5000);
        c.once("exit", () => {
          clearTimeout(kill);
          resolve();
        });
        c.kill("SIGTERM");
      });
    }
    unlock?.();
    unlock = undefined;
    process.off("exit", onExit);
  };

  try {
    await launch();
  } catch (err) {
    await stop();
    throw err;
  }
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : "";
  return {
    url: `redis://${auth}127.0.0.1:${port}`,
    port,
    pid: () => child?.pid,
    stop,
    restart: launch,
  };
}
