// The record of messages in PostgreSQL (src/db/migrations): what the archiver writes, and the
// reads that go past each room's Redis window: history (and export, which pages through it),
// a message in its context, search. Every read is bounded by what it returns (LIMIT on an index order), so nothing a
// user sends makes PostgreSQL read bodies it does not return; every query has a deadline
// (src/db/database.ts).
import type pg from "pg";
import { type Database, QUERY_MS } from "../db/database.js";
import type { FileRef, Message } from "../domain/types.js";

/**
 * A message's version: 0 as sent, its room's edit count (+1) once edited, this once
 * deleted, and higher still once withdrawn (taken back, never stored).
 */
export const DELETED_VERSION = Number.MAX_SAFE_INTEGER - 1;
export const WITHDRAWN_VERSION = Number.MAX_SAFE_INTEGER;

/** One message as the archiver writes it. */
export interface ArchivedRow {
  ms: number;
  seq: number;
  userId: string;
  username: string;
  text: string;
  ts: number;
  edited?: number;
  deleted: boolean;
  mentions: string[];
  version: number;
  /** Its attachments' JSON (a message's `f` field); absent: none. */
  files?: string;
  /** A deleted message's: the attachments its deletion dropped (JSON). */
  droppedFiles?: string;
}

/** A search hit: the message (its text is the snippet's source) and the snippet, as parts. */
export interface SearchHit {
  message: Message;
  /** The snippet, in order: text, and whether that part matched the query. */
  snippet: { text: string; match: boolean }[];
}

interface Row {
  room: string;
  ms: string;
  seq: string;
  user_id: string;
  username: string;
  body: string;
  sent_at: string;
  edited_at: string | null;
  deleted: boolean;
  files: unknown;
}

const COLUMNS = "room, ms, seq, user_id, username, body, sent_at, edited_at, deleted, files";

function toMessage(r: Row): Message {
  const m: Message = {
    id: `${r.ms}-${r.seq}`,
    room: r.room,
    user: { id: r.user_id, username: r.username },
    text: r.deleted ? "" : r.body,
    ts: Number(r.sent_at),
  };
  if (r.edited_at !== null && !r.deleted) m.edited = Number(r.edited_at);
  if (r.deleted) m.deleted = true;
  else if (Array.isArray(r.files) && r.files.length > 0) m.files = r.files as FileRef[];
  return m;
}

function idParts(id: string): [string, string] {
  const [ms = "0", seq = "0"] = id.split("-");
  return [ms, seq];
}

/**
 * In the archiver's transaction: a message's files learn which message carries them (until
 * then they count as not sent yet), and a deleted message's files are marked deleted (no longer
 * served; the file sweep removes their bytes).
 */
async function linkFiles(c: pg.PoolClient, room: string, list: ArchivedRow[]): Promise<void> {
  const carried: { id: string; ms: number; seq: number }[] = [];
  const gone: { ms: number; seq: number }[] = [];
  const dropped: string[] = [];
  for (const r of list) {
    if (r.deleted) {
      gone.push(r);
      for (const f of parseRefs(r.droppedFiles)) if (typeof f.id === "string") dropped.push(f.id);
    } else
      for (const f of parseRefs(r.files))
        if (typeof f.id === "string") carried.push({ id: f.id, ms: r.ms, seq: r.seq });
  }
  if (carried.length > 0) {
    await c.query(
      `UPDATE files SET msg_ms = x.ms, msg_seq = x.seq
       FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS x(id, ms, seq)
       WHERE files.room = $1 AND files.id = x.id AND files.msg_ms IS NULL`,
      [room, carried.map((x) => x.id), carried.map((x) => x.ms), carried.map((x) => x.seq)],
    );
  }
  if (gone.length > 0) {
    await c.query(
      `UPDATE files SET deleted_at = now()
       FROM unnest($2::bigint[], $3::bigint[]) AS x(ms, seq)
       WHERE files.room = $1 AND files.msg_ms = x.ms AND files.msg_seq = x.seq
         AND files.deleted_at IS NULL`,
      [room, gone.map((x) => x.ms), gone.map((x) => x.seq)],
    );
  }
  if (dropped.length > 0) {
    await c.query(
      "UPDATE files SET deleted_at = now() WHERE room = $1 AND id = ANY($2::text[]) AND deleted_at IS NULL",
      [room, dropped],
    );
  }
}

function parseRefs(json: string | undefined): { id?: unknown }[] {
  if (!json) return [];
  try {
    const list = JSON.parse(json) as unknown;
    return Array.isArray(list) ? (list as { id?: unknown }[]) : [];
  } catch {
    return [];
  }
}

/** A search query with no word the index can find (only exclusions, or nothing at all). */
export class QueryWithoutWords extends Error {
  constructor() {
    super("search for at least one word (a query of exclusions alone is not searched)");
    this.name = "QueryWithoutWords";
  }
}

