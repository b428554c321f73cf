// Reference server "plain": Socket.IO with no authentication at all, answering an acked echo.
// The floor for what any per-event work can cost.
import http from "node:http";
import { Server } from "socket.io";

const port = Number(process.env.PORT);
const server = http.createServer();
const io = new Server(server, {
  transports: ["polling", "websocket"],
  serveClient: false,
  maxHttpBufferSize: 16 * 1024,
});
io.on("connection", (socket) => {
  socket.on("echo", (_payload: unknown, ack: unknown) => {
    if (typeof ack === "function") ack({ ok: true, ts: Date.now() });
  });
});
server.listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
