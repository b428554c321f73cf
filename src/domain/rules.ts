// The rules the chat page and the server share: what a room name is, how long a message or a
// topic may be, how much history is read at a time, what a message's client id looks like.
// No dependencies (the page bundles this file): the server's schemas (realtime/schemas.ts)
// are built on these values, and the page checks the same ones before it sends.

/** A room with a name (not a DM): lower-case letters, digits and dashes, 1–32. */
export const ROOM_NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
export const ROOM_NAME_MAX = 32;

/** A message's text, in characters (code points), after trimming. */
export const MESSAGE_MAX_CHARS = 2000;

/** A room's topic, in characters, after its whitespace is collapsed. */
export const TOPIC_MAX_CHARS = 200;

/** Messages sent with a room on joining it, and what the page asks for per page of history. */
export const HISTORY_PAGE = 50;
/** The most `message:history` returns at once. */
export const HISTORY_MAX = 100;

/** A message's client id (`message:send` `clientId`): 8–64 letters, digits, `-` or `_`. */
export const CLIENT_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

/** A room name as someone typed it, as parley names rooms: lower-cased, spaces as dashes. */
export function roomNameFrom(typed: string): string {
  return typed.trim().toLowerCase().replace(/\s+/g, "-");
}
