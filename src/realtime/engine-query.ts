// The one parse of an engine.io request's query. engine.io reads a query as
// `Object.fromEntries(new URL(req.url, base).searchParams)`: the LAST value of a repeated
// parameter wins, the fragment is dropped, and an empty `sid` counts as no sid (a new
// handshake). Anything parley screens must be decided on exactly that reading, so this module
// parses the same way, refuses every query the two could read differently, and hands its
// result to engine.io as `req._query` (engine.io's prepare() keeps a `_query` it finds), so
// the screen and engine.io act on one object.

/** engine.io's path, matched as engine.io does: a prefix of the raw request target. */
export const ENGINE_PATH = "/socket.io/";

export type Transport = "polling" | "websocket";

export type EngineQuery = Record<string, string>;

export type QueryVerdict =
  | { ok: true; query: EngineQuery; sid: string | undefined; transport: Transport }
  | { ok: false; reason: string };

/** Parameters engine.io acts on, which must appear at most once and never empty. */
const ENGINE_PARAMS = ["EIO", "transport", "sid"] as const;

/** Whether engine.io would take this request (its own `check`: a prefix of the raw URL). */
export function isEngineRequest(url: string | undefined): boolean {
  return url !== undefined && url.slice(0, ENGINE_PATH.length) === ENGINE_PATH;
}

function refuse(reason: string): QueryVerdict {
  return { ok: false, reason };
}

/**
 * Parses an engine.io request target as engine.io does and decides whether it is
 * unambiguous: no fragment, no repeated parameter, no JSONP (`j`), protocol 4, a known
 * transport, the websocket transport only on an upgrade (and polling never on one), and a
 * `sid` that is either absent or non-empty.
 */
export function parseEngineQuery(rawUrl: string, upgrade: boolean): QueryVerdict {
  // A raw request target may carry a fragment; engine.io's URL parser drops it.
  if (rawUrl.includes("#")) return refuse("fragment");
  let url: URL;
  try {
    url = new URL(rawUrl, "https://socket.io");
  } catch {
    return refuse("unparseable url");
  }
  const entries = [...url.searchParams.entries()];
  const seen = new Set<string>();
  for (const [key] of entries) {
    if (seen.has(key)) return refuse("repeated parameter");
    seen.add(key);
  }
  const query: EngineQuery = Object.fromEntries(entries);
  if (Object.hasOwn(query, "j")) return refuse("jsonp");
  for (const name of ENGINE_PARAMS) {
    if (Object.hasOwn(query, name) && query[name] === "") return refuse(`empty ${name}`);
  }
  if (query.EIO !== "4") return refuse("protocol");
  const transport = query.transport;
  if (transport !== "polling" && transport !== "websocket") return refuse("unknown transport");
  if (transport === "websocket" && !upgrade) return refuse("websocket without upgrade");
  if (transport === "polling" && upgrade) return refuse("upgrade on polling");
  return { ok: true, query, sid: query.sid, transport };
}
