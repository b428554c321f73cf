// How many messages of a room a user has not read, from counters alone (never from the
// messages themselves, so a count costs the same whatever the messages hold).
//
// A message's id is "<ms>-<n>", `n` being the room's count of messages when it arrived. So the
// messages after a read position "<ms>-<k>" number n - k, and the user's own messages are
// never unread: sending one marks everything before it as read (as in most chat products),
// so the count runs from whichever is later, the read position or the user's own newest.
// Ids from before counting began (an older parley) all count as 0; such a room notes the time
// part of its last old id (`before`), which every later id is past.

/** A room's counters, as stored (keys.roomCounts). */
export interface RoomCounts {
  /** The room's newest message's count (0: none yet). */
  n: number;
  /** The time part of the last id from before counting began (0: none). */
  before: number;
  /** The count of the user's own newest message in the room (0: none). */
  own: number;
}

/** The count a message id stands for. */
export function countOf(id: string, before: number): number {
  const dash = id.indexOf("-");
  const ms = Number(id.slice(0, dash));
  const n = Number(id.slice(dash + 1));
  if (dash < 1 || !Number.isSafeInteger(ms) || !Number.isSafeInteger(n)) return 0;
  return ms <= before ? 0 : n;
}

/** Messages after `readId` that are not the user's own, and not before their own newest. */
export function unreadSince(readId: string, c: RoomCounts): number {
  return Math.max(0, c.n - Math.max(countOf(readId, c.before), c.own));
}

/** Parses the fields HMGET n, b, o:<user> returned. */
export function parseCounts(values: readonly (string | null | undefined)[]): RoomCounts {
  const num = (v: string | null | undefined) => {
    const x = Number(v ?? 0);
    return Number.isSafeInteger(x) && x > 0 ? x : 0;
  };
  return { n: num(values[0]), before: num(values[1]), own: num(values[2]) };
}

/**
 * The read position that makes everything the room holds now read: the id of its newest
 * message ("<ms>-<n>" from its counters' `ms` and `n`), or "0-0" for a room with none.
 */
export function readAllPosition(values: readonly (string | null | undefined)[]): string {
  const n = Number(values[0] ?? 0);
  const ms = Number(values[1] ?? 0);
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(ms) || n <= 0) return "0-0";
  return `${ms}-${n}`;
}
