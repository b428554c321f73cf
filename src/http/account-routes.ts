// The signed-in user's own pages: chat shell, active sessions, password change.
import { type Request, type Response, Router } from "express";
import { hashPassword, verifyPassword } from "../auth/passwords.js";
import { accountDeleteForm, fieldErrors, passwordChangeForm } from "../auth/validation.js";
import type { HttpContext } from "./context.js";
import { httpErrors } from "./errors.js";
import { describeAgent, relativeTime } from "./login-display.js";
import { clearLoginCookie, destroySession, requireLogin } from "./login-session.js";
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

  /** The account page, with the admin link for an admin. */
  const accountPage = async (
    req: Request,
    res: Response,
    status: number,
    extra: Record<string, unknown> = {},
  ) => {
    const user = req.user as Express.User;
    render(res, "account", status, {
      title: "Account",
      csrfToken: csrfToken(req),
      admin: await ctx.users.isAdmin(user),
      ...extra,
    });
  };

  r.get("/account", requireLogin, async (req, res) => {
    const flash = req.session.flash;
    if (flash) delete req.session.flash;
    await accountPage(req, res, 200, { flash });
  });

  // Deleting one's own account: the password again, then every login and socket of the
  // account ends (reason account_deleted), its name is freed, and its messages stay, shown
  // as from "deleted user".
  r.post("/account/delete", requireLogin, async (req, res) => {
    const user = req.user as Express.User;
    const parsed = accountDeleteForm.safeParse(req.body ?? {});
    const refuse = (errors: Record<string, string>) =>
      accountPage(req, res, 400, { deleteErrors: errors });
    if (!parsed.success) return refuse(fieldErrors(parsed.error));
    const stored = await ctx.users.byId(user.id);
    if (!stored || !(await verifyPassword(stored.hash, parsed.data.current))) {
      req.log.warn({ event: "account_delete_failed", userId: user.id });
      return refuse({ current: "That is not your current password." });
    }
    // An account is never left without an active admin: decided in the step that delists it.
    const delisted = await ctx.users.delist(user.id);
    if (delisted === "last") {
      return refuse({ current: "You are the only admin. Make someone else an admin first." });
    }
    let ended: number;
    try {
      ended = await ctx.revocation.endAccount(user.id, "deleted");
    } catch (err) {
      // Not deleted after all: the account goes back on the list as it was.
      await ctx.users.relist(delisted).catch(() => undefined);
      throw err;
    }
    await ctx.users.freeName(user.id, user.username);
    await ctx.audit.record(
      {
        actorId: user.id,
        actor: user.username,
        action: "account_deleted",
        target: user.username,
        ip: req.ip ?? "",
      },
      ctx.now(),
    );
    req.log.info({ event: "account_deleted", userId: user.id, endedLogins: ended });
    await destroySession(req).catch(() => undefined);
    clearLoginCookie(ctx, res);
    res.redirect(303, "/login?account=deleted");
  });

  r.post("/account/password", requireLogin, async (req, res) => {
    const user = req.user;
    if (!user) throw httpErrors.notFound();
    const page = (status: number, errors: Record<string, string>) =>
      accountPage(req, res, status, { errors });
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
