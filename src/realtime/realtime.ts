// The Socket.IO server, wired. A socket event's life, stage by stage (each stage is a file):
//
//   1. upgrade screen     handshake.ts   every engine.io request and WebSocket upgrade, before
//                                        engine.io acts on it: its query (engine-query.ts),
//                                        Origin, then the session of its cookie
//   2. engine middleware  handshake.ts   `io.engine.use`: the shared express-session, read-only
//   3. namespace check    handshake.ts   `io.use`: the login re-checked in Redis
//   4. per-event reads    guard.ts       session, credentials generation and room standing,
//                                        in one batched MGET read after the event arrived
//   5. limits             budgets.ts     the event's budget (its class is policy.ts's table)
//   6. schema             schemas.ts     the payload parsed into a typed value
//   7. access             room-policy.ts the standing read in stage 4, by policy.ts's rule
//   8. handler            handlers/      the event's work, by family
//   9. reply              dispatch.ts    the ack, in the socket's arrival order (dispatch.ts
//                                        runs stages 4 to 9)
//
// Around it: the Redis adapter (adapter.ts), a socket's life in the namespace and presence
// (connection.ts), sessions that end while sockets are open and the periodic sweep
// (ended-sessions.ts), and the shutdown drain (drain.ts).
import type http from "node:http";
import type { RequestHandler } from "express";
import proxyaddr from "proxy-addr";
import { RateLimiterRedis } from "rate-limiter-flexible";
import { Server } from "socket.io";
import type { ArchiveStore } from "../archive/store.js";
import type { UserLookup } from "../auth/passport.js";
import type { Revocation } from "../auth/revocation.js";
import type {
  ClientToServerEvents,
  InterServerEvents,
  ServerToClientEvents,
  SocketData,
} from "../contract/events.js";
import { userRoom } from "../contract/events.js";
import { budgetAddress } from "../domain/address.js";
import { MAX_PACKET_BYTES } from "../domain/limits.js";
import type { Files } from "../files/files.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { Redis } from "../redis/client.js";
import type { AccountStore } from "../stores/accounts.js";
import { keys } from "../stores/keys.js";
import type { MessageStore } from "../stores/messages.js";
import { RoomStore } from "../stores/rooms.js";
import { attachAdapter } from "./adapter.js";
import { EventBudgets, MESSAGE_SEND_BUDGET } from "./budgets.js";
import { handleConnections } from "./connection.js";
import type { DispatchDeps } from "./dispatch.js";
import { Drain } from "./drain.js";
import { watchEndedSessions } from "./ended-sessions.js";
import { SessionGuard } from "./guard.js";
import { createHandlers } from "./handlers/index.js";
import { installHandshake } from "./handshake.js";
import { answerPresenceQueries, Presence } from "./presence.js";
import type { ParleyIo } from "./socket.js";

export const MESSAGE_SENDS_PER_10S = MESSAGE_SEND_BUDGET.points;
/** How long shutdown waits for running events to answer. */
const DRAIN_TIMEOUT_MS = 5000;
/** How long shutdown waits for connections to write their last packets and close. */
const CLOSE_TIMEOUT_MS = 2000;

export interface RealtimeDeps {
  httpServer: http.Server;
  redis: Redis;
  users: AccountStore;
  messages: MessageStore;
  archive: ArchiveStore;
  files: Files;
  revocation: Revocation;
  /** express-session over the read-only engine store (transport traffic is not activity). */
  sessionMiddleware: RequestHandler;
  /** express-session reading nothing: a live polling connection's requests need no read. */
  sessionIdMiddleware: RequestHandler;
  /** The session cookie's name. */
  cookieName: string;
  /** How many proxy hops to trust for the client address (TRUST_PROXY), as the pages do. */
  trustProxy: number | false;
  /** The user a login names (cached): the handshake's user, without Passport. */
  userById: UserLookup;
  allowedOrigins: () => ReadonlySet<string>;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
  idleSeconds: number;
  absoluteSeconds: number;
  /** How often idle sockets' sessions are re-checked (expiry is noticed within 5 s). */
  sweepIntervalMs: number;
  /** Multiplies every event budget (benchmarks only; 1 otherwise). */
  budgetScale: number;
}

export interface Realtime {
  io: ParleyIo;
  guard: SessionGuard;
  /** Tells sockets the server is going away, then closes them and the adapter's clients. */
  close(): Promise<void>;
}

