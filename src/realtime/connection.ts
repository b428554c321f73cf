// A socket's life in the namespace, once the handshake has admitted it: it joins its session
// and user rooms (every device of a user is addressed through them), hands every event to the
// pipeline (dispatch.ts), joins the user's chat rooms, and on leaving tells those rooms who is
// still here.

import { sessionRoom, userRoom } from "../contract/events.js";
import { MAX_ROOMS_PER_SOCKET } from "../domain/limits.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { RoomStore } from "../stores/rooms.js";
import { type DispatchDeps, dispatch } from "./dispatch.js";
import type { SessionGuard } from "./guard.js";
import { PRESENCE_SETTLE_MS, type Presence } from "./presence.js";
import { noteJoined, type ParleyIo, type ParleySocket } from "./socket.js";

export interface ConnectionDeps {
  io: ParleyIo;
  rooms: RoomStore;
  guard: SessionGuard;
  dispatch: DispatchDeps;
  presence: Presence;
  metrics: Metrics;
  logger: Logger;
}

/** A chat room (not the socket's own, its session's or its user's). */
function isChatRoom(socket: ParleySocket, room: string): boolean {
  return room !== socket.id && !room.startsWith("session:") && !room.startsWith("user:");
}

/** Whether the socket is in `room` by its own room:join or room:create (announced then). */
function ownJoin(socket: ParleySocket, room: string): boolean {
  return socket.data.ownMoves?.get(room)?.joined === true;
}

export function handleConnections(d: ConnectionDeps): void {
  const { io, presence } = d;
  const you = (socket: ParleySocket) => ({
    id: socket.data.userId,
    username: socket.data.username,
  });

  // On connect, a socket joins its user's rooms (so every device is in the same ones) and is
  // sent the list with unread counts. The standings are read again once it has joined: a
  // removal that ran in between made its sockets leave before this join, so it is undone here.
  const joinOwnRooms = async (socket: ParleySocket) => {
    const list = await d.rooms.list(socket.data.userId);
    if (!socket.connected) return;
    // The user's own rooms and opened DMs, within what the socket may still join (its own
    // events may have joined some already). Invitations and DMs others started are not joined:
    // a DM's messages reach the user's sockets whether they joined it or not.
    const room = (r: { room: string }) => r.room;
    const own = list.filter((r) => r.role !== "invited" && !r.pending).map(room);
    const already = own.filter((r) => socket.rooms.has(r));
    const free = MAX_ROOMS_PER_SOCKET - (socket.rooms.size - 3);
    const joinable = [
      ...already,
      ...own.filter((r) => !socket.rooms.has(r)).slice(0, Math.max(0, free)),
    ];
    const gone = new Set<string>();
    if (joinable.length > 0) {
      await socket.join(joinable);
      const at = Date.now();
      for (const room of joinable) noteJoined(socket, room, at);
      const still = await d.rooms.stillIn(socket.data.userId, joinable);
      for (const [i, room] of joinable.entries()) {
        if (still[i]) continue;
        gone.add(room);
        await socket.leave(room);
      }
      // Announced once the connection has lasted a moment: one that comes and goes at once
      // (a flapping network, or someone connecting and disconnecting on purpose) announces
      // nothing in its rooms, neither coming nor going.
      setTimeout(announceArrival, PRESENCE_SETTLE_MS, socket).unref();
    }
    socket.emit("rooms", { rooms: list.filter((r) => !gone.has(r.room)) });
  };
  const announceArrival = (socket: ParleySocket) => {
    if (!socket.connected) return;
    socket.data.announced = true;
    // Rooms it joined by its own events were announced then.
    for (const room of socket.rooms) {
      if (isChatRoom(socket, room) && !ownJoin(socket, room)) {
        presence.socketChanged(room, you(socket), socket.id);
      }
    }
  };

  // Named listeners called with the socket as `this`, not closures per socket: they live as
  // long as the socket does.
  function onDisconnecting(this: ParleySocket): void {
    d.metrics.connectedSockets.dec();
    // Announced once the socket has left (presence waits; leaving follows at once), unless its
    // coming was never announced: rooms it joined by its own events were (handlers/rooms.ts).
    for (const room of this.rooms) {
      if (isChatRoom(this, room) && (this.data.announced || ownJoin(this, room))) {
        presence.socketChanged(room, you(this), this.id);
      }
    }
    // The session's last socket here: the guard forgets it.
    const mates = io.sockets.adapter.rooms.get(sessionRoom(this.data.sid));
    if (!mates || (mates.size === 1 && mates.has(this.id))) d.guard.forget(this.data.sid);
  }
  function onJoinFailed(err: unknown): void {
    d.logger.warn(
      { event: "rooms_join_failed", err: err instanceof Error ? err.message : String(err) },
      "could not join the user's rooms on connect",
    );
  }

  io.on("connection", (socket) => {
    d.metrics.connectedSockets.inc();
    void socket.join([sessionRoom(socket.data.sid), userRoom(socket.data.userId)]);
    // Every event goes through the pipeline, which answers it itself: `next` is never called,
    // so Socket.IO's own router (and `socket.on` listeners) never sees an event. That keeps
    // one path per event (no listener can run before the session check, or run twice) and
    // lets an event with no handler be answered `unknown_event` instead of being dropped.
    socket.use((packet, _next) => dispatch(d.dispatch, socket, packet));
    joinOwnRooms(socket).catch(onJoinFailed);
    socket.on("disconnecting", onDisconnecting);
  });
}
