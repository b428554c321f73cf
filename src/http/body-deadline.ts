// Every request's body must arrive within 30 s of the request: a client that sends a body
// slowly (or never finishes it) holds a connection for that long at most. Set on the HTTP
// server itself (server.ts), so it covers engine.io's requests too, which Express never sees.
// An upload's body may take longer: its route clears the deadline once it has checked the
// request and starts reading, and holds it to its own stall timeout instead
// (file-routes.ts). (Node's own `server.requestTimeout` is one value for every request.)
import type { IncomingMessage } from "node:http";

/** How long a request's body may take to arrive (ms). */
export const BODY_MS = 30_000;

const deadlines = new WeakMap<IncomingMessage, NodeJS.Timeout>();

/** Starts `req`'s deadline (the server's first `request` listener). */
export function startBodyDeadline(req: IncomingMessage, ms = BODY_MS): void {
  // A request with no body (no Content-Length, no chunked encoding: most GETs) has nothing
  // to wait for: no timer.
  const declared = req.headers["content-length"];
  if (
    req.complete ||
    (req.headers["transfer-encoding"] === undefined && (declared === undefined || declared === "0"))
  ) {
    return;
  }
  const late = setTimeout(() => {
    if (!req.complete) req.socket.destroy();
  }, ms);
  late.unref();
  deadlines.set(req, late);
  const done = () => clearBodyDeadline(req);
  req.once("end", done);
  req.once("close", done);
}

/** Lifts `req`'s deadline (an upload being read under its own timeout). */
export function clearBodyDeadline(req: IncomingMessage): void {
  const t = deadlines.get(req);
  if (t) clearTimeout(t);
  deadlines.delete(req);
}
