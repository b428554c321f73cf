// The chat page's entry: looks up the page, opens the socket, and wires the person's input
// and the server's events to the actions (app.ts). Everything users typed is rendered with
// textContent, never as HTML (views/text.ts).
import { CLIENT_ID_RE } from "../src/domain/messages.js";
import { ROOM_NAME_RE, roomNameFrom } from "../src/domain/rooms.js";
import type { Member, RoomMember } from "../src/domain/types.js";
import { App, ROOMS_KEY } from "./app.js";
import { clearError, findUi, showError } from "./dom.js";
import { serverEvents } from "./handlers.js";
import { caller, createSocket } from "./socket.js";
import { ChatState } from "./state.js";
import { updateJump } from "./views/messages.js";
import { renderDirectory } from "./views/rooms.js";
import { searchItem } from "./views/search.js";

const ui = findUi();
const me: Member = { id: ui.chat.dataset.userId ?? "", username: ui.chat.dataset.username ?? "" };
const socket = createSocket();
const state = new ChatState(me);
const app = new App(ui, state, socket, caller(socket), newClientId);
const TYPING_SEND_EVERY_MS = 2000;

/** A client id for an outgoing message (crypto.getRandomValues works on plain http too). */
function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  const id = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  if (!CLIENT_ID_RE.test(id)) throw new Error("client id out of shape");
  return id;
}

// ---- notifications (opt-in) ----------------------------------------------------------------
// Asked only when the person clicks "Enable notifications"; then mentions and direct messages
// that arrive while the tab is hidden are shown as browser notifications.

function notificationsAvailable(): boolean {
  return "Notification" in window;
}

function renderNotifyButton(): void {
  if (!notificationsAvailable() || Notification.permission === "denied") {
    ui.notify.hidden = true;
    return;
  }
  ui.notify.hidden = false;
  const on = Notification.permission === "granted";
  ui.notify.textContent = on ? "Notifications on" : "Enable notifications";
  ui.notify.disabled = on;
}

ui.notify.addEventListener("click", () => {
  if (!notificationsAvailable()) return;
  void Notification.requestPermission().then(renderNotifyButton);
});

function notify(title: string, body: string): void {
  if (!notificationsAvailable() || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible") return;
  const n = new Notification(title, { body: body.slice(0, 200), tag: "parley" });
  n.onclick = () => {
    window.focus();
    n.close();
  };
}

// ---- server events ----------------------------------------------------------------------

const handlers = serverEvents(app, notify);
for (const [event, handler] of Object.entries(handlers)) {
  // Each handler is typed by its own event (handlers.ts); the loop only registers them.
  (socket.on as (e: string, h: (...args: unknown[]) => void) => void)(
    event,
    handler as (...args: unknown[]) => void,
  );
}

socket.on("connect", () => {
  // The outbox is sent once the server has joined this socket to the user's rooms (the
  // `rooms` event), not before: a send that got there first would not be in its room yet.
  app.setStatus("connected", "Connected");
});
socket.on("disconnect", (reason) => {
  if (app.signedOut) return;
  // Who is here is unknown while disconnected: nobody is shown online until presence is back.
  for (const r of state.rooms.values()) r.members = [];
  const shown = state.shown;
  if (shown) app.renderMembers(shown);
  if (reason === "io server disconnect") {
    // The server closed us without a revocation notice: check whether we are still logged in.
    void app.checkLogin();
    return;
  }
  app.setStatus("reconnecting", "Reconnecting…");
});
socket.on("connect_error", (err) => {
  if (app.signedOut) return;
  if (err.message === "unauthorized" || /401|403/.test(err.message)) void app.checkLogin();
  else app.setStatus("reconnecting", "Reconnecting…");
});

// ---- the drawer (phones) and the signed-out dialog --------------------------------------------

ui.drawerToggle.addEventListener("click", () => app.setDrawer(!app.drawerOpen()));
ui.drawerBackdrop.addEventListener("click", () => app.setDrawer(false));

/** A modal dialog keeps Tab inside it. */
function trapFocus(dialog: HTMLElement): void {
  dialog.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    const focusable = [...dialog.querySelectorAll<HTMLElement>("a, button, input")];
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (!first || !last) return;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  });
}
trapFocus(ui.signedOut);
trapFocus(ui.switcher);
trapFocus(ui.search);
// A click outside the switcher's card closes it.
ui.switcher.addEventListener("click", (e) => {
  if (e.target === ui.switcher) closeSwitcher();
});

