// A stand-in for the node-redis client, for the guard's unit tests only: it holds keys in a
// Map, answers MGET (as Buffers, like the guard's type-mapped client) and counts what it was
// sent. A test can make the next reads hang (released by hand) or fail. Everything that
// talks to Redis for real is tested against a real redis-server in the integration layer.
import { createHash } from "node:crypto";
import type { Redis } from "../../src/redis/client.js";

export interface SentEval {
  keys: string[];
  args: string[];
}

export class FakeRedis {
  readonly values = new Map<string, string>();
  /** MGETs sent, each with its key names. */
  readonly reads: string[][] = [];
  /** Activity writes run (by EVAL, or by EVALSHA once the script is known). */
  readonly evals: SentEval[] = [];
  /** EVALSHA calls, answered or refused with NOSCRIPT. */
  shaCalls = 0;
  /** When set, reads wait until `release()` is called. */
  private holding: (() => void)[] | undefined;
  /** When set, reads fail with this error. */
  failWith: Error | undefined;

  /** Reads sent from now on wait until release(). */
  hold(): void {
    this.holding ??= [];
  }

  /** Lets every held read answer (with the values at the moment it was sent). */
  release(): void {
    const held = this.holding ?? [];
    this.holding = undefined;
    for (const go of held) go();
  }

  /** The client as the guard sees it. */
  client(): Redis {
    const mGet = (names: string[]): Promise<(Buffer | null)[]> => {
      this.reads.push([...names]);
      if (this.failWith) return Promise.reject(this.failWith);
      // Redis answers with the state when the command ran: snapshot now.
      const answer = names.map((n) => {
        const v = this.values.get(n);
        return v === undefined ? null : Buffer.from(v);
      });
      if (!this.holding) return Promise.resolve(answer);
      const held = this.holding;
      return new Promise((resolve) => held.push(() => resolve(answer)));
    };
    // Scripts by SHA1 as Redis answers them: NOSCRIPT (nothing run) until the script itself
    // was sent once with EVAL.
    const known = new Set<string>();
    const sha1 = (script: string) => createHash("sha1").update(script).digest("hex");
    const fake = {
      withTypeMapping: () => ({ mGet }),
      mGet,
      eval: (script: string, o: { keys: string[]; arguments: string[] }) => {
        known.add(sha1(script));
        this.evals.push({ keys: o.keys, args: o.arguments });
        return Promise.resolve(1);
      },
      evalSha: (sha: string, o: { keys: string[]; arguments: string[] }) => {
        this.shaCalls++;
        if (!known.has(sha)) {
          return Promise.reject(new Error("NOSCRIPT No matching script. Please use EVAL."));
        }
        this.evals.push({ keys: o.keys, args: o.arguments });
        return Promise.resolve(1);
      },
    };
    return fake as unknown as Redis;
  }
}

/** Lets pending callbacks (setImmediate flushes, resolved reads) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
