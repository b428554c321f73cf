// The conversation: messages in order with date separators, the "new messages" line, your
// own unsent messages (marked as waiting), edit and delete in place, and the jump-to-latest
// button. Grouped messages (the same author within 5 minutes) keep their author and time
// for screen readers and on hover.
import type { Message } from "../../src/domain/types.js";
import type { Pending, RoomState } from "../state.js";
import type { ViewActions } from "./actions.js";
import { renderFiles } from "./files.js";
import { renderText } from "./text.js";

const GROUP_WITHIN_MS = 5 * 60_000;
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, {
  weekday: "long",
  month: "long",
  day: "numeric",
});

function dayLabel(d: Date): string {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return "Today";
  if (d.toDateString() === yesterday.toDateString()) return "Yesterday";
  return dayFmt.format(d);
}

function separator(text: string, className: string): HTMLLIElement {
  const li = document.createElement("li");
  li.className = className;
  li.textContent = text;
  return li;
}

/** The items that go before `m`: a date separator and the new-messages line, as due. */
function before(m: Message, prev: Message | undefined, r: RoomState): HTMLLIElement[] {
  const out: HTMLLIElement[] = [];
  const d = new Date(m.ts);
  if (!prev || new Date(prev.ts).toDateString() !== d.toDateString()) {
    out.push(separator(dayLabel(d), "day-separator"));
  }
  if (r.newFrom === m.id) out.push(separator("New messages", "new-line"));
  return out;
}

function moderates(r: RoomState): boolean {
  return r.kind === "room" && (r.role === "owner" || r.role === "moderator");
}

export function messageItem(
  app: ViewActions,
  m: Message,
  prev: Message | undefined,
  r: RoomState,
): HTMLLIElement {
  const me = app.state.me;
  const li = document.createElement("li");
  li.className = "message";
  li.dataset.id = m.id;
  const mine = m.user.id === me.id;
  if (mine) li.classList.add("mine");
  const d = new Date(m.ts);
  const grouped =
    prev &&
    prev.user.id === m.user.id &&
    m.ts - prev.ts < GROUP_WITHIN_MS &&
    new Date(prev.ts).toDateString() === d.toDateString() &&
    r.newFrom !== m.id;
  const head = document.createElement("div");
  head.className = "message-head";
  const who = document.createElement("span");
  who.className = "author";
  who.textContent = mine ? `${m.user.username} (you)` : m.user.username;
  const when = document.createElement("time");
  when.dateTime = d.toISOString();
  when.textContent = timeFmt.format(d);
  when.title = d.toLocaleString();
  head.append(who, when);
  if (grouped) {
    // Same author, moments later: the head is for screen readers; the time shows on hover.
    li.classList.add("grouped");
    who.className = "author visually-hidden";
  }
  li.append(head);
  if (r.editing?.id === m.id && !m.deleted) {
    li.classList.add("editing");
    li.append(app.editBox(m, r));
    return li;
  }
  const body = document.createElement("p");
  body.className = "text";
  if (m.deleted) {
    li.classList.add("deleted");
    body.textContent = "This message was deleted.";
  } else {
    renderText(body, m.text, me.username);
    if (m.edited) {
      const mark = document.createElement("span");
      mark.className = "edited";
      mark.textContent = " (edited)";
      mark.title = `Edited ${new Date(m.edited).toLocaleString()}`;
      body.append(mark);
    }
    if (body.querySelector(".mention-me")) li.classList.add("mentions-me");
  }
  // A message of files alone has no text to show.
  if (m.deleted || m.text !== "" || !m.files) li.append(body);
  if (m.files && !m.deleted) li.append(renderFiles(r.name, m.files));
  if (r.linked === m.id) li.classList.add("linked");
  if (!m.deleted) li.append(actions(app, m, r, mine));
  return li;
}

/**
 * Copy link (every message), Edit (own messages) and Delete (own; owners and moderators: any)
 * for one message.
 */
function actions(app: ViewActions, m: Message, r: RoomState, mine: boolean): HTMLElement {
  const box = document.createElement("span");
  box.className = "message-actions";
  const button = (label: string, onClick: () => void) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.setAttribute("aria-label", `${label} message from ${m.user.username}`);
    b.addEventListener("click", onClick);
    box.append(b);
    return b;
  };
  button("Copy link", () => app.copyLink(m)).dataset.link = m.id;
  if (mine) button("Edit", () => app.startEdit(m, r)).dataset.edit = m.id;
  if (mine || moderates(r)) button("Delete", () => app.deleteMessage(m, r));
  return box;
}

