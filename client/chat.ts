// The chat page's client: one Socket.IO connection authenticated by the page's session
// cookie, speaking the event contract in src/realtime/events.ts. Everything users typed is
// rendered with textContent, never as HTML.
import { io, type Socket } from "socket.io-client";
import type {
  AckResult,
  ClientEventMap,
  ClientEventName,
  ClientToServerEvents,
  Member,
  Message,
  RevokedReason,
  RoomRole,
  RoomSummary,
  ServerToClientEvents,
} from "../src/realtime/events.js";

type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

interface RoomState {
  name: string;
  label: string;
  kind: "room" | "dm";
  joined: boolean;
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
}

const HISTORY_PAGE = 50;
const TYPING_SHOW_MS = 3000;
const TYPING_SEND_EVERY_MS = 2000;

function el<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} missing`);
  return found as T;
}

const root = el<HTMLDivElement>("chat");
const me: Member = { id: root.dataset.userId ?? "", username: root.dataset.username ?? "" };
const ui = {
  status: el<HTMLDivElement>("status"),
  rooms: el<HTMLUListElement>("rooms"),
  dms: el<HTMLUListElement>("dms"),
  joinForm: el<HTMLFormElement>("join-form"),
  joinInput: el<HTMLInputElement>("join-room"),
  joinError: el<HTMLParagraphElement>("join-error"),
  dmForm: el<HTMLFormElement>("dm-form"),
  dmInput: el<HTMLInputElement>("dm-user"),
  dmError: el<HTMLParagraphElement>("dm-error"),
  title: el<HTMLHeadingElement>("room-title"),
  joinPrivate: el<HTMLInputElement>("join-private"),
  manage: el<HTMLDetailsElement>("manage"),
  manageForm: el<HTMLFormElement>("manage-form"),
  manageUser: el<HTMLInputElement>("manage-user"),
  manageInvite: el<HTMLButtonElement>("manage-invite"),
  topicForm: el<HTMLFormElement>("topic-form"),
  topicText: el<HTMLInputElement>("topic-text"),
  manageNote: el<HTMLParagraphElement>("manage-note"),
  topic: el<HTMLParagraphElement>("room-topic"),
  leave: el<HTMLButtonElement>("leave-room"),
  members: el<HTMLParagraphElement>("members"),
  scroller: el<HTMLDivElement>("messages"),
  loadOlder: el<HTMLButtonElement>("load-older"),
  list: el<HTMLOListElement>("message-list"),
  empty: el<HTMLParagraphElement>("empty"),
  typing: el<HTMLParagraphElement>("typing"),
  composer: el<HTMLFormElement>("composer"),
  text: el<HTMLTextAreaElement>("text"),
  send: el<HTMLButtonElement>("send"),
  sendError: el<HTMLParagraphElement>("send-error"),
  chat: root,
  drawerToggle: el<HTMLButtonElement>("drawer-toggle"),
  drawerBackdrop: el<HTMLDivElement>("drawer-backdrop"),
  connBanner: el<HTMLParagraphElement>("conn-banner"),
  signedOut: el<HTMLDivElement>("signed-out"),
  signedOutReason: el<HTMLParagraphElement>("signed-out-reason"),
};

const rooms = new Map<string, RoomState>();
let current: string | undefined;
let signedOut = false;
let lastTypingSent = 0;
const typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
const typingNames = new Map<string, Map<string, string>>();
const STORAGE_KEY = `parley:rooms:${me.id}`;

const socket: ChatSocket = io({
  path: "/socket.io/",
  transports: ["websocket", "polling"],
  withCredentials: true,
});

function call<E extends ClientEventName>(
  event: E,
  payload: ClientEventMap[E]["payload"],
): Promise<AckResult<ClientEventMap[E]["result"]>> {
  const timed = socket.timeout(8000) as unknown as {
    emitWithAck(
      e: E,
      p: ClientEventMap[E]["payload"],
    ): Promise<AckResult<ClientEventMap[E]["result"]>>;
  };
  return timed.emitWithAck(event, payload).catch(() => ({
    ok: false as const,
    error: { code: "unavailable" as const, message: "No answer from the server. Try again." },
  }));
}

// ---- connection state ----------------------------------------------------------------

type ConnState = "connecting" | "connected" | "reconnecting" | "signed-out";
function setStatus(state: ConnState, text: string): void {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  const usable = state === "connected" && current !== undefined;
  const wasDisabled = ui.text.disabled;
  // Near the message box, on every screen size: why it cannot send, and what happens next.
  ui.connBanner.hidden = state !== "reconnecting";
  ui.connBanner.textContent =
    state === "reconnecting"
      ? "Connection lost. parley is reconnecting by itself; you can send again once it is back."
      : "";
  ui.text.disabled = !usable;
  ui.send.disabled = !usable;
  // The message box can take focus only once it is enabled: give it focus then, unless the
  // person is already somewhere else on the page.
  const idle = document.activeElement === null || document.activeElement === document.body;
  if (usable && wasDisabled && idle && !drawerOpen()) ui.text.focus();
}

// ---- the room drawer (phones) -----------------------------------------------------------
// On a narrow screen the room list is a drawer over the conversation, opened from the
// header; choosing a room, the backdrop or Escape closes it and focus returns to the header.

function drawerOpen(): boolean {
  return ui.chat.classList.contains("drawer-open");
}

function setDrawer(open: boolean): void {
  if (open === drawerOpen()) return;
  ui.chat.classList.toggle("drawer-open", open);
  ui.drawerToggle.setAttribute("aria-expanded", String(open));
  ui.drawerBackdrop.hidden = !open;
  if (open) {
    (ui.rooms.querySelector("button") ?? ui.joinInput).focus();
  } else if (ui.chat.querySelector("#sidebar")?.contains(document.activeElement)) {
    ui.drawerToggle.focus();
  }
}

ui.drawerToggle.addEventListener("click", () => setDrawer(!drawerOpen()));
ui.drawerBackdrop.addEventListener("click", () => setDrawer(false));
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && drawerOpen()) setDrawer(false);
});

const REASONS: Record<RevokedReason, string> = {
  logout: "You logged out in another tab or window.",
  revoked: "This session was ended from your sessions page.",
  password_changed: "Your password was changed, which signed out this session.",
  expired: "Your session expired.",
  deactivated: "An admin deactivated your account, which signed you out everywhere.",
  account_deleted: "Your account was deleted.",
};

function showSignedOut(reason: string): void {
  if (signedOut) return;
  signedOut = true;
  socket.io.opts.reconnection = false;
  socket.disconnect();
  setStatus("signed-out", "Signed out");
  ui.signedOutReason.textContent = reason;
  ui.signedOut.hidden = false;
  ui.signedOut.querySelector("a")?.focus();
}

socket.on("connect", () => {
  setStatus("connected", "Connected");
});

// The server keeps the user's rooms: on every connect it joins the socket to them and sends
// the list, so every device shows the same rooms. The page then loads each one's history.
let firstList = true;
socket.on("rooms", ({ rooms: list }) => applyRoomList(list));
socket.on("disconnect", (reason) => {
  if (signedOut) return;
  if (reason === "io server disconnect") {
    // The server closed us without a revocation notice: check whether we are still logged in.
    void checkLogin();
    return;
  }
  setStatus("reconnecting", "Reconnecting…");
});
socket.on("connect_error", (err) => {
  if (signedOut) return;
  if (err.message === "unauthorized" || /401|403/.test(err.message)) {
    void checkLogin();
  } else {
    setStatus("reconnecting", "Reconnecting…");
  }
});
socket.on("session:revoked", ({ reason }) => showSignedOut(REASONS[reason] ?? REASONS.expired));
socket.on("server:shutdown", () => setStatus("reconnecting", "Server restarting… reconnecting"));

/** A refused handshake is an HTTP 401: ask the page itself whether the login still exists. */
async function checkLogin(): Promise<void> {
  try {
    const res = await fetch("/chat", { redirect: "manual", credentials: "same-origin" });
    if (res.type === "opaqueredirect" || res.status === 303 || res.status === 401) {
      showSignedOut(REASONS.expired);
      return;
    }
  } catch {
    // network trouble: keep trying to reconnect
  }
  setStatus("reconnecting", "Reconnecting…");
  if (!socket.connected && !signedOut) setTimeout(() => socket.connect(), 1000);
}

// ---- rooms ---------------------------------------------------------------------------

function applyRoomList(list: RoomSummary[]): void {
  const listed = new Set(list.map((s) => s.room));
  // Rooms the server does not list were left (on another device) or taken away meanwhile.
  // Once only: rooms this browser kept from before the server kept them are joined.
  const imported =
    firstList && list.length === 0 ? [...rooms.values()].filter((r) => r.joined) : [];
  for (const r of [...rooms.values()]) {
    if (!listed.has(r.name) && !imported.includes(r)) rooms.delete(r.name);
  }
  for (const s of list) {
    const kind = s.kind === "dm" ? "dm" : "room";
    const r = roomState(s.room, s.label || (kind === "dm" ? "deleted user" : s.room), kind);
    r.topic = s.topic;
    r.invited = s.role === "invited";
    r.joined = !r.invited;
    r.role = s.role === "invited" ? undefined : s.role;
    r.private = s.kind === "private";
    // Fetched again when shown: messages may have been missed while disconnected.
    r.loaded = false;
    if (s.room !== current) {
      r.unread = s.unread;
      r.mentions = s.mentions;
    }
  }
  firstList = false;
  if (current && !rooms.get(current)?.joined) current = undefined;
  // The server has joined this socket to every listed room; only the one in view is fetched
  // now (the others when picked), so a person in many rooms costs one request on connect.
  for (const r of imported) void join(r.name, { focus: false, quiet: true });
  if (list.length === 0 && imported.length === 0) {
    void join("lobby", { focus: true, quiet: true });
  }
  renderRoomLists();
  const shown = current ?? [...rooms.values()].find((r) => r.joined)?.name;
  if (shown) select(shown);
}

/** Takes a room out of the page (left, removed or banned), and shows another. */
function dropRoom(name: string, note?: string): void {
  rooms.delete(name);
  if (current === name) {
    current = undefined;
    const next = [...rooms.values()].find((r) => r.joined);
    if (next) select(next.name);
    else {
      ui.title.textContent = "Pick a room";
      ui.topic.hidden = true;
      ui.leave.hidden = true;
      ui.manage.hidden = true;
      ui.list.replaceChildren();
      ui.empty.hidden = false;
    }
  }
  renderRoomLists();
  saveRooms();
  if (note) showError(ui.sendError, note);
}

socket.on("room:removed", ({ room, reason }) => {
  const label = rooms.get(room)?.label ?? room;
  dropRoom(
    room,
    reason === "left"
      ? undefined
      : reason === "banned"
        ? `You were banned from #${label}.`
        : `You were removed from #${label}.`,
  );
});

