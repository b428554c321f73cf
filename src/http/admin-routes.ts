// The admin page: invites, accounts (deactivate, reactivate, promote, demote) and the audit
// log. Server-rendered forms with CSRF tokens; no JavaScript needed. Whether the visitor is an
// admin is read from Redis on every request (ADMIN_USERNAMES aside), never remembered, so a
// demoted admin loses the page at once. Every action is written to the audit log.
import type { NextFunction, Request, Response } from "express";
import { Router } from "express";
import { z } from "zod";
import { type AdminOutcome, isAccountId } from "../stores/accounts.js";
import { INVITE_ID_RE } from "../stores/invites.js";
import type { HttpContext } from "./context.js";
import { HttpError, httpErrors } from "./errors.js";
import { relativeTime } from "./login-display.js";
import { requireLogin } from "./login-session.js";
import { render, type TokenGenerator } from "./render.js";

declare module "express-session" {
  interface SessionData {
    /** A link to an invite just made, shown once on the admin page. */
    inviteLink?: string;
    adminFlash?: string;
  }
}

const PAGE_SIZE = 50;

/** How long a new invite lasts: the choices the form offers (seconds). */
const INVITE_LIFETIMES: readonly { seconds: number; label: string }[] = [
  { seconds: 3600, label: "1 hour" },
  { seconds: 86_400, label: "1 day" },
  { seconds: 604_800, label: "7 days" },
  { seconds: 2_592_000, label: "30 days" },
];

const inviteForm = z.object({
  expires: z
    .string()
    .regex(/^\d{1,8}$/)
    .transform(Number)
    .refine((n) => INVITE_LIFETIMES.some((l) => l.seconds === n), "Choose a lifetime."),
});

function requireAdmin(ctx: HttpContext) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const user = req.user;
    if (!user || !(await ctx.users.isAdmin(user))) {
      throw new HttpError(403, "forbidden", "Only admins can use this page.");
    }
    next();
  };
}

/**
 * The origin to put in a link for someone else: the one this page was reached on if it is an
 * allowed origin, else the first allowed one (a Host header is not trusted to name it).
 */
function publicOrigin(ctx: HttpContext, req: Request): string {
  const here = `${req.protocol}://${req.get("host") ?? ""}`;
  const allowed = ctx.allowedOrigins();
  return allowed.has(here) ? here : ([...allowed][0] ?? here);
}