/** One of the person's own messages not stored yet, shown where it will go. */
function pendingItem(app: ViewActions, p: Pending): HTMLLIElement {
  const li = document.createElement("li");
  li.className = "message mine pending";
  li.dataset.clientId = p.clientId;
  const head = document.createElement("div");
  head.className = "message-head";
  const who = document.createElement("span");
  who.className = "author";
  who.textContent = `${app.state.me.username} (you)`;
  const note = document.createElement("span");
  note.className = "pending-note";
  note.textContent = p.failed ? `not sent: ${p.failed}` : p.sending ? "sending…" : "not sent yet";
  head.append(who, note);
  const body = document.createElement("p");
  body.className = "text";
  body.textContent = p.text;
  li.append(head, body);
  if (p.files) {
    const names = document.createElement("p");
    names.className = "pending-files";
    names.textContent = `Files: ${p.files.map((f) => f.name).join(", ")}`;
    li.append(names);
  }
  if (p.failed) {
    li.classList.add("failed");
    const box = document.createElement("span");
    box.className = "pending-actions";
    for (const [label, act] of [
      ["Retry", () => app.retrySend(p.clientId)],
      ["Discard", () => app.discardSend(p.clientId)],
    ] as const) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.setAttribute("aria-label", `${label}: ${p.text.slice(0, 40)}`);
      b.addEventListener("click", act);
      box.append(b);
    }
    li.append(box);
  }
  return li;
}

function nearBottom(app: ViewActions): boolean {
  const s = app.ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

/** Redraws the room's conversation; `stick` keeps the view at the newest message. */
export function renderMessages(app: ViewActions, r: RoomState, stick = true): void {
  const { ui } = app;
  const items: HTMLLIElement[] = [];
  let prev: Message | undefined;
  for (const m of r.messages) {
    items.push(...before(m, prev, r), messageItem(app, m, prev, r));
    prev = m;
  }
  for (const p of app.state.pendingIn(r.name)) items.push(pendingItem(app, p));
  // A redraw (another room, an edit) is not news: the log is quiet while it is replaced, so
  // a screen reader announces only messages that arrive.
  const log = ui.list.parentElement;
  log?.setAttribute("aria-live", "off");
  ui.list.replaceChildren(...items);
  if (log) requestAnimationFrame(() => log.removeAttribute("aria-live"));
  const empty = items.length === 0;
  ui.empty.hidden = !empty;
  if (empty) ui.empty.textContent = "No messages yet. Say hello!";
  ui.loadOlder.hidden = r.oldestLoaded || r.messages.length === 0;
  if (stick && r.linked) {
    ui.list.querySelector<HTMLElement>(".linked")?.scrollIntoView({ block: "center" });
  } else if (stick) {
    const line = r.newFrom ? ui.list.querySelector<HTMLElement>(".new-line") : null;
    if (line) line.scrollIntoView({ block: "start" });
    else ui.scroller.scrollTop = ui.scroller.scrollHeight;
  }
  updateJump(app);
}

/**
 * Adds a page of older messages (the first `count` of the room's messages) above those
 * shown, without redrawing them: only the message that was first is drawn again (its date
 * separator and grouping depend on the one before it, which it now has). The view keeps
 * its place. Falls back to a redraw when the list does not start as expected.
 */
export function showOlder(app: ViewActions, r: RoomState, count: number): void {
  const { ui } = app;
  const firstOld = r.messages[count];
  const shownFirst = ui.list.querySelector<HTMLLIElement>("li.message");
  if (count === 0 || !firstOld || shownFirst?.dataset.id !== firstOld.id) {
    renderMessages(app, r, false);
    return;
  }
  const fromBottom = ui.scroller.scrollHeight - ui.scroller.scrollTop;
  const items: HTMLLIElement[] = [];
  let prev: Message | undefined;
  for (const m of r.messages.slice(0, count + 1)) {
    items.push(...before(m, prev, r), messageItem(app, m, prev, r));
    prev = m;
  }
  // What stood before the old first message (its separators) goes with it.
  while (ui.list.firstElementChild && ui.list.firstElementChild !== shownFirst) {
    ui.list.firstElementChild.remove();
  }
  shownFirst.remove();
  const log = ui.list.parentElement;
  log?.setAttribute("aria-live", "off");
  ui.list.prepend(...items);
  if (log) requestAnimationFrame(() => log.removeAttribute("aria-live"));
  ui.loadOlder.hidden = r.oldestLoaded;
  ui.scroller.scrollTop = ui.scroller.scrollHeight - fromBottom;
}

/** Adds a message that just arrived: at the end if it is the newest, else redraws. */
export function showArrival(app: ViewActions, r: RoomState, m: Message): void {
  const { ui } = app;
  const stay = nearBottom(app) || m.user.id === app.state.me.id;
  const i = r.messages.indexOf(m);
  if (i !== r.messages.length - 1 || app.state.pendingIn(r.name).length > 0) {
    renderMessages(app, r, stay);
    return;
  }
  const prev = r.messages[i - 1];
  ui.list.append(...before(m, prev, r), messageItem(app, m, prev, r));
  ui.empty.hidden = true;
  if (stay) ui.scroller.scrollTop = ui.scroller.scrollHeight;
  updateJump(app);
}

/** The jump-to-latest button shows while the newest messages are out of view. */
export function updateJump(app: ViewActions): void {
  app.ui.jump.hidden = nearBottom(app) && !app.state.shown?.detached;
}
