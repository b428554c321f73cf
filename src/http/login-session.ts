// Starting and checking a login on the HTTP session. Passport's req.login regenerates the
// session (a fresh id; the pre-login record is destroyed in Redis), then parley records the
// login's metadata and adds it to the user's session index.
import { randomBytes } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import type { HttpContext } from "./context.js";
import { loginRedirect } from "./render.js";

/** Activity refreshes `lastActive` at most this often, so a request is not a write. */
export const LAST_ACTIVE_RESOLUTION_MS = 60_000;

export async function startLogin(
  ctx: HttpContext,
  req: Request,
  user: { id: string; username: string },
): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    req.login(user, (err: unknown) => (err ? reject(err) : resolve())),
  );
  const now = ctx.now();
  const handle = randomBytes(16).toString("base64url");
  req.session.login = {
    handle,
    createdAt: now,
    lastActive: now,
    ip: req.ip ?? "",
    userAgent: (req.get("user-agent") ?? "").slice(0, 300),
  };
  await new Promise<void>((resolve, reject) =>
    req.session.save((err: unknown) => (err ? reject(err) : resolve())),
  );
  await ctx.sessionIndex.add(user.id, handle, req.sessionID);
}

export function destroySession(req: Request): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    req.session.destroy((err: unknown) => (err ? reject(err) : resolve())),
  );
}

/**
 * After session + passport: enforces the absolute lifetime (Redis TTLs enforce it too; this
 * closes the last-second gap without I/O), refreshes lastActive at most once a minute, and
 * marks every page behind a session as not cacheable.
 */
export function loginLifecycle(ctx: HttpContext) {
  return async (req: Request, res: Response, next: NextFunction) => {
    res.set("Cache-Control", "no-store");
    const login = req.session?.login;
    if (!req.user || !login) return next();
    const now = ctx.now();
    if (now >= login.createdAt + ctx.absoluteSeconds * 1000) {
      const sid = req.sessionID;
      // Regenerate rather than destroy: the old record is deleted, and the rest of this
      // request (CSRF, the login page) still has an (anonymous) session to work with.
      await new Promise<void>((resolve, reject) =>
        req.session.regenerate((err: unknown) => (err ? reject(err) : resolve())),
      );
      ctx.revocation.notify([sid], "expired");
      req.user = undefined;
      return next();
    }
    if (now - login.lastActive >= LAST_ACTIVE_RESOLUTION_MS) login.lastActive = now;
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
