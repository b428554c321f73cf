// Who is in a room now (connected and joined), as its members see it: changes, not lists.
//
// A join, a leave or a connect sends the room's members what changed (`joined`, `left`),
// never the whole list in a big room: the whole list to every member at every change grows
// with the square of the room's size (a 400-member room with 60 changes in 20 s sent
// 682 MB). Only while a room has at most PRESENCE_LIST_MAX (10) members online does the list
// ride along (so a small room's page needs nothing else); beyond it the page asks for the
// members it shows, a page at a time (`room:members`). Only real changes are announced: a
// second tab of someone already there is none, and a connection that comes and goes within
// PRESENCE_SETTLE_MS announces nothing (connection.ts).
//
// Reading who is online is bounded too. Socket.IO's fetchSockets() would bring every socket
// of the room from every process (its handshake headers, rooms and data: kilobytes a socket)
// to answer a question about one user. Instead each process is asked, over the adapter, a
// question whose answer is as small as what is sent: which of these users have a socket in
// the room, and (up to a cap) who is in it (`presence:query`). A change costs the same in a
// room of 10 or 10,000. (The Redis adapter publishes these answers where every process
// hears them, so with P processes an announcement costs P² small answers; they are a few
// hundred bytes each.) A process that does not answer in time is not taken as empty: then
// nobody is announced as gone.
//
// Changes of one room are gathered for PRESENCE_COALESCE_MS and announced once: a process
// restart that reconnects a crowd, or a crowd leaving, costs one query and one small
// broadcast, not one of each per socket.
import type { Member } from "../contract/events.js";
import { userRoom } from "../contract/events.js";
import { PRESENCE_LIST_MAX } from "../domain/limits.js";
import type { ParleyIo } from "./socket.js";

/** How long a connection must last before its arrival in its rooms is announced (ms). */
export const PRESENCE_SETTLE_MS = 1000;

/** How long presence changes of one room are gathered before they are announced (ms). */
export const PRESENCE_COALESCE_MS = 100;

/** How long other processes get to answer a presence query (ms). */
const QUERY_TIMEOUT_MS = 2000;

/** One process's answer: which of the users asked about are in the room, and who is. */
export interface PresenceAnswer {
  present: string[];
  /** Up to `cap + 1` of those in the room (one more than the cap tells "more than cap"). */
  members: [string, string][];
}

/** This process's answer (no I/O: its adapter's rooms and its sockets' data). */
function answerHere(
  io: ParleyIo,
  room: string,
  ids: readonly string[],
  cap: number,
): PresenceAnswer {
  const rooms = io.of("/").adapter.rooms;
  const inRoom = rooms.get(room);
  const present: string[] = [];
  const members: [string, string][] = [];
  if (!inRoom) return { present, members };
  for (const id of ids) {
    const theirs = rooms.get(userRoom(id));
    if (theirs) {
      for (const socketId of theirs) {
        if (inRoom.has(socketId)) {
          present.push(id);
          break;
        }
      }
    }
  }
  if (cap > 0) {
    const seen = new Set<string>();
    const sockets = io.of("/").sockets;
    for (const socketId of inRoom) {
      const data = sockets.get(socketId)?.data;
      if (!data?.userId || seen.has(data.userId)) continue;
      seen.add(data.userId);
      members.push([data.userId, data.username]);
      if (members.length > cap) break;
    }
  }
  return { present, members };
}

/** Answers other processes' presence queries. */
export function answerPresenceQueries(io: ParleyIo): void {
  io.on("presence:query", (room, ids, cap, ack) => {
    ack(answerHere(io, room, Array.isArray(ids) ? ids.slice(0, 1000) : [], Math.min(cap, 1000)));
  });
}

/**
 * Who of `ids` is in `room` on any process, and who is in it (at most `cap`, by name;
 * `more`: there are more than `cap`). A process that does not answer in time counts as
 * having nobody there.
 */
export async function whoIsIn(
  io: ParleyIo,
  room: string,
  ids: readonly string[],
  cap: number,
): Promise<{ present: Set<string>; members: Member[]; more: boolean }> {
  const answers: PresenceAnswer[] = [answerHere(io, room, ids, cap)];
  const others = await new Promise<PresenceAnswer[]>((resolve) => {
    // The adapter answers by its own deadline (2 s) with what arrived; this is a backstop.
    const timer = setTimeout(() => resolve([]), QUERY_TIMEOUT_MS + 500);
    io.serverSideEmit(
      "presence:query",
      room,
      [...ids],
      cap,
      (_err: Error | null, responses: PresenceAnswer[]) => {
        clearTimeout(timer);
        resolve(responses ?? []);
      },
    );
  });
  answers.push(...others.filter((a) => a && Array.isArray(a.present)));
  const present = new Set<string>();
  const byId = new Map<string, Member>();
  for (const a of answers) {
    for (const id of a.present) present.add(id);
    for (const [id, username] of a.members ?? []) byId.set(id, { id, username });
  }
  const members = [...byId.values()].sort((a, b) => a.username.localeCompare(b.username));
  const more = members.length > cap;
  return { present, members: more ? members.slice(0, cap) : members, more };
}

/** The `presence` event for a room: what changed, and everyone online while that is few. */
export function presenceOf(
  room: string,
  online: { members: readonly Member[]; more: boolean },
  changed: { joined?: Member[]; left?: Member[] },
): { room: string; members?: Member[]; joined?: Member[]; left?: Member[] } {
  const small = !online.more && online.members.length <= PRESENCE_LIST_MAX;
  return {
    room,
    ...(changed.joined && changed.joined.length > 0 ? { joined: changed.joined } : {}),
    ...(changed.left && changed.left.length > 0 ? { left: changed.left } : {}),
    ...(small ? { members: [...online.members] } : {}),
  };
}

export class Presence {
  /** Rooms with changes waiting to be announced, and the users whose sockets changed. */
  private readonly pending = new Map<string, Map<string, Member>>();

  constructor(private readonly io: ParleyIo) {}

  /**
   * Notes that the socket `socketId` of `user` came into `room` or is going from it: a change
   * only if no other socket of theirs on this process is there (a second tab is none).
   */
  socketChanged(room: string, user: Member, socketId: string): void {
    const rooms = this.io.of("/").adapter.rooms;
    const inRoom = rooms.get(room);
    const theirs = rooms.get(userRoom(user.id));
    if (inRoom && theirs) {
      for (const other of theirs) if (other !== socketId && inRoom.has(other)) return;
    }
    this.changed(room, user);
  }

  /** Notes that `user` came into `room` or went from it (every socket of theirs here). */
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
    const online = await whoIsIn(
      this.io,
      room,
      users.map((u) => u.id),
      PRESENCE_LIST_MAX,
    );
    const joined = users.filter((u) => online.present.has(u.id));
    const left = users.filter((u) => !online.present.has(u.id));
    this.io.to(room).emit("presence", presenceOf(room, online, { joined, left }));
  }
}
