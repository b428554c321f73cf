// What the handler families share: their dependencies, the handler types, the error a
// handler throws to refuse an event, and the checks and replies several families make.

import type { ArchiveStore } from "../../archive/store.js";
import type {
  AckResult,
  ClientEventMap,
  ClientEventName,
  ErrorCode,
  Member,
} from "../../contract/events.js";
import { userRoom } from "../../contract/events.js";
import {
  HISTORY_PAGE,
  MAX_LIST_ENTRIES,
  MAX_ROOMS_PER_SOCKET,
  ROOMS_PER_DAY,
} from "../../domain/limits.js";
import { dmUsers, isDmRoom, roomAccess } from "../../domain/rooms.js";
import type { Files } from "../../files/files.js";
import type { Metrics } from "../../metrics.js";
import type { AccountStore } from "../../stores/accounts.js";
import type { MessageStore } from "../../stores/messages.js";
import type { RoomStore } from "../../stores/rooms.js";
import type { SessionGuard } from "../guard.js";
import type { Presence } from "../presence.js";
import type { schemas } from "../schemas.js";
import type { ParleyIo, ParleySocket } from "../socket.js";

export interface HandlerDeps {
  io: ParleyIo;
  users: AccountStore;
  messages: MessageStore;
  /** The record of messages in PostgreSQL (search). */
  archive: ArchiveStore;
  rooms: RoomStore;
  /** Files: a deleted message's are deleted with it. */
  files: Files;
  /** Counts what the handlers do (messages sent). */
  metrics: Metrics;
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

export type Parsed<E extends ClientEventName> = import("zod").infer<(typeof schemas)[E]>;
/** A handler: the socket, its parsed payload, and for an event with a room rule the user's
 * standing in that room as read in the event's own batch (room-policy.ts). */
export type Handler<E extends ClientEventName> = (
  socket: ParleySocket,
  payload: Parsed<E>,
  standing?: string | null,
) => Promise<AckResult<ClientEventMap[E]["result"]>> | AckResult<ClientEventMap[E]["result"]>;
export type Handlers = { [E in ClientEventName]: Handler<E> };

/** A family of handlers: the events it answers, each with its handler. */
export type Family<E extends ClientEventName> = Pick<Handlers, E>;

export function member(socket: ParleySocket): Member {
  return { id: socket.data.userId, username: socket.data.username };
}

export function requireAccess(room: string, userId: string): void {
  const access = roomAccess(room, userId);
  if (access === "invalid") throw new EventError("invalid", "not a valid room name");
  if (access === "forbidden") throw new EventError("forbidden", "this room is not yours");
}

export function requireCapacity(socket: ParleySocket, room: string): void {
  // The socket's own rooms: its id, its session's and its user's.
  if (!socket.rooms.has(room) && socket.rooms.size - 3 >= MAX_ROOMS_PER_SOCKET) {
    throw new EventError(
      "rate_limited",
      `a connection may be in at most ${MAX_ROOMS_PER_SOCKET} rooms: leave one first`,
    );
  }
}

/** A join that would take the user's list past MAX_LIST_ENTRIES. */
export const listFull = () =>
  new EventError(
    "rate_limited",
    `you are in ${MAX_LIST_ENTRIES} rooms and conversations: leave one first`,
  );

/** A room creation past the creator's daily quota. */
export const quotaUsed = () =>
  new EventError(
    "rate_limited",
    `you have created ${ROOMS_PER_DAY} rooms today: join an existing one, or try tomorrow`,
  );

/** Who gets a room's messages: its sockets, and for a DM both users' (joined or not). */
export const audience = (room: string) =>
  isDmRoom(room) ? [room, ...dmUsers(room).map(userRoom)] : [room];

export function requireJoined(socket: ParleySocket, room: string): void {
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
