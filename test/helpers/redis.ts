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

/** Sends one command to the redis-server on a local port, on a connection of its own. */
export async function ask(port: number, command: string[]): Promise<unknown> {
  const c = createClient({ socket: { port, host: "127.0.0.1", reconnectStrategy: false } });
  c.on("error", () => undefined);
  await c.connect();
  try {
    return await c.sendCommand(command);
  } finally {
    if (c.isOpen) c.destroy();
  }
}

/** Polls `test` until it is true (errors count as false), or throws after `withinMs`. */
export async function until(
  what: string,
  withinMs: number,
  test: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await test().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