/** How long a search may run, on both sides: the client's deadline and the server's. */
export const SEARCH_MS = 2_000;

export class ArchiveStore {
  constructor(
    private readonly db: Database,
    /** The text-search configuration (SEARCH_CONFIG). */
    private readonly searchConfig: string,
    /**
     * Searches run on connections of their own (a small pool): however many run, the
     * archiver and history keep theirs.
     */
    private readonly searchDb: Database = db,
  ) {}

  /**
   * Writes a room's batch in one statement: an upsert by room and id that only moves a row
   * to a newer version, so a replay (an archiver that ran twice, or resumed late) changes
   * nothing. Rows of one id are merged first (the newest version wins). Returns the edits
   * refused because PostgreSQL holds a higher version of their message
   * than theirs (with that version): see archive-rebase.lua.
   */
  async upsert(
    room: string,
    rows: ArchivedRow[],
  ): Promise<{ ms: number; seq: number; version: number }[]> {
    if (rows.length === 0) return [];
    const byId = new Map<string, ArchivedRow>();
    for (const r of rows) {
      const k = `${r.ms}-${r.seq}`;
      const prior = byId.get(k);
      if (!prior || prior.version < r.version) byId.set(k, r);
    }
    const list = [...byId.values()];
    return this.inTransaction(async (c) => {
      const written = await c.query<{ ms: string; seq: string }>(
        `INSERT INTO messages (room, ms, seq, user_id, username, body, sent_at, edited_at, deleted, mentions, version, files, search)
       SELECT $1, r.ms, r.seq, r.u, r.n, r.t, r.ts, r.ed, r.del, string_to_array(r.men, ','), r.v,
              CASE WHEN r.del THEN NULL ELSE r.f::jsonb END,
              -- < and > as spaces: the parser would take "<a b>" for a tag and index nothing of it.
              CASE WHEN r.del THEN NULL ELSE to_tsvector($2::regconfig, translate(r.t, '<>', '  ')) END
       FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[],
                   $9::bigint[], $10::bool[], $11::text[], $12::bigint[], $13::text[])
            AS r(ms, seq, u, n, t, ts, ed, del, men, v, f)
       ON CONFLICT (room, ms, seq) DO UPDATE SET
         username = EXCLUDED.username, body = EXCLUDED.body, edited_at = EXCLUDED.edited_at,
         deleted = EXCLUDED.deleted, mentions = EXCLUDED.mentions, version = EXCLUDED.version,
         files = EXCLUDED.files, search = EXCLUDED.search, archived_at = now()
       WHERE messages.version < EXCLUDED.version
       RETURNING ms, seq`,
        [
          room,
          this.searchConfig,
          list.map((r) => r.ms),
          list.map((r) => r.seq),
          list.map((r) => r.userId),
          list.map((r) => r.username.replaceAll("\u0000", "\uFFFD")),
          // PostgreSQL's text cannot hold NUL: it is stored as U+FFFD (Redis keeps the original).
          list.map((r) => (r.deleted ? "" : r.text.replaceAll("\u0000", "\uFFFD"))),
          list.map((r) => r.ts),
          list.map((r) => r.edited ?? null),
          list.map((r) => r.deleted),
          list.map((r) => r.mentions.join(",")),
          list.map((r) => r.version),
          list.map((r) => (r.files && !r.deleted ? r.files : null)),
        ],
      );
      await linkFiles(c, room, list);
      // Edits not written: PostgreSQL's version is higher (a replay, or a counter that went
      // back). Their versions there tell the archiver which.
      const done = new Set(written.rows.map((r) => `${r.ms}-${r.seq}`));
      const edits = list.filter(
        (r) => r.version > 0 && r.version < DELETED_VERSION && !done.has(`${r.ms}-${r.seq}`),
      );
      if (edits.length === 0) return [];
      const held = await c.query<{ ms: string; seq: string; version: string }>(
        `SELECT ms, seq, version FROM messages WHERE room = $1 AND NOT withdrawn
           AND version < $4
           AND (ms, seq) IN (SELECT * FROM unnest($2::bigint[], $3::bigint[]))`,
        [room, edits.map((r) => r.ms), edits.map((r) => r.seq), DELETED_VERSION],
      );
      return held.rows.map((r) => ({
        ms: Number(r.ms),
        seq: Number(r.seq),
        version: Number(r.version),
      }));
    });
  }

