// Builds the Express app from its dependencies. Order matters: headers, health probes (no
// session), static files, body, Origin check, session, Passport, CSRF, routes, errors.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import express, {
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
} from "express";
import helmet from "helmet";
import { pinoHttp } from "pino-http";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { cookieName } from "../auth/session.js";
import { safeNext } from "../auth/validation.js";
import { budgetAddress } from "../domain/address.js";
import { SESSION_READS_PER_ADDRESS } from "../domain/limits.js";
import { isRedisReady } from "../redis/client.js";
import { pingRedis } from "../redis/connect.js";
import { isRedisUnavailable, within } from "../redis/errors.js";
import { REDIS_MAX_WAIT_MS } from "../redis/watchdog.js";
import { VERSION } from "../version.js";
import { accountRoutes } from "./account-routes.js";
import { adminRoutes } from "./admin-routes.js";
import { authRoutes } from "./auth-routes.js";
import type { HttpContext } from "./context.js";
import { createCsrf } from "./csrf.js";
import { HttpError, httpErrors } from "./errors.js";
import { exportRoutes } from "./export-routes.js";
import { fileDownloads, fileUploads } from "./file-routes.js";
import { loginLifecycle } from "./login-session.js";
import { originCheck } from "./origin.js";
import { render, type TokenGenerator } from "./render.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** Works from src/ (tsx) and from dist/src/ (built). */
const projectRoot = path.basename(ROOT) === "dist" ? path.dirname(ROOT) : ROOT;

