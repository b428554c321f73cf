// The chat event handlers (rooms, moderation, messages, history, typing, direct messages,
// ping). Each gets a payload already parsed by its schema and the socket of an
// already-checked session, whose standing in the event's room, if the event has a rule in
// room-policy.ts, was checked too. Events that change standing are checked by their own
// Redis script (RoomStore), which reads the actor's standing as it runs.
import type { Server, Socket } from "socket.io";
import { HISTORY_PAGE } from "../domain/rules.js";
import type { AccountStore } from "../stores/accounts.js";
import { ClientIdConflict, type MessageStore } from "../stores/messages.js";
import {
  dmUsers,
  isDmRoom,
  isRole,
  MAX_BANS_PER_ROOM,
  MAX_LIST_ENTRIES,
  MEMBER_PAGE_MAX,
  type ModerationAction,
  ROOMS_PER_DAY,
  type RoomStore,
} from "../stores/rooms.js";
import { MAX_ROOMS_PER_SOCKET } from "./budgets.js";
import type {
  AckOk,
  AckResult,
  ClientEventMap,
  ClientEventName,
  ClientToServerEvents,
  ErrorCode,
  InterServerEvents,
  JoinedRoom,
  Member,
  Message,
  RoomKind,
  RoomMember,
  RoomRole,
  ServerToClientEvents,
  SocketData,
} from "./events.js";
import { userRoom } from "./events.js";
import type { SessionGuard } from "./guard.js";
import { type Presence, presenceOf, whoIsIn } from "./presence.js";
import { dmRoom, roomAccess, type schemas } from "./schemas.js";

export type ParleyIo = Server<
  ClientToServerEvents,
  ServerToClientEvents,
  InterServerEvents,
  SocketData
>;
export type ParleySocket = Socket<
  ClientToServerEvents,
  ServerToClientEvents,
  InterServerEvents,
  SocketData
>;

export interface HandlerDeps {
  io: ParleyIo;
  users: AccountStore;
  messages: MessageStore;
  rooms: RoomStore;
  /** Its count of batches sent marks a socket's own joins (see room-policy.ts). */
  guard: SessionGuard;
  presence: Presence;
  now: () => number;
}

/** Messages sent with a room on joining it (and a history page's default size). */
export const HISTORY_ON_JOIN = HISTORY_PAGE;

export class EventError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "EventError";
  }
}

type Parsed<E extends ClientEventName> = import("zod").infer<(typeof schemas)[E]>;
/** A handler: the socket, its parsed payload, and for an event with a room rule the user's
 * standing in that room as read in the event's own batch (room-policy.ts). */
type Handler<E extends ClientEventName> = (
  socket: ParleySocket,
  payload: Parsed<E>,
  standing?: string | null,
) => Promise<AckResult<ClientEventMap[E]["result"]>> | AckResult<ClientEventMap[E]["result"]>;
export type Handlers = { [E in ClientEventName]: Handler<E> };

function member(socket: ParleySocket): Member {
  return { id: socket.data.userId, username: socket.data.username };
}

function requireAccess(room: string, userId: string): void {
  const access = roomAccess(room, userId);
  if (access === "invalid") throw new EventError("invalid", "not a valid room name");
  if (access === "forbidden") throw new EventError("forbidden", "this room is not yours");
}

/** Notes when a socket joined a room (see SocketData.joinedAt). */
export function noteJoined(socket: ParleySocket, room: string, at: number): void {
  socket.data.joinedAt ??= new Map();
  socket.data.joinedAt.set(room, at);
}

function requireCapacity(socket: ParleySocket, room: string): void {
  // The socket's own rooms: its id, its session's and its user's.
  if (!socket.rooms.has(room) && socket.rooms.size - 3 >= MAX_ROOMS_PER_SOCKET) {
    throw new EventError(
      "rate_limited",
      `a connection may be in at most ${MAX_ROOMS_PER_SOCKET} rooms: leave one first`,
    );
  }
}

/** A join that would take the user's list past MAX_LIST_ENTRIES. */
const listFull = () =>
  new EventError(
    "rate_limited",
    `you are in ${MAX_LIST_ENTRIES} rooms and conversations: leave one first`,
  );