  /**
   * Marks messages that were never stored (taken back) as withdrawn: a row at the highest
   * version, so a copy of one that an earlier archiver commits late (it waits for this row's
   * lock, then loses the upsert) never comes back. Readers leave withdrawn rows out.
   */
  async remove(room: string, ids: { ms: number; seq: number }[]): Promise<void> {
    await this.inTransaction((c) =>
      c.query(
        `INSERT INTO messages (room, ms, seq, user_id, username, body, sent_at, deleted, withdrawn, version)
         SELECT $1, i.ms, i.seq, '', '', '', 0, true, true, $4
         FROM unnest($2::bigint[], $3::bigint[]) AS i(ms, seq)
         ON CONFLICT (room, ms, seq) DO UPDATE SET
           body = '', deleted = true, withdrawn = true, search = NULL, files = NULL,
           version = EXCLUDED.version`,
        [room, ids.map((i) => i.ms), ids.map((i) => i.seq), WITHDRAWN_VERSION],
      ),
    );
    // Its files carried no message after all: unsent again (offered to their sender again by
    // the take-back, and swept if never sent).
    await this.db.query(
      `UPDATE files SET msg_ms = NULL, msg_seq = NULL
       FROM unnest($2::bigint[], $3::bigint[]) AS i(ms, seq)
       WHERE files.room = $1 AND files.msg_ms = i.ms AND files.msg_seq = i.seq`,
      [room, ids.map((i) => i.ms), ids.map((i) => i.seq)],
    );
  }

  /**
   * Runs a write in a transaction whose statements PostgreSQL itself stops at the client's
   * deadline: a write the archiver gave up on never commits later.
   */
  private inTransaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.db.withClient(async (c) => {
      await c.query("BEGIN");
      await c.query(`SET LOCAL statement_timeout = ${QUERY_MS}`);
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    });
  }

  /** Whether PostgreSQL answers (the archiver's readiness, when it has nothing to copy). */
  async ping(): Promise<void> {
    await this.db.query("SELECT 1");
  }

  /** The messages of `room` with these ids (as PostgreSQL holds them now), in no order. */
  async many(room: string, ids: readonly string[]): Promise<Message[]> {
    if (ids.length === 0) return [];
    const parts = ids.map(idParts);
    const r = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM messages WHERE room = $1 AND NOT withdrawn
         AND (ms, seq) IN (SELECT * FROM unnest($2::bigint[], $3::bigint[]))`,
      [room, parts.map((p) => p[0]), parts.map((p) => p[1])],
    );
    return r.rows.map(toMessage);
  }

  /** Up to `limit` messages of `room` before `before`, newest first. */
  async page(room: string, limit: number, before: string): Promise<Message[]> {
    const [ms, seq] = idParts(before);
    const r = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM messages WHERE room = $1 AND (ms, seq) < ($2::bigint, $3::bigint)
         AND NOT withdrawn
       ORDER BY ms DESC, seq DESC LIMIT $4`,
      [room, ms, seq, limit],
    );
    return r.rows.map(toMessage);
  }

  /** One message of `room`, or undefined. */
  async one(room: string, id: string): Promise<Message | undefined> {
    const [ms, seq] = idParts(id);
    const r = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM messages WHERE room = $1 AND ms = $2 AND seq = $3 AND NOT withdrawn`,
      [room, ms, seq],
    );
    return r.rows[0] ? toMessage(r.rows[0]) : undefined;
  }

  /** Up to `limit` messages of `room` after `after`, oldest first. */
  async after(room: string, after: string, limit: number): Promise<Message[]> {
    const [ms, seq] = idParts(after);
    const r = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM messages WHERE room = $1 AND (ms, seq) > ($2::bigint, $3::bigint)
         AND NOT withdrawn
       ORDER BY ms, seq LIMIT $4`,
      [room, ms, seq, limit],
    );
    return r.rows.map(toMessage);
  }

  /**
   * Messages of `rooms` matching `query` (websearch syntax), newest first, at most `limit`,
   * older than the cursor `before` ("<ms>-<seq>-<room>") if given. Snippets are made for the
   * rows returned only: the match itself reads the index, never a body it does not return.
   */
  async search(
    rooms: readonly string[],
    query: string,
    limit: number,
    before?: { ms: string; seq: string; room: string },
  ): Promise<SearchHit[]> {
    const values: unknown[] = [this.searchConfig, query, rooms, limit];
    let cursor = "";
    if (before) {
      values.push(before.ms, before.seq, before.room);
      cursor = "AND (ms, seq, room) < ($5::bigint, $6::bigint, $7::text)";
    }
    let lexemes: string[] = [];
    const r = await this.searchDb.withClient(async (c) => {
      // The server stops the query at the same deadline the client gives up at.
      await c.query("BEGIN READ ONLY");
      await c.query(`SET LOCAL statement_timeout = ${SEARCH_MS}`);
      // A bitmap of the words' index (over room and words, where btree_gin is there), then
      // the newest of those matches: never a walk down every room's newest messages in
      // search of a match, which costs the whole table when a query matches nothing.
      await c.query("SET LOCAL enable_indexscan = off");
      // A query the index cannot serve (only exclusions: querytree "T") would read every
      // message of the user's rooms: refused.
      const tree = await c.query<{ t: string }>(
        "SELECT querytree(websearch_to_tsquery($1::regconfig, translate($2, '<>', '  '))) AS t",
        [this.searchConfig, query],
      );
      const t = tree.rows[0]?.t ?? "";
      if (t === "T" || t === "") {
        await c.query("ROLLBACK");
        return undefined;
      }
      lexemes = lexemesOf(t);
      const found = await c.query<Row>(
        `WITH q AS (SELECT websearch_to_tsquery($1::regconfig, translate($2, '<>', '  ')) AS q)
         SELECT ${COLUMNS} FROM messages, q
         WHERE room = ANY($3::text[]) AND NOT deleted AND search @@ q.q ${cursor}
         ORDER BY ms DESC, seq DESC, room DESC LIMIT $4`,
        values,
      );
      await c.query("COMMIT");
      return found;
    }, SEARCH_MS);
    if (!r) throw new QueryWithoutWords();
    return r.rows.map((row) => {
      const message = toMessage(row);
      return { message, snippet: snippetOf(message.text, lexemes) };
    });
  }

  /** Deletes messages sent more than `days` days before `now`, in slices; returns how many. */
  async applyRetention(days: number, now: number, slice = 5_000): Promise<number> {
    const cutoff = now - days * 86_400_000;
    let total = 0;
    for (;;) {
      const r = await this.db.query(
        `DELETE FROM messages WHERE ctid IN (
           SELECT ctid FROM messages WHERE sent_at < $1 LIMIT $2)`,
        [cutoff, slice],
        30_000,
      );
      total += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < slice) break;
    }
    // Their files go with them (the file sweep removes the bytes).
    await this.db.query(
      "UPDATE files SET deleted_at = now() WHERE msg_ms < $1 AND deleted_at IS NULL",
      [cutoff],
      30_000,
    );
    return total;
  }
}

