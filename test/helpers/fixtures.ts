// Hooks shared by test files: a parley instance and a direct Redis client per describe.
import { type StartOptions, startParley, type TestParley } from "./parley.js";
import { redisClient, type TestRedis } from "./redis.js";

/** Registers before/after hooks in the enclosing describe and hands over what they made. */
export function useParley(
  receive: (parley: TestParley, redis: TestRedis) => void,
  opts: StartOptions = {},
): void {
  let parley: TestParley | undefined;
  let redis: TestRedis | undefined;
  before(async () => {
    parley = await startParley(opts);
    redis = await redisClient();
    receive(parley, redis);
  });
  after(async () => {
    await redis?.close();
    await parley?.close();
  });
}
