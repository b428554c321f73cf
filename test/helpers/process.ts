// Runs parley's real entry point (src/main.ts) as a child process, for start-up, shutdown,
// cluster and crash tests.
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";

export interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];

export function run(env: Record<string, string>, args: string[] = []): Run {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
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
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Registers a child spawned elsewhere so that killAll stops it too. */
export function track<T extends ChildProcess>(child: T): T {
  running.push(child);
  return child;
}

/** Kills every child still running (register in afterEach). */
export function killAll(): void {
  for (const c of running.splice(0))
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

export async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts parley and resolves once it logged that it listens. */
export async function runListening(env: Record<string, string>, args: string[] = []): Promise<Run> {
  const r = run(env, args);
  await waitFor(() => r.stdout().includes('"event":"listening"'), 20_000, "parley to listen");
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
