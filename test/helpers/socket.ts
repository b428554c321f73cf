// socket.io-client helpers: connect with a login's cookie, wait for events, call with acks.
import { io, type Socket } from "socket.io-client";
import type {
  AckResult,
  ClientEventMap,
  ClientEventName,
  ClientToServerEvents,
  ServerToClientEvents,
} from "../../src/contract/events.js";
import type { Browser } from "./http.js";

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface ConnectOptions {
  transports?: ("polling" | "websocket")[];
  headers?: Record<string, string>;
  /** Called with the socket before it connects: to listen for what arrives on connect. */
  before?: (socket: ClientSocket) => void;
}

/** Opens a socket with the Browser's cookies; rejects with the connect_error message. */
export function connect(
  url: string,
  browser: Browser | undefined,
  opts: ConnectOptions = {},
): Promise<ClientSocket> {
  const headers: Record<string, string> = { ...opts.headers };
  const cookie = browser?.cookieHeader();
  if (cookie) headers.cookie = cookie;
  const socket: ClientSocket = io(url, {
    path: "/socket.io/",
    transports: opts.transports ?? ["websocket"],
    extraHeaders: headers,
    reconnection: false,
    forceNew: true,
    timeout: 5000,
  });
  opts.before?.(socket);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** Resolves with the first `event`'s argument, or rejects after `ms`. */
export function once<T = unknown>(socket: ClientSocket, event: string, ms = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms);
    (socket as unknown as { once(e: string, f: (v: T) => void): void }).once(event, (v: T) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

/** Emits a contract event and resolves with its ack. */
export function call<E extends ClientEventName>(
  socket: ClientSocket,
  event: E,
  payload: unknown,
  ms = 3000,
): Promise<AckResult<ClientEventMap[E]["result"]>> {
  return (
    socket.timeout(ms) as unknown as {
      emitWithAck(e: string, p: unknown): Promise<AckResult<ClientEventMap[E]["result"]>>;
    }
  ).emitWithAck(event, payload);
}

/** Emits any event name with any arguments (for contract violations) and waits for its ack. */
export function callRaw(socket: ClientSocket, event: string, ...args: unknown[]): Promise<unknown> {
  return (
    socket.timeout(3000) as unknown as { emitWithAck(e: string, ...a: unknown[]): Promise<unknown> }
  ).emitWithAck(event, ...args);
}

/**
 * Resolves once everything this process's server sent these sockets before now has arrived:
 * one `ping` round trip on each (a socket's packets arrive in the order they were sent). For
 * checks that something did not arrive, instead of waiting a fixed time. (A delivery from
 * another process goes through Redis first: this does not cover it.)
 */
export async function barrier(...sockets: ClientSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(async (s) => {
      const r = await call(s, "ping", {});
      if (!r.ok) throw new Error(`barrier ping refused: ${r.error.code}`);
    }),
  );
}

/** Resolves once the socket's engine.io connection runs on WebSocket (it upgraded). */
export function upgraded(socket: ClientSocket, ms = 3000): Promise<void> {
  if (socket.io.engine.transport.name === "websocket") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no upgrade")), ms);
    socket.io.engine.once("upgrade", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
