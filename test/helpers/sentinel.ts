// A local Redis Sentinel set-up for failover tests: a primary, a replica and three sentinels,
// each a redis-server on a free port with its own temporary directory, all stopped by stop().
// Sentinels judge the primary down after 1 s, so a failover completes in about 2–3 s.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient } from "redis";
import { freePort } from "../../src/redis-server.js";

export const SENTINEL_NAME = "parley-test";
/** How long the sentinels wait before they call the primary down (ms). */
export const DOWN_AFTER_MS = 1000;

export interface SentinelSet {
  /** host:port of each sentinel, for REDIS_SENTINELS. */
  readonly sentinels: string;
  readonly primaryPort: number;
  readonly replicaPort: number;
  /** Waits until the replica holds everything the primary has received so far. */
  waitForReplica(withinMs?: number): Promise<void>;
  /** SIGKILLs the first primary. */
  killPrimary(): void;
  /** SIGSTOPs the first primary (it hangs: connections stay open, nothing is answered). */
  pausePrimary(): void;
  /** SIGCONTs it. */
  resumePrimary(): void;
  /** SIGSTOPs / SIGCONTs the first replica. */
  pauseReplica(): void;
  resumeReplica(): void;
  /** Waits until the sentinels name a primary other than `oldPort`; returns its port. */
  waitForFailover(oldPort: number, withinMs: number): Promise<number>;
  stop(): Promise<void>;
}

async function waitForPing(port: number, withinMs = 5000): Promise<void> {
  const until = Date.now() + withinMs;
  for (;;) {
    const c = createClient({ socket: { port, host: "127.0.0.1", reconnectStrategy: false } });
    c.on("error", () => undefined);
    try {
      await c.connect();
      await c.ping();
      await c.close();
      return;
    } catch {
      if (c.isOpen) c.destroy();
      if (Date.now() > until) throw new Error(`redis on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function ask(port: number, command: string[]): Promise<unknown> {
  const c = createClient({ socket: { port, host: "127.0.0.1", reconnectStrategy: false } });
  c.on("error", () => undefined);
  await c.connect();
  try {
    return await c.sendCommand(command);
  } finally {
    if (c.isOpen) c.destroy();
  }
}

export async function startSentinelSet(): Promise<SentinelSet> {
  const dir = await mkdtemp(path.join(tmpdir(), "parley-sentinel-"));
  const children = new Map<number, ChildProcess>();
  const start = async (port: number, args: string[]) => {
    const child = spawn("redis-server", args, { stdio: "ignore" });
    child.on("error", () => undefined);
    children.set(port, child);
    await waitForPing(port);
  };
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  const common = (port: number) => [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--dbfilename",
    `dump-${port}.rdb`,
    // The first full sync starts at once (the default waits 5 s for more replicas).
    "--repl-diskless-sync-delay",
    "0",
  ];
  await start(primaryPort, common(primaryPort));
  await start(replicaPort, [
    ...common(replicaPort),
    "--replicaof",
    "127.0.0.1",
    String(primaryPort),
  ]);
  const sentinelPorts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = path.join(dir, `sentinel-${port}.conf`);
    await writeFile(
      conf,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_NAME} ${DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${SENTINEL_NAME} 10000`,
        `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
        "",
      ].join("\n"),
    );
    await start(port, [conf, "--sentinel"]);
    sentinelPorts.push(port);
  }
  // Wait until every sentinel knows the replica and the other sentinels.
  const until = Date.now() + 15_000;
  for (const port of sentinelPorts) {
    for (;;) {
      const replicas = (await ask(port, ["SENTINEL", "REPLICAS", SENTINEL_NAME])) as unknown[];
      const others = (await ask(port, ["SENTINEL", "SENTINELS", SENTINEL_NAME])) as unknown[];
      if (replicas.length >= 1 && others.length >= 2) break;
      if (Date.now() > until) throw new Error("the sentinels did not discover each other");
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const currentPrimary = async (): Promise<number> => {
    const [, port] = (await ask(sentinelPorts[0] as number, [
      "SENTINEL",
      "GET-MASTER-ADDR-BY-NAME",
      SENTINEL_NAME,
    ])) as [string, string];
    return Number(port);
  };

  const offset = async (port: number, field: string): Promise<number> => {
    const info = String(await ask(port, ["INFO", "replication"]));
    return Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? -1);
  };

  return {
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(","),
    primaryPort,
    replicaPort,
    async waitForReplica(withinMs = 5000) {
      const deadline = Date.now() + withinMs;
      const target = await offset(primaryPort, "master_repl_offset");
      for (;;) {
        const info = String(await ask(replicaPort, ["INFO", "replication"]));
        const up = /master_link_status:up/.test(info);
        const at = Number(/slave_repl_offset:(\d+)/.exec(info)?.[1] ?? -1);
        if (up && at >= target) return;
        if (Date.now() > deadline) throw new Error("the replica did not catch up");
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    killPrimary() {
      children.get(primaryPort)?.kill("SIGKILL");
    },
    pausePrimary() {
      children.get(primaryPort)?.kill("SIGSTOP");
    },
    resumePrimary() {
      children.get(primaryPort)?.kill("SIGCONT");
    },
    pauseReplica() {
      children.get(replicaPort)?.kill("SIGSTOP");
    },
    resumeReplica() {
      children.get(replicaPort)?.kill("SIGCONT");
    },
    async waitForFailover(oldPort, withinMs) {
      const deadline = Date.now() + withinMs;
      for (;;) {
        const port = await currentPrimary().catch(() => oldPort);
        if (port !== oldPort) return port;
        if (Date.now() > deadline) throw new Error("no failover");
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await Promise.all(
        [...children.values()].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once("exit", () => resolve());
              c.kill("SIGCONT");
              c.kill("SIGKILL");
            }),
        ),
      );
      await rm(dir, { recursive: true, force: true });
    },
  };
}
