// The signed-in user's own pages: chat shell, active sessions, password change.
import { type Request, Router } from "express";
import { hashPassword, verifyPassword } from "../auth/passwords.js";
import { fieldErrors, passwordChangeForm } from "../auth/validation.js";
import type { HttpContext } from "./context.js";
import { httpErrors } from "./errors.js";
import { describeAgent, relativeTime } from "./login-display.js";
import { requireLogin } from "./login-session.js";
import { render, type TokenGenerator } from "./render.js";

declare module "express-session" {
  interface SessionData {
    flash?: string;
  }
}

const HANDLE_RE = /^[A-Za-z0-9_-]{22}$/;

/** This request's login, carried over when the user ends their other logins. */
function keptLogin(req: Request): { sid: string; handle: string } | undefined {
  const handle = req.session.login?.handle;
  return handle ? { sid: req.sessionID, handle } : undefined;
}

export function accountRoutes(ctx: HttpContext, csrfToken: TokenGenerator): Router {
  const r = Router();

  r.get("/", (req, res) => {
    res.redirect(303, req.user ? "/chat" : "/login");
  });

  r.get("/chat", requireLogin, (req, res) => {
    render(res, "chat", 200, {
      title: "Chat",
      csrfToken: csrfToken(req),
      // How often the page may report activity: once a minute, or more often when the idle
      // timeout is short, so that a person using the page is never idled out.
      activityEverySeconds: Math.max(1, Math.min(60, Math.floor(ctx.idleSeconds / 3))),
    });
  });

  r.get("/sessions", requireLogin, async (req, res) => {
    const user = req.user;
    if (!user) throw httpErrors.notFound();
    const logins = await ctx.sessionIndex.list(user.id);
    const now = ctx.now();
    render(res, "sessions", 200, {
      title: "Your sessions",
      csrfToken: csrfToken(req),
      // This device first, then the newest.
      logins: logins
        .map(({ sid, ...rest }) => ({
          ...rest,
          current: sid === req.sessionID,
          device: describeAgent(rest.userAgent),
          signedIn: relativeTime(rest.createdAt, now),
          active: relativeTime(rest.lastActive, now),
        }))
        .sort((a, b) => Number(b.current) - Number(a.current)),
    });
  });

  r.post("/sessions/revoke-others", requireLogin, async (req, res) => {
    const user = req.user;
    if (!user) throw httpErrors.notFound();
    const { generation, ended } = await ctx.revocation.endOtherLogins(
      user.id,
      keptLogin(req),
      "revoked",
    );
    if (req.session.login) req.session.login.gen = generation;
    req.log.info({ event: "sessions_revoked", userId: user.id, count: ended });
    res.redirect(303, "/sessions");
  });

  r.post("/sessions/:handle/revoke", requireLogin, async (req, res) => {
    const user = req.user;
    const handle = String(req.params.handle);
    if (!user || !HANDLE_RE.test(handle)) throw httpErrors.notFound();
    const sid = await ctx.sessionIndex.sidFor(user.id, handle);
    if (!sid) throw httpErrors.notFound();
    if (sid === req.sessionID) {
      throw httpErrors.badRequest("This is the session you are using: log out to end it.");
    }
    await ctx.revocation.endLogins(user.id, [{ handle, sid }], "revoked");
    req.log.info({ event: "sessions_revoked", userId: user.id, count: 1 });
    res.redirect(303, "/sessions");
  });

  r.get("/account", requireLogin, (req, res) => {
    const flash = req.session.flash;
    if (flash) delete req.session.flash;
    render(res, "account", 200, { title: "Account", csrfToken: csrfToken(req), flash });
  });

  r.post("/account/password", requireLogin, async (req, res) => {
    const user = req.user;
    if (!user) throw httpErrors.notFound();
    const page = (status: number, errors: Record<string, string>) =>
      render(res, "account", status, { title: "Account", csrfToken: csrfToken(req), errors });
    const parsed = passwordChangeForm.safeParse(req.body ?? {});
    if (!parsed.success) return page(400, fieldErrors(parsed.error));
    const stored = await ctx.users.byId(user.id);
    if (!stored || !(await verifyPassword(stored.hash, parsed.data.current))) {
      req.log.warn({ event: "password_change_failed", userId: user.id });
      return page(400, { current: "That is not your current password." });
    }
    // The new hash and a new credentials generation land together; this login is carried
    // over, every other one (including logins racing this request) is over.
    const { generation, ended } = await ctx.revocation.endOtherLogins(
      user.id,
      keptLogin(req),
      "password_changed",
      await hashPassword(parsed.data.password),
    );
    if (req.session.login) req.session.login.gen = generation;
    req.log.info({ event: "password_changed", userId: user.id, endedLogins: ended });
    req.session.flash = "Your password was changed. Every other session was signed out.";
    res.redirect(303, "/account");
  });

  return r;
}
