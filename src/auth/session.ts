// The one express-session configuration (cookie, secrets, Redis records), used by the HTTP app
// and, read-only, by Socket.IO's engine, so a socket carries exactly the session of the
// request that opened it while transport traffic never counts as activity.
import { RedisStore } from "connect-redis";
import session, { type SessionData, Store } from "express-session";
import { type LoginInfo, ttlSeconds } from "../domain/login.js";
import type { Redis } from "../redis/client.js";
import { keys } from "../stores/keys.js";
import { destroySession, saveSession } from "../stores/sessions.js";

declare module "express-session" {
  interface SessionData {
    passport?: { user?: string };
    login?: LoginInfo;
    /** Set only by the engine's read-only store: the cookie names a login that has ended. */
    ended?: true;
  }
}

export interface SessionOptions {
  secrets: readonly string[];
  production: boolean;
  idleSeconds: number;
  absoluteSeconds: number;
  anonymousSeconds: number;
  now: () => number;
}

export const cookieName = (production: boolean) =>
  production ? "__Host-parley.sid" : "parley.sid";

/**
 * Redis TTL of a session record. Anonymous sessions (a CSRF token only) live briefly; a login
 * as domain/login.ts says (the idle timeout, never past the deadline). A TTL <= 0 makes the
 * store delete the record.
 */
export function sessionTtl(sess: SessionData, o: SessionOptions): number {
  if (!isLogin(sess)) return o.anonymousSeconds;
  return ttlSeconds(sess.login, o.now(), o);
}

function isLogin(sess: SessionData): sess is SessionData & { login: LoginInfo } {
  return typeof sess.passport?.user === "string" && sess.login !== undefined;
}

/**
 * The session store as Socket.IO's engine sees it: reads only. Transport traffic (long polls,
 * upgrades, heartbeats) is not activity, so it never touches, saves or destroys a record: the
 * store has no `touch` (express-session then never refreshes a TTL), and `set`/`destroy` do
 * nothing. A cookie whose record is gone yields an empty record marked `ended` instead of a
 * fresh session, so `req.sessionID` stays the id the cookie presented (the screen compares it
 * with the session that opened the connection).
 */
class EngineStore extends Store {
  constructor(private readonly inner: RedisStore) {
    super();
  }

  override get(sid: string, cb: (err: unknown, sess?: SessionData | null) => void): void {
    this.inner.get(sid, (err: unknown, sess?: SessionData | null) => {
      if (err) return cb(err);
      cb(null, sess ?? ({ cookie: { originalMaxAge: null }, ended: true } as SessionData));
    });
  }

  override set(_sid: string, _sess: SessionData, cb?: (err?: unknown) => void): void {
    cb?.();
  }

  override destroy(_sid: string, cb?: (err?: unknown) => void): void {
    cb?.();
  }
}

/**
 * A store that reads nothing: for engine.io requests of a connection that already exists,
 * whose decision needs only the session id the signed cookie names (it must be the one that
 * opened the connection), never the record. So a polling connection's requests keep flowing
 * while Redis does not answer, and its events are answered `unavailable` by the per-event
 * check instead of the transport failing with a 503.
 */
class IdOnlyStore extends Store {
  override get(_sid: string, cb: (err: unknown, sess?: SessionData | null) => void): void {
    cb(null, { cookie: { originalMaxAge: null } } as SessionData);
  }

  override set(_sid: string, _sess: SessionData, cb?: (err?: unknown) => void): void {
    cb?.();
  }

  override destroy(_sid: string, cb?: (err?: unknown) => void): void {
    cb?.();
  }
}

/**
 * connect-redis's store, whose writes never revive a session that was ended and never land
 * after parley has given up on them (a request answered 503 changes nothing later).
 */
class GuardedStore extends RedisStore {
  constructor(
    private readonly redis: Redis,
    private readonly o: SessionOptions,
  ) {
    super({ client: redis, prefix: keys.sessionPrefix, ttl: (s: SessionData) => sessionTtl(s, o) });
  }

  override async set(sid: string, sess: SessionData, cb?: (err?: unknown) => void): Promise<void> {
    const ttl = sessionTtl(sess, this.o);
    if (ttl <= 0) {
      await this.destroy(sid, cb);
      return;
    }
    try {
      await saveSession(this.redis, sid, JSON.stringify(sess), ttl);
    } catch (err) {
      if (cb) return cb(err);
      throw err;
    }
    cb?.();
  }

  /**
   * express-session touches a record that a request did not change. A login's activity is
   * recorded by its lastActive (a change, hence a save) at most once per activity period
   * (domain/login.ts), the same rule as on sockets, so its untouched requests write nothing.
   * An anonymous record (a form's CSRF token) lives while its pages are being used.
   */
  override async touch(
    sid: string,
    sess: SessionData,
    cb?: (err?: unknown) => void,
  ): Promise<void> {
    if (isLogin(sess)) {
      cb?.();
      return;
    }
    await super.touch(sid, sess, cb);
  }

  override async destroy(sid: string, cb?: (err?: unknown) => void): Promise<void> {
    try {
      await destroySession(this.redis, sid);
    } catch (err) {
      if (cb) return cb(err);
      throw err;
    }
    cb?.();
  }
}

export function createSessionMiddleware(redis: Redis, o: SessionOptions) {
  const store = new GuardedStore(redis, o);
  const common = {
    name: cookieName(o.production),
    secret: [...o.secrets],
    resave: false,
    saveUninitialized: false,
    proxy: undefined,
    cookie: {
      httpOnly: true,
      sameSite: "lax" as const,
      secure: o.production,
      path: "/",
      // The browser keeps the cookie for the login's absolute lifetime; the idle timeout is
      // enforced by the record's TTL in Redis. A cookie that expired with the idle timeout
      // would drop a login kept alive by socket activity alone at the next reconnect.
      maxAge: o.absoluteSeconds * 1000,
    },
  };
  // Pages: a request is activity (rolling idle timeout). `unset: "keep"`: a request cut short
  // while its session was still loading (Redis hanging) must never destroy the record; logins
  // end only through explicit destroys (logout, revocation).
  const middleware = session({ ...common, store, rolling: true, unset: "keep" });
  // Socket.IO's engine: the same cookie, secrets and records, read-only (see EngineStore).
  const engineMiddleware = session({
    ...common,
    store: new EngineStore(store),
    rolling: false,
    unset: "keep",
  });
  // The same cookie parsing and signature check (express-session's own), with no read.
  const engineIdMiddleware = session({
    ...common,
    store: new IdOnlyStore(),
    rolling: false,
    unset: "keep",
  });
  return { store, middleware, engineMiddleware, engineIdMiddleware };
}