/** The lexemes of a tsquery as `querytree` prints it ('word' & 'other' <-> 'x'). */
export function lexemesOf(tree: string): string[] {
  const out = new Set<string>();
  for (const m of tree.matchAll(/'((?:[^']|'')*)'/g)) {
    const lexeme = (m[1] as string).replaceAll("''", "'");
    if (lexeme) out.add(lexeme);
  }
  return [...out];
}

/** Words a snippet shows around its first match, and the most it shows. */
const SNIPPET_BEFORE = 8;
const SNIPPET_WORDS = 30;

/**
 * A snippet of `text` as parts, the words that match one of `lexemes` marked. Made here, from
 * the text parley returns anyway, in time linear in the text: PostgreSQL's ts_headline could
 * take seconds on a long phrase over a repetitive message. A word matches when it starts with
 * a lexeme, ignoring case (lexemes are lower-cased, and stemmed by configurations that stem:
 * "running" starts with "run"). Nothing is dropped or added: the parts joined are a stretch
 * of the text, with " … " where it was cut.
 */
export function snippetOf(
  text: string,
  lexemes: readonly string[],
): { text: string; match: boolean }[] {
  const words = text.split(/(\s+)/);
  const isMatch = (w: string) => {
    const bare = w.toLowerCase().replace(/^[^\p{L}\p{N}]+/u, "");
    return bare.length > 0 && lexemes.some((l) => bare.startsWith(l));
  };
  // Indexes of word tokens (even positions hold words, odd ones the spaces between).
  const wordAt: number[] = [];
  for (let i = 0; i < words.length; i += 2) if (words[i]) wordAt.push(i);
  const first = wordAt.findIndex((i) => isMatch(words[i] as string));
  const start = Math.max(0, first - SNIPPET_BEFORE);
  const end = Math.min(wordAt.length, start + SNIPPET_WORDS);
  const parts: { text: string; match: boolean }[] = [];
  const push = (t: string, match: boolean) => {
    const last = parts.at(-1);
    if (last && last.match === match) last.text += t;
    else parts.push({ text: t, match });
  };
  if (start > 0) push("… ", false);
  for (let k = start; k < end; k++) {
    const i = wordAt[k] as number;
    const w = words[i] as string;
    if (isMatch(w)) {
      // The word's punctuation, before and after, stays outside the mark.
      const m = /^([^\p{L}\p{N}]*)(.*?[\p{L}\p{N}])([^\p{L}\p{N}]*)$/u.exec(w);
      if (m?.[1]) push(m[1], false);
      push(m ? (m[2] as string) : w, true);
      if (m?.[3]) push(m[3], false);
    } else push(w, false);
    if (k < end - 1) push(words[i + 1] ?? " ", false);
  }
  if (end < wordAt.length) push(" …", false);
  return parts;
}
