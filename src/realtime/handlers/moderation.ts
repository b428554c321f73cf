// Moderation events: a room's topic, invitations, removals, bans and roles. Each is one
// script on the room's keys that checks the actor's standing as it runs (RoomStore.moderate).

import type { Member } from "../../contract/events.js";
import { userRoom } from "../../contract/events.js";
import { MAX_BANS_PER_ROOM } from "../../domain/limits.js";
import type { ModerationAction } from "../../stores/rooms.js";
import type { ParleySocket } from "../socket.js";
import { EventError, type Family, type HandlerDeps, leaveEverywhere, member } from "./common.js";

const MODERATION_REFUSALS: Record<"forbidden" | "not_found" | "invalid", string> = {
  forbidden: "only the room's owner or moderators may do that (and only its owner to moderators)",
  not_found: "no such room, or that user has no such standing there",
  invalid: "that cannot be done to this room or user",
};

export type ModerationEvent =
  | "room:topic"
  | "room:invite"
  | "room:remove"
  | "room:ban"
  | "room:unban"
  | "room:role";

export function moderationHandlers(d: HandlerDeps): Family<ModerationEvent> {
  const targetOf = async (username: string) => {
    const user = await d.users.byUsername(username);
    if (!user) throw new EventError("not_found", "no such user");
    return user;
  };

  /** One moderation step, checked against the actor's standing as it runs. */
  const moderate = async (
    socket: ParleySocket,
    room: string,
    action: ModerationAction,
    targetId: string,
    value = "",
  ) => {
    const { code } = await d.rooms.moderate(room, action, socket.data.userId, targetId, value);
    if (code === "ok") return;
    if (code === "full") {
      throw new EventError(
        "rate_limited",
        action === "ban"
          ? `a room keeps at most ${MAX_BANS_PER_ROOM} bans: lift one first`
          : "that user has too many pending invitations",
      );
    }
    throw new EventError(code, MODERATION_REFUSALS[code]);
  };

  /** A removed or banned user's sockets leave the room on every process, and are told. */
  const expel = (room: string, target: Member, reason: "removed" | "banned") => {
    leaveEverywhere(d.io, target.id, room);
    d.io.to(userRoom(target.id)).emit("room:removed", { room, reason });
    d.presence.changed(room, target);
  };

  return {
    "room:topic": async (socket, { room, topic }) => {
      await moderate(socket, room, "topic", socket.data.userId, topic);
      d.io.to(room).emit("room:updated", { room, topic });
      return { ok: true, room, topic };
    },

    "room:invite": async (socket, { room, username }) => {
      const target = await targetOf(username);
      await moderate(socket, room, "invite", target.id);
      d.io.to(userRoom(target.id)).emit("room:invited", {
        room,
        topic: await d.rooms.topic(room),
        by: member(socket),
      });
      return { ok: true };
    },

    "room:remove": async (socket, { room, username }) => {
      const target = await targetOf(username);
      await moderate(socket, room, "remove", target.id);
      expel(room, target, "removed");
      return { ok: true };
    },

    "room:ban": async (socket, { room, username }) => {
      const target = await targetOf(username);
      await moderate(socket, room, "ban", target.id);
      expel(room, target, "banned");
      return { ok: true };
    },

    "room:unban": async (socket, { room, username }) => {
      const target = await targetOf(username);
      await moderate(socket, room, "unban", target.id);
      return { ok: true };
    },

    "room:role": async (socket, { room, username, role }) => {
      const target = await targetOf(username);
      await moderate(socket, room, "role", target.id, role);
      d.io.to(room).emit("room:updated", {
        room,
        member: { id: target.id, username: target.username, role },
      });
      return { ok: true };
    },
  };
}
