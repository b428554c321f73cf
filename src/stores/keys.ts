// Every Redis key parley uses, in one place, so stores never build keys by hand.
const P = "parley:";

export const keys = {
  /** express-session data (connect-redis prefix). */
  sessionPrefix: `${P}sess:`,
  session: (sid: string) => `${P}sess:${sid}`,
  /** Hash: user id -> fields id, username, hash, createdAt. */
  user: (id: string) => `${P}user:${id}`,
  /**
   * String: the user's credentials generation (absent = 0). Bumped by a password change,
   * "end all other logins" and account removal; a login records the generation it was made
   * under and is refused once they differ.
   */
  userGeneration: (id: string) => `${P}user-gen:${id}`,
  /** String: why a session ended (logout, revoked, ...), kept briefly for its sockets. */
  endedSession: (sid: string) => `${P}ended:${sid}`,
  /** String: lower-cased username -> user id; SET NX makes names unique. */
  username: (name: string) => `${P}username:${name.toLowerCase()}`,
  /** Hash: opaque session handle -> session id, for one user's logins. */
  userSessions: (userId: string) => `${P}user-sessions:${userId}`,
  /** Stream of a room's messages, capped. */
  roomMessages: (room: string) => `${P}room:${room}:messages`,
  /** rate-limiter-flexible key prefixes. */
  loginFailsByUserAndIp: `${P}rl:login-user-ip`,
  loginFailsByIp: `${P}rl:login-ip`,
  messageSendsByUser: `${P}rl:message-send`,
} as const;
