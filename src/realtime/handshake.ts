// Screening of every engine.io HTTP request and WebSocket upgrade, before engine.io allocates
// or acts on anything for it. In order:
// 1. In front of engine.io (its `request` and `upgrade` listeners are wrapped): the query is
//    parsed once, as engine.io parses it (engine-query.ts), and anything ambiguous is refused
//    with 400 (repeated parameters, a fragment, JSONP, an unknown transport, websocket
//    without an upgrade). The parsed object becomes engine.io's own `req._query`.
// 2. Cross-site requests are refused with 403: a foreign Origin, `Sec-Fetch-Site: cross-site`,
//    or no Origin with a `Sec-Fetch-Site` other than same-origin/none (a script tag on a
//    sibling site). WebSocket upgrades are not subject to CORS.
// 3. The session (read-only: transport traffic is never activity) decides:
//    - no `sid` (a handshake): a logged-in session whose credentials are current, else 401;
//    - a `sid`: the request must carry the session that opened that connection, else 403.
//      When that session has just ended, its polling requests still pass (the signed cookie
//      proves they come from the connection's own client): every event they carry is refused
//      by the per-event check, and the `session:revoked` notice and the close queued for the
//      connection can still be fetched, so the notice reaches polling clients too. So a
//      polling request of a live connection is decided on its cookie's session id alone,
//      without reading Redis: while Redis hangs the connection stays, and its events are
//      answered `unavailable` by their own checks. An upgrade reads the session.
// Upgrades are decided in front of engine.io, because engine middleware cannot answer an
// upgrade with a real HTTP status line; polling requests are decided in `io.engine.use`.
// Inside engine.io's middleware every request is re-checked against engine.io's `_query`
// (defence in depth): a query the front screen did not produce is refused.
// 4. Joining the namespace re-checks the login in Redis (installHandshake's `io.use`), and
//    keeps on the socket only what the events need of it (SocketData in contract/events.ts):
//    the session id, the user's id and name; the socket's own moves and joins are added later.
// installHandshake also knows, for this process, which session opened each engine.io
// connection (its bindings: the sessionID of the request engine.io keeps for it, read from
// engine.io's own table of connections): step 3 compares against them, and ending a session
// closes its connections, including those that never joined the namespace.
import type http from "node:http";
import { type IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { parse as parseCookies } from "cookie";
import type { RequestHandler } from "express";
import type { UserLookup } from "../auth/passport.js";
import type { SessionFields } from "../domain/login.js";
import type { Logger } from "../logger.js";
import { REDIS_MAX_WAIT_MS } from "../redis/watchdog.js";
import type { EventBudgets } from "./budgets.js";
import { type EngineQuery, isEngineRequest, parseEngineQuery } from "./engine-query.js";
import type { CheckResult, SessionGuard } from "./guard.js";
import type { ParleyIo } from "./socket.js";

/** What the screen leaves on the request for engine.io and the namespace middleware. */
export interface ScreenedRequest extends IncomingMessage {
  /** engine.io's parsed query: set by the front screen, kept by engine.io's prepare(). */
  _query?: EngineQuery;
  /** An upgrade decided in front of engine.io, with the sid it was decided for. */
  parleyUpgrade?: { sid: string | undefined };
  sessionID?: string;
  session?: SessionFields & { ended?: true };
  user?: { id: string; username: string };
  /** express-session's parsed URL (parseurl's cache). */
  _parsedUrl?: unknown;
}

/** What the screen needs to know of an engine.io connection. */
export interface EngineConnection {
  transport: string;
  upgrading: boolean;
  upgraded: boolean;
}

/** The connect budgets the screen applies to handshakes (budgets.ts). */
export interface ConnectLimits {
  /** Takes one handshake from the client address of `req`; false when over budget. */
  address(req: IncomingMessage): boolean;
  /** Takes one new connection of `userId`; false when over budget. */
  user(userId: string): boolean;
  /** Whether the login `sid` and its user may open one more connection on this process. */
  live(sid: string, userId: string): boolean;
}

export interface ScreenDeps {
  /** express-session over the read-only engine store. */
  sessionMiddleware: RequestHandler;
  /** express-session with a store that reads nothing: the cookie's session id alone. */
  sessionIdMiddleware: RequestHandler;
  /** The user a login names (cached id -> name): no Passport round trip at the handshake. */
  userById: UserLookup;
  /** The per-event check (session and credentials generation in one read). */
  checkLogin: (sid: string, userId: string) => Promise<CheckResult>;
  allowedOrigins: () => ReadonlySet<string>;
  /** engine.io sid -> express session id of the request that opened it. */
  bindings: { get(engineId: string): string | undefined };
  /** engine.io's live connection of that sid, if any. */
  connection: (sid: string) => EngineConnection | undefined;
  /** Budgets for opening connections. */
  connects: ConnectLimits;
  /** The session cookie's name (a handshake without it costs no read). */
  cookieName: string;
  logger: Logger;
  onRefused: (status: number) => void;
}

type Status = 400 | 401 | 403 | 429 | 503;
type Verdict = { status: 0 } | { status: Status; reason: string };

const OK: Verdict = { status: 0 };
/** How long a connection refused at the namespace stays open for its refusal to be read. */
const REFUSED_CLOSE_MS = 2000;
const MIDDLEWARE_DEADLINE_MS = REDIS_MAX_WAIT_MS + 250;

/** Query objects produced by the front screen: engine.io must act on one of these. */
const screenedQueries = new WeakSet<object>();

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

/** Step 1 and 2: no I/O. Leaves engine.io's `_query` on the request when it passes. */
export function screenFront(d: ScreenDeps, req: ScreenedRequest, upgrade: boolean): Verdict {
  const parsed = parseEngineQuery(req.url ?? "", upgrade);
  if (!parsed.ok) return { status: 400, reason: parsed.reason };
  const origin = req.headers.origin;
  const site = req.headers["sec-fetch-site"];
  if (origin !== undefined && !d.allowedOrigins().has(origin)) {
    return { status: 403, reason: "origin" };
  }
  if (site === "cross-site") return { status: 403, reason: "cross-site" };
  if (origin === undefined && site !== undefined && site !== "same-origin" && site !== "none") {
    return { status: 403, reason: "sec-fetch-site" };
  }
  screenedQueries.add(parsed.query);
  req._query = parsed.query;
  return OK;
}

/** Step 3: the session decides, on the `_query` engine.io will act on. */
export async function screenSession(
  d: ScreenDeps,
  req: ScreenedRequest,
  res: ServerResponse,
  upgrade: boolean,
): Promise<Verdict> {
  const query = req._query;
  if (!query || !screenedQueries.has(query)) return { status: 400, reason: "unscreened query" };
  if (!upgrade && query.sid !== undefined) {
    // A polling request of a live connection: decided on the cookie's session id alone (it
    // must be the one that opened the connection), with no Redis read, as an ended session's
    // is (below). Every event it carries is checked in Redis by the per-event check.
    const bound = d.bindings.get(query.sid);
    if (bound !== undefined) {
      try {
        await run(d.sessionIdMiddleware, req, res);
      } catch {
        return { status: 503, reason: "session store unavailable" };
      }
      return bound === req.sessionID ? OK : { status: 403, reason: "session mismatch" };
    }
  }
  const sid = query.sid;
  // Every request that reaches here reads its session, if it names one: counted per client
  // address before that read (one without the cookie reads nothing, and is refused below).
  // The cookie is looked for as express-session parses it (the same `cookie` package).
  if (hasCookie(req, d.cookieName) && !d.connects.address(req)) {
    return { status: 429, reason: "address over its connect budget" };
  }
  try {
    await run(d.sessionMiddleware, req, res);
  } catch {
    return { status: 503, reason: "session store unavailable" };
  }
  const session = req.session;
  const loggedIn = typeof session?.passport?.user === "string" && session.login !== undefined;
  if (sid !== undefined) {
    const bound = d.bindings.get(sid);
    if (bound === undefined) {
      return loggedIn
        ? { status: 400, reason: "unknown sid" }
        : { status: 401, reason: "no login" };
    }
    if (bound !== req.sessionID) return { status: 403, reason: "session mismatch" };
    if (!loggedIn) {
      return upgrade ? { status: 403, reason: "session ended" } : OK;
    }
    if (upgrade) {
      // Only a polling connection is ever upgraded, once: a websocket-to-websocket
      // "upgrade" would swap the transport of a live connection.
      const conn = d.connection(sid);
      if (conn?.transport !== "polling" || conn.upgrading || conn.upgraded) {
        return { status: 400, reason: "not upgradable" };
      }
    }
    return OK;
  }
  if (!loggedIn || !req.sessionID) return { status: 401, reason: "not logged in" };
  // A flat copy: the id is a slice of the signed cookie value, which the guard's cache and
  // the connection (engine.io keeps this request) would otherwise keep alive.
  req.sessionID = ownCopy(req.sessionID);
  // The session names its user: the user's name is looked up (cached), with no Passport
  // middleware, and then, last, the login is checked (session and credentials generation in
  // one read), so nothing waits between that check and engine.io opening the connection.
  const userId = session.passport?.user as string;
  if (!d.connects.live(req.sessionID, userId)) {
    return { status: 429, reason: "login or user holds its most connections" };
  }
  if (!d.connects.user(userId)) return { status: 429, reason: "user over its connect budget" };
  let user: { id: string; username: string } | undefined;
  try {
    user = await d.userById(userId);
  } catch {
    return { status: 503, reason: "user store unavailable" };
  }
  if (!user) return { status: 401, reason: "unknown user" };
  const check = await d.checkLogin(req.sessionID, userId);
  if (check === "unavailable") return { status: 503, reason: "session store unavailable" };
  if (check !== "ok") return { status: 401, reason: "login no longer valid" };
  req.user = user;
  return OK;
}

const STATUS_TEXT: Record<Status, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  429: "Too Many Requests",
  503: "Service Unavailable",
};

