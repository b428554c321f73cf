// Fenced writes. A fenced write carries a deadline in Redis's own clock (clock.ts) and is a Lua
// script that refuses to act past it (the `fence` include, see scripts.ts). The deadline is
// when parley gives up on any call at the latest, so a write parley reported as failed can no
// longer happen, even on a Redis that stalled and resumes later.
import { randomUUID } from "node:crypto";
import type { Redis } from "./client.js";
import { offsetFor } from "./clock.js";
import { within } from "./errors.js";
import { checkCall, evalBySha, type Script } from "./scripts.js";
import { earliestReset, REDIS_MAX_WAIT_MS, WATCH_EVERY_MS } from "./watchdog.js";

/**
 * Runs a fenced write: a script that includes the fence (src/redis/lua/fence.lua), with its
 * deadline (in Redis's clock) put after `args`, where the fence takes it off again. Redis refuses to act on it past the deadline; if the
 * connection fails first, the failure is reported only once the deadline has passed. So
 * when parley says a write failed, it can no longer happen: a stalled Redis that resumes
 * later refuses it.
 *
 * A stalled Redis may also resume before the deadline, after the watchdog has already reset
 * the connection: the write is then applied though its reply is lost. So a script that runs
 * after the earliest moment the watchdog could have reset its connection (less a tick, for a
 * reply still on its way) leaves its outcome under a key of its own (same slot, 10 s), and
 * once the deadline has passed parley reads it back: a write that happened is reported as
 * done, with its result, never as failed. That moment counts from the watchdog's PING if one
 * is in flight (it may be due just after the write is sent), else from the write. Writes
 * that run in time (all of them, normally) leave nothing.
 *
 * What this cannot tell: a write that ran in time but whose reply was lost on the way (the
 * connection reset mid-reply, or replies held up by the network for over a tick) is
 * reported as failed although it happened, as is one whose note could not be read back
 * within READ_BACK_MS. Such a write happened before parley answered, never after; a client
 * that retries is made safe by de-duplication, not by this fence.
 */
export async function fencedEval(
  client: Redis,
  script: Script,
  keys: string[],
  args: string[],
): Promise<unknown> {
  if (!script.fenced)
    throw new Error(`Redis script ${script.name} has no fence: run it with runScript`);
  checkCall(script, keys, args);
  const sentAt = Date.now();
  const giveUpAt = sentAt + REDIS_MAX_WAIT_MS;
  const offset = offsetFor(client, keys[0]);
  const deadline = String(Math.floor(giveUpAt + offset));
  const lateAfter = String(
    Math.floor(earliestReset(client, keys[0], sentAt) - WATCH_EVERY_MS + offset),
  );
  const outcome = `parley:outcome:{${slotTag(keys[0] ?? "")}}:${randomUUID()}`;
  // The wrapper (lua/outcome.lua) takes the last key and argument off, then the fence the
  // deadline: the script sees the keys and arguments its caller passed.
  const options = { keys: [...keys, outcome], arguments: [...args, deadline, lateAfter] };
  try {
    // By its SHA1 (Redis caches scripts it has run): the script itself only on NOSCRIPT.
    return await evalBySha(client, script, options);
  } catch (err) {
    // Never written (the client was offline or closed), or answered by Redis: the outcome
    // is known. Otherwise the write may still sit in Redis's socket buffer: wait it out.
    const e = err as Error;
    const known =
      /The client is (offline|closed)|\bLATE write|ERR|WRONGTYPE|READONLY|CLUSTERDOWN|CROSSSLOT|TRYAGAIN|NOPERM/.test(
        e.message,
      );
    if (known) throw err;
    const wait = giveUpAt - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 1));
    // Past the deadline nothing more can happen; did it happen before? Ask for a moment (a
    // Redis that resumed has usually been reconnected to by then; a connection not ready
    // refuses at once, and only the note's own node is asked).
    const askUntil = Date.now() + READ_BACK_MS;
    for (let left = READ_BACK_MS; left > 0; left = askUntil - Date.now()) {
      const found = await within(client.get(outcome), left).catch(() => undefined);
      if (found !== undefined) {
        if (found === null) throw err; // not applied
        return asReply(found);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw err;
  }
}

/**
 * A noted outcome as the script's own reply would have reached us: a Lua false as null, an
 * empty table as an empty array (JSON cannot tell it from an empty object), numbers as
 * integers (Redis truncates a Lua number to an integer reply).
 */
function asReply(noted: string): unknown {
  const convert = (v: unknown): unknown => {
    if (typeof v === "number") return Math.trunc(v);
    if (Array.isArray(v)) return v.map(convert);
    if (v !== null && typeof v === "object" && Object.keys(v).length === 0) return [];
    return v;
  };
  return convert(JSON.parse(noted));
}

/** How long a write of unknown outcome is looked up after its deadline (ms). */
const READ_BACK_MS = 400;

/** The part of a key that decides its cluster slot: its hash tag, or the whole key. */
function slotTag(key: string): string {
  const open = key.indexOf("{");
  const close = open < 0 ? -1 : key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}
