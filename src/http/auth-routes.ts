// Register, log in, log out (SPEC §2).
import { type Request, type Response, Router } from "express";
import { checkCredentials } from "../auth/passport.js";
import { hashPassword } from "../auth/passwords.js";
import { cookieName } from "../auth/session.js";
import { fieldErrors, loginForm, registerForm, safeNext } from "../auth/validation.js";
import { type UserCredentials, UsernameTakenError } from "../stores/users.js";
import type { HttpContext } from "./context.js";
import { destroySession, startLogin } from "./login-session.js";
import { render, type TokenGenerator } from "./render.js";

const FAILED_LOGIN = "Wrong username or password.";

export function authRoutes(ctx: HttpContext, csrfToken: TokenGenerator): Router {
  const r = Router();

  const registerPage = (req: Request, res: Response, status: number, extra = {}) =>
    render(res, "register", status, {
      title: "Create an account",
      csrfToken: csrfToken(req),
      ...extra,
    });
  const loginPage = (req: Request, res: Response, status: number, extra = {}) =>
    render(res, "login", status, { title: "Log in", csrfToken: csrfToken(req), ...extra });

  r.get("/register", (req, res) => {
    if (req.user) return res.redirect(303, "/chat");
    registerPage(req, res, 200);
  });

  r.post("/register", async (req, res) => {
    const parsed = registerForm.safeParse(req.body ?? {});
    const username = typeof req.body?.username === "string" ? req.body.username : "";
    if (!parsed.success) {
      return registerPage(req, res, 400, {
        errors: fieldErrors(parsed.error),
        values: { username },
      });
    }
    const hash = await hashPassword(parsed.data.password);
    let user: UserCredentials;
    try {
      user = await ctx.users.create(parsed.data.username, hash, ctx.now());
    } catch (err) {
      if (!(err instanceof UsernameTakenError)) throw err;
      return registerPage(req, res, 409, {
        errors: { username: "That username is taken. Choose another." },
        values: { username },
      });
    }
    await startLogin(ctx, req, user);
    req.log.info({ event: "register", userId: user.id }, "account created");
    res.redirect(303, "/chat");
  });

  r.get("/login", (req, res) => {
    const next = typeof req.query.next === "string" ? safeNext(req.query.next) : undefined;
    if (req.user) return res.redirect(303, next ?? "/chat");
    loginPage(req, res, 200, { values: { next: next ?? "" } });
  });

  r.post("/login", async (req, res) => {
    const form = loginForm.safeParse(req.body ?? {});
    const { username, password, next } = form.success
      ? form.data
      : { username: "", password: "", next: undefined };
    const ip = req.ip ?? "";
    const values = { username, next: safeNext(next) ?? "" };
    // Reserve before verifying: parallel guesses cannot all slip past the limits.
    const attempt = await ctx.limiter.reserve(username, ip);
    if (!attempt.ok) {
      req.log.warn({ event: "login_locked", ip }, "login attempt while locked out");
      ctx.metrics.logins.inc({ outcome: "locked" });
      res.set("Retry-After", String(attempt.retryAfter));
      return loginPage(req, res, 429, {
        error: `Too many failed attempts. Try again in ${Math.ceil(attempt.retryAfter / 60)} minute(s).`,
        values,
      });
    }
    let user: UserCredentials | undefined;
    try {
      user = await checkCredentials(ctx.users, username, password);
    } catch (err) {
      // Not verified, so not a failure: a Redis error must not count towards a lockout.
      await attempt.reservation.abandoned().catch(() => undefined);
      throw err;
    }
    if (!user) {
      ctx.metrics.logins.inc({ outcome: "failure" });
      await attempt.reservation.failed();
      req.log.warn({ event: "login_failed", ip }, "login failed");
      return loginPage(req, res, 401, { error: FAILED_LOGIN, values });
    }
    ctx.metrics.logins.inc({ outcome: "success" });
    await attempt.reservation.succeeded();
    await startLogin(ctx, req, user);
    req.log.info({ event: "login", userId: user.id, ip }, "logged in");
    res.redirect(303, safeNext(next) ?? "/chat");
  });

  r.post("/logout", async (req, res) => {
    if (req.session) {
      // Capture who this was before the session is gone.
      const sid = req.sessionID;
      const userId = req.user?.id;
      const handle = req.session.login?.handle;
      await ctx.revocation.end([sid], "logout", () => destroySession(req));
      if (userId && handle) await ctx.sessionIndex.remove(userId, [handle]);
      if (userId) req.log.info({ event: "logout", userId }, "logged out");
    }
    res.clearCookie(cookieName(ctx.production), {
      path: "/",
      httpOnly: true,
      sameSite: "lax",
      secure: ctx.production,
    });
    res.redirect(303, "/login");
  });

  return r;
}
