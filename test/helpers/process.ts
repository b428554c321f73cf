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

export interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];
const said: { args: string[]; stdout: () => string; stderr: () => string }[] = [];

export function run(env: Record<string, string>, args: string[] = []): Run {
  const child = spawn(process.execPath, [entryPoint(), ...args], {
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
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

/** Registers a child spawned elsewhere so that killAll stops it too. */
export function track<T extends ChildProcess>(child: T): T {
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
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) {
      // What the process said is what tells why it did not get there.
      const said = run ? `\n--- stdout\n${run.stdout()}\n--- stderr\n${run.stderr()}` : "";
      throw new Error(`timed out waiting for ${what}${said}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts parley and resolves once it logged that it listens. */
export async function runListening(env: Record<string, string>, args: string[] = []): Promise<Run> {
  const r = run(env, args);
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
