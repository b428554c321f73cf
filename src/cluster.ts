// One machine, several cores: a primary process owns the listening socket and hands each
// connection to a worker (@socket.io/sticky: an engine.io connection's polling requests
// always reach the worker that holds it); workers share one Redis, so they act as one
// service exactly as separate processes do. Used by `main.ts --cluster`.
import cluster, { type Worker } from "node:cluster";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setupMaster, setupWorker } from "@socket.io/sticky";
import { AggregatorRegistry } from "prom-client";
import type { Logger } from "./logger.js";
import { createServer, type ParleyServer, type RuntimeConfig } from "./server.js";

export interface Primary {
  readonly url: string;
  /** Where the workers' metrics are served, added up (METRICS_PORT). */
  readonly metricsUrl: string | undefined;
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
  // METRICS_PORT: the primary serves every worker's metrics added up (gauges like connected
  // sockets summed, parley_build_info as one, parley_redis_up as the lowest).
  let admin: http.Server | undefined;
  let metricsUrl: string | undefined;
  if (config.metricsPort !== undefined) {
    const aggregate = new AggregatorRegistry();
    admin = http.createServer((req, res) => {
      if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found");
        return;
      }
      aggregate.clusterMetrics().then(
        (text) => res.writeHead(200, { "content-type": aggregate.contentType }).end(text),
        () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics failed"),
      );
    });
    await new Promise<void>((resolve, reject) => {
      admin?.once("error", reject);
      admin?.listen(config.metricsPort, config.metricsHost, () => resolve());
    });
    metricsUrl = `http://${config.metricsHost}:${(admin.address() as AddressInfo).port}`;
  }
  return {
    url: `http://${host}:${port}`,
    metricsUrl,
    close: async () => {
      stopping = true;
      server.close();
      admin?.close();
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

/**
 * In a worker: build parley without listening and take connections from the primary. Its
 * metrics are not served by the worker (a scrape would reach one worker at random): the
 * primary asks every worker for its registry and serves the sum.
 */
export async function startWorker(config: RuntimeConfig, logger: Logger): Promise<ParleyServer> {
  const server = await createServer({
    config: { ...config, metricsPort: undefined },
    logger,
    listen: false,
  });
  AggregatorRegistry.setRegistries(server.metrics.registry);
  new AggregatorRegistry(); // answers the primary's requests for this worker's metrics
  setupWorker(server.realtime.io as unknown as Parameters<typeof setupWorker>[0]);
  process.send?.("parley:ready");
  return server;
}
