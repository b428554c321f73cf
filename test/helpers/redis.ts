// A direct Redis client for asserting what parley stored.
import { createClient } from "redis";
import { isRedisReady, type Redis } from "../../src/redis/client.js";
import { eventually } from "./eventually.js";
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
  await eventually(test, { what, within: withinMs, every: 50 });
}

/** Resolves when a node-redis client fires `event` ("ready" once it can take commands again,
 * "reconnecting" once it lost its connection), or at once if it is already in that state. */
export function clientEvent(
  client: Redis,
  event: "ready" | "reconnecting",
  ms = 10_000,
): Promise<void> {
  if ((event === "ready") === isRedisReady(client)) return Promise.resolve();
  // Both node-redis clients are event emitters; the union's typings do not say so.
  const emitter = client as unknown as { once(event: string, listener: () => void): unknown };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms);
    emitter.once(event, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * `redis` with the calls of `methods` made through it counted: what one piece of code sends,
 * where the server-wide `INFO commandstats` would count every client of the test Redis.
 */
export function countingCalls<R extends object>(redis: R, methods: readonly string[]) {
  const calls: Record<string, number> = Object.fromEntries(methods.map((m) => [m, 0]));
  const client = new Proxy(redis, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      const bound = (value as (...a: unknown[]) => unknown).bind(target);
      if (typeof prop !== "string" || !methods.includes(prop)) return bound;
      return (...args: unknown[]) => {
        calls[prop] = (calls[prop] ?? 0) + 1;
        return bound(...args);
      };
    },
  });
  return { client, calls };
}
