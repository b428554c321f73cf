// The Socket.IO server: cookie-authenticated handshakes, a session check before every event,
// revocation that reaches sockets on every process, and a sweep for sessions that expired
// while their sockets sat idle.
import type http from "node:http";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import type { RequestHandler } from "express";
import { RateLimiterRedis } from "rate-limiter-flexible";
import { Server } from "socket.io";
import type { Revocation } from "../auth/revocation.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { closeRedis, connectWithin, duplicateRedis, isCluster, type Redis } from "../redis.js";
import { keys } from "../stores/keys.js";
import type { MessageStore } from "../stores/messages.js";
import { isRole, RoomStore } from "../stores/rooms.js";
import { mGetAcrossSlots } from "../stores/slots.js";
import type { UserStore } from "../stores/users.js";
import { steadyPublisher, steadySubscriber } from "./adapter-clients.js";
import { EventBudgets, MAX_ROOMS_PER_SOCKET, MESSAGE_SEND_BUDGET } from "./budgets.js";
import { type DispatchDeps, dispatch } from "./dispatch.js";
import {
  type ClientToServerEvents,
  type InterServerEvents,
  type RevokedReason,
  type ServerToClientEvents,
  type SocketData,
  sessionRoom,
  userRoom,
} from "./events.js";
import { type Refusal, SessionGuard } from "./guard.js";
import {
  announcePresence,
  createHandlers,
  noteJoined,
  type ParleyIo,
  type ParleySocket,
} from "./handlers.js";
import {
  type EngineConnection,
  engineMiddleware,
  type ScreenedRequest,
  screenEngineTraffic,
} from "./handshake.js";
import { roomOf } from "./room-policy.js";

export const MAX_PACKET_BYTES = 16 * 1024;
export const MESSAGE_SENDS_PER_10S = MESSAGE_SEND_BUDGET.points;

export interface RealtimeDeps {
  httpServer: http.Server;
  redis: Redis;
  users: UserStore;
  messages: MessageStore;
  revocation: Revocation;
  /** express-session over the read-only engine store (transport traffic is not activity). */
  sessionMiddleware: RequestHandler;
  passportMiddlewares: readonly RequestHandler[];
  allowedOrigins: () => ReadonlySet<string>;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
  idleSeconds: number;
  absoluteSeconds: number;
  /** How often idle sockets' sessions are re-checked (SPEC: expiry noticed within 30 s). */
  sweepIntervalMs: number;
}

export interface Realtime {
  io: ParleyIo;
  guard: SessionGuard;
  /** Tells sockets the server is going away, then closes them and the adapter's clients. */
  close(): Promise<void>;
}

/** The parts of an engine.io connection parley looks at. */
interface EngineSocket {
  id: string;
  request: ScreenedRequest;
  transport: { name: string };
  upgrading: boolean;
  upgraded: boolean;
  once(event: "close", listener: () => void): void;
  close(): void;
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

  // Pub/sub adapter: lowest latency for revocations and broadcasts, nothing stored per
  // message; the streams adapter's replay is only useful with connection state recovery,
  // which parley leaves off so every reconnect re-runs the handshake checks.
  const pub = duplicateRedis(d.redis, d.logger, "adapter-pub");
  const sub = duplicateRedis(d.redis, d.logger, "adapter-sub");
  const connected = await Promise.allSettled([
    connectWithin(pub, "adapter-pub"),
    connectWithin(sub, "adapter-sub"),
  ]);
  const failed = connected.find((r) => r.status === "rejected");
  if (failed) {
    await Promise.all([closeRedis(pub), closeRedis(sub)]);
    throw failed.reason;
  }
  const [steadyPub, steadySub] = [steadyPublisher(pub, d.logger), steadySubscriber(sub, d.logger)];
  // On a cluster, sharded pub/sub (Redis 7): each room's channel lives on one shard, so
  // broadcast traffic spreads over the shards instead of reaching every node.
  io.adapter(
    isCluster(d.redis)
      ? createShardedAdapter(steadyPub, steadySub, { subscriptionMode: "dynamic" })
      : createAdapter(steadyPub, steadySub, { requestsTimeout: 2000 }),
  );

