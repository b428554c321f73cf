// Runs parley's real entry point as a child process, for start-up, shutdown, cluster and
// crash tests: the built dist/src/main.js, as `npm start` runs it. The tree is built once per
// test run, on the first process started (tsc is incremental: a few seconds when only tests
// changed), instead of compiling TypeScript in every child.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { eventually } from "./eventually.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
let built: string | undefined;

/** The built entry point, built on first use in this run. */
export function entryPoint(): string {
  if (built) return built;
  const tsc = spawnSync(
    path.join(root, "node_modules", ".bin", "tsc"),
    ["-p", "tsconfig.build.json"],
    {
      cwd: root,
      encoding: "utf8",
    },
  );
  if (tsc.status !== 0) throw new Error(`building dist/ failed:\n${tsc.stdout}${tsc.stderr}`);
  // The Redis scripts beside it, as `npm run build` and `npm start` copy them.
  const lua = spawnSync(process.execPath, [path.join(root, "scripts", "copy-lua.js")], {
    cwd: root,
    encoding: "utf8",
  });
  if (lua.status !== 0) throw new Error(`copying the Redis scripts failed:\n${lua.stderr}`);
  built = path.join(root, "dist", "src", "main.js");
  return built;
}

/**
 * Builds the server in a before hook of the enclosing describe, with time for a first build
 * from scratch (a fresh clone, other tests running beside it), so that no test's own time
 * includes the build.
 */
export function useBuiltServer(): void {
  before(function () {
    this.timeout(180_000);
    entryPoint();
  });
}

/** Every child still running that a helper asked to have killed when the test process exits. */
const reaped = new Set<ChildProcess>();

/**
 * Kills `child` (SIGKILL) if the test process exits while it still runs, however it exits
 * (mocha done, a failed before hook, an uncaught error), so that no redis-server or parley a
 * test started outlives the run. Returns the child.
 */
export function reapOnExit<T extends ChildProcess>(child: T): T {
  if (reaped.size === 0) process.once("exit", reapAll);
  reaped.add(child);
  child.once("exit", () => {
    reaped.delete(child);
    if (reaped.size === 0) process.off("exit", reapAll);
  });
  return child;
}

function reapAll(): void {
  for (const c of reaped) c.kill("SIGKILL");
}

/**
 * Kills `child` and resolves once it is gone. A stopped child (SIGSTOP) gets SIGCONT too, for
 * good measure. A child that never started (spawn failed) is gone already.
 */
export function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      return resolve();
    }
    child.once("exit", () => resolve());
    child.kill("SIGCONT");
    child.kill("SIGKILL");
  });
}

export interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];
const said: { args: string[]; stdout: () => string; stderr: () => string }[] = [];

export function run(
  env: Record<string, string>,
  args: string[] = [],
  /** Another built server's main.js (a copy elsewhere). */
  main = entryPoint(),
): Run {
  // The run's PostgreSQL, unless a test names its own (or "" for a private one): starting a
  // private PostgreSQL (initdb) is the subject of one test, not the cost of every one.
  const database = process.env.PARLEY_TEST_DATABASE_URL ?? "";
  const child = spawn(process.execPath, [main, ...args], {
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", DATABASE_URL: database, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  reapOnExit(child);
  running.push(child);
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  said.push({ args, stdout: () => out, stderr: () => err });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Registers a child spawned elsewhere so that killAll stops it too (and exit reaps it). */
export function track<T extends ChildProcess>(child: T): T {
  reapOnExit(child);
  running.push(child);
  return child;
}

/**
 * Kills every child still running (register in afterEach). When the test failed, it first
 * prints what each parley it ran said: that is what tells why.
 */
export function killAll(this: Mocha.Context | undefined): void {
  const runs = said.splice(0);
  if (this?.currentTest?.state === "failed")
    for (const r of runs)
      process.stderr.write(
        `--- parley ${r.args.join(" ")} stdout\n${r.stdout()}--- stderr\n${r.stderr()}---\n`,
      );
  for (const c of running.splice(0))
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

export async function waitFor(
  check: () => boolean,
  ms: number,
  what: string,
  run?: Run,
): Promise<void> {
  try {
    await eventually(check, { what, within: ms, every: 50 });
  } catch (err) {
    // What the process said is what tells why it did not get there.
    if (run && err instanceof Error) {
      err.message += `\n--- stdout\n${run.stdout()}\n--- stderr\n${run.stderr()}`;
    }
    throw err;
  }
}

/** Starts parley and resolves once it logged that it listens. */
export async function runListening(
  env: Record<string, string>,
  args: string[] = [],
  main = entryPoint(),
): Promise<Run> {
  const r = run(env, args, main);
  await waitFor(() => r.stdout().includes('"event":"listening"'), 20_000, "parley to listen", r);
  return r;
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