/** A room creation past the creator's daily quota. */
const quotaUsed = () =>
  new EventError(
    "rate_limited",
    `you have created ${ROOMS_PER_DAY} rooms today: join an existing one, or try tomorrow`,
  );

/** Who gets a room's messages: its sockets, and for a DM both users' (joined or not). */
const audience = (room: string) =>
  isDmRoom(room) ? [room, ...dmUsers(room).map(userRoom)] : [room];

/** The most accounts one message mentions. */
export const MAX_MENTIONS = 10;

/** "@name" not preceded by a name character (so e-mail addresses are not mentions). */
const MENTION_RE = /(?<![A-Za-z0-9_.-])@([A-Za-z0-9_.-]{3,32})(?![A-Za-z0-9_])/g;

/** The revised message, or the refusal as an event error. */
function revised(r: Message | "not_found" | "forbidden", forbidden: string): Message {
  if (r === "not_found") throw new EventError("not_found", "no such message (or it was deleted)");
  if (r === "forbidden") throw new EventError("forbidden", forbidden);
  return r;
}

const ROLE_ORDER: Record<RoomRole, number> = { owner: 0, moderator: 1, member: 2 };

const MODERATION_REFUSALS: Record<"forbidden" | "not_found" | "invalid", string> = {
  forbidden: "only the room's owner or moderators may do that (and only its owner to moderators)",
  not_found: "no such room, or that user has no such standing there",
  invalid: "that cannot be done to this room or user",
};

function requireJoined(socket: ParleySocket, room: string): void {
  if (!socket.rooms.has(room)) throw new EventError("not_joined", "join the room first");
}

/**
 * Makes every socket of a user leave a room: this process's at once, the others' when they
 * get the server-side event (never sent back to this process, so a join made here right
 * after is not undone; the adapter's own socketsLeave would be applied here again when its
 * publish came back from Redis). A leave lost on the way is caught by the standing sweep.
 */
export function leaveEverywhere(io: ParleyIo, userId: string, room: string): void {
  io.local.in(userRoom(userId)).socketsLeave(room);
  io.serverSideEmit("rooms:left", userId, room);
}

