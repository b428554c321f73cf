// What every benchmark scenario uses: the child processes (servers under test and load
// generators, each its own process), Redis command counts, and parley's metrics.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { createClient } from "redis";
import { commandCalls, cpuSeconds, totalCalls } from "./lib.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

/**
 * Stops every child still running (servers, load generators) and waits up to 15 s for them
 * to exit (a profiled server writes its profile on the way out).
 */
export async function stopChildren(): Promise<void> {
  await stopProcesses(children);
}

/** Stops these children (SIGTERM) and waits up to 15 s for each to exit. */
export async function stopProcesses(list: readonly ChildProcess[]): Promise<void> {
  const running = list.filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    running.map(
      (c) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 15_000);
          c.once("exit", () => {
            clearTimeout(timer);
            resolve();
          });
          c.kill("SIGTERM");
        }),
    ),
  );
}

export interface Server {
  name: string;
  url: string;
  pid: number;
  child: ChildProcess;
}

/**
 * Shows a server's first 20 warnings and errors (parley's JSON log lines at level 40 and
 * above): a scenario that fails or slows down says why.
 */
function forwardWarnings(name: string, child: ChildProcess): void {
  let shown = 0;
  let buf = "";
  child.stdout?.on("data", (d: Buffer) => {
    if (shown >= 20) return;
    buf += d.toString();
    let nl = buf.indexOf("\n");
    while (nl >= 0 && shown < 20) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (/"level":(4|5|6)0/.test(line)) {
        shown++;
        log(`[${name}] ${line.slice(0, 400)}`);
      }
      nl = buf.indexOf("\n");
    }
    if (buf.length > 65_536) buf = "";
  });
}

/**
 * Starts a server process; resolves once it printed `readyText` or, with "/healthz", once
 * that answers 200.
 */
export function startServer(
  name: string,
  args: string[],
  env: Record<string, string>,
  readyText: string,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 20 s`)), 20_000);
    const url = `http://127.0.0.1:${env.PORT}`;
    const done = () => {
      clearTimeout(timer);
      child.stdout?.removeAllListeners("data");
      forwardWarnings(name, child);
      resolve({ name, url, pid: child.pid ?? 0, child });
    };
    if (readyText === "/healthz") {
      child.stdout?.resume();
      const poll = () =>
        fetch(`${url}/healthz`).then(
          (r) => (r.ok ? done() : setTimeout(poll, 100)),
          () => setTimeout(poll, 100),
        );
      poll();
    }
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(readyText)) done();
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

/**
 * Runs one load job (bench/load.ts) in its own process; `onPhase` sees its progress lines.
 * With `keep`, resolves once its sockets are connected and leaves it running.
 */
export function load(
  job: object,
  onPhase: (phase: string) => void = () => undefined,
  keep = false,
): { child: ChildProcess; result: Promise<Record<string, unknown>> } {
  let arg = JSON.stringify(job);
  if (arg.length > 64 * 1024) {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "parley-load-")), "job.json");
    writeFileSync(file, arg);
    arg = `@${file}`;
  }
  const child = spawn(process.execPath, ["--import", "tsx", "bench/load.ts", arg], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  let buf = "";
  const result = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("load job timed out")), 120_000);
    child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as {
          phase?: string;
          result?: unknown;
          error?: string;
        };
        buf = buf.slice(nl + 1);
        if (line.phase) {
          onPhase(line.phase);
          if (keep && line.phase === "connected") {
            clearTimeout(timer);
            resolve(line as Record<string, unknown>);
          }
        }
        if (line.error) reject(new Error(line.error));
        if (line.result) {
          clearTimeout(timer);
          resolve(line.result as Record<string, unknown>);
        }
        nl = buf.indexOf("\n");
      }
    });
  });
  return { child, result };
}

/** One run's figures, by "server.figure" key. */
export type Row = Record<string, number>;

