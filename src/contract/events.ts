// The Socket.IO event contract (the README's "Event protocol"), imported by the server, the
// tests and the page's client code. Event names are noun:verb; every client event takes one
// object and an optional ack. The domain types it carries are domain/types.ts's.
import type {
  DirectoryEntry,
  Member,
  Message,
  RevokedReason,
  RoomKind,
  RoomMember,
  RoomRole,
  RoomSummary,
} from "../domain/types.js";

export type {
  DirectoryEntry,
  Member,
  Message,
  RevokedReason,
  RoomKind,
  RoomMember,
  RoomRole,
  RoomSummary,
};

/** The answer to joining or creating a room. */
export interface JoinedRoom {
  room: string;
  kind: RoomKind | "dm";
  topic: string;
  role: RoomRole;
  history: Message[];
  members: Member[];
}

export const ERROR_CODES = [
  "unauthorized",
  "unavailable",
  "forbidden",
  "not_joined",
  "not_found",
  "invalid",
  "rate_limited",
  "unknown_event",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface AckError {
  ok: false;
  error: { code: ErrorCode; message: string };
}
export type AckOk<T> = { ok: true } & T;
export type AckResult<T> = AckOk<T> | AckError;
export type Ack<T> = (result: AckResult<T>) => void;

/** Each client event: its payload and the fields of its ok answer. */
export interface ClientEventMap {
  "room:join": { payload: { room: string }; result: JoinedRoom };
  /** Leaves the room for good, on every device (an invitation is declined). */
  "room:leave": { payload: { room: string }; result: { room: string } };
  "room:create": {
    payload: { room: string; kind: RoomKind; topic?: string };
    result: JoinedRoom;
  };
  "room:list": { payload: object; result: { rooms: RoomSummary[] } };
  "room:directory": { payload: { query?: string }; result: { rooms: DirectoryEntry[] } };
  /**
   * A room's members, a page at a time (about `limit`, 1–500, default 500: whole scan steps,
   * so up to 200 more): `next`, when present, is the `cursor` that asks for the next page.
   */
  "room:members": {
    payload: { room: string; cursor?: string; limit?: number };
    result: { room: string; members: RoomMember[]; next?: string };
  };
  "room:topic": {
    payload: { room: string; topic: string };
    result: { room: string; topic: string };
  };
  "room:invite": { payload: { room: string; username: string }; result: object };
  "room:remove": { payload: { room: string; username: string }; result: object };
  "room:ban": { payload: { room: string; username: string }; result: object };
  "room:unban": { payload: { room: string; username: string }; result: object };
  "room:role": {
    payload: { room: string; username: string; role: "moderator" | "member" };
    result: object;
  };
  /** Moves the user's read position in the room forward to message `id` (every device). */
  "room:read": { payload: { room: string; id: string }; result: object };
  /** `clientId`: the sender's own id for this message; a retry with it is stored once. */
  "message:send": {
    /** `files`: ids of the sender's uploads to this room (POST /rooms/:room/files), up to 10;
     * `text` may then be empty. */
    payload: { room: string; text: string; clientId?: string; files?: string[] };
    result: { message: Message };
  };
  /** Edits one's own message. */
  "message:edit": {
    payload: { room: string; id: string; text: string };
    result: { message: Message };
  };
  /** Deletes one's own message, or (owners and moderators) anyone's in their room. */
  "message:delete": { payload: { room: string; id: string }; result: { message: Message } };
  "message:history": {
    payload: { room: string; before?: string; limit?: number };
    result: { messages: Message[] };
  };
  /**
   * A message in its context (a permalink): up to `context` messages before it and after it,
   * oldest first. `not_found` when there is no such message in the room.
   */
  "message:around": {
    payload: { room: string; id: string; context?: number };
    result: { messages: Message[]; id: string };
  };
  /**
   * Searches the rooms the user may read at the moment of the event (public rooms they are
   * in, private rooms they are a member of, their direct messages), or only `room`. Newest
   * first, a page at a time: `next` (when there may be more) is the `before` of the next page.
   */
  "message:search": {
    payload: { query: string; room?: string; before?: string };
    result: { results: SearchResult[]; next?: string };
  };
  typing: { payload: { room: string }; result: object };
  "dm:open": { payload: { username: string }; result: { room: string } };
  /** Sent by the page on real interaction (keys, pointer, focus), at most once a minute. */
  activity: { payload: object; result: object };
  ping: { payload: object; result: { ts: number } };
}
export type ClientEventName = keyof ClientEventMap;

/** A search hit: the message, and a snippet of it as parts (render each with textContent). */
export interface SearchResult {
  message: Message;
  snippet: { text: string; match: boolean }[];
}

export type ClientToServerEvents = {
  [E in ClientEventName]: (
    payload: ClientEventMap[E]["payload"],
    ack?: Ack<ClientEventMap[E]["result"]>,
  ) => void;
};

export interface ServerToClientEvents {
  message: (message: Message) => void;
  /**
   * Who came into a room or went from it (`joined`, `left`); `members`, everyone online,
   * only while that is at most 50 (presence.ts).
   */
  presence: (p: { room: string; members?: Member[]; joined?: Member[]; left?: Member[] }) => void;
  typing: (t: { room: string; user: Member }) => void;
  "session:revoked": (r: { reason: RevokedReason }) => void;
  "server:shutdown": (s: Record<string, never>) => void;
  /** A message was edited or deleted (a tombstone): replace it by id. */
  "message:updated": (message: Message) => void;
  /** Someone mentioned the user (@username) in a room they are in. */
  mention: (m: { room: string; message: Message }) => void;
  /** The user's rooms with unread counts: sent on connect. */
  rooms: (r: { rooms: RoomSummary[] }) => void;
  /** The user left the room (on another device), or was removed or banned from it. */
  "room:removed": (r: { room: string; reason: "left" | "removed" | "banned" }) => void;
  /** A room's topic changed, or a member's role did. */
  "room:updated": (r: {
    room: string;
    topic?: string;
    member?: { id: string; username: string; role: RoomRole };
  }) => void;
  /** The user was invited to a private room. */
  "room:invited": (r: { room: string; topic: string; by: Member }) => void;
}

export interface InterServerEvents {
  /** Sessions ended on one process: every process disconnects its sockets of them. */
  "sessions:revoked": (sids: string[], reason: RevokedReason) => void;
  /** A user's sockets leave a room: every process makes its own leave it. */
  "rooms:left": (userId: string, room: string) => void;
  /**
   * Which of these users have a socket in the room on this process, and who is in it (at
   * most `cap` + 1 users, as [id, username]): presence.ts.
   */
  "presence:query": (
    room: string,
    ids: string[],
    cap: number,
    ack: (answer: { present: string[]; members: [string, string][] }) => void,
  ) => void;
}

export interface SocketData {
  sid: string;
  userId: string;
  username: string;
  /**
   * This socket's own latest join (room:join, room:create) or leave of each room, with the
   * number of per-event batches sent before its write (see room-policy.ts).
   */
  ownMoves?: Map<string, { after: number; joined: boolean }>;
  /** When this socket last joined each room (ms): the standing sweep spares later joins. */
  joinedAt?: Map<string, number>;
  /** Its arrival in the user's rooms was announced (presence.ts): its going will be too. */
  announced?: true;
}

/** Socket.IO room names for addressing every socket of a session or of a user. */
export const sessionRoom = (sid: string) => `session:${sid}`;
export const userRoom = (userId: string) => `user:${userId}`;
