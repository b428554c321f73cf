// Starting and checking a login on the HTTP session. Passport's req.login regenerates the
// session (a fresh id; the pre-login record is destroyed in Redis), then parley records the
// login's metadata and adds it to the user's session index.
import { randomBytes } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import { revokedReason } from "../auth/revocation.js";
import { cookieName } from "../auth/session.js";
import { loginIsCurrent } from "../domain/generation.js";
import { MAX_LOGINS_PER_USER } from "../domain/limits.js";
import { activityDue, isPastDeadline } from "../domain/login.js";
import type { HttpContext } from "./context.js";
import { loginRedirect } from "./render.js";

/**
 * Logs `user` in on this request, stamped with the credentials generation that was read
 * together with the password hash it was verified against. A login this request already
 * carried (someone else's, or an earlier one of the same user) ends like a logout: its record
 * is replaced and its sockets are told and disconnected everywhere.
 */
export async function startLogin(
  ctx: HttpContext,
  req: Request,
  user: { id: string; username: string; generation: number },
): Promise<void> {
  const previous =
    req.user && req.session?.login
      ? { sid: req.sessionID, userId: req.user.id, handle: req.session.login.handle }
      : undefined;
  // Passport regenerates the session: the old record is destroyed, a fresh id is issued.
  const login = () =>
    new Promise<void>((resolve, reject) =>
      req.login({ id: user.id, username: user.username }, (err: unknown) =>
        err ? reject(err) : resolve(),
      ),
    );
  if (previous) {
    await ctx.revocation.end([previous.sid], "logout", login);
    await ctx.sessionIndex.remove(previous.userId, [previous.handle]);
  } else {
    await login();
  }
  const now = ctx.now();
  const handle = randomBytes(16).toString("base64url");
  // Listed before it is saved: if Redis fails in between, the index holds an entry for a
  // login that never existed (pruned on read), never a login that /sessions cannot list.
  const listed = await ctx.sessionIndex.add(user.id, handle, req.sessionID);
  req.session.login = {
    handle,
    createdAt: now,
    lastActive: now,
    ip: req.ip ?? "",
    userAgent: (req.get("user-agent") ?? "").slice(0, 300),
    gen: user.generation,
  };
  await new Promise<void>((resolve, reject) =>
    req.session.save((err: unknown) => (err ? reject(err) : resolve())),
  );
  if (listed > MAX_LOGINS_PER_USER) {
    // The login is made: ending the oldest may fail (Redis), and is tried again next time.
    await endOldestLogins(ctx, user.id).catch((err: unknown) => {
      req.log.warn(
        { event: "oldest_logins_not_ended", err: err instanceof Error ? err.message : String(err) },
        "could not end the oldest logins past the cap",
      );
    });
  }
}

async function endOldestLogins(ctx: HttpContext, userId: string): Promise<void> {
  const live = await ctx.sessionIndex.list(userId, true);
  const extra = live.slice(MAX_LOGINS_PER_USER);
  if (extra.length === 0) return;
  await ctx.revocation.endLogins(userId, extra, "revoked");
}

/** Tells the browser to drop the session cookie (after a logout or an account's deletion). */
export function clearLoginCookie(ctx: HttpContext, res: Response): void {
  res.clearCookie(cookieName(ctx.production), {
    path: "/",
    httpOnly: true,
    sameSite: "lax",
    secure: ctx.production,
  });
}

export function destroySession(req: Request): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    req.session.destroy((err: unknown) => (err ? reject(err) : resolve())),
  );
}

/**
 * After session + passport: enforces the absolute lifetime (Redis TTLs enforce it too; this
 * closes the last-second gap without I/O) and the credentials generation (one GET: a login
 * made under credentials that have since changed is over), records the request as activity
 * by domain/login.ts's rule (a changed lastActive makes express-session save the record with
 * a renewed TTL), and marks every page behind a session as not cacheable.
 */
export function loginLifecycle(ctx: HttpContext) {
  return async (req: Request, res: Response, next: NextFunction) => {
    res.set("Cache-Control", "no-store");
    const login = req.session?.login;
    if (!req.user || !login) return next();
    const now = ctx.now();
    const expired = isPastDeadline(login, now, ctx.absoluteSeconds);
    const stale =
      !expired && !loginIsCurrent(login, await ctx.users.credentials.generation(req.user.id));
    if (expired || stale) {
      const sid = req.sessionID;
      const userId = req.user.id;
      const reason = expired
        ? "expired"
        : revokedReason(await ctx.users.credentials.generationReason(userId));
      // Regenerate rather than destroy: the old record is deleted, and the rest of this
      // request (CSRF, the login page) still has an (anonymous) session to work with.
      await ctx.revocation.end(
        [sid],
        reason,
        () =>
          new Promise<void>((resolve, reject) =>
            req.session.regenerate((err: unknown) => (err ? reject(err) : resolve())),
          ),
      );
      await ctx.sessionIndex.remove(userId, [login.handle]);
      req.user = undefined;
      return next();
    }
    if (activityDue(login.lastActive, now, ctx.idleSeconds)) login.lastActive = now;
    next();
  };
}

export function requireLogin(req: Request, res: Response, next: NextFunction): void {
  if (req.user && req.session?.login) {
    next();
    return;
  }
  res.redirect(303, loginRedirect(req.originalUrl));
}
