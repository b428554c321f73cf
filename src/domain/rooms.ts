// What rooms are, as names: a named room (public or private), a direct-message room of two
// accounts, who may use which, and the roles of a room's members. Pure (the page bundles it).

import type { RoomRole } from "./types.js";

/** An account id as parley makes them (a UUID), inside a DM room's name. */
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

/** A room with a name (not a DM): lower-case letters, digits and dashes, 1–32. */
export const ROOM_NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** A room name as someone typed it, as parley names rooms: lower-cased, spaces as dashes. */
export function roomNameFrom(typed: string): string {
  return typed.trim().toLowerCase().replace(/\s+/g, "-");
}

/** A direct-message room's name: "dm:<id>:<id>", the two account ids in order. */
export const DM_ROOM_RE = new RegExp(`^dm:(${UUID}):(${UUID})$`);

/** The direct-message room of two users: the same name whoever opens it. */
export function dmRoom(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

/** Whether `userId` may use `room`: public rooms are open; a DM room admits its two users. */
export function roomAccess(room: string, userId: string): "ok" | "invalid" | "forbidden" {
  if (ROOM_NAME_RE.test(room)) return "ok";
  const [, a, b] = DM_ROOM_RE.exec(room) ?? [];
  if (!a || !b || a >= b) return "invalid";
  return a === userId || b === userId ? "ok" : "forbidden";
}

export const ROLES: ReadonlySet<string> = new Set<RoomRole>(["owner", "moderator", "member"]);

/** Whether a standing is a role (a member of the room), not invited, removed or banned. */
export function isRole(standing: string | null | undefined): boolean {
  return standing !== null && standing !== undefined && ROLES.has(standing);
}

/** Whether a room is a direct-message room ("dm:<id>:<id>"). */
export function isDmRoom(room: string): boolean {
  return room.startsWith("dm:");
}

/** The two user ids a DM room's name holds. */
export function dmUsers(room: string): string[] {
  return room.slice(3).split(":");
}