// ---- forms ----------------------------------------------------------------------------------

ui.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  clearError(ui.joinError);
  const name = roomNameFrom(ui.joinInput.value);
  if (!ROOM_NAME_RE.test(name)) {
    showError(
      ui.joinError,
      "Room names use letters, digits and dashes, up to 32 (spaces become dashes).",
    );
    return;
  }
  void app.join(name, { focus: true, createPrivate: ui.joinPrivate.checked }).then((ok) => {
    if (ok) {
      ui.joinInput.value = "";
      ui.joinPrivate.checked = false;
    }
  });
});

// ---- the room directory --------------------------------------------------------------------

let directoryTimer: ReturnType<typeof setTimeout> | undefined;
let directoryAsked = 0;
async function browseDirectory(): Promise<void> {
  const query = roomNameFrom(ui.directorySearch.value);
  if (!/^[a-z0-9-]*$/.test(query)) {
    renderDirectory(app, [], query);
    return;
  }
  const asked = ++directoryAsked;
  const res = await app.call("room:directory", query ? { query } : {});
  // Only the answer to the latest search is shown.
  if (asked !== directoryAsked) return;
  if (res.ok) renderDirectory(app, res.rooms, query);
  else showError(ui.joinError, res.error.message);
}
ui.directory.addEventListener("toggle", () => {
  if (ui.directory.open) void browseDirectory();
});
ui.directorySearch.addEventListener("input", () => {
  clearTimeout(directoryTimer);
  directoryTimer = setTimeout(() => void browseDirectory(), 250);
});

ui.dmForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const username = ui.dmInput.value.trim();
  if (username) void app.openDm(username);
});

ui.manageForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const r = state.shown;
  const username = ui.manageUser.value.trim();
  const action = (e.submitter as HTMLButtonElement | null)?.value;
  if (!r || !username) return;
  const done = (res: { ok: boolean; error?: { message: string } }, what: string) => {
    if (res.ok) {
      app.manageNote(`${username}: ${what}.`);
      ui.manageUser.value = "";
    } else app.manageNote(res.error?.message ?? "That did not work.");
  };
  const payload = { room: r.name, username };
  if (action === "invite") void app.call("room:invite", payload).then((x) => done(x, "invited"));
  else if (action === "remove")
    void app.call("room:remove", payload).then((x) => done(x, "removed"));
  else if (action === "ban") void app.call("room:ban", payload).then((x) => done(x, "banned"));
  else if (action === "unban")
    void app.call("room:unban", payload).then((x) => done(x, "unbanned"));
});

ui.topicForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const r = state.shown;
  if (!r) return;
  void app.call("room:topic", { room: r.name, topic: ui.topicText.value }).then((res) => {
    if (res.ok) {
      r.topic = res.topic;
      app.renderTopic(r);
      app.manageNote("Topic set.");
    } else app.manageNote(res.error.message);
  });
});

ui.leave.addEventListener("click", () => {
  const r = state.shown;
  if (!r) return;
  const what = r.kind === "room" ? `#${r.label}` : `the conversation with ${r.label}`;
  if (!window.confirm(`Leave ${what}? It leaves your list on every device.`)) return;
  void app.call("room:leave", { room: r.name }).then((res) => {
    if (res.ok) app.dropRoom(r.name);
    else showError(ui.sendError, res.error.message);
  });
});

// ---- the message box: send, typing, @ autocomplete, Up to edit -----------------------------

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  app.sendCurrent();
});

// ---- files: the button (file picker, or a phone's camera), paste, drag and drop ------------

