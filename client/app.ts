// The chat page's actions: what happens when the person picks, joins or leaves a room, sends,
// edits or deletes a message, scrolls up for history, or when the connection comes and goes.
// They change the state (state.ts), talk to the server (socket.ts) and redraw (views/).
import { HISTORY_MAX, HISTORY_PAGE, MESSAGE_MAX_CHARS } from "../src/domain/limits.js";
import type { FileRef, Member, Message, RevokedReason, RoomMember } from "../src/domain/types.js";
import { clearError, showError, type Ui } from "./dom.js";
import type { Call, ChatSocket } from "./socket.js";
import type { ChatState, RoomState } from "./state.js";
import { renderTray, Uploads } from "./uploads.js";
import type { ViewActions } from "./views/actions.js";
import { renderMessages, showArrival, showOlder, updateJump } from "./views/messages.js";
import { renderMembers, renderRoomLists } from "./views/rooms.js";

const READ_EVERY_MS = 2000;
/**
 * Unsent messages survive a reload of the tab (sessionStorage: each tab has its own, so two
 * tabs never overwrite each other's), for a day at most: the server remembers a client id
 * for a day, and a retry later than that could be stored twice.
 */
const OUTBOX_KEY = (userId: string) => `parley:outbox:${userId}`;
const OUTBOX_KEEP_MS = 23 * 3600_000;
/** The rooms this browser showed last, per user (read once at start-up by main.ts). */
export const ROOMS_KEY = (userId: string) => `parley:rooms:${userId}`;

export const REASONS: Record<RevokedReason, string> = {
  logout: "You logged out in another tab or window.",
  revoked: "This session was ended from your sessions page.",
  password_changed: "Your password was changed, which signed out this session.",
  expired: "Your session expired.",
  deactivated: "An admin deactivated your account, which signed you out everywhere.",
  account_deleted: "Your account was deleted.",
};

type ConnState = "connecting" | "connected" | "reconnecting" | "signed-out";

export class App implements ViewActions {
  signedOut = false;
  /** A link to a message the page was opened with, until it is shown. */
  permalink: { room: string; id: string } | undefined;
  private readTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly reported = new Map<string, string>();
  private loadingOlder = false;
  private flushing = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Files attached to the messages being written, per room. */
  readonly uploads = new Uploads(
    () => this.renderTray(),
    () =>
      document.querySelector<HTMLInputElement>('form[action="/logout"] input[name="_csrf"]')
        ?.value ?? "",
  );

  constructor(
    readonly ui: Ui,
    readonly state: ChatState,
    readonly socket: ChatSocket,
    readonly call: Call,
    /** A fresh client id for an outgoing message. */
    private readonly newId: () => string,
  ) {}

  get me(): Member {
    return this.state.me;
  }

  // ---- connection ----------------------------------------------------------------------

  setStatus(state: ConnState, text: string): void {
    const { ui } = this;
    ui.status.dataset.state = state;
    ui.status.textContent = text;
    const inRoom = this.state.current !== undefined;
    const wasDisabled = ui.text.disabled;
    // Near the message box, on every screen size: what is wrong, and what happens next.
    const waiting = this.state.outbox.length;
    ui.connBanner.hidden = state !== "reconnecting";
    ui.connBanner.textContent =
      state === "reconnecting"
        ? `Connection lost. parley is reconnecting by itself; you can keep writing${
            waiting > 0
              ? `: ${waiting} message${waiting === 1 ? "" : "s"} will be sent once it is back.`
              : ", and messages are sent once it is back."
          }`
        : "";
    // Writing stays possible offline (messages wait in the outbox); signed out, it is not.
    const usable = inRoom && state !== "signed-out";
    ui.text.disabled = !usable;
    ui.send.disabled = !usable;
    // Uploads need the server: not while offline.
    ui.attach.disabled = !usable || state !== "connected";
    // The message box can take focus only once it is enabled: give it focus then, unless the
    // person is already somewhere else on the page.
    const idle = document.activeElement === null || document.activeElement === document.body;
    if (usable && wasDisabled && idle && !this.drawerOpen()) ui.text.focus();
  }

