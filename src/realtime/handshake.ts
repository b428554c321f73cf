// Screening of every engine.io HTTP request and WebSocket upgrade, before engine.io allocates
// anything for it:
// - a foreign Origin or `Sec-Fetch-Site: cross-site` is refused with 403 (cross-site
//   WebSocket hijacking: upgrades are not subject to CORS);
// - the handshake (no engine.io `sid`) needs a logged-in session, else 401;
// - every later request of a connection (polling, the upgrade) must carry the session that
//   opened it, else 403: the engine.io sid travels in URLs and is never enough on its own.
// Polling requests are screened by an `io.engine.use` middleware; upgrades are screened in
// front of engine.io's own `upgrade` listener, because engine middleware cannot answer an
// upgrade with a real HTTP status line.
import { type IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { RequestHandler } from "express";
import type { Logger } from "../logger.js";

/** What the screen leaves on the request for the namespace middleware. */
export interface ScreenedRequest extends IncomingMessage {
  parleyScreened?: true;
  sessionID?: string;
  session?: { passport?: { user?: string }; login?: { createdAt?: number } };
  user?: { id: string; username: string };
}

export interface ScreenDeps {
  sessionMiddleware: RequestHandler;
  /** Passport's initialize + session middlewares: loads req.user at the handshake. */
  passportMiddlewares: readonly RequestHandler[];
  allowedOrigins: () => ReadonlySet<string>;
  /** engine.io sid -> express session id of the request that opened it. */
  bindings: ReadonlyMap<string, string>;
  logger: Logger;
  onRefused?: (status: number) => void;
}

type Verdict = { status: 0 } | { status: 401 | 403 | 503; reason: string };

const MIDDLEWARE_DEADLINE_MS = 4000;

function run(mw: RequestHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("session lookup timed out")),
      MIDDLEWARE_DEADLINE_MS,
    );
    // Express middlewares are typed for Express's request; on the raw request they use only
    // the Node parts (headers, url, the response's writeHead/end hooks).
    (mw as unknown as (q: IncomingMessage, s: ServerResponse, n: (e?: unknown) => void) => void)(
      req,
      res,
      (err?: unknown) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      },
    );
  });
}

function engineSid(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const q = url.indexOf("?");
  if (q < 0) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get("sid") ?? undefined;
}

export async function screen(
  d: ScreenDeps,
  req: ScreenedRequest,
  res: ServerResponse,
): Promise<Verdict> {
  const origin = req.headers.origin;
  if (origin !== undefined && !d.allowedOrigins().has(origin)) {
    return { status: 403, reason: "origin" };
  }
  if (req.headers["sec-fetch-site"] === "cross-site") return { status: 403, reason: "cross-site" };
  try {
    await run(d.sessionMiddleware, req, res);
  } catch {
    return { status: 503, reason: "session store unavailable" };
  }
  const loggedIn = typeof req.session?.passport?.user === "string" && req.session.login;
  const sid = engineSid(req.url);
  if (sid !== undefined) {
    const bound = d.bindings.get(sid);
    // An unknown engine sid is engine.io's to refuse (400); a known one must match.
    if (bound !== undefined && (bound !== req.sessionID || !loggedIn)) {
      return { status: 403, reason: "session mismatch" };
    }
    return { status: 0 };
  }
  if (!loggedIn) return { status: 401, reason: "not logged in" };
  try {
    for (const mw of d.passportMiddlewares) await run(mw, req, res);
  } catch {
    return { status: 503, reason: "user store unavailable" };
  }
  if (!req.user) return { status: 401, reason: "unknown user" };
  return { status: 0 };
}

function refuse(res: ServerResponse, status: number): void {
  const body = status === 401 ? "unauthorized" : status === 403 ? "forbidden" : "unavailable";
  res.writeHead(status, { "content-type": "text/plain", "cache-control": "no-store" });
  res.end(body);
}

/** The `io.engine.use` middleware for polling requests. */
export function engineMiddleware(d: ScreenDeps) {
  return (req: ScreenedRequest, res: ServerResponse, next: (err?: Error) => void) => {
    if (req.parleyScreened) return next(); // an upgrade already screened in front of engine.io
    screen(d, req, res).then(
      (v) => {
        if (v.status === 0) return next();
        d.onRefused?.(v.status);
        d.logger.warn(
          { event: "handshake_refused", status: v.status, reason: v.reason, transport: "polling" },
          "engine.io request refused",
        );
        refuse(res, v.status);
      },
      () => refuse(res, 503),
    );
  };
}

const STATUS_TEXT: Record<number, string> = {
  401: "Unauthorized",
  403: "Forbidden",
  503: "Service Unavailable",
};

/** Wraps engine.io's `upgrade` listeners so refused upgrades get a real HTTP status line. */
export function screenUpgrades(
  server: import("node:http").Server,
  d: ScreenDeps,
  isEngineRequest: (req: IncomingMessage) => boolean,
): void {
  const engineListeners = server.listeners("upgrade") as ((
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ) => void)[];
  server.removeAllListeners("upgrade");
  server.on("upgrade", (req: ScreenedRequest, socket: Duplex, head: Buffer) => {
    if (!isEngineRequest(req)) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    socket.on("error", () => socket.destroy());
    // A throwaway response: express-session may set headers on it; nothing is sent from it.
    const res = new ServerResponse(req);
    screen(d, req, res).then(
      (v) => {
        if (v.status === 0) {
          req.parleyScreened = true;
          for (const l of engineListeners) l.call(server, req, socket, head);
          return;
        }
        d.onRefused?.(v.status);
        d.logger.warn(
          {
            event: "handshake_refused",
            status: v.status,
            reason: v.reason,
            transport: "websocket",
          },
          "websocket upgrade refused",
        );
        const body = STATUS_TEXT[v.status] ?? "Refused";
        socket.end(
          `HTTP/1.1 ${v.status} ${body}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      },
      () => socket.destroy(),
    );
  });
}
