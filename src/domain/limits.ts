// Every limit in one place: what one user, connection, room or request may have or cost.
// Pure values (the page bundles what it needs of them). Each bound's reason and the attack it
// answers are in docs/security.md ("What one account can cost everyone else").

// Sizes the page and the server share (the page checks them before it sends).

/** A room name's length (see domain/rooms.ts for its form). */
export const ROOM_NAME_MAX = 32;

/** A message's text, in characters (code points), after trimming. */
export const MESSAGE_MAX_CHARS = 2000;

/** A room's topic, in characters, after its whitespace is collapsed. */
export const TOPIC_MAX_CHARS = 200;

/** Messages sent with a room on joining it, and what the page asks for per page of history. */
export const HISTORY_PAGE = 50;

/** The most `message:history` returns at once. */
export const HISTORY_MAX = 100;

/** The most messages `message:around` returns on each side of the one asked for. */
export const AROUND_MAX = 50;
/** What `message:around` returns on each side unless asked otherwise. */
export const AROUND_DEFAULT = 25;

/** The longest search query (characters), and the results one `message:search` returns. */
export const SEARCH_QUERY_MAX = 200;
export const SEARCH_PAGE = 20;

/**
 * The most rooms and DMs a user's list holds. Joining beyond it is refused. It bounds what a
 * connect and `room:list` cost: a few small reads per entry, whatever the rooms hold.
 */
export const MAX_LIST_ENTRIES = 300;

/**
 * The most pending invitations a user holds, apart from the rooms above (so invitations
 * from others can never use up a user's own room for joining). More are refused.
 */
export const MAX_INVITATIONS = 50;

/**
 * The most direct messages started by others that a user has not opened yet, also apart from
 * the rooms above: others cannot fill anyone's list. Past it the oldest of them leaves the
 * list (its messages stay, and still arrive live) to make room for the newest.
 */
export const MAX_PENDING_DMS = 50;

/** The most members one `room:members` page asks for. */
export const MEMBER_PAGE_MAX = 500;

/** How long a removal's standing lasts (s): it refuses the removed user's events meanwhile. */
export const REMOVED_SECONDS = 24 * 60 * 60;

/**
 * The most bans one room keeps (unbanning frees one): high enough that no crowd of
 * throw-away accounts (300 an hour per address) leaves an owner unable to ban, low enough to
 * bound what one owner's bans keep.
 */
export const MAX_BANS_PER_ROOM = 10_000;

/** Rooms (public or private) one account may create per day. */
export const ROOMS_PER_DAY = 200;

/**
 * Live connections one login may hold on one process (each tab of a browser is one). More
 * are refused at the handshake (429), and one opened past it in a race is closed at once.
 */
export const MAX_CONNECTIONS_PER_LOGIN = 50;

/** Live connections one user may hold on one process, all their logins together. */
export const MAX_CONNECTIONS_PER_USER = 150;

/** Rooms one socket may be in at once (its own session and user rooms not counted). */
export const MAX_ROOMS_PER_SOCKET = 100;

/**
 * A room with at most this many members online gets the whole list with every change: small
 * enough that the list costs a change at most a few times what the change itself does.
 */
export const PRESENCE_LIST_MAX = 10;

/** The largest Socket.IO packet a client may send (bytes): bigger ones close the connection. */
export const MAX_PACKET_BYTES = 16 * 1024;

/**
 * Events one socket may have waiting behind an unanswered one; more are refused at once (at
 * arrival when the socket is already held, before any read).
 */
export const MAX_WAITING_EVENTS = 100;

/**
 * The most logins one user keeps at once: past it, the oldest are ended (like a revoke from
 * /sessions), so logging in again and again cannot pile up session records.
 */
export const MAX_LOGINS_PER_USER = 100;

/** Requests carrying the session cookie one address may make per 10 s (per process). */
export const SESSION_READS_PER_ADDRESS = 1200;

export const MAX_CONSECUTIVE_FAILS = 5;

export const MAX_FAILS_PER_IP_PER_HOUR = 100;

/** The most accounts one message mentions. */
export const MAX_MENTIONS = 10;

/** Files one message may carry. */
export const MAX_ATTACHMENTS = 10;
