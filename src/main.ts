// The process entry point: the only place that reads process.env, listens, handles signals
// and exits. Configuration problems end start-up with one line per problem and exit code 1.
import path from "node:path";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { type PrivateRedis, RedisServerMissingError, startRedisServer } from "./redis-server.js";
import { loadOrCreateSecret } from "./secrets.js";
import { createServer, type ParleyServer } from "./server.js";

function fail(message: string): never {
  process.stderr.write(`parley: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.problems.join("\nparley: "));
    throw err;
  }
  const logger = createLogger(config.logLevel);

  let privateRedis: PrivateRedis | undefined;
  let redisUrl = config.redisUrl;
  if (!redisUrl) {
    try {
      privateRedis = await startRedisServer({
        dir: path.join(config.dataDir, "redis"),
        appendOnly: true,
      });
    } catch (err) {
      if (err instanceof RedisServerMissingError) fail(err.message);
      fail(`could not start a private redis-server: ${(err as Error).message}`);
    }
    redisUrl = privateRedis.url;
    logger.info({ event: "private_redis", url: redisUrl }, "started a private redis-server");
  }
  const sessionSecrets = config.sessionSecrets ?? [loadOrCreateSecret(config.dataDir)];

  let server: ParleyServer;
  try {
    server = await createServer({ config: { ...config, redisUrl, sessionSecrets }, logger });
  } catch (err) {
    await privateRedis?.stop();
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE") fail(`PORT ${config.port} is already in use on ${config.host}`);
    if (e.code === "ECONNREFUSED") fail(`REDIS_URL: cannot connect to ${redisUrl}`);
    fail(`could not start: ${e.message}`);
  }
  logger.info({ event: "listening", url: server.url }, `parley is listening on ${server.url}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: "shutdown", signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await server.close();
    await privateRedis?.stop();
    clearTimeout(force);
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