export function createHandlers(d: HandlerDeps): Handlers {
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

  /**
   * Records the mentions (@username) in a message: each named user who may read the room
   * (a member of it; the other user of a DM) gets a `mention` event and a mention count for
   * the room that lasts until they read it. At most 10 names per message.
   */
  const mentionIn = async (room: string, message: Message) => {
    // Up to 10 names, each naming one account at most: "@bob." at the end of a sentence names
    // the account "bob." if there is one, else "bob".
    const tokens: { name: string; trimmed: string }[] = [];
    for (const m of message.text.matchAll(MENTION_RE)) {
      const name = (m[1] ?? "").toLowerCase();
      if (tokens.some((t) => t.name === name)) continue;
      if (tokens.length === MAX_MENTIONS) break;
      const trimmed = name.replace(/[.-]+$/, "");
      tokens.push({ name, trimmed: trimmed.length >= 3 ? trimmed : name });
    }
    if (tokens.length === 0) return;
    const candidates = [...new Set(tokens.flatMap((t) => [t.name, t.trimmed]))];
    const ids = await d.users.idsOf(candidates);
    const idOf = new Map(candidates.map((n, i) => [n, ids[i]]));
    const chosen = tokens.map((t) => idOf.get(t.name) ?? idOf.get(t.trimmed));
    let named = [...new Set(chosen.filter((id): id is string => !!id && id !== message.user.id))];
    if (named.length === 0) return;
    if (isDmRoom(room)) named = named.filter((id) => dmUsers(room).includes(id));
    else {
      const standing = await d.rooms.standings(room, named);
      named = named.filter((_, i) => isRole(standing[i]));
    }
    await Promise.all(
      named.map(async (id) => {
        await d.rooms.mention(id, room);
        d.io.to(userRoom(id)).emit("mention", { room, message });
      }),
    );
  };

  /** A removed or banned user's sockets leave the room on every process, and are told. */
  const expel = (room: string, target: Member, reason: "removed" | "banned") => {
    leaveEverywhere(d.io, target.id, room);
    d.io.to(userRoom(target.id)).emit("room:removed", { room, reason });
    d.presence.changed(room, target);
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

    "room:read": async (socket, { room, id }) => {
      requireAccess(room, socket.data.userId);
      await d.rooms.markRead(socket.data.userId, room, id);
      return { ok: true };
    },

    "message:send": async (socket, { room, text, clientId }) => {
      requireAccess(room, socket.data.userId);
      requireJoined(socket, room);
      const { message, fresh, redeliver } = await d.messages
        .append(room, member(socket), text, d.now(), clientId)
        .catch((err: unknown) => {
          if (err instanceof ClientIdConflict) throw new EventError("invalid", err.message);
          throw err;
        });
      // A retry of a message edited or deleted since is answered with its current version,
      // and nothing is delivered again.
      if (!fresh && !redeliver) return { ok: true, message };
      // A direct message puts the conversation in both users' lists (every device), unread
      // from its start for whoever has not opened it yet (repeated safely on a retry).
      if (isDmRoom(room)) {
        // Unread from this message on (its id is "<ms>-<count>": the position just before it).
        const [ms = "0", count = "0"] = message.id.split("-");
        const start = `${ms}-${Math.max(0, Number(count) - 1)}`;
        const since = Number(ms) - 1;
        const me = socket.data.userId;
        await Promise.all(
          dmUsers(room).map((id) =>
            d.rooms.addDm(id, room, since, id === me ? "join" : "dm", start),
          ),
        ).catch(() => undefined);
      }
      // Every socket in the room gets it (the sender's too: clients dedupe by id); direct
      // messages also reach both users' sockets that have not joined the room yet. A retry
      // is delivered again: the first answer may have been lost with its broadcast (pages
      // drop a message id they already have).
      d.io.to(audience(room)).emit("message", message);
      // Only a message that names someone (@username) costs more Redis commands; a retry's
      // mentions were counted the first time.
      if (fresh && text.includes("@")) await mentionIn(room, message).catch(() => undefined);
      return { ok: true, message };
    },

    "message:edit": async (socket, { room, id, text }) => {
      requireAccess(room, socket.data.userId);
      const message = revised(
        await d.messages.revise(room, id, socket.data.userId, { text }, d.now()),
        "only its author can edit a message",
      );
      d.io.to(audience(room)).emit("message:updated", message);
      return { ok: true, message };
    },

    "message:delete": async (socket, { room, id }, standing) => {
      requireAccess(room, socket.data.userId);
      const userId = socket.data.userId;
      const refusal = "only its author, or the room's owner or moderators, can delete a message";
      // One's own message first; only when it is someone else's does the moderator's power
      // matter, and then the standing is read again now (the event's batch may predate the
      // socket's own leave): the one Redis read more is paid by moderators' deletions alone.
      let r = await d.messages.revise(
        room,
        id,
        userId,
        { delete: true, moderator: false },
        d.now(),
      );
      const mayModerate = (x: string | null | undefined) => x === "owner" || x === "moderator";
      if (r === "forbidden" && !isDmRoom(room) && mayModerate(standing)) {
        if (!mayModerate(await d.rooms.standing(room, userId))) {
          throw new EventError("forbidden", refusal);
        }
        r = await d.messages.revise(room, id, userId, { delete: true, moderator: true }, d.now());
      }
      const message = revised(r, refusal);
      d.io.to(audience(room)).emit("message:updated", message);
      return { ok: true, message };
    },

    "message:history": async (socket, { room, before, limit }) => {
      requireAccess(room, socket.data.userId);
      const messages = await d.messages.page(room, limit ?? HISTORY_ON_JOIN, before);
      return { ok: true, messages };
    },

    typing: (socket, { room }) => {
      requireAccess(room, socket.data.userId);
      requireJoined(socket, room);
      socket.to(room).emit("typing", { room, user: member(socket) });
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

    // Activity is the session check itself (it refreshes the idle timeout); nothing else.
    activity: () => ({ ok: true }),

    ping: () => ({ ok: true, ts: d.now() }),
  };
}
