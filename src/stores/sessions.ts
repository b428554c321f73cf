// Session records and their ended-notes: every write to `session:*` and `ended:*` is here.
// The records themselves are express-session's (JSON, read by connect-redis and by the
// per-event check); what parley adds is that no write ever revives a session that was ended,
// and that no write lands after parley has given up on it (each is a fenced script).

import type { Redis } from "../redis/client.js";
import { fencedEval } from "../redis/fence.js";
import { keys } from "./keys.js";
import { script } from "./lua.js";
import { bySlot } from "./slots.js";

/**
 * How long the note of why a session ended is kept. Its sockets are gone within a second,
 * but the note also stops a request that loaded the session before the end from saving it
 * back afterwards, so it outlives any request by far (requests time out after 30 s).
 */
export const ENDED_NOTE_SECONDS = 3600;

const SAVE = script("session-set");
const DESTROY = script("session-destroy");
const END = script("sessions-end");
const ACTIVITY = script("session-activity");

/** Writes a session's record (JSON, TTL in s) unless the session has been ended. */
export async function saveSession(
  redis: Redis,
  sid: string,
  json: string,
  ttl: number,
): Promise<void> {
  await fencedEval(redis, SAVE, [keys.session(sid), keys.endedSession(sid)], [json, String(ttl)]);
}

export async function destroySession(redis: Redis, sid: string): Promise<void> {
  await fencedEval(redis, DESTROY, [keys.session(sid)], []);
}

/**
 * Leaves the ended-note of each session (and deletes its record when `destroy`), the notes
 * first: no save can revive a record after this.
 */
export async function endSessions(
  redis: Redis,
  sids: readonly string[],
  reason: string,
  destroy: boolean,
): Promise<void> {
  // Each session's note and record share a slot; different sessions may not (a cluster).
  // Every group is waited for, failed or not, so that a failure is reported only once no
  // write of this call can still happen (each waits out its own deadline).
  const results = await Promise.allSettled(
    bySlot(redis, sids, keys.session).map((group) =>
      fencedEval(
        redis,
        END,
        group.flatMap((sid) => [keys.endedSession(sid), keys.session(sid)]),
        [reason, String(ENDED_NOTE_SECONDS), destroy ? "1" : "0"],
      ),
    ),
  );
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** Why a session ended, as its note says (null when there is none). */
export function endedNote(redis: Redis, sid: string): Promise<string | null> {
  return redis.get(keys.endedSession(sid));
}

/**
 * Socket activity: the same write as a page request's (see domain/login.ts): lastActive
 * moves on (never back) and the TTL is renewed. Fire and forget.
 */
export function recordActivity(redis: Redis, sid: string, ttl: number, now: number): void {
  fencedEval(
    redis,
    ACTIVITY,
    [keys.session(sid), keys.endedSession(sid)],
    [String(ttl), String(Math.trunc(now))],
  ).catch(() => undefined);
}
