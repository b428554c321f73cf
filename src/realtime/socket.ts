// The Socket.IO server and socket types of parley: the event contract's four maps bound to
// Socket.IO's Server and Socket.
import type { Server, Socket } from "socket.io";
import type {
  ClientToServerEvents,
  InterServerEvents,
  ServerToClientEvents,
  SocketData,
} from "../contract/events.js";

export type ParleyIo = Server<
  ClientToServerEvents,
  ServerToClientEvents,
  InterServerEvents,
  SocketData
>;
export type ParleySocket = Socket<
  ClientToServerEvents,
  ServerToClientEvents,
  InterServerEvents,
  SocketData
>;

/** Notes when a socket joined a room (see SocketData.joinedAt). */
export function noteJoined(socket: ParleySocket, room: string, at: number): void {
  socket.data.joinedAt ??= new Map();
  socket.data.joinedAt.set(room, at);
}
