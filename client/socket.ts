// The page's one Socket.IO connection, authenticated by the page's session cookie, and a
// typed request helper: every event with an ack, answered or timed out.
import { io, type Socket } from "socket.io-client";
import type {
  AckResult,
  ClientEventMap,
  ClientEventName,
  ClientToServerEvents,
  ServerToClientEvents,
} from "../src/contract/events.js";

export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Sends an event and resolves with its answer; no answer within 8 s is `unavailable`. */
export type Call = <E extends ClientEventName>(
  event: E,
  payload: ClientEventMap[E]["payload"],
) => Promise<AckResult<ClientEventMap[E]["result"]>>;

/** How long an answer is awaited before the event counts as not answered. */
export const ANSWER_WITHIN_MS = 8000;

export function createSocket(): ChatSocket {
  return io({ path: "/socket.io/", transports: ["websocket", "polling"], withCredentials: true });
}

export function caller(socket: ChatSocket): Call {
  return (event, payload) => {
    const timed = socket.timeout(ANSWER_WITHIN_MS) as unknown as {
      emitWithAck(e: typeof event, p: typeof payload): Promise<never>;
    };
    return timed.emitWithAck(event, payload).catch(() => ({
      ok: false as const,
      error: { code: "unavailable" as const, message: "No answer from the server. Try again." },
    }));
  };
}
