// Draws a formatted message (client/format.ts) with createElement and textContent only.
import { formatMessage, type Node } from "../format.js";

export function renderText(parent: HTMLElement, text: string, me: string): void {
  append(parent, formatMessage(text, me));
}

function append(parent: HTMLElement, nodes: readonly Node[]): void {
  for (const n of nodes) {
    switch (n.t) {
      case "text":
        parent.append(n.v);
        break;
      case "code": {
        const code = document.createElement("code");
        code.textContent = n.v;
        parent.append(code);
        break;
      }
      case "link": {
        const a = document.createElement("a");
        a.href = n.href;
        a.textContent = n.v;
        a.target = "_blank";
        a.rel = "noopener noreferrer nofollow";
        parent.append(a);
        break;
      }
      case "mention": {
        const span = document.createElement("span");
        span.className = n.me ? "mention mention-me" : "mention";
        span.textContent = n.v;
        parent.append(span);
        break;
      }
      case "bold": {
        const b = document.createElement("strong");
        append(b, n.c);
        parent.append(b);
        break;
      }
      case "italic": {
        const i = document.createElement("em");
        append(i, n.c);
        parent.append(i);
        break;
      }
    }
  }
}
