// Message events: sending (with mentions), editing, deleting, history, and typing.

import { QueryWithoutWords } from "../../archive/store.js";
import type { AckResult, ClientEventMap, Message, SearchResult } from "../../contract/events.js";
import { userRoom } from "../../contract/events.js";
import { DatabaseUnavailableError } from "../../db/database.js";
import { AROUND_DEFAULT, MAX_MENTIONS, SEARCH_PAGE } from "../../domain/limits.js";
import { MENTION_RE } from "../../domain/messages.js";
import { dmUsers, isDmRoom, isRole } from "../../domain/rooms.js";
import type { FileRef } from "../../domain/types.js";
import { ClientIdConflict, FileNotAvailable } from "../../stores/messages.js";
import { ROOM_REFUSALS } from "../room-policy.js";
import {
  audience,
  EventError,
  type Family,
  type HandlerDeps,
  HISTORY_ON_JOIN,
  member,
  requireAccess,
  requireJoined,
} from "./common.js";

/** The revised message, or the refusal as an event error. */
function revised(r: Message | "not_found" | "forbidden", forbidden: string): Message {
  if (r === "not_found") throw new EventError("not_found", "no such message (or it was deleted)");
  if (r === "forbidden") throw new EventError("forbidden", forbidden);
  return r;
}

export type MessageEvent =
  | "message:send"
  | "message:edit"
  | "message:delete"
  | "message:history"
  | "message:around"
  | "message:search"
  | "typing";

/** A history read that needed PostgreSQL while it is away. */
function pastWindow(err: unknown): never {
  if (err instanceof DatabaseUnavailableError) {
    throw new EventError(
      "unavailable",
      "older history is unavailable right now (its database does not answer): try again shortly",
    );
  }
  throw err;
}

/** The message id right after `id` ("<ms>-<seq+1>"): paging before it includes `id`. */
function successor(id: string): string {
  const [ms = "0", seq = "0"] = id.split("-");
  return `${ms}-${Number(seq) + 1}`;
}