  showSignedOut(reason: string): void {
    if (this.signedOut) return;
    this.signedOut = true;
    this.socket.io.opts.reconnection = false;
    this.socket.disconnect();
    // Nothing of what was written stays in the browser once the login is over.
    try {
      sessionStorage.removeItem(OUTBOX_KEY(this.me.id));
    } catch {
      // storage unavailable
    }
    this.setStatus("signed-out", "Signed out");
    this.ui.signedOutReason.textContent = reason;
    this.ui.signedOut.hidden = false;
    this.ui.signedOut.querySelector("a")?.focus();
  }

  /** A refused handshake is an HTTP 401: ask the page itself whether the login still exists. */
  async checkLogin(): Promise<void> {
    try {
      const res = await fetch("/chat", { redirect: "manual", credentials: "same-origin" });
      if (res.type === "opaqueredirect" || res.status === 303 || res.status === 401) {
        this.showSignedOut(REASONS.expired);
        return;
      }
    } catch {
      // network trouble: keep trying to reconnect
    }
    this.setStatus("reconnecting", "Reconnecting…");
    if (!this.socket.connected && !this.signedOut) setTimeout(() => this.socket.connect(), 1000);
  }

  // ---- the drawer (phones) -------------------------------------------------------------

  drawerOpen(): boolean {
    return this.ui.chat.classList.contains("drawer-open");
  }

  setDrawer(open: boolean): void {
    const { ui } = this;
    if (open === this.drawerOpen()) return;
    ui.chat.classList.toggle("drawer-open", open);
    ui.drawerToggle.setAttribute("aria-expanded", String(open));
    ui.drawerBackdrop.hidden = !open;
    if (open) {
      (ui.rooms.querySelector("button") ?? ui.joinInput).focus();
    } else if (ui.chat.querySelector("#sidebar")?.contains(document.activeElement)) {
      ui.drawerToggle.focus();
    }
  }

  // ---- rooms ---------------------------------------------------------------------------

  renderRoomLists(): void {
    renderRoomLists(this);
  }

  renderMessages(r: RoomState, stick = true): void {
    renderMessages(this, r, stick);
    this.renderTray();
  }

  /** The current room's attachments, under the message box. */
  renderTray(): void {
    renderTray(this.ui.tray, this.uploads, this.state.shown?.name);
  }

  /** Attaches files (the button, a paste, a drop) to the message being written here. */
  attach(files: Iterable<File>): void {
    const r = this.state.shown;
    if (!r) return;
    if (this.ui.attach.disabled) {
      showError(this.ui.sendError, "Files can be attached once the connection is back.");
      return;
    }
    clearError(this.ui.sendError);
    const refused = this.uploads.add(r.name, files);
    if (refused) showError(this.ui.sendError, refused);
  }

  renderTopic(r: RoomState): void {
    this.ui.topic.textContent = r.topic;
    this.ui.topic.hidden = r.topic === "";
  }

  /** The room's management panel: for its owner and moderators only. */
  renderManage(r: RoomState): void {
    const { ui } = this;
    const moderates = r.kind === "room" && (r.role === "owner" || r.role === "moderator");
    ui.manage.hidden = !moderates;
    ui.manageInvite.hidden = !r.private;
    ui.manageNote.hidden = true;
    if (!moderates) ui.manage.open = false;
  }

  manageNote(text: string): void {
    this.ui.manageNote.textContent = text;
    this.ui.manageNote.hidden = false;
  }

