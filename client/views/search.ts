// Search results: the room, the author and the time of each message, and its snippet with
// the matched words marked. Everything is set with textContent: a snippet is data (parts that
// matched or not), never HTML.
import type { SearchResult } from "../../src/contract/events.js";
import type { ChatState } from "../state.js";

const whenFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function searchItem(
  state: ChatState,
  hit: SearchResult,
  open: (hit: SearchResult) => void,
): HTMLLIElement {
  const m = hit.message;
  const li = document.createElement("li");
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.room = m.room;
  b.dataset.id = m.id;
  const where = document.createElement("span");
  where.className = "where";
  const r = state.rooms.get(m.room);
  const roomLabel = m.room.startsWith("dm:") ? `@ ${r?.label ?? "direct message"}` : `# ${m.room}`;
  where.textContent = `${roomLabel} · ${m.user.username} · ${whenFmt.format(new Date(m.ts))}`;
  const text = document.createElement("span");
  text.className = "snippet";
  for (const part of hit.snippet) {
    if (part.match) {
      const mark = document.createElement("mark");
      mark.textContent = part.text;
      text.append(mark);
    } else text.append(part.text);
  }
  b.append(where, text);
  b.addEventListener("click", () => open(hit));
  li.append(b);
  return li;
}
