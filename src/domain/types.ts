// The domain's shared types: who a member is, what a message and a room are, why a login
// ended. Used by the stores, auth and the socket layer alike (and sent as they are over the
// wire, see contract/events.ts), so none of them imports another layer for its vocabulary.

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
  /** When its author last edited it (ms); absent if never. */
  edited?: number;
  /** Deleted: a tombstone (text ""); the original text is not kept. */
  deleted?: boolean;
  /** Its attachments (absent: none); a deleted message has none. */
  files?: FileRef[];
}

/**
 * A file attached to a message, as every reader sees it. Its bytes are served at
 * `/rooms/<room>/files/<id>` (and, for images, `/thumb` and `/image`), each request checked.
 */
export interface FileRef {
  /** 32 hex digits, random. */
  id: string;
  /** The name it was uploaded with, cleaned for display (never used as a path). */
  name: string;
  /** Bytes. */
  size: number;
  /** The type its bytes show (never the one the client claimed). */
  type: string;
  /** Raster images (PNG, JPEG, GIF, WebP) only: shown inline, with a thumbnail. */
  width?: number;
  height?: number;
}

/** A room's kind: public rooms are listed and open; private ones admit invited members. */
export type RoomKind = "public" | "private";
/** A member's role in a room. */
export type RoomRole = "owner" | "moderator" | "member";

/** One of the user's rooms, as the server lists them on connect and on `room:list`. */
export interface RoomSummary {
  room: string;
  /** What to call it: the room's name, or for a DM the other user's username. */
  label: string;
  kind: RoomKind | "dm";
  topic: string;
  /** The user's role, or "invited" (a private room they may join). */
  role: RoomRole | "invited";
  /** Messages after the user's read position (counted up to 100). */
  unread: number;
  /** Mentions of the user there since they last read it. */
  mentions: number;
  /** A DM someone else started that the user has not opened yet (not joined on connect). */
  pending?: true;
}

/** A public room in the directory. */
export interface DirectoryEntry {
  room: string;
  topic: string;
  members: number;
}

/** A member of a room with their role, and whether they are connected now. */
export interface RoomMember extends Member {
  role: RoomRole;
  online: boolean;
}

/** Why a session ended: logout, a revoke from /sessions, a password change, or expiry. */
export type RevokedReason =
  | "logout"
  | "revoked"
  | "password_changed"
  | "expired"
  | "deactivated"
  | "account_deleted";

export interface User {
  readonly id: string;
  readonly username: string;
  readonly hash: string;
  readonly createdAt: number;
  /** An admin deactivated the account: it cannot log in (its logins ended then). */
  readonly deactivated: boolean;
}

/** An account as the admin page lists it. */
export interface Account {
  readonly id: string;
  readonly username: string;
  readonly createdAt: number;
  readonly deactivated: boolean;
  /** Made an admin in parley (the first account, or promoted); ADMIN_USERNAMES is apart. */
  readonly admin: boolean;
}

/** A user as read at one instant, with the generation of the credentials read. */
export interface UserCredentials extends User {
  readonly generation: number;
}