socket.on("room:invited", ({ room, topic, by }) => {
  const r = roomState(room, room, "room");
  if (r.joined) return;
  r.invited = true;
  r.topic = topic;
  renderRoomLists();
  showError(ui.joinError, `${by.username} invited you to #${room}. Pick it to join.`);
});

socket.on("room:updated", ({ room, topic, member }) => {
  const r = rooms.get(room);
  if (!r) return;
  if (topic !== undefined) r.topic = topic;
  if (member?.id === me.id) r.role = member.role;
  if (room === current) {
    renderTopic(r);
    renderManage(r);
    renderMessages(r);
  }
});

/** The room's management panel: for its owner and moderators only. */
function renderManage(r: RoomState): void {
  const moderates = r.kind === "room" && (r.role === "owner" || r.role === "moderator");
  ui.manage.hidden = !moderates;
  ui.manageInvite.hidden = !r.private;
  ui.manageNote.hidden = true;
  if (!moderates) ui.manage.open = false;
}

function manageNote(text: string): void {
  ui.manageNote.textContent = text;
  ui.manageNote.hidden = false;
}

ui.manageForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const r = current ? rooms.get(current) : undefined;
  const username = ui.manageUser.value.trim();
  const action = (e.submitter as HTMLButtonElement | null)?.value;
  if (!r || !username) return;
  const done = (res: { ok: boolean; error?: { message: string } }, what: string) => {
    if (res.ok) {
      manageNote(`${username}: ${what}.`);
      ui.manageUser.value = "";
    } else manageNote(res.error?.message ?? "That did not work.");
  };
  const payload = { room: r.name, username };
  if (action === "invite") void call("room:invite", payload).then((x) => done(x, "invited"));
  else if (action === "remove") void call("room:remove", payload).then((x) => done(x, "removed"));
  else if (action === "ban") void call("room:ban", payload).then((x) => done(x, "banned"));
  else if (action === "unban") void call("room:unban", payload).then((x) => done(x, "unbanned"));
});

