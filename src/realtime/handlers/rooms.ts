// Room events: joining, creating and leaving rooms and direct messages, the user's list,
// the directory, members, and read positions.

import type { AckOk, JoinedRoom, RoomKind, RoomMember, RoomRole } from "../../contract/events.js";
import { userRoom } from "../../contract/events.js";
import { MEMBER_PAGE_MAX } from "../../domain/limits.js";
import { dmRoom, dmUsers, isDmRoom } from "../../domain/rooms.js";
import { presenceOf, whoIsIn } from "../presence.js";
import { noteJoined, type ParleySocket } from "../socket.js";
import {
  EventError,
  type Family,
  type HandlerDeps,
  HISTORY_ON_JOIN,
  leaveEverywhere,
  listFull,
  member,
  quotaUsed,
  requireAccess,
  requireCapacity,
} from "./common.js";

const ROLE_ORDER: Record<RoomRole, number> = { owner: 0, moderator: 1, member: 2 };

export type RoomEvent =
  | "room:join"
  | "room:create"
  | "room:leave"
  | "room:list"
  | "room:directory"
  | "room:members"
  | "room:read"
  | "dm:open";

export function roomHandlers(d: HandlerDeps): Family<RoomEvent> {
  /**
   * Notes a successful join of `room` by this socket: its write was sent after `sentBefore`
   * batches (counted before the join began, so never later than the write). Only after
   * success: a refused join must not vouch for anything.
   */
  const markJoin = (socket: ParleySocket, room: string, sentBefore: number) => {
    socket.data.ownMoves ??= new Map();
    socket.data.ownMoves.set(room, { after: sentBefore, joined: true });
  };

  /** Joins the socket to a room it stands in, and answers with the room and its history. */
  const enter = async (
    socket: ParleySocket,
    room: string,
    standing: { kind: RoomKind | "dm"; topic: string; role: RoomRole },
  ): Promise<AckOk<JoinedRoom>> => {
    // Someone already here (this socket, or another tab of theirs on this process) is not news.
    const rooms = d.io.of("/").adapter.rooms;
    const inRoom = rooms.get(room);
    const already = [...(rooms.get(userRoom(socket.data.userId)) ?? [])].some((id) =>
      inRoom?.has(id),
    );
    await socket.join(room);
    noteJoined(socket, room, Date.now());
    // Read again once joined: a removal or ban decided between the join's own step and this
    // socket.join made its leave (from another process, perhaps) before the join, so it
    // would not take this socket out.
    if (!isDmRoom(room) && !(await d.rooms.stillIn(socket.data.userId, [room]))[0]) {
      await socket.leave(room);
      throw new EventError("forbidden", "you were removed from this room meanwhile");
    }
    const [history, online] = await Promise.all([
      d.messages.page(room, HISTORY_ON_JOIN),
      whoIsIn(d.io, room, [], MEMBER_PAGE_MAX),
    ]);
    const members = online.members;
    if (!already) {
      socket.to(room).emit("presence", presenceOf(room, online, { joined: [member(socket)] }));
    }
    return {
      ok: true,
      room,
      kind: standing.kind,
      topic: standing.topic,
      role: standing.role,
      history,
      members,
    };
  };

  return {
    "room:join": async (socket, { room }) => {
      requireAccess(room, socket.data.userId);
      requireCapacity(socket, room);
      let standing: { kind: RoomKind | "dm"; topic: string; role: RoomRole } = {
        kind: "dm",
        topic: "",
        role: "member",
      };
      if (isDmRoom(room)) {
        // A DM with someone who has no account is no conversation: nothing is stored for it.
        const other = dmUsers(room).find((id) => id !== socket.data.userId) ?? "";
        if (!(await d.users.exists(other))) throw new EventError("not_found", "no such user");
        if (!(await d.rooms.addDm(socket.data.userId, room, d.now(), "join"))) throw listFull();
      } else {
        const sentBefore = d.guard.sent;
        const r = await d.rooms.join(room, socket.data.userId, d.now());
        if (!r.ok) {
          if (r.code === "full") throw listFull();
          if (r.code === "quota") throw quotaUsed();
          if (r.code === "forbidden")
            throw new EventError("forbidden", "you are banned from this room");
          throw new EventError("not_found", "no such room");
        }
        markJoin(socket, room, sentBefore);
        standing = r;
      }
      return enter(socket, room, standing);
    },

    "room:create": async (socket, { room, kind, topic }) => {
      requireCapacity(socket, room);
      const sentBefore = d.guard.sent;
      const r = await d.rooms.join(room, socket.data.userId, d.now(), {
        kind,
        topic: topic ?? "",
      });
      if (!r.ok && r.code === "full") throw listFull();
      if (!r.ok && r.code === "quota") throw quotaUsed();
      if (!r.ok) {
        throw new EventError("invalid", "that name is taken: join the room, or pick another");
      }
      markJoin(socket, room, sentBefore);
      return enter(socket, room, r);
    },

    "room:leave": async (socket, { room }) => {
      requireAccess(room, socket.data.userId);
      const userId = socket.data.userId;
      const wasIn = socket.rooms.has(room);
      const sentBefore = d.guard.sent;
      const { left, heir } = await d.rooms.leave(room, userId);
      // This socket's later events whose reads went out before the leave are judged as
      // after it (see room-policy.ts).
      socket.data.ownMoves ??= new Map();
      socket.data.ownMoves.set(room, { after: sentBefore, joined: false });
      // Every socket of the user, on every process, leaves it; the others are told.
      leaveEverywhere(d.io, userId, room);
      d.io.to(userRoom(userId)).except(socket.id).emit("room:removed", { room, reason: "left" });
      if (heir) {
        const name = await d.users.usernames([heir]);
        d.io.to(room).emit("room:updated", {
          room,
          member: { id: heir, username: name.get(heir) ?? "", role: "owner" },
        });
      }
      // Only a real leave is announced: leaving a room one is not in broadcasts nothing.
      if (left !== "" || wasIn) d.presence.changed(room, member(socket));
      return { ok: true, room };
    },

    "room:list": async (socket) => ({ ok: true, rooms: await d.rooms.list(socket.data.userId) }),

    "room:directory": async (_socket, { query }) => ({
      ok: true,
      rooms: await d.rooms.directory(query ?? ""),
    }),

    "room:members": async (_socket, { room, cursor, limit }) => {
      const page = await d.rooms.members(room, limit ?? MEMBER_PAGE_MAX, cursor ?? "0");
      const ids = page.members.map((m) => m.id);
      // Who of this page is online: a question as small as the page, asked of every process.
      const [names, online] = await Promise.all([
        d.users.usernames(ids),
        whoIsIn(d.io, room, ids, 0),
      ]);
      const here = online.present;
      const members: RoomMember[] = page.members
        .filter((m) => names.has(m.id))
        .map((m) => ({
          id: m.id,
          username: names.get(m.id) as string,
          role: m.role,
          online: here.has(m.id),
        }))
        .sort(
          (a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.username.localeCompare(b.username),
        );
      return { ok: true, room, members, ...(page.next !== "0" ? { next: page.next } : {}) };
    },

    "room:read": async (socket, { room, id }) => {
      requireAccess(room, socket.data.userId);
      await d.rooms.markRead(socket.data.userId, room, id);
      return { ok: true };
    },

    "dm:open": async (socket, { username }) => {
      const other = await d.users.byUsername(username);
      if (!other) throw new EventError("not_found", "no such user");
      if (other.id === socket.data.userId) {
        throw new EventError("invalid", "you cannot open a direct message with yourself");
      }
      return { ok: true, room: dmRoom(socket.data.userId, other.id) };
    },
  };
}