/** Whether the request carries a cookie of that name, as express-session would find it. */
function hasCookie(req: IncomingMessage, name: string): boolean {
  const header = req.headers.cookie;
  return typeof header === "string" && parseCookies(header)[name] !== undefined;
}

function refused(d: ScreenDeps, v: Exclude<Verdict, { status: 0 }>, transport: string): void {
  d.onRefused(v.status);
  // A handshake without a login is ordinary (a page left open after logging out), costs
  // nothing and comes in floods: counted in the metrics, logged only at debug.
  const log = v.status === 401 ? d.logger.debug.bind(d.logger) : d.logger.warn.bind(d.logger);
  log(
    { event: "handshake_refused", status: v.status, reason: v.reason, transport },
    "engine.io request refused",
  );
}

function refuseHttp(res: ServerResponse, status: Status): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    "content-type": "text/plain",
    "cache-control": "no-store",
    connection: "close",
    ...(status === 503 || status === 429 ? { "retry-after": status === 429 ? "10" : "5" } : {}),
  });
  res.end(STATUS_TEXT[status].toLowerCase());
}

function refuseUpgrade(socket: Duplex, status: Status): void {
  const body = STATUS_TEXT[status];
  const retry = status === 429 ? "Retry-After: 10\r\n" : "";
  socket.end(
    `HTTP/1.1 ${status} ${body}\r\nConnection: close\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n${retry}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The `io.engine.use` middleware: decides polling requests; re-checks screened upgrades. */
export function engineMiddleware(d: ScreenDeps) {
  return (req: ScreenedRequest, res: ServerResponse, next: (err?: Error) => void) => {
    const query = req._query;
    if (!query || !screenedQueries.has(query)) {
      refused(d, { status: 400, reason: "unscreened query" }, "engine");
      return next(new Error("unscreened query"));
    }
    if (req.parleyUpgrade) {
      // Decided in front of engine.io, on this very query object.
      if (req.parleyUpgrade.sid !== query.sid) return next(new Error("query changed"));
      return next();
    }
    screenSession(d, req, res, false).then(
      (v) => {
        if (v.status === 0) return next();
        refused(d, v, "polling");
        refuseHttp(res, v.status);
      },
      () => refuseHttp(res, 503),
    );
  };
}

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * An upgrade socket's error listener. Not a closure: one made inside the upgrade listener
 * would keep that call's whole scope (the upgrade's head bytes, the throwaway response)
 * alive for as long as the connection lasts.
 */
function destroyOnError(this: Duplex): void {
  this.destroy();
}
type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Puts the front screen before engine.io's own `request` and `upgrade` listeners (Socket.IO
 * attached them to `server` when it was created), and decides upgrades there.
 */
export function screenEngineTraffic(server: http.Server, d: ScreenDeps): void {
  const requestListeners = server.listeners("request") as RequestListener[];
  server.removeAllListeners("request");
  server.on("request", (req: ScreenedRequest, res: ServerResponse) => {
    if (isEngineRequest(req.url)) {
      const v = screenFront(d, req, false);
      if (v.status !== 0) {
        refused(d, v, "polling");
        refuseHttp(res, v.status);
        return;
      }
    }
    for (const l of requestListeners) l.call(server, req, res);
  });

  const upgradeListeners = server.listeners("upgrade") as UpgradeListener[];
  server.removeAllListeners("upgrade");
  server.on("upgrade", (req: ScreenedRequest, socket: Duplex, head: Buffer) => {
    socket.on("error", destroyOnError);
    if (!isEngineRequest(req.url)) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const front = screenFront(d, req, true);
    if (front.status !== 0) {
      refused(d, front, "websocket");
      refuseUpgrade(socket, front.status);
      return;
    }
    // A throwaway response: express-session may set headers on it; nothing is sent from it.
    const res = new ServerResponse(req);
    screenSession(d, req, res, true).then(
      (v) => {
        if (socket.destroyed) return;
        if (v.status !== 0) {
          refused(d, v, "websocket");
          refuseUpgrade(socket, v.status);
          return;
        }
        req.parleyUpgrade = { sid: req._query?.sid };
        for (const l of upgradeListeners) l.call(server, req, socket, head);
      },
      () => socket.destroy(),
    );
  });
}

/** The parts of an engine.io connection parley looks at. */
interface EngineSocket {
  id: string;
  request: ScreenedRequest;
  transport: { name: string };
  upgrading: boolean;
  upgraded: boolean;
  once(event: "close", listener: (this: EngineSocket) => void): void;
  close(): void;
}

/** A flat copy of a string (not a slice that keeps the string it was cut from alive). */
function ownCopy(s: string): string {
  return Buffer.from(s, "utf8").toString("utf8");
}

export interface HandshakeDeps {
  /** express-session over the read-only engine store (transport traffic is not activity). */
  sessionMiddleware: RequestHandler;
  /** express-session reading nothing (a live polling connection's requests). */
  sessionIdMiddleware: RequestHandler;
  /** The session cookie's name. */
  cookieName: string;
  userById: UserLookup;
  guard: SessionGuard;
  /** The connect budgets (per user, per address) and the per-login connection cap. */
  budgets: EventBudgets;
  /** The client address of a request, as the pages see it (TRUST_PROXY's hops). */
  addressOf: (req: IncomingMessage) => string;
  allowedOrigins: () => ReadonlySet<string>;
  logger: Logger;
  onRefused: (status: number) => void;
}

/** This process's engine.io connections and the session that opened each. */
export interface EngineConnections {
  /** The sessions that opened a live connection (in the namespace or not). */
  sessions(): IterableIterator<string>;
  /** Closes the connections opened by these sessions. */
  closeSessions(sids: ReadonlySet<string>): void;
  /**
   * Closes every connection of this process, each once it has written what it queued;
   * resolves when all have closed, or after `timeoutMs`.
   */
  closeAll(timeoutMs: number): Promise<void>;
}

/** Screens every engine.io request and namespace connection of `io` (steps 1 to 4). */
export function installHandshake(
  io: ParleyIo,
  server: http.Server,
  d: HandshakeDeps,
): EngineConnections {
  // engine.io's own table of its live connections (sid -> connection; an entry goes when the
  // connection closes), read rather than mirrored: a mirror and its close listener would cost
  // every connection memory for its whole life. The session that opened a connection is its
  // request's sessionID.
  const clients = (io.engine as unknown as { clients: Record<string, EngineSocket> }).clients;
  const connections = {
    get: (id: string): EngineSocket | undefined =>
      Object.hasOwn(clients, id) ? clients[id] : undefined,
    values: () => Object.values(clients),
  };
  const bindings = { get: (id: string) => connections.get(id)?.request.sessionID };

  // Live connections per login and per user on this process, counted as engine.io opens and
  // closes them. The screen refuses a handshake past a cap (429); one that raced past it
  // (parallel handshakes) is refused when it joins the namespace.
  const perLogin = new Map<string, number>();
  const perUser = new Map<string, number>();
  const owners = new WeakMap<object, string>();
  const less = (counts: Map<string, number>, key: string) => {
    const n = (counts.get(key) ?? 1) - 1;
    if (n <= 0) counts.delete(key);
    else counts.set(key, n);
  };
  const more = (counts: Map<string, number>, key: string) => {
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    return n;
  };
  function onEngineClose(this: EngineSocket): void {
    const sid = this.request.sessionID;
    if (sid !== undefined) less(perLogin, sid);
    const userId = owners.get(this);
    if (userId !== undefined) less(perUser, userId);
  }
  const overCap = new WeakSet<object>();
  io.engine.on("connection", (conn: EngineSocket) => {
    const sid = conn.request.sessionID;
    if (sid === undefined) return;
    const userId = conn.request.user?.id;
    const byLogin = more(perLogin, sid);
    const byUser = userId === undefined ? 0 : more(perUser, userId);
    if (userId !== undefined) owners.set(conn, userId);
    conn.once("close", onEngineClose);
    if (byLogin > d.budgets.connectionsPerLogin || byUser > d.budgets.connectionsPerUser) {
      overCap.add(conn);
    }
  });

  const screenDeps: ScreenDeps = {
    sessionMiddleware: d.sessionMiddleware,
    sessionIdMiddleware: d.sessionIdMiddleware,
    cookieName: d.cookieName,
    connects: {
      address: (req) => d.budgets.take("connectAddress", d.addressOf(req)),
      user: (userId) => d.budgets.take("connect", userId),
      live: (sid, userId) =>
        (perLogin.get(sid) ?? 0) < d.budgets.connectionsPerLogin &&
        (perUser.get(userId) ?? 0) < d.budgets.connectionsPerUser,
    },
    userById: d.userById,
    checkLogin: (sid, userId) => d.guard.checkAsync(sid, userId),
    allowedOrigins: d.allowedOrigins,
    bindings,
    connection: (sid) => {
      const c = connections.get(sid);
      return c && { transport: c.transport.name, upgrading: c.upgrading, upgraded: c.upgraded };
    },
    logger: d.logger,
    onRefused: d.onRefused,
  };
  io.engine.use(engineMiddleware(screenDeps));
  screenEngineTraffic(server, screenDeps);

  // Step 4: connecting to the namespace re-checks the login in Redis.
  io.use((socket, next) => {
    const req = socket.request as ScreenedRequest;
    const sid = req.sessionID;
    const user = req.user;
    // Keep only ids: the session object of the first request is not held for the socket's life
    // (engine.io keeps the request), nor the URL express-session parsed.
    req.session = undefined;
    req.user = undefined;
    req._parsedUrl = undefined;
    if (!sid || !user) return next(new Error("unauthorized"));
    // Handshakes that passed the screen at once, past the login's cap: refused (the client
    // is told `rate_limited`), and the connection closed soon after (time for a polling
    // client to fetch the refusal), not held until Socket.IO's own connect timeout.
    if (overCap.has(socket.conn)) {
      d.onRefused(429);
      next(new Error("rate_limited"));
      const conn = socket.conn;
      setTimeout(() => conn.close(), REFUSED_CLOSE_MS).unref();
      return;
    }
    d.guard.checkAsync(sid, user.id).then((verdict) => {
      if (verdict !== "ok") {
        return next(new Error(verdict === "unavailable" ? "unavailable" : "unauthorized"));
      }
      socket.data = { sid, userId: user.id, username: user.username };
      next();
    });
  });

  return {
    sessions: function* () {
      for (const c of connections.values()) if (c.request.sessionID) yield c.request.sessionID;
    },
    closeSessions: (sids) => {
      // At once, not a tick later: a namespace connect already admitted by its check (it
      // completes on the next tick) must find its connection closed, not be let in after the
      // session's notice went out.
      for (const id in clients) {
        const c = clients[id] as EngineSocket;
        if (c.request.sessionID !== undefined && sids.has(c.request.sessionID)) c.close();
      }
    },
    closeAll: async (timeoutMs) => {
      // The connections open now: one opened while these close is closed by engine.io after.
      const open = connections.values();
      if (open.length > 0) {
        let left = open.length;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          timer.unref();
          for (const c of open) {
            c.once("close", () => {
              if (--left === 0) {
                clearTimeout(timer);
                resolve();
              }
            });
            c.close();
          }
        });
      }
      // A long-polling connection asked to close while its client was not polling (one told
      // its session ended, whose page stopped polling) waits for a poll that will not come:
      // engine.io holds it, with a 30 s timer that keeps the process alive, and its own close
      // returns early for a connection already closing. Finish those now, as that poll would
      // (the transport's pending orderly close), so shutdown leaves nothing behind.
      for (const id in clients) {
        const transport = (clients[id] as EngineSocket).transport as { shouldClose?: () => void };
        if (typeof transport.shouldClose === "function") transport.shouldClose();
      }
    },
  };
}
