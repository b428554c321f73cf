// What messages are, as values: a message's id (a Redis stream id, "<ms>-<n>") and the
// client id a sender gives it. Pure (the page bundles it).

/** A message's client id (`message:send` `clientId`): 8–64 letters, digits, `-` or `_`. */
export const CLIENT_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

export const STREAM_ID_RE = /^\d{1,16}-\d{1,16}$/;

/** "@name" not preceded by a name character (so e-mail addresses are not mentions). */
export const MENTION_RE = /(?<![A-Za-z0-9_.-])@([A-Za-z0-9_.-]{3,32})(?![A-Za-z0-9_])/g;

/** The names a text mentions, lower-cased, each once, at most `max`. */
export function mentionedNames(text: string, max: number): string[] {
  const out = new Set<string>();
  if (!text.includes("@")) return [];
  for (const m of text.matchAll(MENTION_RE)) {
    out.add((m[1] as string).toLowerCase());
    if (out.size === max) break;
  }
  return [...out];
}

/** A file's id: 32 lower-case hex digits (128 random bits), never a path of anyone's choosing. */
export const FILE_ID_RE = /^[0-9a-f]{32}$/;
