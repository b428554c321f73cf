// The chat event handlers (rooms, messages, history, typing, direct messages, ping). Each
// gets a payload already parsed by its schema and the socket of an already-checked session.
import type { Server, Socket } from "socket.io";
import type { MessageStore } from "../stores/messages.js";
import type { UserStore } from "../stores/users.js";
import { MAX_ROOMS_PER_SOCKET } from "./budgets.js";
import type {
  AckResult,
  ClientEventMap,
  ClientEventName,
  ClientToServerEvents,
  ErrorCode,
  InterServerEvents,
  Member,
  ServerToClientEvents,
  SocketData,
} from "./events.js";
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
  users: UserStore;
  messages: MessageStore;
  now: () => number;
}

export const HISTORY_ON_JOIN = 50;

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
type Handler<E extends ClientEventName> = (
  socket: ParleySocket,
  payload: Parsed<E>,
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

function requireJoined(socket: ParleySocket, room: string): void {
  if (!socket.rooms.has(room)) throw new EventError("not_joined", "join the room first");
}

/** Everyone in a room on every process, one entry per user. */
export async function roomMembers(io: ParleyIo, room: string): Promise<Member[]> {
  // Other processes get 2 s to answer (the sharded adapter would wait 5).
  const sockets = await io.in(room).timeout(2000).fetchSockets();
  const byId = new Map<string, Member>();
  for (const s of sockets)
    byId.set(s.data.userId, { id: s.data.userId, username: s.data.username });
  return [...byId.values()].sort((a, b) => a.username.localeCompare(b.username));
}

export async function announcePresence(io: ParleyIo, room: string): Promise<void> {
  io.to(room).emit("presence", { room, members: await roomMembers(io, room) });
}

export function createHandlers(d: HandlerDeps): Handlers {
  return {
    "room:join": async (socket, { room }) => {
      requireAccess(room, socket.data.userId);
      // The socket's own rooms: its id, its session's and its user's.
      if (!socket.rooms.has(room) && socket.rooms.size - 3 >= MAX_ROOMS_PER_SOCKET) {
        throw new EventError(
          "rate_limited",
          `a connection may be in at most ${MAX_ROOMS_PER_SOCKET} rooms: leave one first`,
        );
      }
      await socket.join(room);
      const [history, members] = await Promise.all([
        d.messages.page(room, HISTORY_ON_JOIN),
        roomMembers(d.io, room),
      ]);
      socket.to(room).emit("presence", { room, members });
      return { ok: true, room, history, members };
    },

    "room:leave": async (socket, { room }) => {
      requireAccess(room, socket.data.userId);
      if (socket.rooms.has(room)) {
        await socket.leave(room);
        await announcePresence(d.io, room);
      }
      return { ok: true, room };
    },

    "message:send": async (socket, { room, text }) => {
      requireAccess(room, socket.data.userId);
      requireJoined(socket, room);
      const message = await d.messages.append(room, member(socket), text, d.now());
      // Every socket in the room gets it (the sender's too: clients dedupe by id); direct
      // messages also reach both users' sockets that have not joined the room yet.
      const targets = room.startsWith("dm:")
        ? [
            room,
            ...room
              .slice(3)
              .split(":")
              .map((id) => `user:${id}`),
          ]
        : [room];
      d.io.to(targets).emit("message", message);
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
