// Mocha global fixtures: one private redis-server for the whole run, on a free port, never
// the machine's shared Redis. Its URL reaches the tests through PARLEY_TEST_REDIS_URL.
import { type PrivateRedis, startRedisServer } from "../../src/redis/server.js";

let redis: PrivateRedis | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  redis = await startRedisServer({ appendOnly: false });
  process.env.PARLEY_TEST_REDIS_URL = redis.url;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await redis?.stop();
}