export async function createRealtime(d: RealtimeDeps): Promise<Realtime> {
  const io: ParleyIo = new Server<
    ClientToServerEvents,
    ServerToClientEvents,
    InterServerEvents,
    SocketData
  >(d.httpServer, {
    path: "/socket.io/",
    transports: ["polling", "websocket"],
    serveClient: false,
    maxHttpBufferSize: MAX_PACKET_BYTES,
    allowEIO3: false,
  });
  const closeAdapter = await attachAdapter(io, d.redis, d.logger);

  const guard = new SessionGuard(d.redis, {
    idleSeconds: d.idleSeconds,
    absoluteSeconds: d.absoluteSeconds,
    now: d.now,
    onRoundTrip: (checks) => {
      d.metrics.guardRoundTrips.inc();
      d.metrics.guardChecks.inc(checks);
    },
    onCallbackError: (err) =>
      d.logger.error(
        { event: "guard_callback_failed", err: err instanceof Error ? err.message : String(err) },
        "a session check's callback threw",
      ),
  });

  const budgets = new EventBudgets(d.now, d.budgetScale);
  const hops = d.trustProxy === false ? 0 : d.trustProxy;

  // Stages 1 to 3.
  const engine = installHandshake(io, d.httpServer, {
    sessionMiddleware: d.sessionMiddleware,
    sessionIdMiddleware: d.sessionIdMiddleware,
    cookieName: d.cookieName,
    userById: d.userById,
    guard,
    budgets,
    // The address Express gives the pages (proxy-addr with the same number of trusted hops).
    addressOf: (req) => budgetAddress(proxyaddr(req, (_addr, i) => i < hops)),
    allowedOrigins: d.allowedOrigins,
    logger: d.logger,
    onRefused: (status) => d.metrics.handshakesRefused.inc({ status: String(status) }),
  });

  const rooms = new RoomStore(d.redis);
  const ended = watchEndedSessions({
    io,
    redis: d.redis,
    revocation: d.revocation,
    engine,
    budgets,
    guard,
    logger: d.logger,
    metrics: d.metrics,
    sweepIntervalMs: d.sweepIntervalMs,
  });
  const presence = new Presence(io);
  // A user's sockets leaving a room on the other processes (see handlers' leaveEverywhere).
  io.on("rooms:left", (userId, room) => {
    // Told here too: this process's sockets of the user leave only now, so the process that
    // announced the leave may have still seen them in the room.
    const theirs = io.of("/").adapter.rooms.get(userRoom(userId));
    const one = theirs && io.of("/").sockets.get([...theirs][0] ?? "");
    io.local.in(userRoom(userId)).socketsLeave(room);
    if (one) presence.changed(room, { id: userId, username: one.data.username });
  });
  // Who is in a room on this process, for the other processes' presence (presence.ts).
  answerPresenceQueries(io);

  // Stages 4 to 9.
  const drain = new Drain();
  const dispatchDeps: DispatchDeps = {
    guard,
    handlers: createHandlers({
      io,
      users: d.users,
      messages: d.messages,
      archive: d.archive,
      files: d.files,
      metrics: d.metrics,
      rooms,
      guard,
      presence,
      now: d.now,
    }),
    sendLimiter: new RateLimiterRedis({
      storeClient: d.redis,
      useRedisPackage: true,
      rejectIfRedisNotReady: true,
      keyPrefix: keys.messageSendsByUser,
      points: MESSAGE_SEND_BUDGET.points * d.budgetScale,
      duration: MESSAGE_SEND_BUDGET.seconds,
    }),
    budgets,
    endSession: (socket, refusal) => ended.endSession(socket.data.sid, socket.data.userId, refusal),
    isEnding: ended.isEnding,
    logger: d.logger,
    drain,
    observe: d.metrics.observeEvent,
  };
  handleConnections({
    io,
    rooms,
    guard,
    presence,
    dispatch: dispatchDeps,
    metrics: d.metrics,
    logger: d.logger,
  });

  // Shutdown: tell every socket, refuse new events, let the ones already running answer
  // (their acks are written before the connections close), then close the connections.
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      ended.stop();
      io.local.emit("server:shutdown", {});
      await drain.stop(DRAIN_TIMEOUT_MS);
      // Each connection closes once it has written what it queued (the last acks); engine.io's
      // own close would discard that, so it only comes after (for any connection left).
      io.local.disconnectSockets(true);
      await engine.closeAll(CLOSE_TIMEOUT_MS);
      io.engine.close();
      await closeAdapter();
    })();
    return closing;
  };
  return { io, guard, close };
}