ui.attach.addEventListener("click", () => ui.attachInput.click());
ui.attachInput.addEventListener("change", () => {
  app.attach(ui.attachInput.files ?? []);
  ui.attachInput.value = "";
});
ui.text.addEventListener("paste", (e) => {
  const files = e.clipboardData?.files;
  if (!files || files.length === 0) return;
  // A screenshot (or files copied in a file manager): attached, not pasted as text.
  e.preventDefault();
  app.attach(files);
});
ui.tray.addEventListener("click", (e) => {
  const b = (e.target as HTMLElement).closest<HTMLButtonElement>("button[data-remove]");
  if (b) app.uploads.remove(Number(b.dataset.remove));
});
const carriesFiles = (e: DragEvent) => e.dataTransfer?.types.includes("Files") === true;
let dragDepth = 0;
ui.chat.addEventListener("dragenter", (e) => {
  if (!carriesFiles(e) || ui.attach.disabled) return;
  dragDepth++;
  ui.dropHint.hidden = false;
});
ui.chat.addEventListener("dragleave", (e) => {
  if (!carriesFiles(e)) return;
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) ui.dropHint.hidden = true;
});
ui.chat.addEventListener("dragover", (e) => {
  if (!carriesFiles(e) || ui.attach.disabled) return;
  e.preventDefault();
  if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
});
ui.chat.addEventListener("drop", (e) => {
  dragDepth = 0;
  ui.dropHint.hidden = true;
  if (!carriesFiles(e)) return;
  e.preventDefault();
  app.attach(e.dataTransfer?.files ?? []);
});

/** The @name being typed at the caret, if any: its start and the letters so far. */
function mentionAtCaret(): { start: number; prefix: string } | undefined {
  const t = ui.text;
  const upto = t.value.slice(0, t.selectionStart ?? t.value.length);
  const m = /(^|[^A-Za-z0-9_])@([A-Za-z0-9_]{0,32})$/.exec(upto);
  if (!m) return undefined;
  return {
    start: upto.length - (m[2] as string).length - 1,
    prefix: (m[2] as string).toLowerCase(),
  };
}

let suggestions: string[] = [];
let suggested = 0;
const memberNames = new Map<string, RoomMember[]>();

function closeSuggest(): void {
  suggestions = [];
  ui.suggest.hidden = true;
  ui.text.removeAttribute("aria-activedescendant");
}

function renderSuggest(): void {
  const items = suggestions.map((name, i) => {
    const li = document.createElement("li");
    li.id = `suggest-${i}`;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", String(i === suggested));
    li.textContent = `@${name}`;
    li.addEventListener("mousedown", (e) => {
      e.preventDefault();
      suggested = i;
      completeMention();
    });
    return li;
  });
  ui.suggest.replaceChildren(...items);
  ui.suggest.hidden = items.length === 0;
  if (items.length > 0) ui.text.setAttribute("aria-activedescendant", `suggest-${suggested}`);
}

async function updateSuggest(): Promise<void> {
  const at = mentionAtCaret();
  const r = state.shown;
  if (!at || !r) {
    closeSuggest();
    return;
  }
  const known = new Map<string, string>();
  for (const m of r.members) known.set(m.id, m.username);
  if (r.kind === "room" && !memberNames.has(r.name) && socket.connected) {
    const res = await app.call("room:members", { room: r.name });
    memberNames.set(r.name, res.ok ? res.members : []);
  }
  for (const m of memberNames.get(r.name) ?? []) known.set(m.id, m.username);
  known.delete(me.id);
  suggestions = [...known.values()]
    .filter((n) => n.toLowerCase().startsWith(at.prefix))
    .sort((a, b) => a.localeCompare(b))
    .slice(0, 8);
  suggested = 0;
  renderSuggest();
}

function completeMention(): void {
  const at = mentionAtCaret();
  const name = suggestions[suggested];
  if (!at || !name) {
    closeSuggest();
    return;
  }
  const t = ui.text;
  const caret = t.selectionStart ?? t.value.length;
  t.value = `${t.value.slice(0, at.start)}@${name} ${t.value.slice(caret)}`;
  const pos = at.start + name.length + 2;
  t.setSelectionRange(pos, pos);
  closeSuggest();
}

ui.text.addEventListener("keydown", (e) => {
  if (!ui.suggest.hidden && suggestions.length > 0) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const n = suggestions.length;
      suggested = (suggested + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
      renderSuggest();
      return;
    }
    if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      completeMention();
      return;
    }
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      closeSuggest();
      return;
    }
  }
  if (e.key === "ArrowUp" && ui.text.value === "" && !e.shiftKey) {
    if (app.editLast()) e.preventDefault();
    return;
  }
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    app.sendCurrent();
  }
});