ui.topicForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const r = current ? rooms.get(current) : undefined;
  if (!r) return;
  void call("room:topic", { room: r.name, topic: ui.topicText.value }).then((res) => {
    if (res.ok) {
      r.topic = res.topic;
      renderTopic(r);
      manageNote("Topic set.");
    } else manageNote(res.error.message);
  });
});

function renderTopic(r: RoomState): void {
  ui.topic.textContent = r.topic;
  ui.topic.hidden = r.topic === "";
}

ui.leave.addEventListener("click", () => {
  const r = current ? rooms.get(current) : undefined;
  if (!r) return;
  const what = r.kind === "room" ? `#${r.label}` : `the conversation with ${r.label}`;
  if (!window.confirm(`Leave ${what}? It leaves your list on every device.`)) return;
  void call("room:leave", { room: r.name }).then((res) => {
    if (res.ok) dropRoom(r.name);
    else showError(ui.sendError, res.error.message);
  });
});

// The read position is kept on the server (the same on every device): reported for the
// room in view while the page is visible, at most once every two seconds.
const READ_EVERY_MS = 2000;
let readTimer: ReturnType<typeof setTimeout> | undefined;
const reported = new Map<string, string>();
function reportRead(): void {
  if (readTimer) return;
  readTimer = setTimeout(() => {
    readTimer = undefined;
    const r = current ? rooms.get(current) : undefined;
    const last = r?.messages[r.messages.length - 1];
    if (!r || !last || document.visibilityState !== "visible" || !socket.connected) return;
    if (reported.get(r.name) === last.id) return;
    reported.set(r.name, last.id);
    void call("room:read", { room: r.name, id: last.id });
  }, READ_EVERY_MS);
}
document.addEventListener("visibilitychange", reportRead);

