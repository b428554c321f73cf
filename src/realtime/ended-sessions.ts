// Sessions that end while their sockets are open, and rooms a user no longer stands in.
//
// - Revocation (logout, a revoke from /sessions, a password change): the process that ended
//   the sessions disconnects its own sockets of them and tells every other process through
//   the adapter, so each process ends its own at once.
// - While this process ends sessions (a logout, a revoke, a password change), their events
//   are refused from the moment it starts, not only once its writes and notice are done.
// - A session the per-event check refused (endSession): the reason is looked up once, then
//   the session's sockets here are told it and disconnected.
// - The sweep (every `sweepIntervalMs`): sessions that expired while their sockets sat idle
//   (one read-only script per 1,000 distinct sessions, answering which exist: not a timer or
//   a round trip per socket, nor a command per session), and
//   every few sweeps, each socket's rooms against its user's standing (a leave whose publish
//   was lost while Redis was away).
import type { Revocation } from "../auth/revocation.js";
import { sessionRoom, userRoom } from "../contract/events.js";
import { isRole } from "../domain/rooms.js";
import type { RevokedReason } from "../domain/types.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { Redis } from "../redis/client.js";
import { keys } from "../stores/keys.js";
import { existAcrossSlots, mGetAcrossSlots } from "../stores/slots.js";
import type { EventBudgets } from "./budgets.js";
import type { Refusal, SessionGuard } from "./guard.js";
import type { EngineConnections } from "./handshake.js";
import { roomOf } from "./room-policy.js";
import type { ParleyIo } from "./socket.js";

export interface EndedSessionsDeps {
  io: ParleyIo;
  redis: Redis;
  revocation: Revocation;
  engine: EngineConnections;
  budgets: EventBudgets;
  /** Its cache of sessions not checked for a while is dropped at each sweep. */
  guard: Pick<SessionGuard, "prune">;
  logger: Logger;
  metrics: Metrics;
  /** How often idle sockets' sessions are re-checked (expiry is noticed within 5 s). */
  sweepIntervalMs: number;
}

export interface EndedSessions {
  /** Ends this process's sockets of a session the per-event check refused. */
  endSession(sid: string, userId: string, refusal: Refusal): void;
  /** This process is ending the session now (its events are refused from the start). */
  isEnding(sid: string): boolean;
  stop(): void;
}

/** The standing check runs every this many sweeps. */
const STANDING_EVERY_SWEEPS = 6;

export function watchEndedSessions(d: EndedSessionsDeps): EndedSessions {
  const { io } = d;

  // Ends this process's sockets of these sessions: each is told why, then disconnected.
  const disconnectLocal = (sids: readonly string[], reason: RevokedReason) => {
    const rooms = sids.map(sessionRoom);
    if (rooms.length === 0) return;
    io.local.to(rooms).emit("session:revoked", { reason });
    io.local.in(rooms).disconnectSockets(true);
    // engine.io connections of these sessions that never joined the namespace close too (a
    // connection already closing above is left to finish delivering its notice).
    d.engine.closeSessions(new Set(sids));
  };

  const ending = new Set<string>();
  const endSession = (sid: string, userId: string, refusal: Refusal) => {
    if (ending.has(sid)) return;
    ending.add(sid);
    d.revocation
      .reasonFor(sid, userId, refusal)
      .catch((): RevokedReason => (refusal === "stale" ? "revoked" : "expired"))
      .then((reason) => {
        ending.delete(sid);
        disconnectLocal([sid], reason);
      });
  };
  // Sessions this process is ending right now, counted (two ends of one session may overlap).
  const endingHere = new Map<string, number>();
  d.revocation.onEnding((sids, on) => {
    for (const sid of sids) {
      const n = (endingHere.get(sid) ?? 0) + (on ? 1 : -1);
      if (n > 0) endingHere.set(sid, n);
      else endingHere.delete(sid);
    }
  });
  d.revocation.onRevoke((sids, reason) => {
    disconnectLocal(sids, reason);
    io.serverSideEmit("sessions:revoked", [...sids], reason);
  });
  io.on("sessions:revoked", (sids, reason) => disconnectLocal(sids, reason));

  // A backstop for a leave that never reached this process: each local socket's rooms are
  // checked against the standing in Redis, one read per distinct user and room, and a room no
  // longer theirs is left. (What a socket sends is refused at once anyway: this is about what
  // it would still receive.)
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
        for (const id of io.sockets.adapter.rooms.get(userRoom(userId)) ?? []) {
          const s = io.sockets.sockets.get(id);
          if (!s?.rooms.has(room)) continue;
          if ((s.data.joinedAt?.get(room) ?? 0) >= startedAt) continue;
          void s.leave(room);
          s.emit("room:removed", { room, reason: "removed" });
        }
      });
    }
  };

  let sweepsSinceStanding = 0;
  const sweep = async () => {
    const owners = new Map<string, string>();
    // Connections that never joined the namespace have a session too (owner unknown).
    for (const sid of d.engine.sessions()) owners.set(sid, "");
    for (const s of io.of("/").sockets.values()) owners.set(s.data.sid, s.data.userId);
    d.budgets.prune();
    // What the guard remembers of a session that sent nothing for two sweeps is dropped: an
    // idle socket costs no cache entry (its next event reads and parses the record again).
    d.guard.prune(2 * d.sweepIntervalMs);
    if (owners.size === 0) return;
    const list = [...owners.keys()];
    const cpu = process.cpuUsage();
    d.metrics.sweeps.inc();
    d.metrics.sweepSessions.inc(list.length);
    try {
      const exists = await existAcrossSlots(d.redis, list.map(keys.session));
      const gone = list.filter((_, i) => !exists[i]);
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
  const timer = setInterval(() => void sweep(), d.sweepIntervalMs);
  timer.unref();

  return {
    endSession,
    isEnding: (sid) => endingHere.size > 0 && endingHere.has(sid),
    stop: () => clearInterval(timer),
  };
}