ui.text.addEventListener("input", () => {
  app.autosize();
  void updateSuggest();
  const now = Date.now();
  if (
    state.current &&
    socket.connected &&
    ui.text.value.trim() &&
    now - app.lastTypingSent > TYPING_SEND_EVERY_MS
  ) {
    app.lastTypingSent = now;
    socket.emit("typing", { room: state.current });
  }
});
ui.text.addEventListener("blur", () => setTimeout(closeSuggest, 100));

// ---- scrolling -------------------------------------------------------------------------------

ui.loadOlder.addEventListener("click", () => void app.loadOlder());
ui.jump.addEventListener("click", () => app.jumpToLatest());
ui.scroller.addEventListener("scroll", () => {
  if (ui.scroller.scrollTop < 40) void app.loadOlder();
  updateJump(app);
});
document.addEventListener("visibilitychange", () => app.reportRead());

// ---- the room switcher: Ctrl+K -------------------------------------------------------------

let switchMatches: string[] = [];
let focusBeforeSwitcher: HTMLElement | null = null;

function openSwitcher(): void {
  if (app.signedOut) return;
  focusBeforeSwitcher =
    document.activeElement instanceof HTMLElement ? document.activeElement : null;
  ui.switcher.hidden = false;
  ui.switcherInput.value = "";
  renderSwitcher();
  ui.switcherInput.focus();
}

/** Closes the switcher; focus goes back where it was (or to the message box). */
function closeSwitcher(): void {
  ui.switcher.hidden = true;
  const back = focusBeforeSwitcher;
  focusBeforeSwitcher = null;
  restoreFocus(back);
}

/** Focus back where it was before a dialog opened (or to the message box). */
function restoreFocus(back: HTMLElement | null): void {
  if (back?.isConnected && !(back as HTMLInputElement).disabled) back.focus();
  else if (!ui.text.disabled) ui.text.focus();
}

