// Credentials: each user's generation (a counter in its own string key, so the per-event check
// can MGET it beside the session) and the password hash, always changed together in one
// script, so a login can never pair an old password with a new generation. A new generation
// ends every login made under an earlier one (see domain/generation.ts).
import { type Generation, parseGeneration } from "../domain/generation.js";
import type { Redis } from "../redis/client.js";
import { fencedEval } from "../redis/fence.js";
import { keys } from "./keys.js";
import { script } from "./lua.js";

const CHANGE_CREDENTIALS = script("user-change-credentials");
const REACTIVATE = script("user-reactivate");

export class CredentialStore {
  constructor(private readonly redis: Redis) {}

  async generation(id: string): Promise<Generation> {
    return parseGeneration(await this.redis.get(keys.userGeneration(id)));
  }

  /** Why the credentials last changed (the reason given to changeCredentials). */
  async generationReason(id: string): Promise<string | undefined> {
    return (await this.redis.hGet(keys.user(id), "generationReason")) ?? undefined;
  }

  /**
   * Starts a new credentials generation (optionally with a new password hash): every login
   * made under an earlier one is refused from now on, except the one with handle
   * `keepHandle`, which is carried over. Returns the new generation.
   */
  async changeCredentials(
    id: string,
    o: {
      reason: string;
      hash?: string;
      keepHandle?: string;
      /** Deactivates or deletes the account in the same step. */
      status?: "deactivated" | "deleted";
      /** For "deactivated": the status epoch from setStatus. */
      epoch?: number;
    },
  ): Promise<number> {
    const reply = await fencedEval(
      this.redis,
      CHANGE_CREDENTIALS,
      [keys.userGeneration(id), keys.user(id)],
      [o.reason, o.hash ?? "", o.keepHandle ?? "", o.status ?? "", String(o.epoch ?? 0)],
    );
    return Number(reply);
  }

  /** Lifts the record's deactivation (see setStatus); false if there is no such account. */
  async reactivateRecord(id: string, epoch: number): Promise<boolean> {
    return Number(await fencedEval(this.redis, REACTIVATE, [keys.user(id)], [String(epoch)])) === 1;
  }
}
