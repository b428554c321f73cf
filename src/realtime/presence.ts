// Who is in a room now (connected and joined), as its members see it: changes, not lists.
//
// A join, a leave or a connect sends the room's members what changed (`joined`, `left`) and
// how many are online, never the whole list in a big room: the whole list to every member at
// every change grows with the square of the room's size (a 400-member room with 60 changes
// in 20 s sent 682 MB). Only while a room has at most PRESENCE_LIST_MAX members online does
// the list ride along (so a small room's page needs nothing else); beyond it the page asks
// for the members it shows, a page at a time (`room:members`).
//
// Changes of one room are gathered for PRESENCE_COALESCE_MS and announced once: a process
// restart that reconnects a crowd, or a crowd leaving, costs one read of who is online (from
// every process) and one small broadcast, not one of each per socket.
import type { Member } from "./events.js";
import type { ParleyIo } from "./handlers.js";

/** A room with at most this many members online gets the whole list with every change. */
export const PRESENCE_LIST_MAX = 50;

/** How long presence changes of one room are gathered before they are announced (ms). */
export const PRESENCE_COALESCE_MS = 100;

/** Everyone in a room on every process, one entry per user, by name. */
export async function roomMembers(io: ParleyIo, room: string): Promise<Member[]> {
  // Other processes get 2 s to answer (the sharded adapter would wait 5).
  const sockets = await io.in(room).timeout(2000).fetchSockets();
  const byId = new Map<string, Member>();
  for (const s of sockets)
    byId.set(s.data.userId, { id: s.data.userId, username: s.data.username });
  return [...byId.values()].sort((a, b) => a.username.localeCompare(b.username));
}

/** The `presence` event for a room whose online members are `members` now. */
export function presenceOf(
  room: string,
  members: readonly Member[],
  changed: { joined?: Member[]; left?: Member[] },
): { room: string; online: number; members?: Member[]; joined?: Member[]; left?: Member[] } {
  return {
    room,
    online: members.length,
    ...(changed.joined && changed.joined.length > 0 ? { joined: changed.joined } : {}),
    ...(changed.left && changed.left.length > 0 ? { left: changed.left } : {}),
    ...(members.length <= PRESENCE_LIST_MAX ? { members: [...members] } : {}),
  };
}

export class Presence {
  /** Rooms with changes waiting to be announced, and the users whose sockets changed. */
  private readonly pending = new Map<string, Map<string, Member>>();

  constructor(private readonly io: ParleyIo) {}

  /** Notes that `user`'s socket joined or left `room` (or connected, or went away). */
  changed(room: string, user: Member): void {
    let users = this.pending.get(room);
    if (users) {
      users.set(user.id, user);
      return;
    }
    users = new Map([[user.id, user]]);
    this.pending.set(room, users);
    setTimeout(() => {
      this.pending.delete(room);
      void this.announce(room, [...(users as Map<string, Member>).values()]).catch(() => undefined);
    }, PRESENCE_COALESCE_MS).unref();
  }

  /** Tells the room who of `users` is in it now and who is not. */
  private async announce(room: string, users: Member[]): Promise<void> {
    const members = await roomMembers(this.io, room);
    const here = new Set(members.map((m) => m.id));
    const joined = users.filter((u) => here.has(u.id));
    const left = users.filter((u) => !here.has(u.id));
    this.io.to(room).emit("presence", presenceOf(room, members, { joined, left }));
  }
}
