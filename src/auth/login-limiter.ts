// Brute-force limits on failed logins (SPEC §2), kept in Redis so they hold across processes:
// 5 consecutive failures for one username from one address lock that pair for 15 minutes (a
// success resets it), and one address gets at most 100 failures an hour. Redis errors
// propagate: the caller answers 503, never an unlimited attempt.
import { RateLimiterRedis } from "rate-limiter-flexible";
import type { Redis } from "../redis.js";
import { keys } from "../stores/keys.js";

export const MAX_CONSECUTIVE_FAILS = 5;
export const LOCKOUT_SECONDS = 15 * 60;
export const MAX_FAILS_PER_IP_PER_HOUR = 100;

export class LoginLimiter {
  private readonly byUserIp: RateLimiterRedis;
  private readonly byIp: RateLimiterRedis;

  constructor(redis: Redis) {
    const common = { storeClient: redis, useRedisPackage: true, rejectIfRedisNotReady: true };
    this.byUserIp = new RateLimiterRedis({
      ...common,
      keyPrefix: keys.loginFailsByUserAndIp,
      points: MAX_CONSECUTIVE_FAILS,
      // Failures stay "consecutive" for a day unless a success resets them.
      duration: 24 * 60 * 60,
    });
    this.byIp = new RateLimiterRedis({
      ...common,
      keyPrefix: keys.loginFailsByIp,
      points: MAX_FAILS_PER_IP_PER_HOUR,
      duration: 60 * 60,
    });
  }

  private static userKey(username: string, ip: string) {
    return `${username.toLowerCase()}|${ip}`;
  }

  /** Seconds to wait before trying again, or 0 when an attempt is allowed now. */
  async retryAfter(username: string, ip: string): Promise<number> {
    const [pair, addr] = await Promise.all([
      this.byUserIp.get(LoginLimiter.userKey(username, ip)),
      this.byIp.get(ip),
    ]);
    let wait = 0;
    if (pair && pair.consumedPoints >= MAX_CONSECUTIVE_FAILS) wait = pair.msBeforeNext;
    if (addr && addr.consumedPoints >= MAX_FAILS_PER_IP_PER_HOUR) {
      wait = Math.max(wait, addr.msBeforeNext);
    }
    return wait > 0 ? Math.max(1, Math.ceil(wait / 1000)) : 0;
  }

  async recordFailure(username: string, ip: string): Promise<void> {
    const key = LoginLimiter.userKey(username, ip);
    const results = await Promise.allSettled([this.byUserIp.penalty(key), this.byIp.penalty(ip)]);
    for (const r of results) if (r.status === "rejected") throw r.reason;
    const pair = results[0].status === "fulfilled" ? results[0].value : undefined;
    if (pair && pair.consumedPoints >= MAX_CONSECUTIVE_FAILS) {
      await this.byUserIp.block(key, LOCKOUT_SECONDS);
    }
  }

  async recordSuccess(username: string, ip: string): Promise<void> {
    await this.byUserIp.delete(LoginLimiter.userKey(username, ip));
  }
}
