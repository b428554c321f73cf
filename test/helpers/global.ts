// Mocha global fixtures: one private redis-server for the whole run, on a free port, never
// the machine's shared Redis. Its URL reaches the tests through PARLEY_TEST_REDIS_URL.
import { type PrivateRedis, startRedisServer } from "../../src/redis/server.js";

let redis: PrivateRedis | undefined;

/** How long the process may live on after the run's teardown before it counts as held open. */
const HELD_OPEN_MS = 15_000;

export async function mochaGlobalSetup(): Promise<void> {
  redis = await startRedisServer({ appendOnly: false });
  process.env.PARLEY_TEST_REDIS_URL = redis.url;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await redis?.stop();
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
