// One machine, several cores: a primary process owns the listening socket and hands each
// connection to a worker (@socket.io/sticky: an engine.io connection's polling requests
// always reach the worker that holds it); workers share one Redis, so they act as one
// service exactly as separate processes do. Used by `main.ts --cluster`.
import cluster, { type Worker } from "node:cluster";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setupMaster, setupWorker } from "@socket.io/sticky";
import type { Logger } from "./logger.js";
import { createServer, type ParleyServer, type RuntimeConfig } from "./server.js";

export interface Primary {
  readonly url: string;
  /** Stops every worker (each drains its sockets) and the listener. */
  close(): Promise<void>;
}

export async function startPrimary(
  config: RuntimeConfig,
  workers: number,
  logger: Logger,
): Promise<Primary> {
  const server = http.createServer();
  setupMaster(server, { loadBalancingMethod: "least-connection" });
  // The first chunk of each connection travels to its worker as a Buffer: JSON IPC cannot.
  cluster.setupPrimary({ serialization: "advanced" });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  // Workers get everything resolved: the real port (for the default origins), the Redis and
  // the secrets, so none of them starts a Redis or generates a secret of its own.
  const env = {
    PORT: String(port),
    REDIS_URL: config.redisUrl,
    DATABASE_URL: config.databaseUrl,
    SESSION_SECRET: config.sessionSecrets.join(","),
    PARLEY_CLUSTER_WORKER: "1",
  };
  let stopping = false;
  const fork = (): Worker => {
    const w = cluster.fork(env);
    w.once("exit", (code, signal) => {
      if (stopping) return;
      logger.error(
        { event: "worker_exit", pid: w.process.pid, code, signal },
        "worker died: starting another",
      );
      fork();
    });
    return w;
  };
  for (let i = 0; i < workers; i++) fork();
  await new Promise<void>((resolve) => {
    let online = 0;
    cluster.on("message", (_w, msg: unknown) => {
      if (msg === "parley:ready" && ++online === workers) resolve();
    });
  });
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  return {
    url: `http://${host}:${port}`,
    close: async () => {
      stopping = true;
      server.close();
      const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
      await Promise.all(
        alive.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              w.once("exit", () => resolve());
              w.process.kill("SIGTERM");
            }),
        ),
      );
    },
  };
}

/** In a worker: build parley without listening and take connections from the primary. */
export async function startWorker(config: RuntimeConfig, logger: Logger): Promise<ParleyServer> {
  const server = await createServer({ config, logger, listen: false });
  setupWorker(server.realtime.io as unknown as Parameters<typeof setupWorker>[0]);
  process.send?.("parley:ready");
  return server;
}
