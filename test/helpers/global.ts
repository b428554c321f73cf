// Mocha global fixtures: one private redis-server and one private PostgreSQL for the whole
// run, on free ports, never the machine's shared ones. Their URLs reach the tests through
// PARLEY_TEST_REDIS_URL and PARLEY_TEST_DATABASE_URL.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type PrivatePostgres, startPostgresServer } from "../../src/db/server.js";
import { type PrivateRedis, startRedisServer } from "../../src/redis/server.js";

let redis: PrivateRedis | undefined;
let postgres: PrivatePostgres | undefined;
let pgDir: string | undefined;

/** How long the process may live on after the run's teardown before it counts as held open. */
const HELD_OPEN_MS = 15_000;

export async function mochaGlobalSetup(): Promise<void> {
  pgDir = mkdtempSync(path.join(os.tmpdir(), "parley-test-pg-"));
  [redis, postgres] = await Promise.all([
    startRedisServer({ appendOnly: false }),
    startPostgresServer({ dir: path.join(pgDir, "postgres"), fast: true }),
  ]);
  process.env.PARLEY_TEST_REDIS_URL = redis.url;
  process.env.PARLEY_TEST_DATABASE_URL = postgres.url;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await Promise.all([redis?.stop(), postgres?.stop()]);
  if (pgDir) rmSync(pgDir, { recursive: true, force: true });
  rmSync(path.join(os.tmpdir(), `parley-test-files-${process.pid}`), {
    recursive: true,
    force: true,
  });
  // No mocha config uses `exit`, so a handle a test leaves open (a socket, a timer, a child
  // process) would keep this process, and CI, waiting for ever; a failing test is the usual
  // way to leave one. This timer does not itself hold the process: it fires only when
  // something else does, names what, and ends the run as failed.
  setTimeout(() => {
    process.stderr.write(
      `\nthe run ended ${HELD_OPEN_MS / 1000} s ago, but these still hold the process open: ${process
        .getActiveResourcesInfo()
        .filter((r) => r !== "Timeout")
        .join(", ")}\nexiting with a failure (a test leaves a handle open)\n`,
    );
    process.exit(process.exitCode || 1);
  }, HELD_OPEN_MS).unref();
}
