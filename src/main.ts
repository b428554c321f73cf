// The process entry point: the only place that reads process.env, listens, handles signals
// and exits. Configuration problems end start-up with one line per problem and exit code 1.
// `--cluster` runs one worker per core behind a sticky primary (see cluster.ts).
import cluster from "node:cluster";
import os from "node:os";
import path from "node:path";
import pretty from "pino-pretty";
import { startPrimary, startWorker } from "./cluster.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { PostgresMissingError, type PrivatePostgres, startPostgresServer } from "./db/server.js";
import { createLogger, type Logger } from "./logger.js";
import {
  DataDirBusyError,
  loadOrCreateRedisPassword,
  type PrivateRedis,
  RedisServerMissingError,
  startRedisServer,
} from "./redis/server.js";
import { loadOrCreateSecret } from "./secrets.js";
import { createServer, type RuntimeConfig } from "./server.js";
import { VERSION } from "./version.js";

function fail(message: string): never {
  process.stderr.write(`parley: ${message}\n`);
  process.exit(1);
}

/** What every exit path must stop, in order. */
type Stopper = () => Promise<void>;

function onSignals(logger: Logger, stop: Stopper): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: "shutdown", signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => handler("SIGTERM"));
  process.on("SIGINT", () => handler("SIGINT"));
}

/** A Redis URL fit to print: the password (the private server's, or REDIS_URL's) removed. */
function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    u.password = "";
    u.username = "";
    return u.toString();
  } catch {
    return "the configured Redis";
  }
}

function startFailure(err: unknown, config: Config, redisUrl: string): never {
  const e = err as NodeJS.ErrnoException;
  const message = e.message ?? String(err);
  if (e.code === "EADDRINUSE") fail(`PORT ${config.port} is already in use on ${config.host}`);
  const nodes = config.redisClusterNodes?.map((n) => `${n.host}:${n.port}`).join(", ");
  if (nodes && /root nodes are unavailable|cannot connect to the Redis Cluster/i.test(message)) {
    fail(`REDIS_CLUSTER_NODES: no Redis Cluster node answers at ${nodes}`);
  }
  // Sentinels and cluster nodes name their own addresses; REDIS_URL otherwise.
  const where = nodes ? `the Redis Cluster at ${nodes}` : withoutPassword(redisUrl);
  const setting = nodes ? "REDIS_CLUSTER_NODES" : "REDIS_URL";
  if (e.code === "ECONNREFUSED") fail(`${setting}: cannot connect to ${where}`);
  if (/NOAUTH/.test(message)) {
    fail(
      `${setting}: ${where} requires a password: put it in REDIS_URL (redis://:password@host:port)`,
    );
  }
  if (/WRONGPASS|invalid username-password/i.test(message)) {
    fail(`${setting}: ${where} refused the password in REDIS_URL`);
  }
  if (/Socket closed unexpectedly|did not answer/i.test(message)) {
    fail(
      `${setting}: ${where} accepted the connection but did not answer as Redis does (is it Redis, on that port? does it need TLS, rediss://?)`,
    );
  }
  fail(`could not start: ${message}`);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.problems.join("\nparley: "));
    throw err;
  }
  // A person at a terminal gets readable lines; anything else (a log collector) gets JSON.
  const logger = createLogger(
    config.logLevel,
    process.stdout.isTTY
      ? pretty({ colorize: true, translateTime: "HH:MM:ss", ignore: "pid,hostname,app" })
      : undefined,
  );
  // A library promise that fails with nobody listening (node-redis's cluster renews some
  // subscriptions and topology on its own, unawaited) must not end the whole service: it is
  // logged, and parley's own checks keep failing closed while Redis is unwell.
  process.on("unhandledRejection", (reason) => {
    logger.error(
      {
        event: "unhandled_rejection",
        err: reason instanceof Error ? reason.message : String(reason),
      },
      "a promise failed with no handler; parley keeps running",
    );
  });

  if (cluster.isWorker) {
    // The primary resolved REDIS_URL and SESSION_SECRET for us.
    const runtime = config as RuntimeConfig;
    const worker = await startWorker(runtime, logger).catch((err: unknown) =>
      startFailure(err, config, runtime.redisUrl),
    );
    onSignals(logger, () => worker.close());
    return;
  }

  let privateRedis: PrivateRedis | undefined;
  // With sentinels or a cluster, REDIS_URL (if any) only carries credentials.
  let redisUrl =
    config.redisUrl ?? (config.redisSentinels || config.redisClusterNodes ? "redis://" : undefined);
  if (!redisUrl) {
    try {
      privateRedis = await startRedisServer({
        dir: path.join(config.dataDir, "redis"),
        appendOnly: true,
        password: loadOrCreateRedisPassword(config.dataDir),
        supervise: true,
        logger,
      });
    } catch (err) {
      if (err instanceof RedisServerMissingError || err instanceof DataDirBusyError) {
        fail(err.message);
      }
      fail(`could not start a private redis-server: ${(err as Error).message}`);
    }
    redisUrl = privateRedis.url;
    // The URL carries the password: log where it listens, never the URL.
    logger.info(
      { event: "private_redis", port: privateRedis.port, pid: privateRedis.pid() },
      `started a private redis-server on 127.0.0.1:${privateRedis.port}`,
    );
  }
  let privatePostgres: PrivatePostgres | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    try {
      privatePostgres = await startPostgresServer({
        dir: path.join(config.dataDir, "postgres"),
        supervise: true,
        logger,
      });
    } catch (err) {
      await privateRedis?.stop();
      if (err instanceof PostgresMissingError || err instanceof DataDirBusyError) {
        fail(err.message);
      }
      fail(`could not start a private PostgreSQL: ${(err as Error).message}`);
    }
    databaseUrl = privatePostgres.url;
    logger.info(
      { event: "private_postgres", port: privatePostgres.port, pid: privatePostgres.pid() },
      `started a private PostgreSQL on 127.0.0.1:${privatePostgres.port}`,
    );
  }
  const stopPrivate = async () => {
    await privatePostgres?.stop();
    await privateRedis?.stop();
  };
  const runtime: RuntimeConfig = {
    ...config,
    redisUrl,
    databaseUrl,
    sessionSecrets: config.sessionSecrets ?? [loadOrCreateSecret(config.dataDir)],
  };

  if (process.argv.includes("--cluster")) {
    const workers = config.workers ?? os.availableParallelism();
    const primary = await startPrimary(runtime, workers, logger).catch(async (err: unknown) => {
      await stopPrivate();
      return startFailure(err, config, runtime.redisUrl);
    });
    logger.info(
      { event: "listening", url: primary.url, workers, version: VERSION },
      `parley ${VERSION} is listening on ${primary.url} with ${workers} workers`,
    );
    onSignals(logger, async () => {
      await primary.close();
      await stopPrivate();
    });
    return;
  }

  const server = await createServer({ config: runtime, logger }).catch(async (err: unknown) => {
    await stopPrivate();
    return startFailure(err, config, runtime.redisUrl);
  });
  logger.info(
    { event: "listening", url: server.url, version: VERSION },
    `parley ${VERSION} is listening on ${server.url}`,
  );
  onSignals(logger, async () => {
    await server.close();
    await stopPrivate();
  });
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
