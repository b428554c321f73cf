// Starts a parley instance in-process on port 0 against the test run's private Redis.
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config.js";
import { createLogger, type Logger } from "../../src/logger.js";
import { createServer, type ParleyServer } from "../../src/server.js";

export function testDatabaseUrl(): string {
  const url = process.env.PARLEY_TEST_DATABASE_URL;
  if (!url) throw new Error("PARLEY_TEST_DATABASE_URL is not set: run the tests through mocha");
  return url;
}

export function testRedisUrl(): string {
  const url = process.env.PARLEY_TEST_REDIS_URL;
  if (!url) throw new Error("PARLEY_TEST_REDIS_URL is not set: run the tests through mocha");
  return url;
}

export interface TestParley extends ParleyServer {
  /** Every log line the instance wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Every log line as the raw text pino wrote. */
  readonly rawLogs: string[];
}

export interface StartOptions {
  /** Environment variables as the README's configuration names them (PORT defaults to 0). */
  env?: Record<string, string>;
  now?: () => number;
  redisUrl?: string;
  databaseUrl?: string;
  sweepIntervalMs?: number;
  archiveSweepMs?: number;
  fileSweepMs?: number;
  fileUnsentMs?: number;
}

/** Where test instances keep files (unless a test sets FILES_DIR): never the project's ./data. */
export const TEST_FILES_DIR = path.join(tmpdir(), `parley-test-files-${process.pid}`);

/** The session secret of every instance startParley makes (unless a test sets its own). */
export const TEST_SECRET = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";

/** The password every test account uses (long enough for the password rules). */
export const PASSWORD = "correct horse battery";

/** A unique, valid username for one test. */
export function uniqueName(prefix = "u"): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

export async function startParley(opts: StartOptions = {}): Promise<TestParley> {
  // Every test registers from 127.0.0.1: the per-address account budget is off unless a
  // test sets it.
  const config = loadConfig({
    PORT: "0",
    LOG_LEVEL: "debug",
    REGISTRATIONS_PER_ADDRESS: "0",
    FILES_DIR: TEST_FILES_DIR,
    ...opts.env,
  });
  const rawLogs: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        rawLogs.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  const logger: Logger = createLogger(config.logLevel, sink);
  const server = await createServer({
    config: {
      ...config,
      redisUrl: opts.redisUrl ?? testRedisUrl(),
      databaseUrl: opts.databaseUrl ?? config.databaseUrl ?? testDatabaseUrl(),
      sessionSecrets: config.sessionSecrets ?? [TEST_SECRET],
    },
    logger,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.sweepIntervalMs ? { sweepIntervalMs: opts.sweepIntervalMs } : {}),
    ...(opts.archiveSweepMs ? { archiveSweepMs: opts.archiveSweepMs } : {}),
    ...(opts.fileSweepMs ? { fileSweepMs: opts.fileSweepMs } : {}),
    ...(opts.fileUnsentMs ? { fileUnsentMs: opts.fileUnsentMs } : {}),
  });
  return Object.assign(server, { logs, rawLogs });
}