export function createApp(ctx: HttpContext, sessionMiddleware: RequestHandler): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", ctx.trustProxy);
  app.set("view engine", "ejs");
  app.set("views", path.join(projectRoot, "views"));

  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          scriptSrcAttr: ["'none'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", "data:"],
          fontSrc: ["'self'"],
          connectSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          frameAncestors: ["'none'"],
          formAction: ["'self'"],
          ...(ctx.production ? { upgradeInsecureRequests: [] } : {}),
        },
      },
      // Not helmet's default no-referrer: with it Chromium sends `Origin: null` on same-origin
      // form posts, which the Origin check must refuse.
      referrerPolicy: { policy: "same-origin" },
      strictTransportSecurity: ctx.production
        ? { maxAge: 31_536_000, includeSubDomains: true }
        : false,
    }),
  );

  // One log line per request with a request id (taken from a sane X-Request-Id or made up);
  // route logs go through req.log and carry it too. Only method, path (no query) and status
  // are logged: never headers, so never cookies.
  app.use(
    pinoHttp({
      logger: ctx.logger,
      genReqId: (req, res) => {
        const given = req.headers["x-request-id"];
        const id = typeof given === "string" && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
        res.setHeader("X-Request-Id", id);
        return id;
      },
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          path: req.url.split("?")[0],
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        err: (err: { type?: string; message?: string }) => ({
          type: err.type,
          message: err.message,
        }),
      },
      // The access log: successful requests at ACCESS_LOG_LEVEL (info by default), refusals at
      // info, failures at error.
      // A failed request's line names its cause (set by the error handler) without a stack,
      // and the code it was answered with.
      customProps: (_req, res) => {
        const code = (res as Response).locals?.errorCode;
        return typeof code === "string" ? { event: "http_error", code } : {};
      },
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500
          ? "error"
          : res.statusCode >= 400
            ? "info"
            : ctx.accessLogLevel,
      autoLogging: { ignore: (req) => req.url === "/healthz" || req.url === "/readyz" },
    }),
  );

  // Alive, and which parley this is: the X-Parley-Version header, and JSON for clients that
  // ask for it (the plain answer stays "ok").
  // Requests by route template (never the path itself: no ids or names as labels).
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.once("finish", () => {
      const route = (req.route as { path?: unknown } | undefined)?.path;
      ctx.metrics.observeRequest(
        req.method,
        typeof route === "string" ? route : req.path.startsWith("/static/") ? "/static" : "other",
        res.statusCode,
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    });
    next();
  });

  app.get("/healthz", (req, res) => {
    res.set("X-Parley-Version", VERSION);
    if (req.accepts(["text", "json"]) === "json") {
      res.json({ status: "ok", version: VERSION });
      return;
    }
    res.type("text/plain").send("ok");
  });
  app.get("/readyz", async (_req, res) => {
    try {
      await pingRedis(ctx.redis);
      // Chat runs from Redis: a PostgreSQL that is away keeps parley ready, and says so.
      const archive = ctx.archive;
      res.setHeader("x-parley-archive", archive.healthy ? "ok" : "behind");
      // Files too: uploads and downloads need their store (chat does not).
      res.setHeader("x-parley-files", (await ctx.files.reachable()) ? "ok" : "unavailable");
      res
        .type("text/plain")
        .send(
          archive.healthy
            ? "ready"
            : `ready (the archive is behind: PostgreSQL does not answer; ${archive.backlog} messages wait in Redis)`,
        );
    } catch {
      res.status(503).type("text/plain").send("redis unavailable");
    }
  });

  app.use(
    "/static",
    express.static(path.join(projectRoot, "public"), { index: false, maxAge: "1h" }),
  );

  // A login's forms carry a token kept in its session; a visitor's, a signed cookie (csrf.ts).
  const sessionCookie = cookieName(ctx.production);
  const csrf = createCsrf({
    secrets: ctx.sessionSecrets,
    production: ctx.production,
    sessionCookie,
    formSeconds: ctx.formSeconds,
  });

  // Downloads of files: checked in one batched Redis read of their own, without the session
  // middleware (file-routes.ts).
  app.use(fileDownloads(ctx, csrf.cookies));

  app.use(express.urlencoded({ extended: false, limit: "16kb", parameterLimit: 20 }));
  app.use(originCheck(ctx.allowedOrigins));
  // Fail closed and fast: with Redis disconnected no page can be served correctly (an
  // anonymous form's session could not be saved), so answer 503 without trying.
  app.use((_req, _res, next) =>
    next(isRedisReady(ctx.redis) ? undefined : httpErrors.unavailable()),
  );
  app.use(csrf.cookies);
  // A request carrying the session cookie reads its session: counted per client address
  // (in this process, no I/O), so no address can make parley read sessions without bound.
  const reads = new RateLimiterMemory({ points: SESSION_READS_PER_ADDRESS, duration: 10 });
  app.use((req, res, next) => {
    // cookie-parser files a signed cookie under signedCookies (false when its signature is
    // wrong), any other under cookies: either way express-session will look it up.
    const named = (jar: unknown) => (jar as Record<string, unknown> | undefined)?.[sessionCookie];
    if (named(req.cookies) === undefined && named(req.signedCookies) === undefined) return next();
    reads.consume(budgetAddress(req.ip ?? "")).then(
      () => next(),
      () => {
        res.set("Retry-After", "10");
        next(httpErrors.tooMany());
      },
    );
  });
  app.use(withDeadline(sessionMiddleware));
  // A request that read no session (a visitor without a cookie) still needs Redis to answer:
  // pages are never served from a fallback while Redis hangs, whatever they hold.
  app.use((req, _res, next) => {
    if (req.session?.passport?.user !== undefined) return next();
    within(pingRedis(ctx.redis), REDIS_MAX_WAIT_MS).then(
      () => next(),
      () => next(httpErrors.unavailable()),
    );
  });
  app.use(ctx.passport.initialize());
  app.use(ctx.passport.session());
  app.use(loginLifecycle(ctx));

  app.use(csrf.protect);
  const csrfToken = csrf.token;

  app.use(authRoutes(ctx, csrfToken));
  app.use(accountRoutes(ctx, csrfToken));
  app.use(adminRoutes(ctx, csrfToken));
  app.use(exportRoutes(ctx));
  app.use(fileUploads(ctx));

  app.use((_req, _res, next) => next(httpErrors.notFound()));
  app.use(errorHandler(ctx, csrfToken));
  return app;
}

/** A session lookup that Redis cannot answer in time fails the request (503), never hangs it. */
function withDeadline(mw: RequestHandler): RequestHandler {
  return (req, res, next) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      next(httpErrors.unavailable());
    }, REDIS_MAX_WAIT_MS + 250);
    mw(req, res, (err?: unknown) => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      next(err);
    });
  };
}

