// What the HTTP routes need, passed in (no module-level singletons).
import type { Passport } from "passport";
import type { LoginLimiter } from "../auth/login-limiter.js";
import type { RegistrationLimiter } from "../auth/registration-limiter.js";
import type { Revocation } from "../auth/revocation.js";
import type { Files } from "../files/files.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { SessionGuard } from "../realtime/guard.js";
import type { Redis } from "../redis/client.js";
import type { AccountStore } from "../stores/accounts.js";
import type { AuditLog } from "../stores/audit.js";
import type { InviteStore } from "../stores/invites.js";
import type { MessageStore } from "../stores/messages.js";
import type { RoomStore } from "../stores/rooms.js";
import type { SessionIndex } from "../stores/session-index.js";

export interface HttpContext {
  readonly production: boolean;
  /** SESSION_SECRET's secrets: the first signs, all verify (cookies and form tokens). */
  readonly sessionSecrets: readonly string[];
  /** How long a form shown to a visitor who is not logged in stays valid (s). */
  readonly formSeconds: number;
  readonly trustProxy: number | false;
  readonly redis: Redis;
  readonly users: AccountStore;
  readonly sessionIndex: SessionIndex;
  readonly revocation: Revocation;
  readonly limiter: LoginLimiter;
  /** The per-address budget of accounts created with REGISTRATION=open. */
  readonly registrations: RegistrationLimiter;
  readonly passport: InstanceType<typeof Passport>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now: () => number;
  readonly absoluteSeconds: number;
  readonly idleSeconds: number;
  /** Origins allowed to post forms and open sockets; known once the server listens. */
  readonly allowedOrigins: () => ReadonlySet<string>;
  readonly invites: InviteStore;
  readonly audit: AuditLog;
  /** Who may create an account (REGISTRATION). */
  readonly registration: "open" | "invite" | "closed";
  /** Messages (export reads through it: PostgreSQL, then Redis's unarchived tail). */
  readonly messages: MessageStore;
  /** Standing in rooms (export: the room's owner). */
  readonly rooms: RoomStore;
  /** Files shared in rooms (uploads, records, blobs). */
  readonly files: Files;
  /** The batched session check downloads go through (its own instance of the per-event guard). */
  readonly fileGuard: SessionGuard;
  /** Originals in object storage are fetched by the browser from a 5-minute signed URL. */
  readonly signedUrls: boolean;
  /** The session cookie's name. */
  readonly sessionCookie: string;
  /** The level successful requests are logged at (ACCESS_LOG_LEVEL). */
  readonly accessLogLevel: "info" | "debug" | "silent";
  /** The archiver's state, for /readyz. */
  readonly archive: { readonly healthy: boolean; readonly backlog: number };
}
