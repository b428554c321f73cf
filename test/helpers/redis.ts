// A direct Redis client for asserting what parley stored.
import { createClient } from "redis";
import { testRedisUrl } from "./parley.js";

export type TestRedis = ReturnType<typeof createClient>;

export async function redisClient(url = testRedisUrl()): Promise<TestRedis> {
  const c = createClient({ url });
  c.on("error", () => undefined);
  await c.connect();
  return c;
}
