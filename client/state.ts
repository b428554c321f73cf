// The chat page's state, with no DOM: the user's rooms, each room's messages in id order,
// unread and mention counts, who is typing where, and the outbox of messages not yet sent.
// The server's events and the person's actions change it; the views draw from it. It is
// unit-tested under mocha without a browser (test/unit/client-state.test.ts).
import type { FileRef, Member, Message, RoomRole, RoomSummary } from "../src/domain/types.js";

export interface RoomState {
  name: string;
  label: string;
  kind: "room" | "dm";
  joined: boolean;
  /** In id order (the order the room received them). */
  messages: Message[];
  ids: Set<string>;
  members: Member[];
  unread: number;
  oldestLoaded: boolean;
  /** A private room the user was invited to and has not joined yet. */
  invited: boolean;
  /** Its history and members have been fetched since the socket last connected. */
  loaded: boolean;
  /** The message being edited here, with what has been typed (kept across redraws). */
  editing?: { id: string; draft: string; saving: boolean };
  /** Mentions of the user there since they last read it (kept by the server). */
  mentions: number;
  /** The user's role there (from the server), and whether the room is private. */
  role: RoomRole | undefined;
  private: boolean;
  topic: string;
  /** The first message the user had not read when they opened the room (the "new" line). */
  newFrom: string | undefined;
  /**
   * Showing a stretch of older history (a link to a message): newer messages exist past the
   * last one shown, so arrivals are not appended after a gap; the jump button reloads.
   */
  detached?: boolean;
  /** The message a link pointed at (marked while shown). */
  linked?: string;
}

/** A message the person sent that the server has not stored yet. */
export interface Pending {
  /** Sent with it: the server stores one message per client id, so a retry is never a copy. */
  clientId: string;
  room: string;
  text: string;
  /** Files uploaded for it (their ids go with the send). */
  files?: FileRef[];
  /** When it was written (ms). */
  ts: number;
  /** Being sent now (an answer is awaited). */
  sending: boolean;
  /** Refused for good (why): shown with Retry and Discard, never sent by itself. */
  failed?: string;
  /** Answered not_joined once: the page joined the room and sent it again. */
  rejoined?: boolean;
}

/** Unsent messages kept at most; writing more while offline is refused. */
export const MAX_OUTBOX = 100;

/** Stream ids ("<ms>-<seq>") in the order the room received them. */
export function compareIds(a: string, b: string): number {
  const [am = "0", as = "0"] = a.split("-");
  const [bm = "0", bs = "0"] = b.split("-");
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}