  const guard = new SessionGuard(d.redis, {
    idleSeconds: d.idleSeconds,
    absoluteSeconds: d.absoluteSeconds,
    now: d.now,
    onRoundTrip: (checks) => {
      d.metrics.guardRoundTrips.inc();
      d.metrics.guardChecks.inc(checks);
    },
  });

  // engine.io connections of this process and the session that opened each.
  const bindings = new Map<string, string>();
  const connections = new Map<string, EngineSocket>();
  const screenDeps = {
    sessionMiddleware: d.sessionMiddleware,
    passportMiddlewares: d.passportMiddlewares,
    checkLogin: (sid: string, userId: string) => guard.checkAsync(sid, userId),
    allowedOrigins: d.allowedOrigins,
    bindings,
    connection: (sid: string): EngineConnection | undefined => {
      const c = connections.get(sid);
      return c && { transport: c.transport.name, upgrading: c.upgrading, upgraded: c.upgraded };
    },
    logger: d.logger,
    onRefused: (status: number) => d.metrics.handshakesRefused.inc({ status: String(status) }),
  };
  io.engine.use(engineMiddleware(screenDeps));
  screenEngineTraffic(d.httpServer, screenDeps);
  io.engine.on("connection", (raw: EngineSocket) => {
    if (raw.request.sessionID) bindings.set(raw.id, raw.request.sessionID);
    connections.set(raw.id, raw);
    raw.once("close", () => {
      bindings.delete(raw.id);
      connections.delete(raw.id);
    });
  });

  const sendLimiter = new RateLimiterRedis({
    storeClient: d.redis,
    useRedisPackage: true,
    rejectIfRedisNotReady: true,
    keyPrefix: keys.messageSendsByUser,
    points: MESSAGE_SEND_BUDGET.points,
    duration: MESSAGE_SEND_BUDGET.seconds,
  });
  const budgets = new EventBudgets(d.now);
  const rooms = new RoomStore(d.redis);
  const handlers = createHandlers({
    io,
    users: d.users,
    messages: d.messages,
    rooms,
    guard,
    now: d.now,
  });

  // Connecting to the namespace re-checks the login in Redis.
  io.use((socket, next) => {
    const req = socket.request as ScreenedRequest;
    const sid = req.sessionID;
    const user = req.user;
    // Keep only ids: the session object of the first request is not held for the socket's life.
    req.session = undefined;
    req.user = undefined;
    if (!sid || !user) return next(new Error("unauthorized"));
    guard.checkAsync(sid, user.id).then((verdict) => {
      if (verdict !== "ok") {
        return next(new Error(verdict === "unavailable" ? "unavailable" : "unauthorized"));
      }
      socket.data = { sid, userId: user.id, username: user.username };
      next();
    });
  });

  // Labelled children looked up once per outcome, not once per event.
  const outcomeCounters = new Map<string, { inc(): void }>();
  const dispatchDeps: DispatchDeps = {
    guard,
    handlers,
    sendLimiter,
    budgets,
    endSession: (socket, refusal) => endSession(socket.data.sid, socket.data.userId, refusal),
    logger: d.logger,
    inFlight: 0,
    draining: false,
    observe: (outcome: string, guardSeconds: number) => {
      let counter = outcomeCounters.get(outcome);
      if (!counter) {
        counter = d.metrics.events.labels(outcome);
        outcomeCounters.set(outcome, counter);
      }
      counter.inc();
      d.metrics.guardSeconds.observe(guardSeconds);
    },
  };
  // On connect, a socket joins its user's rooms (so every device is in the same ones) and is
  // sent the list with unread counts. The standings are read again once it has joined: a
  // removal that ran in between made its sockets leave before this join, so it is undone here.
  const joinOwnRooms = async (socket: ParleySocket) => {
    const list = await rooms.list(socket.data.userId);
    if (!socket.connected) return;
    const joinable = list
      .filter((r) => r.role !== "invited")
      .slice(0, MAX_ROOMS_PER_SOCKET)
      .map((r) => r.room);
    const gone = new Set<string>();
    if (joinable.length > 0) {
      await socket.join(joinable);
      const at = Date.now();
      for (const room of joinable) noteJoined(socket, room, at);
      const still = await rooms.stillIn(socket.data.userId, joinable);
      for (const [i, room] of joinable.entries()) {
        if (still[i]) presenceSoon(room);
        else {
          gone.add(room);
          await socket.leave(room);
        }
      }
    }
    socket.emit("rooms", { rooms: list.filter((r) => !gone.has(r.room)) });
  };