/** The sizes of a run: a full run, or `--quick`'s smoke sizes. */
export interface Sizes {
  hsSeconds: number;
  evSeconds: number;
  warmup: number;
  idle: number;
  rounds: number;
  msgUsers2: number;
  msgUsers50: number;
  perUser: number;
  /** Members of the fan-out room (over two processes). */
  fanoutSockets: number;
  /** Sockets of the one login revoked at once (over two processes). */
  revokeSockets: number;
  quick: boolean;
  /** parley runs with --cpu-prof and writes a heap snapshot on SIGUSR2 (`--profile`). */
  profile: boolean;
}

export interface User {
  username: string;
  password: string;
  cookie: string;
}

/** What a scenario measures against. */
export interface Bench {
  sizes: Sizes;
  /**
   * The servers compared side by side: parley, plain Socket.IO, the guide's approach, and
   * the unguarded server (parley's handlers with no per-event check).
   */
  servers: Record<"plain" | "docs" | "unguarded" | "parley", Server>;
  /** A second parley process on the same Redis (cross-process figures). */
  parley2: Server;
  /** A second unguarded process on the same Redis (the fan-out reference). */
  unguarded2: Server;
  /**
   * Cookies of `n` distinct parley logins (copies of the login of a user in no room, under
   * fresh session ids).
   */
  manyLogins(n: number): Promise<string[]>;
  /** Starts a fresh server of that kind (a new process, nothing measured on it before). */
  fresh(kind: "plain" | "parley"): Promise<{
    server: Server;
    /** parley's metrics page (plain has none: ""). */
    metricsText(): Promise<string>;
    stop(): Promise<void>;
  }>;
  /** parley's registered users, and the cookies each server's clients log in with. */
  users: User[];
  cookiesFor(name: string): string[];
  /** Calls per Redis command so far (INFO commandstats). */
  redisCalls(): Promise<Map<string, number>>;
  /** The bench's own Redis connection (for seeding data behind parley's back). */
  redis: ReturnType<typeof createClient>;
  /** parley's metrics page, now (for several figures at one instant). */
  metricsText(): Promise<string>;
  /** The PostgreSQL every parley of the run archives into. */
  databaseUrl: string;
}

/** The value of metric `name` in a Prometheus text page (0 when absent). */
export function metricIn(text: string, name: string): number {
  return Number(new RegExp(`^${name} ([\\d.e+-]+)`, "m").exec(text)?.[1] ?? 0);
}

export function redisCallsOf(rc: ReturnType<typeof createClient>) {
  return async () => commandCalls(await rc.info("commandstats"));
}

/**
 * Meters servers between a load job's "measuring" and "done" phases: their CPU seconds and
 * the Redis commands run (INFO commandstats, INFO itself left out). Pass `onPhase` to load().
 */
export function meter(b: Pick<Bench, "redisCalls">, ...pids: number[]) {
  const cpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  let cpu0 = 0;
  let cpu1 = 0;
  let calls0 = new Map<string, number>();
  let calls1 = new Map<string, number>();
  const marks: Promise<void>[] = [];
  return {
    onPhase(phase: string) {
      if (phase === "measuring") {
        cpu0 = cpu();
        marks.push(
          b.redisCalls().then((c) => {
            calls0 = c;
          }),
        );
      }
      if (phase === "done") {
        cpu1 = cpu();
        marks.push(
          b.redisCalls().then((c) => {
            calls1 = c;
          }),
        );
      }
    },
    /** CPU seconds and Redis commands in the window, once both marks are read. */
    async settle(): Promise<{
      cpuSeconds: number;
      redisCommands: number;
      byCommand: Map<string, number>;
    }> {
      await Promise.all(marks);
      const byCommand = new Map<string, number>();
      for (const [cmd, n] of calls1) {
        const d = n - (calls0.get(cmd) ?? 0);
        if (d > 0 && cmd !== "info") byCommand.set(cmd, d);
      }
      return {
        cpuSeconds: cpu1 - cpu0,
        redisCommands: totalCalls(calls0, calls1, ["info"]),
        byCommand,
      };
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
