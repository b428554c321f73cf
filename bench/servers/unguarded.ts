// Reference server "unguarded": parley's own event handlers, stores, Redis layout and Redis
// adapter, with the server options parley uses, but none of parley's per-event work: no
// session check, no budgets, no ordering, no room-standing read, no send limiter. A socket is
// admitted by the cheapest check a cookie login can have: the session id of parley's signed
// cookie, and one Redis GET of its session record at the handshake.
//
// It is the unguarded limit for parley's figures: the same handler doing the same Redis work
// per event, with nothing in front of it. Never a server to run for people: once connected, a
// socket here is never checked again (the problem parley solves).
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { Server } from "socket.io";
import { ArchiveStore } from "../../src/archive/store.js";
import { sessionRoom, userRoom } from "../../src/contract/events.js";
import { openDatabase } from "../../src/db/database.js";
import { MAX_PACKET_BYTES } from "../../src/domain/limits.js";
import { parseLoginRecord } from "../../src/domain/login.js";
import { DiskBlobs } from "../../src/files/blobs.js";
import { Files } from "../../src/files/files.js";
import { FileRecords } from "../../src/files/records.js";
import { createLogger } from "../../src/logger.js";
import { Metrics } from "../../src/metrics.js";
import { attachAdapter } from "../../src/realtime/adapter.js";
import { SessionGuard } from "../../src/realtime/guard.js";
import { createHandlers, EventError, type Handlers } from "../../src/realtime/handlers/index.js";
import { Presence } from "../../src/realtime/presence.js";
import { schemas } from "../../src/realtime/schemas.js";
import type { ParleyIo } from "../../src/realtime/socket.js";
import { connectRedis } from "../../src/redis/connect.js";
import { AccountStore } from "../../src/stores/accounts.js";
import { keys } from "../../src/stores/keys.js";
import { MessageStore } from "../../src/stores/messages.js";
import { RoomStore } from "../../src/stores/rooms.js";
import { unsignSid } from "../lib.js";

const port = Number(process.env.PORT);
const secret = process.env.SESSION_SECRET ?? "";
const logger = createLogger("warn");
const redis = await connectRedis(process.env.REDIS_URL ?? "", logger);

const io: ParleyIo = new Server(http.createServer(), {
  path: "/socket.io/",
  transports: ["polling", "websocket"],
  serveClient: false,
  maxHttpBufferSize: MAX_PACKET_BYTES,
  allowEIO3: false,
});
const server = io.httpServer;
await attachAdapter(io, redis, logger);
const handlers: Handlers = createHandlers({
  io,
  users: new AccountStore(redis, new Set()),
  messages: new MessageStore(redis, 100_000_000),
  // Search is not measured against this server; the store is here for the handlers' type.
  archive: new ArchiveStore(openDatabase(process.env.DATABASE_URL ?? "", logger), "simple"),
  rooms: new RoomStore(redis),
  // Files are not measured against this server; the service is here for the handlers' type.
  files: new Files(
    redis,
    new FileRecords(openDatabase(process.env.DATABASE_URL ?? "", logger)),
    new DiskBlobs(path.join(tmpdir(), "parley-unguarded-files")),
    path.join(tmpdir(), "parley-unguarded-spool"),
    {
      maxBytes: 1024,
      quotaBytes: 1024,
      uploadsPerWindow: 1,
      windowSeconds: 60,
      roomPerDay: 1,
      pendingSeconds: 60,
      maxPixels: 1_000_000,
    },
    logger,
  ),
  metrics: new Metrics({ defaultMetrics: false }),
  // The handlers read its count of batches sent; no check ever runs through it here.
  guard: new SessionGuard(redis, { idleSeconds: 1800, absoluteSeconds: 43_200, now: Date.now }),
  presence: new Presence(io),
  now: Date.now,
});

io.use((socket, next) => {
  const cookie = /(?:^|;\s*)parley\.sid=([^;]+)/.exec(socket.request.headers.cookie ?? "")?.[1];
  const sid = cookie ? unsignSid(cookie, secret) : undefined;
  if (!sid) return next(new Error("unauthorized"));
  redis.get(keys.session(sid)).then(
    (raw) => {
      const record = parseLoginRecord(raw);
      if (!record) return next(new Error("unauthorized"));
      const auth = socket.handshake.auth as { username?: unknown };
      socket.data = {
        sid,
        userId: record.userId,
        username: typeof auth.username === "string" ? auth.username : record.userId,
      };
      socket.join([sessionRoom(sid), userRoom(record.userId)]);
      next();
    },
    () => next(new Error("unavailable")),
  );
});

type AnyHandler = (s: unknown, p: unknown) => unknown;
const rooms = new RoomStore(redis);
io.on("connection", (socket) => {
  // As parley does on connect: the socket joins its user's rooms and is sent the list.
  rooms.list(socket.data.userId).then(
    async (list) => {
      const joinable = list.filter((r) => r.role !== "invited").map((r) => r.room);
      if (joinable.length > 0) await socket.join(joinable);
      socket.emit("rooms", { rooms: list });
    },
    () => undefined,
  );
  for (const name of Object.keys(schemas) as (keyof typeof schemas)[]) {
    const handler = handlers[name] as AnyHandler;
    socket.on(name as "ping", async (payload: unknown, ack?: unknown) => {
      const reply = typeof ack === "function" ? (ack as (r: unknown) => void) : () => undefined;
      const parsed = schemas[name].safeParse(payload);
      if (!parsed.success) return reply({ ok: false, error: { code: "invalid", message: "" } });
      try {
        reply(await handler(socket, parsed.data));
      } catch (err) {
        const code = err instanceof EventError ? err.code : "unavailable";
        reply({ ok: false, error: { code, message: "" } });
      }
    });
  }
});

server.listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
