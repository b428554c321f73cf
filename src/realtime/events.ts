// The event contract (SPEC §3), imported by the server, the tests and the page's client code.
// Event names are noun:verb; every client event takes one object and an optional ack.

export interface Member {
  id: string;
  username: string;
}

export interface Message {
  /** Unique within the room and ordered as the room received it (a Redis stream id). */
  id: string;
  room: string;
  user: Member;
  text: string;
  /** Milliseconds since the epoch. */
  ts: number;
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
  "room:join": {
    payload: { room: string };
    result: { room: string; history: Message[]; members: Member[] };
  };
  "room:leave": { payload: { room: string }; result: { room: string } };
  "message:send": { payload: { room: string; text: string }; result: { message: Message } };
  "message:history": {
    payload: { room: string; before?: string; limit?: number };
    result: { messages: Message[] };
  };
  typing: { payload: { room: string }; result: object };
  "dm:open": { payload: { username: string }; result: { room: string } };
  /** Sent by the page on real interaction (keys, pointer, focus), at most once a minute. */
  activity: { payload: object; result: object };
  ping: { payload: object; result: { ts: number } };
}
export type ClientEventName = keyof ClientEventMap;

export type ClientToServerEvents = {
  [E in ClientEventName]: (
    payload: ClientEventMap[E]["payload"],
    ack?: Ack<ClientEventMap[E]["result"]>,
  ) => void;
};

/** Why a session ended: logout, a revoke from /sessions, a password change, or expiry. */
export type RevokedReason =
  | "logout"
  | "revoked"
  | "password_changed"
  | "expired"
  | "deactivated"
  | "account_deleted";

export interface ServerToClientEvents {
  message: (message: Message) => void;
  presence: (p: { room: string; members: Member[] }) => void;
  typing: (t: { room: string; user: Member }) => void;
  "session:revoked": (r: { reason: RevokedReason }) => void;
  "server:shutdown": (s: Record<string, never>) => void;
}

export interface InterServerEvents {
  /** Sessions ended on one process: every process disconnects its sockets of them. */
  "sessions:revoked": (sids: string[], reason: RevokedReason) => void;
}

export interface SocketData {
  sid: string;
  userId: string;
  username: string;
}

/** Socket.IO room names for addressing every socket of a session or of a user. */
export const sessionRoom = (sid: string) => `session:${sid}`;
export const userRoom = (userId: string) => `user:${userId}`;