function roomState(name: string, label: string, kind: "room" | "dm"): RoomState {
  let r = rooms.get(name);
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
    };
    rooms.set(name, r);
  }
  return r;
}

function saveRooms(): void {
  const list = [...rooms.values()]
    .filter((r) => r.joined)
    .map((r) => ({ name: r.name, label: r.label, kind: r.kind }));
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ list, current }));
  } catch {
    // storage may be unavailable (private mode): rooms are then per page load
  }
}

/** The tab title: unread messages elsewhere first, then the conversation in view. */
function updateTitle(): void {
  const r = current ? rooms.get(current) : undefined;
  const name = r ? (r.kind === "room" ? `#${r.label}` : `@${r.label}`) : "Chat";
  let unread = 0;
  for (const room of rooms.values()) unread += room.unread;
  document.title = `${unread > 0 ? `(${unread}) ` : ""}${name} · parley`;
}

function renderRoomLists(): void {
  updateTitle();
  for (const [list, kind] of [
    [ui.rooms, "room"],
    [ui.dms, "dm"],
  ] as const) {
    list.replaceChildren();
    for (const r of rooms.values()) {
      if (r.kind !== kind || !(r.joined || r.invited)) continue;
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "room-button";
      b.dataset.room = r.name;
      if (r.name === current) b.setAttribute("aria-current", "true");
      const name = document.createElement("span");
      name.className = "room-name";
      name.textContent = kind === "room" ? `# ${r.label}` : `@ ${r.label}`;
      b.append(name);
      if (r.invited) {
        const tag = document.createElement("span");
        tag.className = "invited";
        tag.textContent = "invited";
        b.append(tag);
      }
      if (r.mentions > 0) {
        const at = document.createElement("span");
        at.className = "mentions";
        at.textContent = `@${r.mentions}`;
        at.setAttribute("aria-label", `${r.mentions} mention${r.mentions === 1 ? "" : "s"} of you`);
        b.append(at);
      }
      if (r.unread > 0) {
        const badge = document.createElement("span");
        badge.className = "unread";
        badge.textContent = String(r.unread);
        badge.setAttribute("aria-label", `${r.unread} unread`);
        b.append(badge);
      }
      b.addEventListener("click", () => {
        if (r.invited) void join(r.name, { focus: true });
        else select(r.name);
      });
      li.append(b);
      list.append(li);
    }
    if (list.children.length === 0) {
      const li = document.createElement("li");
      li.className = "hint";
      li.textContent = kind === "room" ? "No rooms yet." : "No conversations yet.";
      list.append(li);
    }
  }
}