/** Where `id` goes in `messages` (kept in id order): binary search. */
export function insertionIndex(messages: readonly Message[], id: string): number {
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareIds((messages[mid] as Message).id, id) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class ChatState {
  readonly rooms = new Map<string, RoomState>();
  current: string | undefined;
  /** Messages waiting to be stored, in the order they were written. */
  readonly outbox: Pending[] = [];
  private readonly typing = new Map<string, Map<string, string>>();
  private firstList = true;

  constructor(readonly me: Member) {}

  /** The room's state, made (not joined) if the page did not know it. */
  room(name: string, label: string, kind: "room" | "dm"): RoomState {
    let r = this.rooms.get(name);
    if (!r) {
      r = {
        name,
        label,
        kind,
        joined: false,
        messages: [],
        ids: new Set(),
        members: [],
        unread: 0,
        oldestLoaded: false,
        invited: false,
        loaded: false,
        role: undefined,
        mentions: 0,
        private: false,
        topic: "",
        newFrom: undefined,
      };
      this.rooms.set(name, r);
    }
    return r;
  }

  get shown(): RoomState | undefined {
    return this.current === undefined ? undefined : this.rooms.get(this.current);
  }

  /**
   * Adds a message where its id puts it; false if the room already has it. A new message
   * (not history) from someone else in a room not in view counts as unread there.
   */
  addMessage(r: RoomState, m: Message, opts: { history?: boolean } = {}): boolean {
    if (r.ids.has(m.id)) return false;
    r.ids.add(m.id);
    r.messages.splice(insertionIndex(r.messages, m.id), 0, m);
    if (!opts.history && r.name !== this.current && m.user.id !== this.me.id) r.unread++;
    return true;
  }

  /** Puts a new version of a message (edited, or a tombstone) in its place. */
  replaceMessage(m: Message): RoomState | undefined {
    const r = this.rooms.get(m.room);
    if (!r?.ids.has(m.id)) return undefined;
    const i = insertionIndex(r.messages, m.id);
    if (r.messages[i]?.id !== m.id) return undefined;
    r.messages[i] = m;
    return r;
  }

  /**
   * Takes the server's list of the user's rooms (sent on every connect). Rooms it does not
   * list were left or taken away meanwhile. Returns the rooms this browser kept from before
   * the server kept lists (the first list only, when the server has none) to join.
   */
  applyRoomList(list: readonly RoomSummary[]): RoomState[] {
    const listed = new Set(list.map((s) => s.room));
    const imported =
      this.firstList && list.length === 0 ? [...this.rooms.values()].filter((r) => r.joined) : [];
    for (const r of [...this.rooms.values()]) {
      if (!listed.has(r.name) && !imported.includes(r)) this.rooms.delete(r.name);
    }
    for (const s of list) {
      const kind = s.kind === "dm" ? "dm" : "room";
      const r = this.room(s.room, s.label || (kind === "dm" ? "deleted user" : s.room), kind);
      r.topic = s.topic;
      r.invited = s.role === "invited";
      r.joined = !r.invited;
      r.role = s.role === "invited" ? undefined : s.role;
      r.private = s.kind === "private";
      // Fetched again when shown: messages may have been missed while disconnected.
      r.loaded = false;
      if (s.room !== this.current) {
        r.unread = s.unread;
        r.mentions = s.mentions;
      }
    }
    this.firstList = false;
    if (this.current && !this.rooms.get(this.current)?.joined) this.current = undefined;
    return imported;
  }

  /**
   * Shows a room: its unread messages are read now, and the "new messages" line goes before
   * the first of them (when they are loaded; see markNew).
   */
  select(name: string): RoomState | undefined {
    const r = this.rooms.get(name);
    if (!r) return undefined;
    if (this.current !== name) r.newFrom = undefined;
    this.current = name;
    if (r.unread > 0) this.markNew(r, r.unread);
    r.unread = 0;
    r.mentions = 0;
    return r;
  }

  /** Puts the "new messages" line before the last `count` messages from others. */
  markNew(r: RoomState, count: number): void {
    let seen = 0;
    for (let i = r.messages.length - 1; i >= 0; i--) {
      const m = r.messages[i] as Message;
      if (m.user.id === this.me.id) continue;
      seen++;
      if (seen === count) {
        r.newFrom = m.id;
        return;
      }
    }
    r.newFrom = r.messages.find((m) => m.user.id !== this.me.id)?.id;
  }

  /**
   * Takes a room out (left, removed or banned); returns the room to show instead, if any.
   * Its unsent messages go with it (the caller says so).
   */
  drop(name: string): string | undefined {
    this.rooms.delete(name);
    for (let i = this.outbox.length - 1; i >= 0; i--) {
      if (this.outbox[i]?.room === name) this.outbox.splice(i, 1);
    }
    if (this.current === name) this.current = undefined;
    return this.current ?? [...this.rooms.values()].find((r) => r.joined)?.name;
  }

  /** Unread messages and mentions over every room not in view. */
  totals(): { unread: number; mentions: number } {
    let unread = 0;
    let mentions = 0;
    for (const r of this.rooms.values()) {
      unread += r.unread;
      mentions += r.mentions;
    }
    return { unread, mentions };
  }

  /** The tab title: "(3 · 1 @) #lobby · parley", counts first so they show in a narrow tab. */
  title(): string {
    const r = this.shown;
    const name = r ? (r.kind === "room" ? `#${r.label}` : `@${r.label}`) : "Chat";
    const { unread, mentions } = this.totals();
    const counts =
      unread === 0 && mentions === 0
        ? ""
        : mentions === 0
          ? `(${unread}) `
          : `(${unread} · ${mentions} @) `;
    return `${counts}${name} · parley`;
  }

  // ---- presence ------------------------------------------------------------------------

  /** Who is online after a presence change: `left` gone, `joined` added, by name. */
  applyPresence(
    members: readonly Member[],
    joined: readonly Member[],
    left: readonly Member[],
  ): Member[] {
    const byId = new Map(members.map((m) => [m.id, m]));
    for (const m of left) byId.delete(m.id);
    for (const m of joined) byId.set(m.id, m);
    return [...byId.values()].sort((a, b) => a.username.localeCompare(b.username));
  }

  // ---- typing --------------------------------------------------------------------------

  /** Someone started typing in a room (the caller clears it after a while). */
  typingStart(room: string, user: Member): void {
    if (user.id === this.me.id) return;
    let names = this.typing.get(room);
    if (!names) {
      names = new Map();
      this.typing.set(room, names);
    }
    names.set(user.id, user.username);
  }

  /** They stopped (sent, or went quiet); true if they were shown as typing. */
  typingStop(room: string, userId: string): boolean {
    return this.typing.get(room)?.delete(userId) ?? false;
  }

  /** "ann is typing…", "ann and bob are typing…", or "". */
  typingText(room: string | undefined): string {
    const names = room ? [...(this.typing.get(room)?.values() ?? [])] : [];
    if (names.length === 0) return "";
    if (names.length === 1) return `${names[0]} is typing…`;
    return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} are typing…`;
  }

  // ---- the outbox ----------------------------------------------------------------------

  /**
   * Keeps a message to send (now or once the connection is back), in writing order;
   * undefined when the outbox is full.
   */
  queue(
    room: string,
    text: string,
    clientId: string,
    ts: number,
    files?: FileRef[],
  ): Pending | undefined {
    if (this.outbox.length >= MAX_OUTBOX) return undefined;
    const p: Pending = { clientId, room, text, ts, sending: false };
    if (files && files.length > 0) p.files = files;
    this.outbox.push(p);
    return p;
  }

  /**
   * The next message to send: the oldest that has not failed, unless it is being sent (one
   * at a time, so they are stored in the order written).
   */
  nextToSend(): Pending | undefined {
    const first = this.outbox.find((p) => !p.failed);
    return first && !first.sending ? first : undefined;
  }

  /** A message refused for good: it stays, marked, until retried or discarded. */
  fail(clientId: string, why: string): void {
    const p = this.outbox.find((x) => x.clientId === clientId);
    if (p) {
      p.failed = why;
      p.sending = false;
    }
  }

  /** Tries a failed message again (it keeps its place and its client id). */
  retry(clientId: string): void {
    const p = this.outbox.find((x) => x.clientId === clientId);
    if (p) p.failed = undefined;
  }

  /** The server stored it (a retry answers with the same message): it leaves the outbox. */
  stored(clientId: string, m: Message): RoomState | undefined {
    this.forget(clientId);
    const r = this.rooms.get(m.room);
    if (r) this.addMessage(r, m);
    return r;
  }

  /** Takes a message out of the outbox (stored, refused for good, or given back). */
  forget(clientId: string): Pending | undefined {
    const i = this.outbox.findIndex((p) => p.clientId === clientId);
    return i < 0 ? undefined : this.outbox.splice(i, 1)[0];
  }

  /** The messages still waiting in a room, oldest first. */
  pendingIn(room: string): Pending[] {
    return this.outbox.filter((p) => p.room === room);
  }
}