  /** Who is in the room in view; for a named room, every member too (fetched on select). */
  private members = new Map<string, RoomMember[]>();
  /** Rooms with more members than their first page. */
  private moreMembers = new Map<string, boolean>();
  renderMembers(r: RoomState): void {
    renderMembers(this, r, this.members.get(r.name) ?? [], this.moreMembers.get(r.name) ?? false);
  }

  private async fetchMembers(r: RoomState): Promise<void> {
    if (r.kind !== "room" || !this.socket.connected) return;
    // The first page: a room's list shows up to 500 members (and everyone online).
    const res = await this.call("room:members", { room: r.name });
    if (!res.ok) return;
    this.members.set(r.name, res.members);
    this.moreMembers.set(r.name, res.next !== undefined);
    if (this.state.current === r.name) this.renderMembers(r);
  }

  renderTyping(): void {
    this.ui.typing.textContent = this.state.typingText(this.state.current);
  }

  saveRooms(): void {
    const list = [...this.state.rooms.values()]
      .filter((r) => r.joined)
      .map((r) => ({ name: r.name, label: r.label, kind: r.kind }));
    try {
      localStorage.setItem(
        ROOMS_KEY(this.me.id),
        JSON.stringify({ list, current: this.state.current }),
      );
    } catch {
      // storage may be unavailable (private mode): rooms are then per page load
    }
  }

  /** Joins (or creates) a room and shows its history; false when refused (the form says why). */
  async join(
    name: string,
    opts: {
      focus: boolean;
      quiet?: boolean;
      label?: string;
      kind?: "room" | "dm";
      createPrivate?: boolean;
    },
  ): Promise<boolean> {
    const { ui, state } = this;
    const kind = opts.kind ?? (name.startsWith("dm:") ? "dm" : "room");
    const existing = state.rooms.get(name);
    const r = state.room(name, opts.label ?? existing?.label ?? name, kind);
    const res = opts.createPrivate
      ? await this.call("room:create", { room: name, kind: "private" })
      : await this.call("room:join", { room: name });
    if (!res.ok) {
      if (!opts.quiet) showError(kind === "dm" ? ui.dmError : ui.joinError, res.error.message);
      if (!existing?.joined && !existing?.invited) state.rooms.delete(name);
      return false;
    }
    r.joined = true;
    r.invited = false;
    r.loaded = true;
    r.topic = res.topic;
    r.role = res.role;
    r.private = res.kind === "private";
    r.members = res.members;
    for (const m of res.history) state.addMessage(r, m, { history: true });
    if (res.history.length < HISTORY_PAGE) r.oldestLoaded = true;
    if (r.name === state.current && r.unread > 0) {
      state.markNew(r, r.unread);
      r.unread = 0;
    }
    this.saveRooms();
    if (opts.focus || state.current === undefined) this.select(name);
    else if (name === state.current) {
      this.renderMembers(r);
      this.renderMessages(r);
      this.renderManage(r);
      this.renderTopic(r);
      this.renderRoomLists();
      this.reportRead();
    } else this.renderRoomLists();
    void this.flushOutbox();
    return true;
  }

  select(name: string): void {
    const { ui, state } = this;
    const unreadBefore = state.rooms.get(name)?.unread ?? 0;
    const r = state.select(name);
    if (!r) return;
    if (r.joined && !r.loaded && this.socket.connected) {
      // Its history is fetched first; the new-messages line is placed once it is here.
      r.unread = unreadBefore;
      void this.join(name, { focus: false, quiet: true });
    }
    ui.title.textContent = r.kind === "room" ? `# ${r.label}` : `@ ${r.label}`;
    this.renderTopic(r);
    this.renderManage(r);
    ui.leave.hidden = false;
    this.reportRead();
    this.renderMembers(r);
    void this.fetchMembers(r);
    this.renderMessages(r);
    this.renderTyping();
    this.renderRoomLists();
    this.saveRooms();
    this.setStatus(
      this.socket.connected ? "connected" : "reconnecting",
      this.socket.connected ? "Connected" : "Reconnecting…",
    );
    if (this.drawerOpen()) this.setDrawer(false);
    if (!ui.text.disabled) ui.text.focus();
  }