async function join(
  name: string,
  opts: {
    focus: boolean;
    quiet?: boolean;
    label?: string;
    kind?: "room" | "dm";
    /** Create it as a private room instead of joining. */
    createPrivate?: boolean;
  },
): Promise<boolean> {
  const kind = opts.kind ?? (name.startsWith("dm:") ? "dm" : "room");
  const existing = rooms.get(name);
  const r = roomState(name, opts.label ?? existing?.label ?? name, kind);
  const res = opts.createPrivate
    ? await call("room:create", { room: name, kind: "private" })
    : await call("room:join", { room: name });
  if (!res.ok) {
    if (!opts.quiet) showError(kind === "dm" ? ui.dmError : ui.joinError, res.error.message);
    if (!existing?.joined && !existing?.invited) rooms.delete(name);
    return false;
  }
  r.joined = true;
  r.invited = false;
  r.loaded = true;
  r.topic = res.topic;
  r.role = res.role;
  r.private = res.kind === "private";
  r.members = res.members;
  for (const m of res.history) addMessage(r, m, { history: true });
  if (res.history.length < HISTORY_PAGE) r.oldestLoaded = true;
  saveRooms();
  if (opts.focus || current === undefined) select(name);
  else if (name === current) {
    renderMembers(r);
    renderMessages(r);
    renderManage(r);
    renderTopic(r);
    renderRoomLists();
    reportRead();
  } else renderRoomLists();
  return true;
}

function select(name: string): void {
  const r = rooms.get(name);
  if (!r) return;
  current = name;
  r.unread = 0;
  r.mentions = 0;
  if (r.joined && !r.loaded && socket.connected) void join(name, { focus: false, quiet: true });
  ui.title.textContent = r.kind === "room" ? `# ${r.label}` : `@ ${r.label}`;
  renderTopic(r);
  renderManage(r);
  ui.leave.hidden = false;
  reportRead();
  updateTitle();
  renderMembers(r);
  renderMessages(r);
  renderTyping();
  renderRoomLists();
  saveRooms();
  setStatus(
    socket.connected ? "connected" : "reconnecting",
    socket.connected ? "Connected" : "Reconnecting…",
  );
  if (drawerOpen()) setDrawer(false);
  if (!ui.text.disabled) ui.text.focus();
}

function renderMembers(r: RoomState): void {
  if (r.members.length === 0) {
    ui.members.textContent = "";
    return;
  }
  const names = r.members.map((m) => (m.id === me.id ? `${m.username} (you)` : m.username));
  ui.members.textContent = `${names.length} here: ${names.join(", ")}`;
  ui.members.title = names.join(", ");
}

// ---- messages ------------------------------------------------------------------------

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, {
  weekday: "short",
  month: "short",
  day: "numeric",
});

function addMessage(
  r: RoomState,
  m: Message,
  opts: { history?: boolean; prepend?: boolean } = {},
): boolean {
  if (r.ids.has(m.id)) return false;
  r.ids.add(m.id);
  if (opts.prepend) r.messages.unshift(m);
  else {
    r.messages.push(m);
    // Keep the stream order even when an ack and a broadcast arrive out of order.
    r.messages.sort((a, b) => compareIds(a.id, b.id));
  }
  if (!opts.history && r.name !== current && m.user.id !== me.id) r.unread++;
  return true;
}

function compareIds(a: string, b: string): number {
  const [am = "0", as = "0"] = a.split("-");
  const [bm = "0", bs = "0"] = b.split("-");
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}