function classify(err: unknown, ctx: HttpContext): HttpError {
  if (err instanceof HttpError) return err;
  if (isRedisUnavailable(err, ctx.redis)) return httpErrors.unavailable();
  if (err && typeof err === "object") {
    const e = err as { status?: unknown; code?: unknown; expose?: unknown; message?: unknown };
    if (e.code === "EBADCSRFTOKEN") return httpErrors.csrf();
    if (typeof e.status === "number" && e.status >= 400 && e.status < 500) {
      const message =
        e.status === 413 ? "That request is too large." : "That request could not be understood.";
      return new HttpError(e.status, e.status === 413 ? "too_large" : "bad_request", message);
    }
  }
  return new HttpError(500, "internal", "Something went wrong on our side.");
}

function errorPageUser(
  req: Request,
  status: number,
  csrfToken: TokenGenerator,
): { user: Express.User | undefined; csrfToken?: string } {
  if (status >= 500 || !req.user || !req.session) return { user: undefined };
  try {
    return { user: req.user, csrfToken: csrfToken(req) };
  } catch {
    return { user: undefined };
  }
}

const STALE_FORM_NOTE =
  "This form had been open too long, so nothing was sent. Check what is filled in, then send it again.";

/** The form page to show again when its token was refused. */
function staleForm(path: string): "login" | "register" | undefined {
  return path === "/login" ? "login" : path === "/register" ? "register" : undefined;
}

function errorHandler(ctx: HttpContext, csrfToken: TokenGenerator): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, next) => {
    const e = classify(err, ctx);
    const plainHttp = e.code === "csrf" && ctx.production && !req.secure;
    if (plainHttp) {
      // Production's cookies are Secure: over plain HTTP the browser never sends them back,
      // so every form looks forged. Say that, not "the form expired".
      e.message =
        "This parley is set up for HTTPS (NODE_ENV=production), but this page came over plain HTTP, where browsers do not send its cookies back. Open it through its https:// address.";
      req.log.warn(
        { event: "csrf_failed", reason: "plain_http", method: req.method, path: req.path },
        "a form came over plain HTTP to a parley set up for HTTPS",
      );
    }
    if (e.status >= 500) {
      // One line per failed request: the access log's own (pino-http, at error), carrying
      // the cause's name and message (never a stack) and the code answered.
      res.err = err instanceof Error ? err : new Error(String(err));
      res.locals.errorCode = e.code;
    } else if ((e.code === "csrf" && !plainHttp) || e.code === "forbidden_origin") {
      req.log.warn(
        {
          event: e.code === "csrf" ? "csrf_failed" : "origin_refused",
          method: req.method,
          path: req.path,
        },
        "state-changing request refused",
      );
    }
    if (res.headersSent) return next(err);
    res.status(e.status);
    if (e.status === 503) {
      res.set("Retry-After", "5");
      // A refused request changes nothing in Redis, not even later: express-session's end
      // hook finds no session and neither saves nor touches it.
      req.session = undefined as unknown as typeof req.session;
    }
    res.set("Cache-Control", "no-store");
    if (req.accepts(["html", "json"]) === "json") {
      res.json({ ok: false, error: { code: e.code, message: e.message } });
      return;
    }
    // A login or registration form left open too long (its anonymous session, and with it the
    // token, expired): still 403 and nothing done, but a fresh form comes back with the
    // username kept (never the password) and a note, instead of a dead end.
    const form = e.code === "csrf" && req.method === "POST" ? staleForm(req.path) : undefined;
    if (form) {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const username = typeof body.username === "string" ? body.username.slice(0, 64) : "";
      const invite =
        typeof body.invite === "string" && /^[A-Za-z0-9_-]{1,128}$/.test(body.invite)
          ? body.invite
          : "";
      const next = typeof body.next === "string" ? (safeNext(body.next) ?? "") : "";
      render(res, form, 403, {
        title: form === "login" ? "Log in" : "Create an account",
        csrfToken: csrfToken(req),
        values: { username, next },
        invite,
        notice: plainHttp ? e.message : STALE_FORM_NOTE,
      });
      return;
    }
    res.render(
      "error",
      {
        title: `Error ${e.status}`,
        status: e.status,
        message: e.message,
        // A logged-in user keeps their header (and its logout form) on a 4xx page.
        ...errorPageUser(req, e.status, csrfToken),
      },
      (renderErr: Error | null, html?: string) => {
        if (renderErr || html === undefined) res.type("text/plain").send(e.message);
        else res.send(html);
      },
    );
  };
}