function renderSwitcher(): void {
  const q = ui.switcherInput.value
    .trim()
    .toLowerCase()
    .replace(/^[#@]\s*/, "");
  const rooms = [...state.rooms.values()].filter(
    (r) => (r.joined || r.invited) && r.label.toLowerCase().includes(q),
  );
  switchMatches = rooms.map((r) => r.name);
  ui.switcherList.replaceChildren(
    ...rooms.slice(0, 10).map((r, i) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = r.kind === "room" ? `# ${r.label}` : `@ ${r.label}`;
      if (i === 0) b.classList.add("first");
      b.addEventListener("click", () => choose(r.name));
      li.append(b);
      return li;
    }),
  );
}

function choose(name: string): void {
  ui.switcher.hidden = true;
  focusBeforeSwitcher = null;
  const r = state.rooms.get(name);
  if (r?.invited) void app.join(name, { focus: true });
  else app.select(name);
}

ui.switcherInput.addEventListener("input", renderSwitcher);
ui.switcherInput.addEventListener("keydown", (e) => {
  if (e.key === "Enter") {
    e.preventDefault();
    const first = switchMatches[0];
    if (first) choose(first);
  } else if (e.key === "Escape") {
    e.preventDefault();
    e.stopPropagation();
    closeSwitcher();
  }
});

// ---- message search: Ctrl+Shift+F ----------------------------------------------------------

let searchNext: string | undefined;
let searchQuery = "";
let focusBeforeSearch: HTMLElement | null = null;

function openSearch(): void {
  if (app.signedOut) return;
  focusBeforeSearch = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  ui.search.hidden = false;
  ui.searchInput.focus();
  ui.searchInput.select();
}

function closeSearch(): void {
  ui.search.hidden = true;
  const back = focusBeforeSearch;
  focusBeforeSearch = null;
  restoreFocus(back);
}

async function runSearch(more: boolean): Promise<void> {
  if (!more) {
    searchQuery = ui.searchInput.value.trim();
    searchNext = undefined;
    ui.searchResults.replaceChildren();
  }
  if (!searchQuery) return;
  ui.searchStatus.textContent = "Searching…";
  ui.searchMore.hidden = true;
  const res = await app.call("message:search", {
    query: searchQuery,
    ...(more && searchNext ? { before: searchNext } : {}),
  });
  if (!res.ok) {
    ui.searchStatus.textContent = res.error.message;
    return;
  }
  searchNext = res.next;
  ui.searchResults.append(
    ...res.results.map((hit) =>
      searchItem(state, hit, (h) => {
        ui.search.hidden = true;
        focusBeforeSearch = null;
        void app.openPermalink(h.message.room, h.message.id);
      }),
    ),
  );
  const count = ui.searchResults.children.length;
  ui.searchStatus.textContent =
    count === 0
      ? "No messages found."
      : `${count} message${count === 1 ? "" : "s"}${res.next ? " so far" : ""}.`;
  ui.searchMore.hidden = !res.next;
}

ui.searchOpen.addEventListener("click", openSearch);
ui.searchForm.addEventListener("submit", (e) => {
  e.preventDefault();
  void runSearch(false);
});
ui.searchMore.addEventListener("click", () => void runSearch(true));
ui.search.addEventListener("click", (e) => {
  if (e.target === ui.search) closeSearch();
});
ui.search.addEventListener("keydown", (e) => {
  if (e.key === "Escape") {
    e.preventDefault();
    e.stopPropagation();
    closeSearch();
  }
});

document.addEventListener("keydown", (e) => {
  // Ctrl+Shift+F (⌘⇧F): message search.
  if ((e.key === "f" || e.key === "F") && (e.ctrlKey || e.metaKey) && e.shiftKey && !e.altKey) {
    e.preventDefault();
    if (ui.search.hidden) openSearch();
    else closeSearch();
    return;
  }
  // Ctrl+K (⌘K): a chord, so it never fires while someone types (no single-key shortcut).
  if ((e.key === "k" || e.key === "K") && (e.ctrlKey || e.metaKey) && !e.altKey) {
    e.preventDefault();
    if (ui.switcher.hidden) openSwitcher();
    else closeSwitcher();
    return;
  }
  if (e.key === "Escape") {
    if (!ui.switcher.hidden) closeSwitcher();
    else if (app.drawerOpen()) app.setDrawer(false);
  }
});

// ---- activity ------------------------------------------------------------------------------
// Transport traffic never keeps a login alive; what the person does does. Keys, pointer and
// focus on this page are reported as an `activity` event, at most once a minute (more often
// when the server's idle timeout is short), so someone reading without typing is not logged
// out while an unattended tab still idles out.
const ACTIVITY_EVERY_MS = Math.min(60, Number(ui.chat.dataset.activityEvery) || 60) * 1000;
let lastActivitySent = 0;
function reportActivity(): void {
  const now = Date.now();
  if (app.signedOut || !socket.connected || now - lastActivitySent < ACTIVITY_EVERY_MS) return;
  lastActivitySent = now;
  socket.emit("activity", {});
}
for (const type of ["keydown", "pointerdown"] as const) {
  window.addEventListener(type, reportActivity, { passive: true, capture: true });
}
// The tab or window gaining focus (not the page moving focus between its own elements).
window.addEventListener("focus", reportActivity, { passive: true });

// ---- start ---------------------------------------------------------------------------------

function restore(): void {
  let saved: { list?: { name: string; label: string; kind: "room" | "dm" }[]; current?: string } =
    {};
  try {
    saved = JSON.parse(localStorage.getItem(ROOMS_KEY(me.id)) ?? "{}") as typeof saved;
  } catch {
    saved = {};
  }
  for (const r of saved.list ?? []) {
    if (typeof r?.name === "string" && typeof r.label === "string") {
      state.room(r.name, r.label, r.kind === "dm" ? "dm" : "room").joined = true;
    }
  }
  app.restoreOutbox();
  // A new device shows nothing until the server's list arrives (then lobby if it is empty).
  const first =
    saved.current && state.rooms.has(saved.current)
      ? saved.current
      : state.rooms.keys().next().value;
  app.renderRoomLists();
  if (first) app.select(first);
}

renderNotifyButton();
restore();
// A link to a message (/chat?room=…&message=…): opened once the server listed the rooms.
{
  const params = new URLSearchParams(location.search);
  const room = params.get("room");
  const message = params.get("message");
  if (room && message) {
    app.permalink = { room, id: message };
    history.replaceState(null, "", "/chat");
  }
}
app.setStatus("connecting", "Connecting…");