function messageItem(m: Message, prev: Message | undefined, r?: RoomState): HTMLLIElement {
  const li = document.createElement("li");
  li.className = "message";
  if (m.user.id === me.id) li.classList.add("mine");
  const grouped = prev && prev.user.id === m.user.id && m.ts - prev.ts < 5 * 60_000;
  if (grouped) li.classList.add("grouped");
  else {
    const head = document.createElement("div");
    head.className = "message-head";
    const who = document.createElement("span");
    who.className = "author";
    who.textContent = m.user.id === me.id ? `${m.user.username} (you)` : m.user.username;
    const when = document.createElement("time");
    const d = new Date(m.ts);
    when.dateTime = d.toISOString();
    const today = new Date().toDateString() === d.toDateString();
    when.textContent = today ? timeFmt.format(d) : `${dayFmt.format(d)} ${timeFmt.format(d)}`;
    when.title = d.toLocaleString();
    head.append(who, when);
    li.append(head);
  }
  if (r?.editing?.id === m.id && !m.deleted) {
    li.classList.add("editing");
    li.append(editBox(m, r));
    return li;
  }
  const body = document.createElement("p");
  body.className = "text";
  if (m.deleted) {
    li.classList.add("deleted");
    body.textContent = "This message was deleted.";
  } else {
    body.textContent = m.text;
    if (m.edited) {
      const mark = document.createElement("span");
      mark.className = "edited";
      mark.textContent = " (edited)";
      mark.title = `Edited ${new Date(m.edited).toLocaleString()}`;
      body.append(mark);
    }
  }
  li.append(body);
  if (r && !m.deleted) {
    const mine = m.user.id === me.id;
    const moderates = r.kind === "room" && (r.role === "owner" || r.role === "moderator");
    if (mine || moderates) li.append(messageActions(m, r, mine));
  }
  return li;
}

/** Edit (own messages) and Delete (own; owners and moderators: any) for one message. */
function messageActions(m: Message, r: RoomState, mine: boolean): HTMLElement {
  const box = document.createElement("span");
  box.className = "message-actions";
  const button = (label: string, onClick: () => void) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.setAttribute("aria-label", `${label} message from ${m.user.username}`);
    b.addEventListener("click", onClick);
    box.append(b);
  };
  if (mine) button("Edit", () => startEdit(m, r));
  box.querySelector("button")?.setAttribute("data-edit", m.id);
  button("Delete", () => {
    if (!window.confirm("Delete this message for everyone?")) return;
    void call("message:delete", { room: r.name, id: m.id }).then((res) => {
      if (res.ok) replaceMessage(res.message);
      else showError(ui.sendError, res.error.message);
    });
  });
  return box;
}

/** Turns a message into an editing box: Enter saves, Escape cancels. One at a time. */
function startEdit(m: Message, r: RoomState): void {
  r.editing = { id: m.id, draft: m.text, saving: false };
  renderMessages(r);
}

/** The editing box of the message being edited (drawn in place of its text). */
function editBox(m: Message, r: RoomState): HTMLTextAreaElement {
  const editing = r.editing as { id: string; draft: string; saving: boolean };
  const box = document.createElement("textarea");
  box.className = "edit-box";
  box.value = editing.draft;
  box.maxLength = 2000;
  box.rows = Math.min(6, Math.max(1, editing.draft.split("\n").length));
  box.setAttribute("aria-label", "Edit your message");
  const finish = () => {
    r.editing = undefined;
    renderMessages(r);
    ui.list.querySelector<HTMLButtonElement>(`[data-edit="${m.id}"]`)?.focus();
  };
  box.addEventListener("input", () => {
    editing.draft = box.value;
  });
  box.addEventListener("keydown", (e) => {
    if (e.key === "Escape") return finish();
    if (e.key !== "Enter" || e.shiftKey || e.isComposing) return;
    e.preventDefault();
    if (editing.saving) return;
    const text = box.value.trim();
    if (!text || text === m.text) return finish();
    editing.saving = true;
    void call("message:edit", { room: r.name, id: m.id, text }).then((res) => {
      editing.saving = false;
      if (!res.ok) {
        showError(ui.sendError, res.error.message);
        return;
      }
      r.editing = undefined;
      replaceMessage(res.message);
    });
  });
  queueMicrotask(() => {
    if (box.isConnected && document.activeElement !== box) box.focus();
  });
  return box;
}

/** Puts a new version of a message (edited, or a tombstone) in its place. */
function replaceMessage(m: Message): void {
  const r = rooms.get(m.room);
  const i = r ? r.messages.findIndex((x) => x.id === m.id) : -1;
  if (!r || i < 0) return;
  r.messages[i] = m;
  if (m.room === current) renderMessages(r);
}

// An edit or a deletion: the new version replaces the message where it stands.
socket.on("message:updated", (m) => replaceMessage(m));

// Someone named this user: counted in the room list until the room is read.
socket.on("mention", ({ room }) => {
  const r = rooms.get(room);
  if (!r || room === current) return;
  r.mentions++;
  renderRoomLists();
});