  // Presence announced on connect, coalesced per room: a process restart that reconnects
  // many members of one room announces it once, not once per socket.
  const presencePending = new Set<string>();
  const presenceSoon = (room: string) => {
    if (presencePending.has(room)) return;
    presencePending.add(room);
    setTimeout(() => {
      presencePending.delete(room);
      void announcePresence(io, room).catch(() => undefined);
    }, 100).unref();
  };

  io.on("connection", (socket) => {
    d.metrics.connectedSockets.inc();
    socket.once("disconnect", () => d.metrics.connectedSockets.dec());
    void socket.join([sessionRoom(socket.data.sid), userRoom(socket.data.userId)]);
    socket.use((packet, _next) => dispatch(dispatchDeps, socket, packet));
    joinOwnRooms(socket).catch((err: unknown) => {
      d.logger.warn(
        { event: "rooms_join_failed", err: err instanceof Error ? err.message : String(err) },
        "could not join the user's rooms on connect",
      );
    });
    socket.on("disconnecting", () => {
      const rooms = [...socket.rooms].filter(
        (r) => !r.startsWith("session:") && !r.startsWith("user:") && r !== socket.id,
      );
      socket.once("disconnect", () => {
        for (const room of rooms) void announcePresence(io, room).catch(() => undefined);
        if (io.sockets.adapter.rooms.get(sessionRoom(socket.data.sid)) === undefined) {
          guard.forget(socket.data.sid);
        }
      });
    });
  });

  // Ends this process's sockets of these sessions: each is told why, then disconnected.
  const disconnectLocal = (sids: readonly string[], reason: RevokedReason) => {
    const rooms = sids.map(sessionRoom);
    if (rooms.length === 0) return;
    io.local.to(rooms).emit("session:revoked", { reason });
    io.local.in(rooms).disconnectSockets(true);
    // engine.io connections of these sessions that never joined the namespace close too (a
    // connection already closing above is left to finish delivering its notice).
    const ended = new Set(sids);
    for (const [id, sessionId] of bindings) {
      if (ended.has(sessionId)) connections.get(id)?.close();
    }
  };

  // A session the per-event check refused: find out why once, then end its sockets here.
  const endingSessions = new Set<string>();
  const endSession = (sid: string, userId: string, refusal: Refusal) => {
    if (endingSessions.has(sid)) return;
    endingSessions.add(sid);
    d.revocation
      .reasonFor(sid, userId, refusal)
      .catch((): RevokedReason => (refusal === "stale" ? "revoked" : "expired"))
      .then((reason) => {
        endingSessions.delete(sid);
        disconnectLocal([sid], reason);
      });
  };
  d.revocation.onRevoke((sids, reason) => {
    disconnectLocal(sids, reason);
    io.serverSideEmit("sessions:revoked", [...sids], reason);
  });
  io.on("sessions:revoked", (sids, reason) => disconnectLocal(sids, reason));
  // A user's sockets leaving a room on the other processes (see leaveEverywhere).
  io.on("rooms:left", (userId, room) => io.local.in(userRoom(userId)).socketsLeave(room));

