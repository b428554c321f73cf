// How many accounts one client address may create with REGISTRATION=open: a budget per hour,
// kept in Redis so it holds across processes (an invite-only parley is bounded by its
// invites). Reserve, then create: a registration takes its point before the password is
// hashed, so parallel registrations cannot all slip past the budget, and gives it back when
// no account came of it (the name was taken, or Redis failed half-way).
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { Redis } from "../redis/client.js";
import { keys } from "../stores/keys.js";

export type RegistrationSlot =
  | { ok: true; giveBack: () => Promise<void> }
  | { ok: false; retryAfter: number };

export class RegistrationLimiter {
  private readonly byIp: RateLimiterRedis | undefined;

  /** `perHour`: accounts per address per hour; 0 means no limit. */
  constructor(redis: Redis, perHour: number) {
    this.byIp =
      perHour > 0
        ? new RateLimiterRedis({
            storeClient: redis,
            useRedisPackage: true,
            rejectIfRedisNotReady: true,
            keyPrefix: keys.registrationsByIp,
            points: perHour,
            duration: 60 * 60,
          })
        : undefined;
  }

  /** Takes one account from the address's budget, or says how long to wait (s). */
  async reserve(ip: string): Promise<RegistrationSlot> {
    const limiter = this.byIp;
    if (!limiter) return { ok: true, giveBack: async () => undefined };
    try {
      await limiter.consume(ip);
    } catch (rej) {
      if (rej instanceof RateLimiterRes) {
        return { ok: false, retryAfter: Math.max(1, Math.ceil(rej.msBeforeNext / 1000)) };
      }
      throw rej;
    }
    return {
      ok: true,
      giveBack: async () => {
        await limiter.reward(ip, 1);
      },
    };
  }
}
