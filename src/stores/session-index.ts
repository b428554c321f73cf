// Each user's logins, addressed by opaque handles. The session data itself (created, last
// active, address, agent) lives in the express-session record; this index only maps a
// non-secret handle to the session id. Entries whose session expired by TTL are pruned
// whenever the index is read, so the list never shows a login that no longer exists.

import { loginIsCurrent, parseGeneration } from "../domain/generation.js";
import { type LoginInfo, parseLoginRecord } from "../domain/login.js";
import type { Redis } from "../redis/client.js";
import { keys } from "./keys.js";
import { mGetAcrossSlots } from "./slots.js";

export interface ActiveLogin extends LoginInfo {
  sid: string;
}

export class SessionIndex {
  constructor(
    private readonly redis: Redis,
    private readonly absoluteSeconds: number,
  ) {}

  /** Lists a new login; returns how many entries the user's index holds now. */
  async add(userId: string, handle: string, sid: string): Promise<number> {
    const key = keys.userSessions(userId);
    // The index lives as long as the newest login can: every entry is bounded by that.
    const [, , count] = (await this.redis
      .multi()
      .hSet(key, handle, sid)
      .expire(key, this.absoluteSeconds)
      .hLen(key)
      .exec()) as unknown as [number, number, number];
    return Number(count);
  }

  async remove(userId: string, handles: readonly string[]): Promise<void> {
    if (handles.length > 0) await this.redis.hDel(keys.userSessions(userId), [...handles]);
  }

  async sidFor(userId: string, handle: string): Promise<string | undefined> {
    return (await this.redis.hGet(keys.userSessions(userId), handle)) ?? undefined;
  }

  /**
   * The user's live logins, newest first; dead entries are removed on the way. A login made
   * under older credentials is dead too (it raced a password change and can no longer be
   * used), unless `withStale` asks for every record that still exists, to delete them.
   */
  async list(userId: string, withStale = false): Promise<ActiveLogin[]> {
    const entries = Object.entries(await this.redis.hGetAll(keys.userSessions(userId)));
    if (entries.length === 0) return [];
    const raw = await mGetAcrossSlots(
      this.redis,
      [keys.userGeneration(userId), ...entries.map(([, sid]) => keys.session(sid))],
      (names) => this.redis.mGet(names),
    );
    const generation = parseGeneration(raw[0]);
    const live: ActiveLogin[] = [];
    const dead: string[] = [];
    entries.forEach(([handle, sid], i) => {
      const record = parseLoginRecord(raw[i + 1]);
      const ours = record?.userId === userId && record.login.handle === handle;
      if (!ours) dead.push(handle);
      else if (withStale || loginIsCurrent(record.login, generation)) {
        live.push({ ...record.login, sid });
      }
    });
    await this.remove(userId, dead);
    return live.sort((a, b) => b.createdAt - a.createdAt);
  }
}