  // A backstop for a leave that never reached this process (a publish lost while Redis was
  // away): every few sweeps, each local socket's rooms are checked against the standing in
  // Redis, one read per distinct user and room, and a room no longer theirs is left. (What a
  // socket sends is refused at once anyway: this is about what it would still receive.)
  const STANDING_EVERY_SWEEPS = 6;
  let sweepsSinceStanding = 0;
  const sweepStanding = async () => {
    // A socket that joins after this moment may be missing from the read: it is spared.
    const startedAt = Date.now();
    const pairs = new Map<string, [string, string]>();
    for (const s of io.of("/").sockets.values()) {
      for (const room of s.rooms) {
        if (roomOf({ room }) === undefined) continue;
        pairs.set(`${s.data.userId} ${room}`, [s.data.userId, room]);
      }
    }
    const list = [...pairs.values()];
    for (let i = 0; i < list.length; i += 1000) {
      const chunk = list.slice(i, i + 1000);
      const still = await mGetAcrossSlots(
        d.redis,
        chunk.map(([userId, room]) => keys.roomAccess(room, userId)),
        (names) => d.redis.mGet(names),
      );
      chunk.forEach(([userId, room], j) => {
        if (isRole(still[j])) return;
        // Only this user's sockets here (their user room), not every socket of the process.
        for (const sid of io.sockets.adapter.rooms.get(userRoom(userId)) ?? []) {
          const s = io.sockets.sockets.get(sid);
          if (!s?.rooms.has(room)) continue;
          if ((s.data.joinedAt?.get(room) ?? 0) >= startedAt) continue;
          void s.leave(room);
          s.emit("room:removed", { room, reason: "removed" });
        }
      });
    }
  };

  // Sessions that expired while their sockets were idle: one pipelined EXISTS per distinct
  // session every sweep, not a timer or round trip per socket.
  const sweep = async () => {
    const owners = new Map<string, string>();
    // Connections that never joined the namespace have a session too (owner unknown).
    for (const sessionId of bindings.values()) owners.set(sessionId, "");
    for (const s of io.of("/").sockets.values()) owners.set(s.data.sid, s.data.userId);
    budgets.prune();
    if (owners.size === 0) return;
    const list = [...owners.keys()];
    const cpu = process.cpuUsage();
    d.metrics.sweeps.inc();
    d.metrics.sweepSessions.inc(list.length);
    try {
      const exists = await Promise.all(list.map((sid) => d.redis.exists(keys.session(sid))));
      const gone = list.filter((_, i) => exists[i] === 0);
      if (gone.length > 0) {
        d.logger.info(
          { event: "sessions_expired", count: gone.length },
          "disconnecting ended sessions",
        );
        // Usually expired; a revoke whose broadcast was missed left a note saying so.
        for (const sid of gone) endSession(sid, owners.get(sid) as string, "gone");
      }
      if (++sweepsSinceStanding >= STANDING_EVERY_SWEEPS) {
        sweepsSinceStanding = 0;
        await sweepStanding();
      }
    } catch {
      // Redis down: events are refused by the guard anyway; try again next sweep.
    } finally {
      const used = process.cpuUsage(cpu);
      d.metrics.sweepCpuSeconds.inc((used.user + used.system) / 1e6);
    }
  };
  const sweepTimer = setInterval(() => void sweep(), d.sweepIntervalMs);
  sweepTimer.unref();

  // Shutdown: tell every socket, refuse new events, let the ones already running finish
  // (their acks are sent), then close the connections.
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      clearInterval(sweepTimer);
      dispatchDeps.draining = true;
      io.local.emit("server:shutdown", {});
      const until = Date.now() + 5000;
      while (dispatchDeps.inFlight > 0 && Date.now() < until) {
        await new Promise<void>((resolve) => setTimeout(resolve, 10));
      }
      await new Promise<void>((resolve) => setTimeout(resolve, 50)); // flush the last acks
      io.local.disconnectSockets(true);
      await new Promise<void>((resolve) => io.engine.close() && resolve());
      await Promise.all([closeRedis(pub), closeRedis(sub)]);
    })();
    return closing;
  };
  return { io, guard, close };
}
