// The one express-session middleware, used by the HTTP app and (wrapped) by Socket.IO's
// engine, so a socket carries exactly the session of the request that opened it.
import { RedisStore } from "connect-redis";
import session, { type SessionData } from "express-session";
import type { Redis } from "../redis.js";
import { keys } from "../stores/keys.js";
import type { LoginInfo } from "../stores/session-index.js";

declare module "express-session" {
  interface SessionData {
    passport?: { user?: string };
    login?: LoginInfo;
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
 * lives for the idle timeout, but never past its absolute lifetime, so touching it on activity
 * can never extend the absolute limit. A TTL <= 0 makes connect-redis delete the record.
 */
export function sessionTtl(sess: SessionData, o: SessionOptions): number {
  if (!sess.passport?.user || !sess.login) return o.anonymousSeconds;
  // Rounded up to whole seconds (Redis EX); the exact deadline is enforced in-process too.
  const left = Math.ceil((sess.login.createdAt + o.absoluteSeconds * 1000 - o.now()) / 1000);
  return Math.min(o.idleSeconds, left);
}

export function createSessionMiddleware(redis: Redis, o: SessionOptions) {
  const store = new RedisStore({
    client: redis,
    prefix: keys.sessionPrefix,
    ttl: (sess: SessionData) => sessionTtl(sess, o),
  });
  const middleware = session({
    name: cookieName(o.production),
    secret: [...o.secrets],
    store,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    unset: "destroy",
    proxy: undefined,
    cookie: {
      httpOnly: true,
      sameSite: "lax",
      secure: o.production,
      path: "/",
      maxAge: o.idleSeconds * 1000,
    },
  });
  return { store, middleware };
}