export function messageHandlers(d: HandlerDeps): Family<MessageEvent> {
  /**
   * Records the mentions (@username) in a message: each named user who may read the room
   * (a member of it; the other user of a DM) gets a `mention` event and a mention count for
   * the room that lasts until they read it. At most 10 names per message.
   */
  const mentionIn = async (room: string, message: Message) => {
    // Up to 10 names, each naming one account at most: "@bob." at the end of a sentence names
    // the account "bob." if there is one, else "bob".
    const tokens: { name: string; trimmed: string }[] = [];
    for (const m of message.text.matchAll(MENTION_RE)) {
      const name = (m[1] ?? "").toLowerCase();
      if (tokens.some((t) => t.name === name)) continue;
      if (tokens.length === MAX_MENTIONS) break;
      const trimmed = name.replace(/[.-]+$/, "");
      tokens.push({ name, trimmed: trimmed.length >= 3 ? trimmed : name });
    }
    if (tokens.length === 0) return;
    const candidates = [...new Set(tokens.flatMap((t) => [t.name, t.trimmed]))];
    const ids = await d.users.idsOf(candidates);
    const idOf = new Map(candidates.map((n, i) => [n, ids[i]]));
    const chosen = tokens.map((t) => idOf.get(t.name) ?? idOf.get(t.trimmed));
    let named = [...new Set(chosen.filter((id): id is string => !!id && id !== message.user.id))];
    if (named.length === 0) return;
    if (isDmRoom(room)) named = named.filter((id) => dmUsers(room).includes(id));
    else {
      const standing = await d.rooms.standings(room, named);
      named = named.filter((_, i) => isRole(standing[i]));
    }
    await Promise.all(
      named.map(async (id) => {
        await d.rooms.mention(id, room);
        d.io.to(userRoom(id)).emit("mention", { room, message });
      }),
    );
  };

  const searching = new Set<string>();

  /** message:search for `userId` (one at a time per user: see the handler). */
  const search = async (
    userId: string,
    query: string,
    room: string | undefined,
    before: string | undefined,
  ): Promise<AckResult<ClientEventMap["message:search"]["result"]>> => {
    // Read now, after the event arrived: a removal or ban before it leaves the room out.
    const readable = await d.rooms.readable(userId);
    if (room !== undefined && !readable.includes(room)) {
      throw new EventError("not_found", "no such room among yours");
    }
    const rooms = room !== undefined ? [room] : readable;
    let cursor: { ms: string; seq: string; room: string } | undefined;
    if (before) {
      const at = before.indexOf("@");
      const [ms = "0", seq = "0"] = before.slice(0, at).split("-");
      cursor = { ms, seq, room: before.slice(at + 1) };
    }
    const hits = await d.archive
      .search(rooms, query, SEARCH_PAGE + 1, cursor)
      .catch((err: unknown) => {
        if (err instanceof DatabaseUnavailableError) {
          throw new EventError("unavailable", "search is unavailable right now: try again shortly");
        }
        if (err instanceof QueryWithoutWords) throw new EventError("invalid", err.message);
        throw err;
      });
    const page = hits.slice(0, SEARCH_PAGE);
    // An edit or deletion not archived yet: the hit shows what Redis holds now (a deleted
    // one is left out, an edited one loses the old text's snippet), and deleted accounts
    // show as such.
    const byRoom = new Map<string, Message[]>();
    for (const h of page) {
      byRoom.set(h.message.room, [...(byRoom.get(h.message.room) ?? []), h.message]);
    }
    const current = new Map<Message, Message & { revised: boolean }>();
    await Promise.all(
      [...byRoom].map(async ([r, list]) => {
        const now = await d.messages.attribute(await d.messages.withPendingEdits(r, list));
        const byId = new Map(now.map((m) => [m.id, m]));
        for (const m of list) {
          const n = byId.get(m.id);
          // Gone (taken back, or removed by retention since): left out.
          if (!n) continue;
          const revised = n.text !== m.text || n.deleted === true || n.edited !== m.edited;
          current.set(m, { ...n, revised });
        }
      }),
    );
    const results: SearchResult[] = [];
    for (const h of page) {
      const found = current.get(h.message);
      if (!found) continue;
      const { revised, ...message } = found;
      if (message.deleted) continue;
      const snippet = revised ? [{ text: message.text.slice(0, 200), match: false }] : h.snippet;
      results.push({ message, snippet });
    }
    const last = page.at(-1);
    return {
      ok: true,
      results,
      ...(hits.length > SEARCH_PAGE && last
        ? { next: `${last.message.id}@${last.message.room}` }
        : {}),
    };
  };

  return {
    "message:send": async (socket, { room, text, clientId, files }) => {
      requireAccess(room, socket.data.userId);
      requireJoined(socket, room);
      const { message, fresh, redeliver } = await d.messages
        .append(room, member(socket), text, d.now(), clientId, files)
        .catch((err: unknown) => {
          if (err instanceof ClientIdConflict) throw new EventError("invalid", err.message);
          if (err instanceof FileNotAvailable) throw new EventError("invalid", err.message);
          throw err;
        });
      if (fresh) d.metrics.messagesSent.inc();
      // A retry of a message edited or deleted since is answered with its current version,
      // and nothing is delivered again.
      if (!fresh && !redeliver) return { ok: true, message };
      // A direct message puts the conversation in both users' lists (every device), unread
      // from its start for whoever has not opened it yet (repeated safely on a retry).
      if (isDmRoom(room)) {
        // Unread from this message on (its id is "<ms>-<count>": the position just before it).
        const [ms = "0", count = "0"] = message.id.split("-");
        const start = `${ms}-${Math.max(0, Number(count) - 1)}`;
        const since = Number(ms) - 1;
        const me = socket.data.userId;
        await Promise.all(
          dmUsers(room).map((id) =>
            d.rooms.addDm(id, room, since, id === me ? "join" : "dm", start),
          ),
        ).catch(() => undefined);
      }
      // Every socket in the room gets it (the sender's too: clients dedupe by id); direct
      // messages also reach both users' sockets that have not joined the room yet. A retry
      // is delivered again: the first answer may have been lost with its broadcast (pages
      // drop a message id they already have).
      d.io.to(audience(room)).emit("message", message);
      // Only a message that names someone (@username) costs more Redis commands; a retry's
      // mentions were counted the first time.
      if (fresh && text.includes("@")) await mentionIn(room, message).catch(() => undefined);
      return { ok: true, message };
    },

    "message:edit": async (socket, { room, id, text }) => {
      requireAccess(room, socket.data.userId);
      const message = revised(
        await d.messages.revise(room, id, socket.data.userId, { text }, d.now()),
        "only its author can edit a message",
      );
      d.io.to(audience(room)).emit("message:updated", message);
      return { ok: true, message };
    },

    "message:delete": async (socket, { room, id }, standing) => {
      requireAccess(room, socket.data.userId);
      const userId = socket.data.userId;
      const refusal = "only its author, or the room's owner or moderators, can delete a message";
      // One's own message first; only when it is someone else's does the moderator's power
      // matter, and then the standing is read again now (the event's batch may predate the
      // socket's own leave): the one Redis read more is paid by moderators' deletions alone.
      // Its files go with it: no longer served from now on, their bytes removed.
      let dropped: FileRef[] = [];
      const dropFiles = (list: FileRef[]) => {
        dropped = list;
      };
      let r = await d.messages.revise(
        room,
        id,
        userId,
        { delete: true, moderator: false },
        d.now(),
        dropFiles,
      );
      const mayModerate = (x: string | null | undefined) => x === "owner" || x === "moderator";
      if (r === "forbidden" && !isDmRoom(room) && mayModerate(standing)) {
        if (!mayModerate(await d.rooms.standing(room, userId))) {
          throw new EventError("forbidden", refusal);
        }
        r = await d.messages.revise(
          room,
          id,
          userId,
          { delete: true, moderator: true },
          d.now(),
          dropFiles,
        );
      }
      const message = revised(r, refusal);
      // Marked deleted before the answer (a download after it is refused), waiting a second at
      // most: chat does not wait on PostgreSQL. If it does not answer, the archiver marks
      // them when it copies the deletion (the tombstone names them), and until then no
      // download can be served either (each reads the file's record there).
      if (dropped.length > 0) await d.files.discardWithin(room, dropped, 1_000);
      d.io.to(audience(room)).emit("message:updated", message);
      return { ok: true, message };
    },

    "message:history": async (socket, { room, before, limit }) => {
      requireAccess(room, socket.data.userId);
      const messages = await d.messages
        .page(room, limit ?? HISTORY_ON_JOIN, before)
        .catch(pastWindow);
      return { ok: true, messages };
    },

    "message:around": async (socket, { room, id, context }) => {
      requireAccess(room, socket.data.userId);
      const n = context ?? AROUND_DEFAULT;
      const upTo = await d.messages.page(room, n + 1, successor(id)).catch(pastWindow);
      if (upTo.at(-1)?.id !== id) {
        // A room that does not exist answers as a private room one is not in does (the
        // event's check refuses that one before this runs): nothing tells them apart.
        if (!isDmRoom(room) && !(await d.rooms.exists(room))) {
          throw new EventError("not_found", ROOM_REFUSALS.not_found as string);
        }
        throw new EventError("not_found", "no such message");
      }
      const after = await d.messages.after(room, id, n).catch(pastWindow);
      return { ok: true, messages: [...upTo, ...after], id };
    },

    "message:search": async (socket, { query, room, before }) => {
      const userId = socket.data.userId;
      // One search at a time per user (per process): the next waits for the answer.
      if (searching.has(userId)) {
        throw new EventError("rate_limited", "a search of yours is still running");
      }
      searching.add(userId);
      try {
        return await search(userId, query, room, before);
      } finally {
        searching.delete(userId);
      }
    },

    typing: (socket, { room }) => {
      requireAccess(room, socket.data.userId);
      requireJoined(socket, room);
      socket.to(room).emit("typing", { room, user: member(socket) });
      return { ok: true };
    },
  };
}
