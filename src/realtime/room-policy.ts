// Who may do what in a room, decided per event from the room's kind and the user's standing
// there, read in the event's own batch with its session (guard.ts): no extra round trip, and
// never a read from before the event arrived. A removal, ban or demotion therefore holds from
// the next event on, on every process, whether or not the socket has left the room yet.
//
// Which events are checked, and by which rule, is policy.ts's table. Events that change
// standing (room:join, room:leave, the moderation events) have no rule there: each is one
// Redis script that checks the actor's standing as it runs.
//
// One subtlety: a socket's events run in order, so an event may follow the socket's own
// room:join or room:leave although its batch was read before that ran (both sent in one
// tick). A read older than the socket's own successful join or leave is outdated by it: the
// join counts, and after a leave a role read before it no longer does.

import type { ErrorCode, SocketData } from "../contract/events.js";
import { isRole, ROOM_NAME_RE } from "../domain/rooms.js";

/** "member": owners, moderators and members only. "reader": anyone but the banned in a public
 * room (or one not created yet); members only in a private one. */
export type RoomRule = "member" | "reader";

/** The room an event names, when it is a room with standing (not a DM, not malformed). */
export function roomOf(payload: unknown): string | undefined {
  const room = (payload as { room?: unknown } | null | undefined)?.room;
  return typeof room === "string" && ROOM_NAME_RE.test(room) ? room : undefined;
}

/**
 * The standing an event of `socket` is judged by, given its read (batch `batch`): the read,
 * unless the socket's own join or leave of the room ran after that read went out.
 */
export function ownView(
  socket: { data: SocketData; rooms: Set<string> },
  room: string,
  batch: number,
  standing: string | null | undefined,
): { standing: string | null | undefined; ownJoinIsNewer: boolean } {
  const move = socket.data.ownMoves?.get(room);
  if (move === undefined || move.after < batch) return { standing, ownJoinIsNewer: false };
  if (move.joined) return { standing, ownJoinIsNewer: socket.rooms.has(room) };
  // Left since: a role read before the leave is gone (a ban or removal read still holds).
  return { standing: isRole(standing) ? null : standing, ownJoinIsNewer: false };
}

/**
 * The error for an event under `rule`, or undefined when it may go on. `ownJoinIsNewer`: the
 * socket joined the room by its own event after this event's batch was read.
 */
export function admit(
  rule: RoomRule,
  kind: string | null | undefined,
  standing: string | null | undefined,
  ownJoinIsNewer: boolean,
): ErrorCode | undefined {
  if (isRole(standing) || ownJoinIsNewer) return undefined;
  if (standing === "banned") return "forbidden";
  // Removed by a moderator: told so (they knew the room), not "join first".
  if (standing === "removed" && (rule === "member" || kind === "private")) return "forbidden";
  // A private room is not revealed to those outside it.
  if (kind === "private") return "not_found";
  return rule === "member" ? "not_joined" : undefined;
}

export const ROOM_REFUSALS: Partial<Record<ErrorCode, string>> = {
  forbidden: "you were banned or removed from this room",
  not_found: "no such room",
  not_joined: "join the room first",
};