  /** Takes a room out of the page (left, removed or banned), and shows another. */
  dropRoom(name: string, reason?: string): void {
    let note = reason;
    const { ui, state } = this;
    const wasShown = state.current === name;
    const unsent = state.pendingIn(name).length;
    const next = state.drop(name);
    this.saveOutbox();
    if (unsent > 0) {
      const what = `${unsent} unsent message${unsent === 1 ? "" : "s"} to it were discarded.`;
      note = note ? `${note} ${what}` : `You left the room: ${what}`;
    }
    if (wasShown) {
      if (next) this.select(next);
      else {
        ui.title.textContent = "Pick a room";
        ui.topic.hidden = true;
        ui.leave.hidden = true;
        ui.manage.hidden = true;
        ui.members.replaceChildren();
        ui.list.replaceChildren();
        ui.empty.hidden = false;
      }
    }
    this.renderRoomLists();
    this.saveRooms();
    if (note) showError(ui.sendError, note);
  }

  async openDm(username: string): Promise<void> {
    const { ui } = this;
    clearError(ui.dmError);
    const res = await this.call("dm:open", { username });
    if (!res.ok) {
      const msg =
        res.error.code === "not_found"
          ? `There is no user called “${username}”.`
          : res.error.code === "invalid"
            ? "That is you. Pick someone else."
            : res.error.message;
      showError(ui.dmError, msg);
      if (this.drawerOpen() === false && ui.dmError.offsetParent === null) {
        showError(ui.sendError, msg);
      }
      return;
    }
    if (await this.join(res.room, { focus: true, label: username, kind: "dm" })) {
      ui.dmInput.value = "";
    }
  }

  // ---- reading -------------------------------------------------------------------------

  /**
   * The read position is kept on the server (the same on every device): reported for the
   * room in view while the page is visible, at most once every two seconds.
   */
  reportRead(): void {
    if (this.readTimer) return;
    this.readTimer = setTimeout(() => {
      this.readTimer = undefined;
      const r = this.state.shown;
      const last = r?.messages[r.messages.length - 1];
      if (!r || !last || document.visibilityState !== "visible" || !this.socket.connected) return;
      if (this.reported.get(r.name) === last.id) return;
      this.reported.set(r.name, last.id);
      void this.call("room:read", { room: r.name, id: last.id });
    }, READ_EVERY_MS);
  }

  async loadOlder(): Promise<void> {
    const { ui } = this;
    const r = this.state.shown;
    const oldest = r?.messages[0];
    if (!r || !oldest || r.oldestLoaded || this.loadingOlder) return;
    this.loadingOlder = true;
    // Pages of the most one request returns: scrolling back a long room takes fewer.
    const res = await this.call("message:history", {
      room: r.name,
      before: oldest.id,
      limit: HISTORY_MAX,
    });
    this.loadingOlder = false;
    if (!res.ok) return;
    if (res.messages.length < HISTORY_MAX) r.oldestLoaded = true;
    let added = 0;
    for (const m of res.messages) if (this.state.addMessage(r, m, { history: true })) added++;
    if (r.name !== this.state.current) return;
    // Older messages only ever go first (each is older than all shown): drawn above them.
    const first = r.messages[added];
    if (first?.id === oldest.id) showOlder(this, r, added);
    else {
      const before = ui.scroller.scrollHeight - ui.scroller.scrollTop;
      this.renderMessages(r, false);
      ui.scroller.scrollTop = ui.scroller.scrollHeight - before;
    }
  }

  /** A message arrived (from anyone, this user's other devices included). */
  arrived(r: RoomState, m: Message): void {
    if (r.detached) {
      // Older history is shown: the message is there once the person jumps to the latest.
      updateJump(this);
      return;
    }
    if (!this.state.addMessage(r, m)) return;
    this.state.typingStop(m.room, m.user.id);
    if (m.room === this.state.current) {
      showArrival(this, r, m);
      this.renderTyping();
      this.reportRead();
    } else this.renderRoomLists();
  }

