// Reference server "docs": the approach of the Socket.IO guide "How to use with
// express-session" — express-session in Redis (connect-redis) shared through io.engine.use,
// and socket.use calling req.session.reload() before every event. Same versions of
// socket.io, express-session, connect-redis and redis as parley.
import http from "node:http";
import { RedisStore } from "connect-redis";
import express from "express";
import session from "express-session";
import { createClient } from "redis";
import { Server } from "socket.io";

declare module "express-session" {
  interface SessionData {
    user?: { id: string; name: string };
  }
}

const port = Number(process.env.PORT);
const redis = createClient({ url: process.env.REDIS_URL });
await redis.connect();

const sessionMiddleware = session({
  store: new RedisStore({ client: redis, prefix: "docs:sess:" }),
  secret: "docs-reference-secret-0123456789abcdef",
  resave: false,
  saveUninitialized: false,
  cookie: { httpOnly: true, sameSite: "lax" },
});

const app = express();
app.use(sessionMiddleware);
// A reference for the per-event cost only: logging in just puts a user in the session.
app.post("/login", (req, res, next) => {
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.user = { id: String(Math.random()).slice(2), name: "bench" };
    req.session.save((e) => (e ? next(e) : res.json({ ok: true })));
  });
});

const server = http.createServer(app);
const io = new Server(server, { transports: ["polling", "websocket"], serveClient: false });
io.engine.use(sessionMiddleware);
io.use((socket, next) => {
  const req = socket.request as unknown as {
    session?: session.Session & Partial<session.SessionData>;
  };
  if (req.session?.user) next();
  else next(new Error("unauthorized"));
});
io.on("connection", (socket) => {
  const req = socket.request as unknown as { session: session.Session };
  socket.use((_packet, next) => {
    req.session.reload((err: unknown) => {
      if (err) socket.disconnect();
      else next();
    });
  });
  socket.on("echo", (_payload: unknown, ack: unknown) => {
    if (typeof ack === "function") ack({ ok: true, ts: Date.now() });
  });
});
server.listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
process.on("SIGTERM", () => process.exit(0));
