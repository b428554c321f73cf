// The room list (rooms, then direct messages) with unread and mention badges, and the
// member list of the room in view: who is here (online dot), each a button to message them.
import type { DirectoryEntry, Member, RoomMember } from "../../src/domain/types.js";
import type { RoomState } from "../state.js";
import type { ViewActions } from "./actions.js";

export function renderRoomLists(app: ViewActions): void {
  const { ui, state } = app;
  document.title = state.title();
  for (const [list, kind] of [
    [ui.rooms, "room"],
    [ui.dms, "dm"],
  ] as const) {
    const items: HTMLLIElement[] = [];
    for (const r of state.rooms.values()) {
      if (r.kind !== kind || !(r.joined || r.invited)) continue;
      items.push(roomItem(app, r));
    }
    if (items.length === 0) {
      const li = document.createElement("li");
      li.className = "hint";
      li.textContent = kind === "room" ? "No rooms yet." : "No conversations yet.";
      items.push(li);
    }
    list.replaceChildren(...items);
  }
}

function roomItem(app: ViewActions, r: RoomState): HTMLLIElement {
  const li = document.createElement("li");
  const b = document.createElement("button");
  b.type = "button";
  b.className = "room-button";
  b.dataset.room = r.name;
  if (r.name === app.state.current) b.setAttribute("aria-current", "true");
  const name = document.createElement("span");
  name.className = "room-name";
  name.textContent = r.kind === "room" ? `# ${r.label}` : `@ ${r.label}`;
  name.title = r.label;
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
    if (r.invited) void app.join(r.name, { focus: true });
    else app.select(r.name);
  });
  li.append(b);
  return li;
}

/**
 * The members of the room in view: those connected now (from presence) with a green dot,
 * then, for a named room, the other members (from room:members) without. Each name other
 * than yours opens a direct message.
 */
export function renderMembers(
  app: ViewActions,
  r: RoomState,
  everyone: readonly RoomMember[] = [],
  more = false,
): void {
  const { ui, state } = app;
  const online = new Map<string, Member>(r.members.map((m) => [m.id, m]));
  const all: { m: Member; online: boolean }[] = [...online.values()].map((m) => ({
    m,
    online: true,
  }));
  for (const m of everyone) if (!online.has(m.id)) all.push({ m, online: false });
  const items = all.map(({ m, online: on }) => {
    const li = document.createElement("li");
    const dot = document.createElement("span");
    dot.className = on ? "dot online" : "dot";
    dot.setAttribute("aria-hidden", "true");
    if (m.id === state.me.id) {
      const you = document.createElement("span");
      you.textContent = `${m.username} (you)`;
      li.append(dot, you);
    } else {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "member";
      b.textContent = m.username;
      b.title = `Message ${m.username}`;
      b.setAttribute(
        "aria-label",
        `${m.username}, ${on ? "online" : "offline"}: send a direct message`,
      );
      b.addEventListener("click", () => app.openDm(m.username));
      li.append(dot, b);
    }
    return li;
  });
  ui.members.replaceChildren(...items);
  ui.members.setAttribute(
    "aria-label",
    `${online.size} online${everyone.length > online.size ? ` of ${everyone.length}${more ? "+" : ""} members` : ""}`,
  );
}

/** The public rooms found in the directory: each a button that joins (or shows) it. */
export function renderDirectory(
  app: ViewActions,
  rooms: readonly DirectoryEntry[],
  query: string,
): void {
  const items = rooms.map((d) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "directory-room";
    const name = document.createElement("span");
    name.className = "room-name";
    name.textContent = `# ${d.room}`;
    const meta = document.createElement("span");
    meta.className = "directory-meta";
    meta.textContent = `${d.members} member${d.members === 1 ? "" : "s"}${d.topic ? ` · ${d.topic}` : ""}`;
    b.append(name, meta);
    const joined = app.state.rooms.get(d.room)?.joined === true;
    b.setAttribute("aria-label", `${joined ? "Show" : "Join"} #${d.room}, ${meta.textContent}`);
    b.addEventListener("click", () => {
      if (joined) app.select(d.room);
      else void app.join(d.room, { focus: true });
    });
    li.append(b);
    return li;
  });
  if (items.length === 0) {
    const li = document.createElement("li");
    li.className = "hint";
    li.textContent = query ? `No public room starts with “${query}”.` : "No public rooms yet.";
    items.push(li);
  }
  app.ui.directoryList.replaceChildren(...items);
}