function renderMessages(r: RoomState): void {
  ui.list.replaceChildren();
  let prev: Message | undefined;
  for (const m of r.messages) {
    ui.list.append(messageItem(m, prev, r));
    prev = m;
  }
  ui.empty.hidden = r.messages.length > 0;
  ui.empty.textContent = "No messages yet. Say hello!";
  ui.loadOlder.hidden = r.oldestLoaded || r.messages.length === 0;
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
}

function appendToView(r: RoomState, m: Message): void {
  const nearBottom =
    ui.scroller.scrollHeight - ui.scroller.scrollTop - ui.scroller.clientHeight < 80;
  const idx = r.messages.indexOf(m);
  if (idx !== r.messages.length - 1) {
    renderMessages(r);
    return;
  }
  ui.list.append(messageItem(m, r.messages[idx - 1], r));
  ui.empty.hidden = true;
  if (nearBottom || m.user.id === me.id) ui.scroller.scrollTop = ui.scroller.scrollHeight;
}

let loadingOlder = false;
async function loadOlder(): Promise<void> {
  const r = current ? rooms.get(current) : undefined;
  const oldest = r?.messages[0];
  if (!r || !oldest || r.oldestLoaded || loadingOlder) return;
  loadingOlder = true;
  const res = await call("message:history", {
    room: r.name,
    before: oldest.id,
    limit: HISTORY_PAGE,
  });
  loadingOlder = false;
  if (!res.ok) return;
  if (res.messages.length < HISTORY_PAGE) r.oldestLoaded = true;
  const before = ui.scroller.scrollHeight;
  for (let i = res.messages.length - 1; i >= 0; i--) {
    const m = res.messages[i];
    if (m) addMessage(r, m, { history: true, prepend: true });
  }
  if (r.name !== current) return;
  renderMessages(r);
  ui.scroller.scrollTop = ui.scroller.scrollHeight - before;
}

socket.on("message", (m) => {
  let r = rooms.get(m.room);
  if (!r) {
    if (!m.room.startsWith("dm:")) return;
    // Someone opened a direct message with us: show it and join the room.
    r = roomState(m.room, m.user.username, "dm");
    void join(m.room, { focus: false, quiet: true, label: m.user.username, kind: "dm" });
  }
  if (!addMessage(r, m)) return;
  clearTyping(m.room, m.user.id);
  if (m.room === current) {
    appendToView(r, m);
    reportRead();
  } else renderRoomLists();
});

socket.on("presence", ({ room, members }) => {
  const r = rooms.get(room);
  if (!r) return;
  r.members = members;
  if (room === current) renderMembers(r);
});

// ---- typing --------------------------------------------------------------------------