  jumpToLatest(): void {
    const r = this.state.shown;
    if (r?.detached) {
      // A stretch of older history was shown: the newest page takes its place.
      r.detached = false;
      r.linked = undefined;
      r.messages = [];
      r.ids = new Set();
      r.oldestLoaded = false;
      r.loaded = false;
      void this.join(r.name, { focus: false, quiet: true }).then(() => this.ui.text.focus());
      return;
    }
    if (r) r.newFrom = undefined;
    this.ui.scroller.scrollTop = this.ui.scroller.scrollHeight;
    updateJump(this);
    this.ui.text.focus();
  }

  // ---- links to messages and search ----------------------------------------------------

  /** The address that opens a message in its room (for whoever may read that room). */
  linkTo(m: Message): string {
    const q = new URLSearchParams({ room: m.room, message: m.id });
    return `${location.origin}/chat?${q}`;
  }

  copyLink(m: Message): void {
    const link = this.linkTo(m);
    const done = () => {
      this.ui.sendError.textContent = "Link copied.";
      this.ui.sendError.hidden = false;
      setTimeout(() => clearError(this.ui.sendError), 2000);
    };
    if (navigator.clipboard?.writeText) {
      navigator.clipboard.writeText(link).then(done, () => window.prompt("Copy this link:", link));
    } else window.prompt("Copy this link:", link);
  }

  /**
   * Opens a message in its room, with the messages around it (older ones load above it, the
   * newest are a jump away). A message the person may not see, in a room that does not
   * exist or that they may not read, gets one answer: it is not available.
   */
  async openPermalink(room: string, id: string): Promise<boolean> {
    const { ui, state } = this;
    const res = await this.call("message:around", { room, id, context: 25 });
    if (!res.ok) {
      showError(
        ui.sendError,
        "That message is not available: it does not exist, or you cannot see it.",
      );
      return false;
    }
    // A reader who is not in the room (a public one) joins it to see it.
    if (!(await this.join(room, { focus: true, quiet: true }))) {
      showError(
        ui.sendError,
        "That message is not available: it does not exist, or you cannot see it.",
      );
      return false;
    }
    const r = state.rooms.get(room);
    if (!r) return false;
    r.messages = [];
    r.ids = new Set();
    for (const m of res.messages) state.addMessage(r, m, { history: true });
    r.oldestLoaded = false;
    const at = res.messages.findIndex((m) => m.id === id);
    // Fewer than asked for after it: the newest message is among them.
    r.detached = res.messages.length - at - 1 >= 25;
    r.linked = id;
    r.newFrom = undefined;
    if (state.current !== room) this.select(room);
    else this.renderMessages(r);
    ui.list.querySelector<HTMLElement>(".linked")?.scrollIntoView({ block: "center" });
    return true;
  }

  // ---- sending -------------------------------------------------------------------------

  /** Takes what is in the message box: into the outbox, then sent as soon as it can be. */
  sendCurrent(): void {
    const { ui, state } = this;
    clearError(ui.sendError);
    const r = state.shown;
    const text = ui.text.value.trim();
    if (!r) return;
    if (this.uploads.busy(r.name)) {
      showError(ui.sendError, "Wait until your files have uploaded, or cancel them.");
      return;
    }
    const files: FileRef[] = this.uploads.ready(r.name);
    if (!text && files.length === 0) return;
    if ([...text].length > MESSAGE_MAX_CHARS) {
      showError(ui.sendError, `Messages can be at most ${MESSAGE_MAX_CHARS} characters.`);
      return;
    }
    // Cleared at once, so whatever is typed next is never lost when this one is answered.
    ui.text.value = "";
    this.autosize();
    if (!state.queue(r.name, text, this.newId(), Date.now(), files)) {
      ui.text.value = text;
      this.autosize();
      showError(ui.sendError, "Too many messages are waiting to be sent. Wait until they are.");
      return;
    }
    this.uploads.sent(r.name);
    this.saveOutbox();
    this.renderMessages(r);
    // Offline: the banner says how many are waiting.
    if (!this.socket.connected && !this.signedOut) this.setStatus("reconnecting", "Reconnecting…");
    void this.flushOutbox();
  }

