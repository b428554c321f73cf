// The message formatter, with no DOM: a message's text becomes a small tree of plain text,
// links, inline `code`, **bold**, _italic_ and @mentions. The page renders that tree with
// textContent and createElement only, so no text from a user is ever parsed as HTML; a link
// is made only from an http(s) URL, and is opened with rel="noopener noreferrer nofollow".

export type Node =
  | { t: "text"; v: string }
  | { t: "code"; v: string }
  | { t: "link"; v: string; href: string }
  | { t: "mention"; v: string; me: boolean }
  | { t: "bold"; c: Node[] }
  | { t: "italic"; c: Node[] };

/**
 * An http(s) URL as people paste them (at most 2048 characters); trailing punctuation is not
 * part of it. No backslashes or invisible format characters (bidi overrides, zero-width
 * spaces), which could make a link look like another site.
 */
const URL_RE = /\bhttps?:\/\/[^\s<>"'`\\\p{Cf}]{1,2040}/iuy;
const MENTION_RE = /@([A-Za-z0-9_]{3,32})(?![A-Za-z0-9_])/y;
/** Characters that may stand before an opening `_` or `**` (and after a closing one). */
const EDGE = /[\s([{"'.,;:!?*_-]/;

/** Parses `text`; `me` is the reader's username (their mentions are marked). */
export function formatMessage(text: string, me = ""): Node[] {
  return parse(text, 0, text.length, me.toLowerCase(), 0);
}

function parse(s: string, from: number, to: number, me: string, depth: number): Node[] {
  const out: Node[] = [];
  let plain = "";
  const flush = () => {
    if (plain) out.push({ t: "text", v: plain });
    plain = "";
  };
  let i = from;
  while (i < to) {
    const ch = s[i] as string;
    const before = i === from ? " " : (s[i - 1] as string);
    if (ch === "`") {
      const end = s.indexOf("`", i + 1);
      if (end > i + 1 && end < to) {
        flush();
        out.push({ t: "code", v: s.slice(i + 1, end) });
        i = end + 1;
        continue;
      }
    }
    if ((ch === "h" || ch === "H") && (i === from || !/[A-Za-z0-9]/.test(before))) {
      URL_RE.lastIndex = i;
      const m = URL_RE.exec(s);
      // Within this span only (a link inside **bold** ends where the bold does).
      const url = m ? trimUrl(m[0].slice(0, to - i)) : "";
      if (/^https?:\/\/[^/?#\s]/i.test(url)) {
        flush();
        out.push({ t: "link", v: url, href: url });
        i += url.length;
        continue;
      }
    }
    if (ch === "@" && (i === from || !/[A-Za-z0-9_]/.test(before))) {
      MENTION_RE.lastIndex = i;
      const m = MENTION_RE.exec(s);
      if (m && i + m[0].length <= to) {
        flush();
        const name = m[1] as string;
        out.push({ t: "mention", v: m[0], me: name.toLowerCase() === me });
        i += m[0].length;
        continue;
      }
    }
    if (depth < 4 && (EDGE.test(before) || i === from)) {
      if (ch === "*" && s[i + 1] === "*") {
        const end = closing(s, i + 2, to, "**");
        if (end > 0) {
          flush();
          out.push({ t: "bold", c: parse(s, i + 2, end, me, depth + 1) });
          i = end + 2;
          continue;
        }
      } else if (ch === "_") {
        const end = closing(s, i + 1, to, "_");
        if (end > 0) {
          flush();
          out.push({ t: "italic", c: parse(s, i + 1, end, me, depth + 1) });
          i = end + 1;
          continue;
        }
      }
    }
    plain += ch;
    i++;
  }
  flush();
  return out;
}

/**
 * Where a `mark` opened at `from` closes: the next one, on the same line, that follows a
 * non-space and is followed by an edge (so snake_case and 2**10 stay as they are); -1 if none.
 */
function closing(s: string, from: number, to: number, mark: string): number {
  if (from >= to || /\s/.test(s[from] as string)) return -1;
  // On the same line only.
  const newline = s.indexOf("\n", from);
  const end = newline < 0 || newline > to ? to : newline;
  for (
    let j = s.indexOf(mark, from + 1);
    j > 0 && j + mark.length <= end;
    j = s.indexOf(mark, j + 1)
  ) {
    const after = j + mark.length >= to ? " " : (s[j + mark.length] as string);
    if (!/\s/.test(s[j - 1] as string) && (EDGE.test(after) || j + mark.length === to)) return j;
  }
  return -1;
}

/** Drops trailing punctuation, and closing brackets that have no opening one in the URL. */
function trimUrl(url: string): string {
  // Brackets counted once; each trimmed character updates the counts (linear).
  let open = 0;
  let close = 0;
  let openSq = 0;
  let closeSq = 0;
  for (const c of url) {
    if (c === "(") open++;
    else if (c === ")") close++;
    else if (c === "[") openSq++;
    else if (c === "]") closeSq++;
  }
  let end = url.length;
  for (;;) {
    const last = url[end - 1] as string;
    if (/[.,;:!?'"*_]/.test(last)) end--;
    else if (last === ")" && open < close) {
      close--;
      end--;
    } else if (last === "]" && openSq < closeSq) {
      closeSq--;
      end--;
    } else return url.slice(0, end);
  }
}

/** The plain text of a tree (what a screen reader or a notification should say). */
export function plainText(nodes: readonly Node[]): string {
  return nodes.map((n) => ("c" in n ? plainText(n.c) : n.v)).join("");
}
