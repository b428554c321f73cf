// Brute-force limits on logins, kept in Redis so they hold across processes: 5
// consecutive failures for one username from one address lock that pair for 15 minutes (a
// success resets it), and one address gets at most 100 failures an hour.
//
// Reserve, then verify: every attempt first consumes a point from both limits atomically in
// Redis (rate-limiter-flexible's consume), and only an attempt that got both points is ever
// verified. A success refunds the address's point and resets the pair. So however attempts
// are timed, even all at once, at most 5 per username and address (and 100 per address an
// hour) reach the password check. Redis errors propagate: the caller answers 503, never an
// unlimited attempt.
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { MAX_CONSECUTIVE_FAILS, MAX_FAILS_PER_IP_PER_HOUR } from "../domain/limits.js";
import type { Redis } from "../redis/client.js";
import { keys } from "../stores/keys.js";

export const LOCKOUT_SECONDS = 15 * 60;
/** An attempt allowed to be verified; report how it went exactly once. */
export interface LoginReservation {
  succeeded(): Promise<void>;
  failed(): Promise<void>;
  /** The attempt could not be verified (Redis failed): both points are given back. */
  abandoned(): Promise<void>;
}

export type Reserve =
  | { ok: true; reservation: LoginReservation }
  | { ok: false; retryAfter: number };

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

  /** Seconds to show in Retry-After for a refused attempt (at most the lockout). */
  private static wait(res: RateLimiterRes, cap: number): number {
    return Math.max(1, Math.min(cap, Math.ceil(res.msBeforeNext / 1000)));
  }

  /** Takes one attempt from both limits, or says how long to wait. */
  async reserve(username: string, ip: string): Promise<Reserve> {
    const pairKey = LoginLimiter.userKey(username, ip);
    let pair: RateLimiterRes;
    try {
      pair = await this.byUserIp.consume(pairKey);
    } catch (rej) {
      if (rej instanceof RateLimiterRes) {
        return { ok: false, retryAfter: LoginLimiter.wait(rej, LOCKOUT_SECONDS) };
      }
      throw rej;
    }
    try {
      await this.byIp.consume(ip);
    } catch (rej) {
      await this.byUserIp.reward(pairKey);
      if (rej instanceof RateLimiterRes) {
        return { ok: false, retryAfter: LoginLimiter.wait(rej, 60 * 60) };
      }
      throw rej;
    }
    let reported = false;
    const once = () => {
      if (reported) throw new Error("login reservation reported twice");
      reported = true;
    };
    return {
      ok: true,
      reservation: {
        succeeded: async () => {
          once();
          // Only failures count: the address gets its point back, the pair starts over.
          await Promise.all([this.byIp.reward(ip), this.byUserIp.delete(pairKey)]);
        },
        abandoned: async () => {
          once();
          await Promise.all([this.byIp.reward(ip), this.byUserIp.reward(pairKey)]);
        },
        failed: async () => {
          once();
          // The fifth consecutive failure starts the 15-minute lockout.
          if (pair.consumedPoints >= MAX_CONSECUTIVE_FAILS) {
            await this.byUserIp.block(pairKey, LOCKOUT_SECONDS);
          }
        },
      },
    };
  }
}