  /**
   * Sends the outbox, oldest first, one at a time (so messages are stored in the order they
   * were written). A message the server did not answer stays, with its client id, and is
   * sent again on reconnect: the server stores it once whatever happens to the answer.
   */
  async flushOutbox(): Promise<void> {
    const { state, ui } = this;
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let p = state.nextToSend(); p && this.socket.connected; p = state.nextToSend()) {
        p.sending = true;
        const shown = state.shown;
        if (shown?.name === p.room) this.renderMessages(shown);
        const res = await this.call("message:send", {
          room: p.room,
          text: p.text,
          clientId: p.clientId,
          ...(p.files ? { files: p.files.map((f) => f.id) } : {}),
        });
        p.sending = false;
        if (res.ok) {
          state.stored(p.clientId, res.message);
          this.saveOutbox();
          const r = state.rooms.get(p.room);
          if (r && r.name === state.current) this.renderMessages(r);
          // Receivers clear our typing notice when it arrives: announce the next one at once.
          this.lastTypingSent = 0;
          continue;
        }
        const code = res.error.code;
        if (code === "unavailable" || code === "rate_limited") {
          // Kept: tried again shortly (and on reconnect), in the same order.
          if (code === "rate_limited") {
            showError(ui.sendError, "You are sending messages too fast: they go out in a moment.");
          }
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => void this.flushOutbox(), 3000);
          const r = state.rooms.get(p.room);
          if (r && r.name === state.current) this.renderMessages(r);
          return;
        }
        if (code === "not_joined" && !p.rejoined) {
          // This socket is not in the room (yet): join it, then send again.
          p.rejoined = true;
          const r = state.rooms.get(p.room);
          const joined = r ? await this.join(p.room, { focus: false, quiet: true }) : false;
          if (joined) continue;
        }
        // Refused for good (left the room, removed, …): kept and marked, with Retry and
        // Discard, so nothing written is lost without the person knowing.
        state.fail(p.clientId, res.error.message);
        this.saveOutbox();
        showError(ui.sendError, `A message was not sent: ${res.error.message}`);
        const r = state.rooms.get(p.room);
        if (r && r.name === state.current) this.renderMessages(r);
      }
    } finally {
      this.flushing = false;
    }
  }

  saveOutbox(): void {
    try {
      const list = this.state.outbox.map(({ clientId, room, text, ts, files }) => ({
        clientId,
        room,
        text,
        ts,
        files,
      }));
      sessionStorage.setItem(OUTBOX_KEY(this.me.id), JSON.stringify(list));
    } catch {
      // storage unavailable: the outbox lives as long as the page
    }
  }

  restoreOutbox(): void {
    try {
      const list = JSON.parse(sessionStorage.getItem(OUTBOX_KEY(this.me.id)) ?? "[]") as unknown;
      if (!Array.isArray(list)) return;
      const now = Date.now();
      for (const p of list as Record<string, unknown>[]) {
        if (
          typeof p?.clientId === "string" &&
          typeof p.room === "string" &&
          typeof p.text === "string" &&
          typeof p.ts === "number" &&
          now - p.ts < OUTBOX_KEEP_MS
        ) {
          this.state.queue(
            p.room,
            p.text,
            p.clientId,
            p.ts,
            Array.isArray(p.files) ? (p.files as FileRef[]) : undefined,
          );
        }
      }
    } catch {
      // nothing kept
    }
  }

  /** Sends a message that failed again (Retry), in its place. */
  retrySend(clientId: string): void {
    this.state.retry(clientId);
    const p = this.state.outbox.find((x) => x.clientId === clientId);
    if (p) p.rejoined = false;
    const r = this.state.shown;
    if (r) this.renderMessages(r);
    void this.flushOutbox();
  }

  /** Drops a message that failed (Discard); its text goes back to the box if that is empty. */
  discardSend(clientId: string): void {
    const p = this.state.forget(clientId);
    this.saveOutbox();
    if (p && this.ui.text.value === "" && p.room === this.state.current) {
      this.ui.text.value = p.text;
      this.autosize();
    }
    const r = this.state.shown;
    if (r) this.renderMessages(r);
  }

  autosize(): void {
    const t = this.ui.text;
    t.rows = Math.min(6, Math.max(1, t.value.split("\n").length));
  }

  lastTypingSent = 0;

  // ---- editing -------------------------------------------------------------------------

  /** Turns a message into an editing box: Enter saves, Escape cancels. One at a time. */
  startEdit(m: Message, r: RoomState): void {
    r.editing = { id: m.id, draft: m.text, saving: false };
    this.renderMessages(r, false);
  }

  /** Up-arrow in an empty message box: edit your last message in the room in view. */
  editLast(): boolean {
    const r = this.state.shown;
    if (!r) return false;
    for (let i = r.messages.length - 1; i >= 0; i--) {
      const m = r.messages[i] as Message;
      if (m.user.id === this.me.id && !m.deleted) {
        this.startEdit(m, r);
        this.ui.list.querySelector(`[data-id="${m.id}"]`)?.scrollIntoView({ block: "nearest" });
        return true;
      }
    }
    return false;
  }

  deleteMessage(m: Message, r: RoomState): void {
    if (!window.confirm("Delete this message for everyone?")) return;
    void this.call("message:delete", { room: r.name, id: m.id }).then((res) => {
      if (res.ok) this.replaced(res.message);
      else showError(this.ui.sendError, res.error.message);
    });
  }

  /** A new version of a message (edited, or a tombstone) goes where it stands. */
  replaced(m: Message): void {
    const r = this.state.replaceMessage(m);
    if (r && m.room === this.state.current) this.renderMessages(r, false);
  }

  /** The editing box of the message being edited (drawn in place of its text). */
  editBox(m: Message, r: RoomState): HTMLTextAreaElement {
    const editing = r.editing as { id: string; draft: string; saving: boolean };
    const box = document.createElement("textarea");
    box.className = "edit-box";
    box.value = editing.draft;
    box.maxLength = MESSAGE_MAX_CHARS;
    box.rows = Math.min(6, Math.max(1, editing.draft.split("\n").length));
    box.setAttribute("aria-label", "Edit your message");
    const finish = () => {
      r.editing = undefined;
      this.renderMessages(r, false);
      this.ui.list.querySelector<HTMLButtonElement>(`[data-edit="${m.id}"]`)?.focus();
    };
    box.addEventListener("input", () => {
      editing.draft = box.value;
    });
    box.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        finish();
        this.ui.text.focus();
        return;
      }
      if (e.key !== "Enter" || e.shiftKey || e.isComposing) return;
      e.preventDefault();
      if (editing.saving) return;
      const text = box.value.trim();
      if (!text || text === m.text) return finish();
      editing.saving = true;
      void this.call("message:edit", { room: r.name, id: m.id, text }).then((res) => {
        editing.saving = false;
        if (!res.ok) {
          showError(this.ui.sendError, res.error.message);
          return;
        }
        r.editing = undefined;
        this.replaced(res.message);
      });
    });
    queueMicrotask(() => {
      if (box.isConnected && document.activeElement !== box) box.focus();
    });
    return box;
  }
}
