// A local Redis Sentinel set-up for failover tests: a primary, two replicas and three
// sentinels (plus, on request, a sentinel that monitors nothing), each a redis-server on a
// free port with its own temporary directory, all stopped by stop(), when start-up fails,
// and when the test process exits. Sentinels judge the primary down after 1 s, so a failover
// completes in about 2–3 s. Two replicas, as recommended: one remains after a failover to
// confirm messages (REDIS_ACK_REPLICAS=1).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../../src/redis/server.js";
import { killAndWait, reapOnExit } from "./process.js";
import { ask, until } from "./redis.js";

export const SENTINEL_NAME = "parley-test";
/** How long the sentinels wait before they call the primary down (ms). */
export const DOWN_AFTER_MS = 1000;

export interface SentinelSet {
  /** host:port of each sentinel, for REDIS_SENTINELS. */
  readonly sentinels: string;
  readonly sentinelPorts: readonly number[];
  readonly primaryPort: number;
  readonly replicaPorts: readonly number[];
  /** host:port of a sentinel that monitors nothing (it answers "no such master"). */
  readonly emptySentinel: string;
  /** Waits until every replica holds everything the primary has received so far. */
  waitForReplicas(withinMs?: number): Promise<void>;
  /** Sends a signal to one of the set's processes, by port. */
  signal(port: number, signal: NodeJS.Signals): void;
  /** Waits until the sentinels name a primary other than `oldPort`; returns its port. */
  waitForFailover(oldPort: number, withinMs: number): Promise<number>;
  stop(): Promise<void>;
}

export async function startSentinelSet(): Promise<SentinelSet> {
  const dir = await mkdtemp(path.join(tmpdir(), "parley-sentinel-"));
  const children = new Map<number, ChildProcess>();
  const stop = async () => {
    await Promise.all([...children.values()].map(killAndWait));
    await rm(dir, { recursive: true, force: true });
  };
  const start = async (port: number, args: string[]) => {
    const child = spawn("redis-server", args, { stdio: "ignore" });
    child.on("error", () => undefined);
    children.set(port, reapOnExit(child));
    // The server on that port must be this child (a port taken meanwhile is not ours).
    await until(`redis on ${port}`, 5000, async () => {
      if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited`);
      const info = String(await ask(port, ["INFO", "server"]));
      return new RegExp(`process_id:${child.pid}\\b`).test(info);
    });
  };
  try {
    const primaryPort = await freePort();
    const replicaPorts = [await freePort(), await freePort()];
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
    for (const port of replicaPorts) {
      await start(port, [...common(port), "--replicaof", "127.0.0.1", String(primaryPort)]);
    }
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const port = await freePort();
      const conf = path.join(dir, `sentinel-${port}.conf`);
      // The fourth monitors nothing.
      const monitor =
        i < 3
          ? [
              `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primaryPort} 2`,
              `sentinel down-after-milliseconds ${SENTINEL_NAME} ${DOWN_AFTER_MS}`,
              `sentinel failover-timeout ${SENTINEL_NAME} 10000`,
              `sentinel parallel-syncs ${SENTINEL_NAME} 2`,
            ]
          : [];
      await writeFile(
        conf,
        [`port ${port}`, "bind 127.0.0.1", `dir ${dir}`, ...monitor, ""].join("\n"),
      );
      await start(port, [conf, "--sentinel"]);
      sentinelPorts.push(port);
    }
    const [emptyPort] = sentinelPorts.splice(3, 1) as [number];
    // Every sentinel knows both replicas and the other sentinels.
    for (const port of sentinelPorts) {
      await until("the sentinels to discover each other", 15_000, async () => {
        const replicas = (await ask(port, ["SENTINEL", "REPLICAS", SENTINEL_NAME])) as unknown[];
        const others = (await ask(port, ["SENTINEL", "SENTINELS", SENTINEL_NAME])) as unknown[];
        return replicas.length >= 2 && others.length >= 2;
      });
    }

    const offset = async (port: number, field: string): Promise<number> => {
      const info = String(await ask(port, ["INFO", "replication"]));
      return Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? -1);
    };
    const set: SentinelSet = {
      sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(","),
      sentinelPorts,
      primaryPort,
      replicaPorts,
      emptySentinel: `127.0.0.1:${emptyPort}`,
      async waitForReplicas(withinMs = 5000) {
        const target = await offset(primaryPort, "master_repl_offset");
        for (const port of replicaPorts) {
          await until(`replica ${port} to catch up`, withinMs, async () => {
            const info = String(await ask(port, ["INFO", "replication"]));
            const at = Number(/slave_repl_offset:(\d+)/.exec(info)?.[1] ?? -1);
            return /master_link_status:up/.test(info) && at >= target;
          });
        }
      },
      signal(port, signal) {
        children.get(port)?.kill(signal);
      },
      async waitForFailover(oldPort, withinMs) {
        let port = oldPort;
        await until("a failover", withinMs, async () => {
          const reply = (await ask(sentinelPorts[1] as number, [
            "SENTINEL",
            "GET-MASTER-ADDR-BY-NAME",
            SENTINEL_NAME,
          ])) as [string, string];
          port = Number(reply[1]);
          return port !== oldPort;
        });
        return port;
      },
      stop,
    };
    await set.waitForReplicas();
    return set;
  } catch (err) {
    await stop();
    throw err;
  }
}
