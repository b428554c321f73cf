// A local Redis Cluster for tests: three primaries and three replicas, each a redis-server on
// a free port with its own directory, made a cluster with `redis-cli --cluster create`. Nodes
// call a silent peer failed after 1 s, so a primary's replica takes over within 2–3 s.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../../src/redis/server.js";
import { killAndWait, reapOnExit } from "./process.js";
import { ask, until } from "./redis.js";

export interface LocalCluster {
  /** host:port of every node, for REDIS_CLUSTER_NODES. */
  readonly nodes: string;
  readonly ports: readonly number[];
  /** The primary that serves `key` now. */
  primaryOf(key: string): Promise<number>;
  kill(port: number): void;
  /** Sends a signal to the node on `port` (SIGSTOP: it hangs; SIGCONT: it resumes). */
  signal(port: number, signal: NodeJS.Signals): void;
  /** Moves the slot of `key` from its primary to the primary on `to`, keys included. */
  moveSlotOf(key: string, to: number): Promise<void>;
  /** The ports of the live replicas of the primary on `port`. */
  replicasOf(port: number): Promise<number[]>;
  /** A graceful failover (CLUSTER FAILOVER on `replica`); resolves once it is a primary. */
  promote(replica: number, withinMs: number): Promise<void>;
  /** Waits until every slot is served again (cluster_state:ok seen from `via`). */
  waitHealthy(via: number, withinMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startLocalCluster(): Promise<LocalCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), "parley-cluster-"));
  const children = new Map<number, ChildProcess>();
  const stop = async () => {
    await Promise.all([...children.values()].map(killAndWait));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    return await build(dir, children, stop);
  } catch (err) {
    await stop();
    throw err;
  }
}

async function build(
  dir: string,
  children: Map<number, ChildProcess>,
  stop: () => Promise<void>,
): Promise<LocalCluster> {
  const ports: number[] = [];
  for (let i = 0; i < 6; i++) ports.push(await freePort());
  for (const port of ports) {
    const child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `nodes-${port}.conf`,
        "--cluster-node-timeout",
        "1000",
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--repl-diskless-sync-delay",
        "0",
      ],
      { stdio: "ignore" },
    );
    child.on("error", () => undefined);
    children.set(port, reapOnExit(child));
  }
  // The server on each port must be our child (a port taken meanwhile is not ours).
  for (const port of ports) {
    const pid = children.get(port)?.pid;
    await until(`redis on ${port}`, 5000, async () =>
      new RegExp(`process_id:${pid}\\b`).test(String(await ask(port, ["INFO", "server"]))),
    );
  }
  const created = spawnSync(
    "redis-cli",
    [
      "--cluster",
      "create",
      ...ports.map((p) => `127.0.0.1:${p}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes",
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (created.status !== 0) {
    throw new Error(`redis-cli --cluster create failed: ${created.stdout} ${created.stderr}`);
  }
  const cluster: LocalCluster = {
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(","),
    ports,
    async primaryOf(key) {
      const slot = Number(await ask(ports[0] as number, ["CLUSTER", "KEYSLOT", key]));
      const shards = (await ask(ports[0] as number, ["CLUSTER", "SLOTS"])) as [
        number,
        number,
        [string, number],
      ][];
      const shard = shards.find(([from, to]) => slot >= from && slot <= to);
      if (!shard) throw new Error(`no primary serves slot ${slot}`);
      return Number(shard[2][1]);
    },
    kill(port) {
      children.get(port)?.kill("SIGKILL");
    },
    signal(port, signal) {
      children.get(port)?.kill(signal);
    },
    async moveSlotOf(key, to) {
      const slot = String(await ask(to, ["CLUSTER", "KEYSLOT", key]));
      const from = await cluster.primaryOf(key);
      const fromId = String(await ask(from, ["CLUSTER", "MYID"]));
      const toId = String(await ask(to, ["CLUSTER", "MYID"]));
      await ask(to, ["CLUSTER", "SETSLOT", slot, "IMPORTING", fromId]);
      await ask(from, ["CLUSTER", "SETSLOT", slot, "MIGRATING", toId]);
      for (;;) {
        const keysLeft = (await ask(from, ["CLUSTER", "GETKEYSINSLOT", slot, "100"])) as string[];
        if (keysLeft.length === 0) break;
        await ask(from, ["MIGRATE", "127.0.0.1", String(to), "", "0", "5000", "KEYS", ...keysLeft]);
      }
      for (const port of [to, from]) await ask(port, ["CLUSTER", "SETSLOT", slot, "NODE", toId]);
      await until(
        "the slot's new owner",
        10_000,
        async () => (await cluster.primaryOf(key)) === to,
      );
    },
    async replicasOf(port) {
      const id = String(await ask(port, ["CLUSTER", "MYID"]));
      const lines = (await ask(port, ["CLUSTER", "REPLICAS", id])) as string[];
      return lines
        .filter((l) => !/\bfail\b/.test(l))
        .map((l) => Number(/:(\d+)@/.exec(l)?.[1]))
        .filter((p) => ports.includes(p));
    },
    async promote(replica, withinMs) {
      await ask(replica, ["CLUSTER", "FAILOVER"]);
      await until(`${replica} to be a primary`, withinMs, async () => {
        const role = (await ask(replica, ["ROLE"])) as unknown[];
        return role[0] === "master";
      });
    },
    async waitHealthy(via, withinMs) {
      await until("a healthy cluster", withinMs, async () =>
        /cluster_state:ok/.test(String(await ask(via, ["CLUSTER", "INFO"]))),
      );
    },
    stop,
  };
  // Every node must agree before parley starts (slots assigned, replicas attached).
  for (const port of ports) await cluster.waitHealthy(port, 15_000);
  return cluster;
}
