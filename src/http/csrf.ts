// CSRF tokens for every form, with nothing stored for visitors who are not logged in.
//
// - Logged in: a synchronizer token kept in the login's session (csrf-sync), so a token only
//   ever works for the login it was issued to, and dies with it.
// - Not logged in (the login and registration forms, and any page an anonymous visitor
//   gets): the visitor gets a session id in the session cookie (`parley.sid`, signed, for
//   SESSION_ANONYMOUS_SECONDS) but no record in Redis, and the form a signed double-submit
//   token bound to that id (csrf-csrf): an HMAC, under the session secret, of the id and a
//   random value, sent in the form and in a second cookie (`parley.csrf`, HttpOnly,
//   SameSite=Strict, `__Host-` in production). A post must carry both cookies and the token,
//   equal and validly signed. So a visitor who has not submitted a form costs Redis nothing,
//   and the first record written for them is the login itself (a fresh session id: the
//   visitor's id is never stored).
//
// Why that is safe: a forged post from another site carries the victim's cookies but cannot
// read them to put the same token in the form, and cannot set them for parley's origin
// (SameSite=Strict keeps the token's cookie off cross-site requests; `__Host-` in production
// keeps sibling subdomains from setting it). What a token proves is that the form came from
// parley's own page for this browser, which is all a login or registration form needs.
import { randomBytes } from "node:crypto";
import cookieParser from "cookie-parser";
import { doubleCsrf } from "csrf-csrf";
import { csrfSync } from "csrf-sync";
import type { Request, RequestHandler } from "express";
import { httpErrors } from "./errors.js";

export interface CsrfOptions {
  /** The session secrets: the first signs, all verify. */
  secrets: readonly string[];
  production: boolean;
  /** The session cookie's name. */
  sessionCookie: string;
  /** How long an anonymous form's token (and the visitor's session id) stays valid (s). */
  formSeconds: number;
}

const csrfCookieName = (production: boolean) => (production ? "__Host-parley.csrf" : "parley.csrf");

/** A form's token field, or (uploads, whose multipart body is not parsed before the check) the
 * X-CSRF-Token header. */
const fromBody = (req: Request) => {
  if (typeof req.body?._csrf === "string") return req.body._csrf as string;
  const header = req.get("x-csrf-token");
  return typeof header === "string" && header.length <= 256 ? header : undefined;
};

function loggedIn(req: Request): boolean {
  return req.user !== undefined && req.session?.login !== undefined;
}

/** The visitor's session id as its signed cookie names it (cookie-parser checked the signature). */
function visitorId(req: Request, cookie: string): string {
  const id = (req.signedCookies as Record<string, unknown> | undefined)?.[cookie];
  return typeof id === "string" ? id : "";
}

export function createCsrf(o: CsrfOptions): {
  /** Parses cookies, checking signed ones (the session cookie) against the secrets. */
  cookies: RequestHandler;
  /** Refuses a state-changing request without a valid token (403, nothing done). */
  protect: RequestHandler;
  /** The token for a form on this request's page. */
  token: (req: Request) => string;
} {
  const sync = csrfSync({ getTokenFromRequest: fromBody });
  const double = doubleCsrf({
    getSecret: () => [...o.secrets],
    getSessionIdentifier: (req) => visitorId(req, o.sessionCookie),
    cookieName: csrfCookieName(o.production),
    cookieOptions: {
      sameSite: "strict",
      path: "/",
      secure: o.production,
      httpOnly: true,
      maxAge: o.formSeconds * 1000,
    },
    getCsrfTokenFromRequest: fromBody,
  });

  const protect: RequestHandler = (req, _res, next) => {
    if (req.method === "GET" || req.method === "HEAD" || req.method === "OPTIONS") return next();
    // A logged-in request needs its session's token; a visitor's form token is bound to the
    // visitor's id, which a login replaces, so a form left open across a login is stale
    // (the error page shows it again, fresh).
    const valid = loggedIn(req) ? sync.isRequestValid(req) : double.validateRequest(req);
    next(valid ? undefined : httpErrors.csrf());
  };

  const token = (req: Request): string => {
    if (loggedIn(req)) {
      const before = req.session.csrfToken;
      const t = sync.generateToken(req);
      // Stored in the session: the page saves it before it is sent (render.ts).
      if (t !== before && req.res) req.res.locals.sessionChanged = true;
      return t;
    }
    const res = req.res;
    if (!res) throw new Error("no response to set the form's cookies on");
    if (!visitorId(req, o.sessionCookie)) {
      // A session id for the visitor, in the session cookie as express-session signs it, and
      // never stored: the token is bound to it.
      const id = randomBytes(24).toString("base64url");
      res.cookie(o.sessionCookie, id, {
        signed: true,
        httpOnly: true,
        sameSite: "lax",
        path: "/",
        secure: o.production,
        maxAge: o.formSeconds * 1000,
      });
      (req.signedCookies as Record<string, string>)[o.sessionCookie] = id;
      // A token made for an earlier id is not reused.
      return double.generateCsrfToken(req, res, { overwrite: true });
    }
    return double.generateCsrfToken(req, res);
  };

  return { cookies: cookieParser([...o.secrets]), protect, token };
}
