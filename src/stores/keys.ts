// Every Redis key parley uses, in one place, so stores never build keys by hand.
//
// Redis Cluster runs a command or script only on keys of one hash slot. Keys that are read or
// written together therefore share a slot: the companion of a key carries that key, whole,
// as its hash tag (`{...}`), so it lands in the slot of the key itself and the key keeps its
// plain name. A session's ended-note goes with the session record; a user's generation and
// session index go with the user's record. Keys of different users or sessions are never
// read in one command on a cluster (see slots.ts).
const P = "parley:";
const session = (sid: string) => `${P}sess:${sid}`;
const user = (id: string) => `${P}user:${id}`;

export const keys = {
  /** express-session data (connect-redis prefix). */
  sessionPrefix: `${P}sess:`,
  session,
  /**
   * Hash: user id -> fields id, username, hash, createdAt, and `deactivated` ("1") while an
   * admin has deactivated the account. A deleted account keeps only id, createdAt, deleted.
   */
  user,
  /**
   * String: the user's credentials generation (absent = 0). Bumped by a password change,
   * "end all other logins", deactivation and account deletion; a login records the generation it was made
   * under and is refused once they differ.
   */
  userGeneration: (id: string) => `${P}user-gen:{${user(id)}}`,
  /** String: why a session ended (logout, revoked, ...), kept briefly for its sockets. */
  endedSession: (sid: string) => `${P}ended:{${session(sid)}}`,
  /** String: lower-cased username -> user id; SET NX makes names unique. */
  username: (name: string) => `${P}username:${name.toLowerCase()}`,
  /** Hash: opaque session handle -> session id, for one user's logins. */
  userSessions: (userId: string) => `${P}user-sessions:{${user(userId)}}`,
  /**
   * A room's kind, "public" or "private" (absent: the room does not exist yet). A string, so
   * the per-event check can read it in its batch. The room's kind, info, access and members
   * keys share the room's slot (its messages stream does not: it predates them).
   */
  roomKind: (room: string) => `${P}room-kind:{${P}room:${room}}`,
  /** Hash: a room's topic, owner (user id), createdAt, and how many bans it keeps (`bans`). */
  roomInfo: (room: string) => `${P}room-info:{${P}room:${room}}`,
  /**
   * String: one user's standing in one room: owner, moderator, member, invited (a private
   * room's invitation, not yet taken up), removed (by a moderator) or banned; absent: none. Read by the per-event check
   * with the session, so a removal, ban or demotion holds from the next event on.
   */
  roomAccess: (room: string, userId: string) => `${P}room-access:{${P}room:${room}}:${userId}`,
  /** Hash: a room's members (user id -> role): its member list and count. */
  roomMembers: (room: string) => `${P}room-members:{${P}room:${room}}`,
  /** Sorted set: public room names (score 0, ordered by name): the directory. */
  publicRooms: `${P}public-rooms`,
  /** Hash: the rooms (and direct-message rooms) a user is in -> when they joined. */
  userRooms: (userId: string) => `${P}user-rooms:{${user(userId)}}`,
  /** Hash: room -> the id of the last message the user has read there (every device). */
  readPositions: (userId: string) => `${P}read:{${user(userId)}}`,
  /** Hash: room -> mentions of the user there since they last read it. */
  mentions: (userId: string) => `${P}mentions:{${user(userId)}}`,
  /**
   * Stream of a room's recent messages: the window (ROOM_WINDOW) that PostgreSQL already
   * holds, and what it does not hold yet (at most ROOM_BACKLOG). Trimmed only by the
   * archiver, behind what it archived.
   */
  roomMessages: (room: string) => `${P}room:${room}:messages`,
  /**
   * Hash: a room's message counts, in the slot of its stream (written by the same script):
   * `n` the sequence number of its newest message (a message's id is "<ms>-<n>"), `ms` the
   * time part of that id, `o:<user id>` the sequence number of that user's newest message
   * there, and `b` (rooms with messages from before counting began) the time part of the
   * last of those. Unread counts are read from it, never from the messages. The archiver
   * keeps `aid` (the last message id PostgreSQL holds), `a` (its sequence number: `n - a` is
   * the backlog a send checks), `t` (the oldest id still in the stream, once trimmed: older
   * ones are in PostgreSQL only) and `ev` (a counter of edits, for the pending set).
   */
  roomCounts: (room: string) => `${P}room-counts:{${P}room:${room}:messages}`,
  /**
   * Sorted set (score 0, by member): the room's edited and deleted messages, each as
   * "<padded id>|<JSON record>", in the slot of the room's stream (whose entry it replaces).
   */
  roomEdits: (room: string) => `${P}room-edits:{${P}room:${room}:messages}`,
  /**
   * Sorted set: padded ids of edited or deleted messages PostgreSQL does not hold the newest
   * version of yet, scored by the room's edit counter (so a newer edit is told from the one
   * archived). Same slot as the room's stream.
   */
  roomPendingEdits: (room: string) => `${P}room-unarchived-edits:{${P}room:${room}:messages}`,
  /** String: which process is archiving the room now (a lease, PX). Same slot as its stream. */
  archiveLease: (room: string) => `${P}archive-lease:{${P}room:${room}:messages}`,
  /** Set: every room that ever had a message: what the archiver's sweep looks through. */
  archiveRooms: `${P}archive:rooms`,
  /** String: which process is sweeping (a lease, PX). */
  archiveSweepLease: `${P}archive:sweep`,
  /** String: which process applies MESSAGE_RETENTION_DAYS now (a lease, PX). */
  archiveRetentionLease: `${P}archive:retention`,
  /** String: set once the rooms of a Redis-only installation were listed for the archiver. */
  archiveImported: `${P}archive:imported`,
  /**
   * String: the id and time of the message `userId` sent to `room` with client id
   * `clientId` (a day): a retry of the same send is answered with it, not stored again.
   * Same slot as the room's stream.
   */
  sentByClient: (room: string, userId: string, clientId: string) =>
    `${P}sent:{${P}room:${room}:messages}:${userId}:${clientId}`,
  /**
   * String: an upload waiting to be sent (FILE_PENDING_SECONDS): "<uploader id>|<JSON of its
   * FileRef>". In the room's stream slot: message-append.lua takes it with the send.
   */
  fileUpload: (room: string, fileId: string) => `${P}upload:{${P}room:${room}:messages}:${fileId}`,
  /** String: bytes `userId` uploaded on day `day` (UTC, yyyy-mm-dd): the daily quota. */
  fileQuota: (userId: string, day: string) => `${P}file-quota:{${user(userId)}}:${day}`,
  /** String: uploads `userId` began in the current window (the upload budget). */
  fileBudget: (userId: string) => `${P}file-budget:{${user(userId)}}`,
  /** String: files uploaded to `room` on day `day`: the per-room count. */
  roomFiles: (room: string, day: string) => `${P}room-files:{${P}room:${room}}:${day}`,
  /** String: which process sweeps files now (a lease, PX). */
  fileSweepLease: `${P}files:sweep`,
  /** rate-limiter-flexible key prefixes. */
  loginFailsByUserAndIp: `${P}rl:login-user-ip`,
  loginFailsByIp: `${P}rl:login-ip`,
  messageSendsByUser: `${P}rl:message-send`,
  registrationsByIp: `${P}rl:register-ip`,
  roomsCreatedByUser: `${P}rl:rooms-created`,
  /**
   * Sorted set: every account's id, scored by creation time (the admin page's list, and
   * "is this database empty?" for the first account). Its companions share its slot, so
   * enrolling the first account as an admin is one atomic step.
   */
  users: `${P}users`,
  /** Set: ids of the accounts made admins in parley (ADMIN_USERNAMES adds more). */
  admins: `${P}admins:{${P}users}`,
  /**
   * Sorted set: accounts being registered (id -> the Redis time by which the registration must
   * finish, or it is abandoned and swept). They do not count as accounts or admins.
   */
  pendingUsers: `${P}pending-users:{${P}users}`,
  /** Set: ids of deactivated accounts, beside the admins so "the last active admin" is one step. */
  deactivatedUsers: `${P}deactivated-users:{${P}users}`,
  /**
   * Hash: account id -> its status epoch, moved on by every deactivation and reactivation, so
   * that the record's mark ends as the list decided last when two cross.
   */
  accountEpochs: `${P}account-epochs:{${P}users}`,
  /** The keys of the list of accounts, in the order its scripts take them. */
  get accountList(): string[] {
    return [keys.users, keys.admins, keys.deactivatedUsers, keys.pendingUsers, keys.accountEpochs];
  },
  /** Set: ids of deleted accounts (their messages show "deleted user"). */
  deletedUsers: `${P}deleted-users:{${P}users}`,
  /** Hash: one invite, under the SHA-256 of its token (the token itself is never stored). */
  invite: (digest: string) => `${P}invite:${digest}`,
  /** Sorted set: invite digests by expiry (the admin page's list). */
  invites: `${P}invites`,
  /** Stream: the admin audit log (who, what, when, from where), capped. */
  audit: `${P}audit`,
  /** String: the key layout's version (see migrateLayout). */
  layout: `${P}layout`,
} as const;