export function adminRoutes(ctx: HttpContext, csrfToken: TokenGenerator): Router {
  const r = Router();
  r.use("/admin", requireLogin, requireAdmin(ctx));

  r.get("/admin", async (req, res) => {
    const page = Math.max(
      0,
      Math.min(100_000, Number.parseInt(String(req.query.page ?? "0"), 10) || 0),
    );
    const now = ctx.now();
    const [{ accounts, total }, invites, audit] = await Promise.all([
      ctx.users.list(page * PAGE_SIZE, PAGE_SIZE),
      ctx.invites.list(now),
      ctx.audit.recent(50),
    ]);
    const inviteLink = req.session.inviteLink;
    const flash = req.session.adminFlash;
    delete req.session.inviteLink;
    delete req.session.adminFlash;
    render(res, "admin", 200, {
      title: "Administration",
      csrfToken: csrfToken(req),
      registration: ctx.registration,
      inviteLink,
      flash,
      lifetimes: INVITE_LIFETIMES,
      invites: invites.map((i) => ({
        ...i,
        expires: relativeTime(i.expiresAt, now),
        made: relativeTime(i.createdAt, now),
      })),
      accounts: accounts.map((a) => ({
        ...a,
        self: a.id === req.user?.id,
        configAdmin: ctx.users.isConfiguredAdminName(a.username),
        joined: relativeTime(a.createdAt, now),
      })),
      total,
      page,
      pages: Math.max(1, Math.ceil(total / PAGE_SIZE)),
      audit: audit.map((e) => ({
        ...e,
        when: relativeTime(e.at, now),
        iso: new Date(e.at).toISOString(),
      })),
    });
  });

  /** Records an admin action in the audit log (and the security log), then back to /admin. */
  const done = async (
    req: Request,
    res: Response,
    action: string,
    target: string,
    flash: string,
  ) => {
    const admin = req.user as Express.User;
    await ctx.audit.record(
      { actorId: admin.id, actor: admin.username, action, target, ip: req.ip ?? "" },
      ctx.now(),
    );
    req.session.adminFlash = flash;
    res.redirect(303, "/admin");
  };

  r.post("/admin/invites", async (req, res) => {
    const parsed = inviteForm.safeParse(req.body ?? {});
    if (!parsed.success) throw httpErrors.badRequest("Choose how long the invite lasts.");
    const { token, invite } = await ctx.invites.create(
      req.user as Express.User,
      parsed.data.expires,
      ctx.now(),
    );
    req.session.inviteLink = `${publicOrigin(ctx, req)}/register?invite=${token}`;
    const label = INVITE_LIFETIMES.find((l) => l.seconds === parsed.data.expires)?.label ?? "";
    await done(req, res, "invite_created", `invite ${invite.id.slice(0, 8)} (${label})`, "");
  });

  r.post("/admin/invites/:id/revoke", async (req, res) => {
    const id = String(req.params.id);
    if (!INVITE_ID_RE.test(id)) throw httpErrors.notFound();
    const withdrawn = await ctx.invites.revoke(id);
    if (withdrawn === "in_use") {
      throw httpErrors.badRequest(
        "Someone is registering with that invite right now. If they are refused, withdraw it then.",
      );
    }
    if (withdrawn === "gone") {
      throw httpErrors.badRequest("That invite was already used, withdrawn or expired.");
    }
    await done(req, res, "invite_revoked", `invite ${id.slice(0, 8)}`, "The invite was withdrawn.");
  });

  /** The account an action is about, by id from the path. */
  const target = async (req: Request) => {
    const id = String(req.params.id);
    const user = isAccountId(id) ? await ctx.users.byId(id) : undefined;
    if (!user) throw httpErrors.notFound();
    return user;
  };

  /**
   * Throws for an admin action the account list refused. The acting admin's own standing is
   * checked again in that step: one demoted or deactivated a moment ago cannot still act.
   */
  const refused = (result: AdminOutcome) => {
    if (result === "done") return;
    if (result === "not_found") throw httpErrors.notFound();
    if (result === "forbidden") {
      throw new HttpError(403, "forbidden", "You are no longer an admin.");
    }
    throw httpErrors.badRequest("This is the last active admin. Promote someone else first.");
  };

  r.post("/admin/users/:id/deactivate", async (req, res) => {
    const user = await target(req);
    const admin = req.user as Express.User;
    if (user.id === admin.id) {
      throw httpErrors.badRequest("You cannot deactivate your own account. Another admin can.");
    }
    // The list first (the last-admin rule, decided there), then the record and the logins.
    const { outcome, epoch } = await ctx.users.setStatus(admin.id, user.id, false);
    refused(outcome);
    const ended = await ctx.revocation.endAccount(user.id, "deactivated", epoch);
    req.log.info({ event: "user_deactivated", userId: user.id, endedLogins: ended });
    await done(
      req,
      res,
      "user_deactivated",
      user.username,
      `${user.username} was deactivated and signed out everywhere.`,
    );
  });

  r.post("/admin/users/:id/reactivate", async (req, res) => {
    const user = await target(req);
    const { outcome, epoch } = await ctx.users.setStatus(
      (req.user as Express.User).id,
      user.id,
      true,
    );
    refused(outcome);
    if (!(await ctx.users.credentials.reactivateRecord(user.id, epoch)))
      throw httpErrors.notFound();
    await done(req, res, "user_reactivated", user.username, `${user.username} can log in again.`);
  });

  r.post("/admin/users/:id/promote", async (req, res) => {
    const user = await target(req);
    refused(await ctx.users.setAdmin((req.user as Express.User).id, user.id, true));
    await done(req, res, "admin_promoted", user.username, `${user.username} is now an admin.`);
  });

  r.post("/admin/users/:id/demote", async (req, res) => {
    const user = await target(req);
    if (ctx.users.isConfiguredAdminName(user.username)) {
      throw httpErrors.badRequest(
        "ADMIN_USERNAMES names this account: it stays an admin until it is removed there.",
      );
    }
    refused(await ctx.users.setAdmin((req.user as Express.User).id, user.id, false));
    await done(req, res, "admin_demoted", user.username, `${user.username} is no longer an admin.`);
  });

  return r;
}