function renderTyping(): void {
  const names = current ? [...(typingNames.get(current)?.values() ?? [])] : [];
  ui.typing.textContent =
    names.length === 0
      ? ""
      : names.length === 1
        ? `${names[0]} is typing…`
        : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} are typing…`;
}

function clearTyping(room: string, userId: string): void {
  typingNames.get(room)?.delete(userId);
  const key = `${room}|${userId}`;
  const t = typingTimers.get(key);
  if (t) clearTimeout(t);
  typingTimers.delete(key);
  if (room === current) renderTyping();
}

socket.on("typing", ({ room, user }) => {
  if (user.id === me.id) return;
  let names = typingNames.get(room);
  if (!names) {
    names = new Map();
    typingNames.set(room, names);
  }
  names.set(user.id, user.username);
  const key = `${room}|${user.id}`;
  const old = typingTimers.get(key);
  if (old) clearTimeout(old);
  typingTimers.set(
    key,
    setTimeout(() => clearTyping(room, user.id), TYPING_SHOW_MS),
  );
  if (room === current) renderTyping();
});

// ---- forms ---------------------------------------------------------------------------

function showError(target: HTMLElement, message: string): void {
  target.textContent = message;
  target.hidden = false;
}
function clearError(target: HTMLElement): void {
  target.textContent = "";
  target.hidden = true;
}

ui.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  clearError(ui.joinError);
  const name = ui.joinInput.value.trim().toLowerCase();
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(name)) {
    showError(ui.joinError, "Room names use lowercase letters, digits and dashes (up to 32).");
    return;
  }
  void join(name, { focus: true, createPrivate: ui.joinPrivate.checked }).then((ok) => {
    if (ok) {
      ui.joinInput.value = "";
      ui.joinPrivate.checked = false;
    }
  });
});

ui.dmForm.addEventListener("submit", (e) => {
  e.preventDefault();
  clearError(ui.dmError);
  const username = ui.dmInput.value.trim();
  if (!username) return;
  void call("dm:open", { username }).then(async (res) => {
    if (!res.ok) {
      const msg =
        res.error.code === "not_found"
          ? `There is no user called “${username}”.`
          : res.error.code === "invalid"
            ? "That is you. Pick someone else."
            : res.error.message;
      showError(ui.dmError, msg);
      return;
    }
    if (await join(res.room, { focus: true, label: username, kind: "dm" })) ui.dmInput.value = "";
  });
});

async function sendCurrent(): Promise<void> {
  clearError(ui.sendError);
  const r = current ? rooms.get(current) : undefined;
  const text = ui.text.value.trim();
  if (!r || !text) return;
  if ([...text].length > 2000) {
    showError(ui.sendError, "Messages can be at most 2000 characters.");
    return;
  }
  // Cleared at once, so whatever is typed next is never lost when this send is answered.
  ui.text.value = "";
  autosize();
  const res = await call("message:send", { room: r.name, text });
  if (!res.ok) {
    // Give the text back, unless something new was typed meanwhile.
    if (ui.text.value === "") {
      ui.text.value = text;
      autosize();
    }
    const msg =
      res.error.code === "rate_limited"
        ? "You are sending messages too fast. Wait a few seconds."
        : res.error.code === "unavailable"
          ? "The message was not sent: the server is unavailable. Try again."
          : res.error.message;
    showError(ui.sendError, msg);
    return;
  }
  // Receivers clear our typing notice when the message arrives: announce the next one at once.
  lastTypingSent = 0;
  if (addMessage(r, res.message) && r.name === current) appendToView(r, res.message);
}

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  void sendCurrent();
});

ui.text.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    void sendCurrent();
  }
});

function autosize(): void {
  ui.text.rows = Math.min(6, Math.max(1, ui.text.value.split("\n").length));
}

ui.text.addEventListener("input", () => {
  autosize();
  const now = Date.now();
  if (current && ui.text.value.trim() && now - lastTypingSent > TYPING_SEND_EVERY_MS) {
    lastTypingSent = now;
    socket.emit("typing", { room: current });
  }
});

ui.loadOlder.addEventListener("click", () => void loadOlder());
ui.scroller.addEventListener("scroll", () => {
  if (ui.scroller.scrollTop < 40) void loadOlder();
});

// ---- activity ------------------------------------------------------------------------
// Transport traffic never keeps a login alive; what the person does does. Keys, pointer and
// focus on this page are reported as an `activity` event, at most once a minute (more often
// when the server's idle timeout is short), so someone reading without typing is not logged
// out while an unattended tab still idles out.
const ACTIVITY_EVERY_MS = Math.min(60, Number(root.dataset.activityEvery) || 60) * 1000;
let lastActivitySent = 0;
function reportActivity(): void {
  const now = Date.now();
  if (signedOut || !socket.connected || now - lastActivitySent < ACTIVITY_EVERY_MS) return;
  lastActivitySent = now;
  socket.emit("activity", {});
}
for (const type of ["keydown", "pointerdown"] as const) {
  window.addEventListener(type, reportActivity, { passive: true, capture: true });
}
// The tab or window gaining focus (not the page moving focus between its own elements).
window.addEventListener("focus", reportActivity, { passive: true });

// ---- start ---------------------------------------------------------------------------

function restore(): void {
  let saved: { list?: { name: string; label: string; kind: "room" | "dm" }[]; current?: string } =
    {};
  try {
    saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}") as typeof saved;
  } catch {
    saved = {};
  }
  for (const r of saved.list ?? []) {
    if (typeof r?.name === "string" && typeof r.label === "string") {
      const state = roomState(r.name, r.label, r.kind === "dm" ? "dm" : "room");
      state.joined = true;
    }
  }
  // A new device shows nothing until the server's list arrives (then lobby if it is empty).
  current = saved.current && rooms.has(saved.current) ? saved.current : rooms.keys().next().value;
  renderRoomLists();
  if (current) select(current);
}

restore();
setStatus("connecting", "Connecting…");
