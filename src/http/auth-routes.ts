// Register, log in, log out: the account routes of the README, as server-rendered forms.
import { type Request, type Response, Router } from "express";
import { checkCredentials } from "../auth/passport.js";
import { hashPassword } from "../auth/passwords.js";
import { fieldErrors, loginForm, registerForm, safeNext } from "../auth/validation.js";
import { budgetAddress } from "../domain/address.js";
import type { UserCredentials } from "../stores/accounts.js";
import type { Invite } from "../stores/invites.js";
import { NotFirstAccountError, UsernameTakenError } from "../stores/registration.js";
import type { HttpContext } from "./context.js";
import { clearLoginCookie, destroySession, startLogin } from "./login-session.js";
import { render, type TokenGenerator } from "./render.js";

const FAILED_LOGIN = "Wrong username or password.";

/** Why the registration form is not offered: see views/register-shut.ejs. */
type ShutReason = "closed" | "invite_needed" | "invite_invalid";

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

  r.get("/register", async (req, res) => {
    if (req.user) return res.redirect(303, "/chat");
    const token = typeof req.query.invite === "string" ? req.query.invite : "";
    const door = await registrationDoor(token);
    if (door.kind === "shut") return shutPage(req, res, door.why);
    registerPage(req, res, 200, {
      invite: door.kind === "invite" ? token : "",
      first: door.kind === "first",
    });
  });

  /**
   * Whether, and how, a visitor may register now: as the first account of an empty database
   * (whatever REGISTRATION says), with a valid invite (which is then used up, in open mode
   * too: each link creates one account), else by REGISTRATION. An invite is valid while it
   * has not expired or been used, and while the admin who made it still is one (an invite
   * dies with its maker's admin role, deactivation or deletion).
   */
  async function registrationDoor(
    token: string,
  ): Promise<{ kind: "open" | "first" | "invite" } | { kind: "shut"; why: ShutReason }> {
    if ((await ctx.users.registrations.count(ctx.now())) === 0) return { kind: "first" };
    if (ctx.registration === "closed") return { kind: "shut", why: "closed" };
    const invite = token ? await ctx.invites.peek(token, ctx.now()) : undefined;
    const valid = invite !== undefined && (await makerMayInvite(invite));
    if (valid) return { kind: "invite" };
    if (ctx.registration === "open") return { kind: "open" };
    return { kind: "shut", why: token ? "invite_invalid" : "invite_needed" };
  }

  async function makerMayInvite(invite: Invite): Promise<boolean> {
    const maker = await ctx.users.byId(invite.createdBy);
    return maker !== undefined && !maker.deactivated && (await ctx.users.isAdmin(maker));
  }

  const shutPage = (req: Request, res: Response, why: ShutReason, extra = {}) =>
    render(res, "register-shut", 403, {
      title: "Create an account",
      csrfToken: csrfToken(req),
      why,
      ...extra,
    });

  r.post("/register", async (req, res) => {
    const parsed = registerForm.safeParse(req.body ?? {});
    const username = typeof req.body?.username === "string" ? req.body.username : "";
    const token = typeof req.body?.invite === "string" ? req.body.invite.slice(0, 100) : "";
    if (!parsed.success) {
      return registerPage(req, res, 400, {
        errors: fieldErrors(parsed.error),
        values: { username },
        invite: token,
      });
    }
    // The door is checked before the costly hash, so refusals cost no argon2 time; the
    // decision itself is taken again, atomically, when the invite is taken and the account
    // enrolled.
    const door = await registrationDoor(token);
    if (door.kind === "shut") return shutPage(req, res, door.why);
    const taken = () =>
      registerPage(req, res, 409, {
        errors: { username: "That username is taken. Choose another." },
        values: { username },
        invite: token,
      });
    // A name ADMIN_USERNAMES lists but no account has is kept for the first account, so that
    // nobody becomes an admin by registering it first.
    const reserved = ctx.users.isConfiguredAdminName(parsed.data.username);
    if (reserved && door.kind !== "first") return taken();
    // A name in use is refused before hashing too (the step that claims it decides for good).
    if (await ctx.users.registrations.nameInUse(parsed.data.username, ctx.now())) return taken();
    // The invite is taken before hashing, so one link used many times at once costs one hash
    // (and its maker is asked again: demoted meanwhile, the invite is dead).
    const invite = door.kind === "invite" ? await ctx.invites.take(token, ctx.now()) : undefined;
    if (door.kind === "invite" && !(invite && (await makerMayInvite(invite)))) {
      if (invite) await ctx.invites.used(invite).catch(() => undefined);
      return shutPage(req, res, "invite_invalid");
    }
    // Open registration without an invite: a budget per client address, taken before hashing.
    const slot =
      door.kind === "open"
        ? await ctx.registrations.reserve(budgetAddress(req.ip ?? ""))
        : undefined;
    if (slot && !slot.ok) {
      res.set("Retry-After", String(slot.retryAfter));
      return registerPage(req, res, 429, {
        error: `Too many accounts were created from your address. Try again in ${Math.ceil(slot.retryAfter / 60)} minute(s).`,
        values: { username },
      });
    }
    const giveBack = async () => {
      if (slot?.ok) await slot.giveBack().catch(() => undefined);
    };
    let hash: string;
    try {
      hash = await hashPassword(parsed.data.password);
    } catch (err) {
      if (invite) await ctx.invites.giveBack(invite).catch(() => undefined);
      await giveBack();
      throw err;
    }
    let user: UserCredentials & { admin: boolean };
    try {
      user = await ctx.users.registrations.create(
        parsed.data.username,
        hash,
        ctx.now(),
        door.kind === "first" && (ctx.registration !== "open" || reserved),
      );
    } catch (err) {
      const refused = err instanceof NotFirstAccountError || err instanceof UsernameTakenError;
      await giveBack();
      // Given back only when the account was refused; after another failure (Redis failing
      // half-way) the invite stays taken: fail closed, the admin makes another.
      if (invite && refused) {
        await ctx.invites.giveBack(invite).catch((e: unknown) => {
          req.log.warn({ event: "invite_give_back_failed", err: e }, "invite not given back");
        });
      }
      if (err instanceof NotFirstAccountError) {
        if (reserved) return taken();
        return shutPage(req, res, ctx.registration === "closed" ? "closed" : "invite_needed");
      }
      if (!(err instanceof UsernameTakenError)) throw err;
      return taken();
    }
    // Taken invites are never offered again, so failing to delete this one only leaves it
    // to expire.
    if (invite) await ctx.invites.used(invite).catch(() => undefined);
    await startLogin(ctx, req, user);
    req.log.info({ event: "register", userId: user.id, admin: user.admin }, "account created");
    const who = { actorId: user.id, actor: user.username, ip: req.ip ?? "" };
    if (invite) {
      await ctx.audit.record(
        { ...who, action: "invite_used", target: `invite from ${invite.createdByName}` },
        ctx.now(),
      );
    }
    if (user.admin) {
      await ctx.audit.record({ ...who, action: "first_admin", target: user.username }, ctx.now());
    }
    res.redirect(303, "/chat");
  });

  r.get("/login", (req, res) => {
    const next = typeof req.query.next === "string" ? safeNext(req.query.next) : undefined;
    if (req.user) return res.redirect(303, next ?? "/chat");
    // A note left by the logout that sent the browser here (a cookie that lives a minute).
    const loggedOut = hasCookie(req, LOGGED_OUT_COOKIE);
    if (loggedOut) res.clearCookie(LOGGED_OUT_COOKIE, { path: "/login" });
    const notice =
      req.query.account === "deleted"
        ? "Your account was deleted."
        : loggedOut
          ? "You have been logged out."
          : undefined;
    loginPage(req, res, 200, { values: { next: next ?? "" }, notice });
  });

  r.post("/login", async (req, res) => {
    const form = loginForm.safeParse(req.body ?? {});
    const { username, password, next } = form.success
      ? form.data
      : { username: "", password: "", next: undefined };
    const ip = req.ip ?? "";
    const values = { username, next: safeNext(next) ?? "" };
    // Reserve before verifying: parallel guesses cannot all slip past the limits.
    const attempt = await ctx.limiter.reserve(username, budgetAddress(ip));
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
    if (user?.deactivated) {
      // Told only to whoever knows the password; not a failed guess, not a success either.
      await attempt.reservation.abandoned();
      req.log.warn({ event: "login_deactivated", userId: user.id, ip }, "deactivated account");
      return loginPage(req, res, 403, {
        error: "This account is deactivated. Ask an admin to reactivate it.",
        values,
      });
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
    clearLoginCookie(ctx, res);
    // The login page says so (once): nothing about the login is in it.
    res.cookie(LOGGED_OUT_COOKIE, "1", {
      path: "/login",
      maxAge: 60_000,
      httpOnly: true,
      sameSite: "lax",
      secure: ctx.production,
    });
    res.redirect(303, "/login");
  });

  return r;
}

const LOGGED_OUT_COOKIE = "parley.loggedout";

function hasCookie(req: Request, name: string): boolean {
  const header = req.headers.cookie ?? "";
  return header.split(";").some((c) => c.trim() === `${name}=1`);
}
