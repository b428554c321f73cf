// Room messages in Redis Streams: XADD before the sender's ack, so an acked message survives
// a restart of the app. The stream id is the message id: unique within the room and ordered
// as the room received messages. Redis holds each room's recent window; PostgreSQL is the
// record (src/archive/): the archiver trims a stream only behind what PostgreSQL holds, and
// a room with `backlog` messages not archived yet refuses sends (`unavailable`) rather than
// drop one. History past the window is read from PostgreSQL (`ArchiveReads`).
//
// With replicas (REDIS_ACK_REPLICAS > 0, the default on Sentinel), a message is acked only
// once the replicas hold it (see replica-acks.ts). A message they do not confirm in time is
// taken back (a fenced XDEL) and refused as `unavailable`: an acked message survives a
// failover. (A take-back that cannot reach Redis leaves the message on that primary.)

import type { FileRef, Member, Message } from "../domain/types.js";
import type { Redis } from "../redis/client.js";
import { RedisUnavailableError } from "../redis/errors.js";
import { fencedEval } from "../redis/fence.js";
import { runScript } from "../redis/scripts.js";
import { keys } from "./keys.js";
import { script } from "./lua.js";
import type { ReplicaAcks } from "./replica-acks.js";

/** A client id sent again with different text: not the same message, so not stored. */
export class ClientIdConflict extends Error {
  constructor() {
    super("that clientId was already used for another message");
    this.name = "ClientIdConflict";
  }
}

/** How a deleted account's messages are attributed. */
export const DELETED_USER = "deleted user";

/** How long a client id is remembered: a retry within a day is never stored twice. */
const DEDUPE_SECONDS = 86_400;

const APPEND = script("message-append");

const CONFIRMED = script("message-confirmed");

const TAKE_BACK = script("message-take-back");

const REVISE = script("message-revise");

const PENDING = script("archive-pending");

/** A message id padded so that byte order is id order: "<16 digits>-<16 digits>". */
export function paddedId(id: string): string {
  const [ms = "0", seq = "0"] = id.split("-");
  return `${ms.padStart(16, "0")}-${seq.padStart(16, "0")}`;
}

/** An edited or deleted message's record, as the edits set keeps it (JSON). */
export interface Revised {
  /** Attachments: their JSON, as the stream entry holds it. */
  f?: string;
  /** A tombstone's: the attachments its deletion dropped (JSON), for the archiver. */
  fd?: string;
  u?: string;
  n?: string;
  t?: string;
  ts?: number;
  edited?: number;
  deleted?: boolean;
}

function fromRecord(room: string, id: string, r: Revised): Message {
  const m: Message = {
    id,
    room,
    user: { id: r.u ?? "", username: r.n ?? "" },
    text: r.t ?? "",
    ts: Number(r.ts ?? 0),
  };
  if (r.edited) m.edited = r.edited;
  if (r.deleted) m.deleted = true;
  else {
    const files = parseFiles(r.f);
    if (files) m.files = files;
  }
  return m;
}

/** A message's attachments from their JSON (undefined: none, or damaged). */
export function parseFiles(json: string | undefined | null): FileRef[] | undefined {
  if (!json) return undefined;
  try {
    const list = JSON.parse(json) as unknown;
    return Array.isArray(list) && list.length > 0 ? (list as FileRef[]) : undefined;
  } catch {
    return undefined;
  }
}

/** An attachment named in a send is not an upload of the sender's into that room (any more). */
export class FileNotAvailable extends Error {
  constructor(readonly index: number) {
    super(
      `attachment ${index} is not an upload of yours to this room (it expired, or was sent already)`,
    );
    this.name = "FileNotAvailable";
  }
}

/** An entry of the edits set: its message id and record (undefined if damaged). */
function parseEdit(room: string, member: string): Message | undefined {
  const bar = member.indexOf("|");
  if (bar !== 33) return undefined;
  const [ms, seq] = member.slice(0, bar).split("-");
  try {
    return fromRecord(room, `${Number(ms)}-${Number(seq)}`, JSON.parse(member.slice(bar + 1)));
  } catch {
    return undefined;
  }
}

/** What the message store tells the archiver (src/archive/archiver.ts). */
export interface ArchiveHooks {
  /** Before a room's first write from this process; undefined when already done. */
  register(room: string): Promise<void> | undefined;
  /** The room has something new to archive. */
  touch(room: string): void;
}

/** Reads past the Redis window (src/archive/store.ts). */
export interface ArchiveReads {
  /** Up to `limit` messages before `before`, newest first. */
  page(room: string, limit: number, before: string): Promise<Message[]>;
  /** Up to `limit` messages after `after`, oldest first. */
  after(room: string, after: string, limit: number): Promise<Message[]>;
  /** One message, or undefined. */
  one(room: string, id: string): Promise<Message | undefined>;
  /** These messages as PostgreSQL holds them now, in no order. */
  many(room: string, ids: readonly string[]): Promise<Message[]>;
}

/** A room has `backlog` messages (or edits) PostgreSQL does not hold yet. */
const FULL = "this room's newest messages are still being archived: try again shortly";

/**
 * Stream entries and edits of one read, merged by id (an id in both keeps the edited
 * version: the stream entry is replaced when edited, but a read may catch both sides).
 */
function merged(
  room: string,
  entries: { id: string; message: Record<string, string | undefined> }[],
  edits: string[],
): Message[] {
  const byId = new Map<string, Message>();
  for (const e of entries) {
    const f = e.message;
    const m: Message = {
      id: e.id,
      room,
      user: { id: f.u ?? "", username: f.n ?? "" },
      text: f.t ?? "",
      ts: Number(f.ts ?? 0),
    };
    const files = parseFiles(f.f);
    if (files) m.files = files;
    byId.set(e.id, m);
  }
  for (const member of edits) {
    const m = parseEdit(room, member);
    if (m) byId.set(m.id, m);
  }
  return [...byId.values()];
}

export class MessageStore {
  /** How long an upload is offered to its sender (FILE_PENDING_SECONDS): a take-back offers
   * a message's files again for that long. */
  uploadSeconds = 3_600;

  constructor(
    private readonly redis: Redis,
    /** Messages (and edits) of a room Redis may hold that PostgreSQL does not yet. */
    private readonly backlog: number,
    private readonly acks?: ReplicaAcks,
    private readonly hooks?: ArchiveHooks,
    private readonly reads?: ArchiveReads,
  ) {}

  /**
   * Stores a message. With `clientId` (the sender's own id for this message), a send that
   * was stored before (a retry after a lost answer) is not stored again: `fresh` is false and
   * the message is the one stored then (`redeliver`: still as sent, so it may be delivered
   * again; an edited or deleted one is answered with its current version and is not). The
   * same client id with other text is refused
   * (`ClientIdConflict`); a retry of a message whose replicas have not confirmed it yet is
   * refused as unavailable (the client sends it again).
   */
  async append(
    room: string,
    user: Member,
    text: string,
    ts: number,
    clientId?: string,
    /** Uploads of the sender's to this room to attach (taken with the send). */
    fileIds: readonly string[] = [],
  ): Promise<{ message: Message; fresh: boolean; redeliver: boolean }> {
    const acks = this.acks;
    const registering = this.hooks?.register(room);
    if (registering) await registering;
    const key = keys.roomMessages(room);
    const dedupeKey = clientId === undefined ? key : keys.sentByClient(room, user.id, clientId);
    const stored = fencedEval(
      acks?.client ?? this.redis,
      APPEND,
      [
        key,
        dedupeKey,
        keys.roomEdits(room),
        keys.roomCounts(room),
        ...fileIds.map((id) => keys.fileUpload(room, id)),
      ],
      [
        String(this.backlog),
        user.id,
        user.username,
        text,
        String(ts),
        clientId === undefined ? "0" : "1",
        acks ? "1" : "0",
        String(DEDUPE_SECONDS),
        fileIds.join(","),
      ],
    ).then((reply) => reply as string[]);
    const confirmed = acks?.confirm();
    const reply = await stored;
    if (reply[0] === "conflict") throw new ClientIdConflict();
    if (reply[0] === "nofile") throw new FileNotAvailable(Number(reply[1]));
    if (reply[0] === "full") throw new RedisUnavailableError(FULL);
    if (reply[0] === "pending") {
      throw new RedisUnavailableError("that message is still being confirmed by the replicas");
    }
    const id = String(reply[1]);
    if (reply[0] === "dup") {
      // Stored as sent: delivered again (the first delivery may have been lost with it).
      const message: Message = { id, room, user, text, ts: Number(reply[2]) };
      const files = parseFiles(reply[3]);
      if (files) message.files = files;
      return { message, fresh: false, redeliver: true };
    }
    if (reply[0] === "revised") {
      // Edited or deleted since: its current version, never the text it was sent with.
      const [current] = await this.attribute([fromRecord(room, id, JSON.parse(reply[2] ?? "{}"))]);
      return { message: current as Message, fresh: false, redeliver: false };
    }
    if (reply[0] === "gone") {
      const message = { id, room, user, text, ts: Number(reply[2]) };
      return { message, fresh: false, redeliver: false };
    }
    if (acks && !(await confirmed)) {
      // Taken back on the main connection: the messages' own may be held by the next WAIT.
      const takenBack = await fencedEval(
        this.redis,
        TAKE_BACK,
        [
          key,
          dedupeKey,
          keys.roomPendingEdits(room),
          keys.roomCounts(room),
          ...fileIds.map((f) => keys.fileUpload(room, f)),
        ],
        [id, paddedId(id), user.id, String(this.uploadSeconds)],
      ).then(
        () => {
          // Marked for the archiver, which may have copied it already.
          this.hooks?.touch(room);
          return "taken back";
        },
        () => "not taken back (Redis unreachable)",
      );
      throw new RedisUnavailableError(
        `the replicas did not confirm the message in time; ${takenBack}`,
      );
    }
    if (acks && clientId !== undefined) {
      // Best effort: until this lands a retry answers unavailable, then the message.
      await fencedEval(this.redis, CONFIRMED, [dedupeKey], [id]).catch(() => undefined);
    }
    this.hooks?.touch(room);
    const message: Message = { id, room, user, text, ts };
    const files = parseFiles(reply[2]);
    if (files) message.files = files;
    return { message, fresh: true, redeliver: false };
  }

  /**
   * Edits (`text`) or deletes (no `text`) a message as `actorId`; `moderator`: the actor may
   * delete others' messages. Returns the new version (a tombstone when deleted), or the
   * refusal.
   */
  async revise(
    room: string,
    id: string,
    actorId: string,
    change: { text: string } | { delete: true; moderator: boolean },
    now: number,
    /** Told the attachments a deletion dropped (their files are to be deleted). */
    onDropped?: (files: FileRef[]) => void,
  ): Promise<Message | "not_found" | "forbidden"> {
    const edit = "text" in change;
    const registering = this.hooks?.register(room);
    if (registering) await registering;
    const run = (archived: string) =>
      fencedEval(
        this.redis,
        REVISE,
        [
          keys.roomMessages(room),
          keys.roomEdits(room),
          keys.roomPendingEdits(room),
          keys.roomCounts(room),
        ],
        [
          id,
          paddedId(id),
          actorId,
          edit ? "edit" : "delete",
          edit ? change.text : "",
          String(now),
          !edit && change.moderator ? "1" : "0",
          String(this.backlog),
          archived,
        ],
      ) as Promise<string[]>;
    let reply = await run("");
    if (reply[0] === "not_found" && this.reads) {
      // Older than the window: PostgreSQL holds it (if it exists), and the script runs
      // again with that version (Redis had none: nothing newer can be lost).
      const trimmedAt = await this.redis.hGet(keys.roomCounts(room), "t");
      if (trimmedAt && compareIds(id, trimmedAt) < 0) {
        const old = await this.reads.one(room, id);
        if (old && !old.deleted) {
          const record: Revised = { u: old.user.id, n: old.user.username, t: old.text, ts: old.ts };
          if (old.edited) record.edited = old.edited;
          if (old.files) record.f = JSON.stringify(old.files);
          reply = await run(JSON.stringify(record));
        }
      }
    }
    if (reply[0] === "full") throw new RedisUnavailableError(FULL);
    if (reply[0] === "ok") this.hooks?.touch(room);
    if (reply[0] !== "ok") return reply[0] === "forbidden" ? "forbidden" : "not_found";
    const dropped = parseFiles(reply[2]);
    if (dropped && onDropped) onDropped(dropped);
    return (
      await this.attribute([fromRecord(room, id, JSON.parse(reply[1] ?? "{}"))])
    )[0] as Message;
  }

  /**
   * Up to `limit` messages before `before` (exclusive), or the newest; oldest first. Edited
   * messages come from the edits set: the newest `limit` of each, read in one MULTI (one
   * instant: an edit cannot land between the two reads), merged by id (the page's newest
   * `limit` are among them; an id in both keeps the edited version). The same MULTI reads
   * the room's `t`: messages older than it are no longer in the stream, and when the window
   * does not fill the page they are read from PostgreSQL (with any edit or deletion Redis
   * holds for them that PostgreSQL does not yet laid over).
   */
  async page(room: string, limit: number, before?: string): Promise<Message[]> {
    const [entries, edits, trimmedAt] = (await this.redis
      .multi()
      .xRevRange(keys.roomMessages(room), before ? `(${before}` : "+", "-", { COUNT: limit })
      .zRange(keys.roomEdits(room), before ? `(${paddedId(before)}` : "+", "-", {
        BY: "LEX",
        REV: true,
        LIMIT: { offset: 0, count: limit },
      })
      .hGet(keys.roomCounts(room), "t")
      .exec()) as unknown as [
      { id: string; message: Record<string, string | undefined> }[],
      string[],
      string | null,
    ];
    let all = merged(room, entries, edits).sort((a, b) => compareIds(b.id, a.id));
    if (trimmedAt && this.reads) {
      // What Redis holds from `t` on is whole; below it, only edits not yet archived.
      const recent = all.filter((m) => compareIds(m.id, trimmedAt) >= 0);
      if (recent.length < limit) {
        // Everything from `t` on is in Redis: PostgreSQL is read strictly below it.
        const below = before && compareIds(before, trimmedAt) < 0 ? before : trimmedAt;
        all = [...recent, ...(await this.older(room, limit - recent.length, below))];
        all.sort((a, b) => compareIds(b.id, a.id));
      } else {
        all = recent;
      }
    }
    return this.attribute(all.slice(0, limit).reverse());
  }

  /** The id of the room's newest message now (undefined when it has none). */
  async newestId(room: string): Promise<string | undefined> {
    const [ms, n] = await this.redis.hmGet(keys.roomCounts(room), ["ms", "n"]);
    if (ms && n) return `${ms}-${n}`;
    const [last] = await this.redis.xRevRange(keys.roomMessages(room), "+", "-", { COUNT: 1 });
    return last?.id;
  }

  /**
   * Up to `need` messages from PostgreSQL before `below`, newest first, as they stand now. A
   * page that loses rows to withPendingEdits (messages taken back) is topped up, so a short
   * page still means the room's first message was reached.
   */
  private async older(room: string, need: number, below: string): Promise<Message[]> {
    const reads = this.reads;
    if (!reads) return [];
    const out: Message[] = [];
    let cursor = below;
    for (let round = 0; round < 4 && out.length < need; round++) {
      const want = need - out.length;
      const rows = await reads.page(room, want, cursor);
      out.push(...(await this.withPendingEdits(room, rows)));
      const last = rows.at(-1);
      if (!last || rows.length < want) break;
      cursor = last.id;
    }
    return out;
  }

  /**
   * Up to `limit` messages after `after` (exclusive), oldest first. One MULTI reads the
   * room's `t` with the stream and its edits from `after` on (one instant: a trim cannot
   * land between them); what lies between `after` and `t` (no longer in the stream) is then
   * read from PostgreSQL, which holds all of it.
   */
  async after(room: string, after: string, limit: number): Promise<Message[]> {
    const [entries, edits, trimmedAt] = (await this.redis
      .multi()
      .xRange(keys.roomMessages(room), `(${after}`, "+", { COUNT: limit })
      .zRange(keys.roomEdits(room), `(${paddedId(after)}}`, "+", {
        BY: "LEX",
        LIMIT: { offset: 0, count: limit },
      })
      .hGet(keys.roomCounts(room), "t")
      .exec()) as unknown as [
      { id: string; message: Record<string, string | undefined> }[],
      string[],
      string | null,
    ];
    let newer = merged(room, entries, edits).sort((a, b) => compareIds(a.id, b.id));
    const older: Message[] = [];
    if (trimmedAt && this.reads && compareIds(after, trimmedAt) < 0) {
      // Below `t` the edits are overlays of PostgreSQL's rows (withPendingEdits reads them).
      newer = newer.filter((m) => compareIds(m.id, trimmedAt) >= 0);
      let cursor = after;
      for (;;) {
        const rows = await this.reads.after(room, cursor, limit);
        const below = rows.filter((m) => compareIds(m.id, trimmedAt) < 0);
        older.push(...(await this.withPendingEdits(room, below)));
        // Reached `t`, or the end: PostgreSQL's part is whole, the stream's follows.
        if (below.length < rows.length || rows.length < limit) break;
        // More lies below `t`: the page ends in PostgreSQL, and the next one goes on from it.
        if (older.length >= limit) return this.attribute(older.slice(0, limit));
        cursor = (below.at(-1) as Message).id;
      }
    }
    return this.attribute([...older, ...newer].slice(0, limit));
  }

  /**
   * `messages` (read from PostgreSQL) as they stand now: one whose edit or deletion
   * PostgreSQL does not hold yet comes from Redis (its pending mark and record), one taken
   * back is left out, and the others are read again from PostgreSQL by their ids, after the
   * marks were read: an edit the archiver committed (and unmarked) between the first read
   * and the marks' is then seen, never the version before it.
   */
  async withPendingEdits(room: string, messages: Message[]): Promise<Message[]> {
    if (messages.length === 0) return messages;
    const padded = messages.map((m) => paddedId(m.id));
    // Marks and records in one script: a mark and its record are cleared together.
    const reply = (await runScript(
      this.redis,
      PENDING,
      [keys.roomPendingEdits(room), keys.roomEdits(room)],
      padded,
    )) as string[];
    const marked = new Set<string>();
    const current = new Map<string, Message>();
    messages.forEach((m, i) => {
      if (reply[2 * i] !== "1") return;
      marked.add(m.id);
      const record = reply[2 * i + 1];
      const now = record ? parseEdit(room, record) : undefined;
      if (now) current.set(m.id, now);
    });
    const unmarked = messages.filter((m) => !marked.has(m.id)).map((m) => m.id);
    const fresh = new Map(
      (this.reads ? await this.reads.many(room, unmarked) : messages).map((m) => [m.id, m]),
    );
    const out: Message[] = [];
    for (const m of messages) {
      // Marked with no record: taken back, never stored. Not in PostgreSQL any more: the same.
      const now = marked.has(m.id) ? current.get(m.id) : fresh.get(m.id);
      if (now) out.push(now);
    }
    return out;
  }

  /**
   * A deleted account's messages stay, under "deleted user" (its name may be someone else's
   * now): one more read, of the authors on this page only.
   */
  async attribute(out: Message[]): Promise<Message[]> {
    if (out.length === 0) return out;
    const authors = [...new Set(out.map((m) => m.user.id))];
    const flags = await this.redis.smIsMember(keys.deletedUsers, authors);
    const deleted = new Set(authors.filter((_, i) => flags[i] === 1));
    if (deleted.size === 0) return out;
    return out.map((m) =>
      deleted.has(m.user.id) ? { ...m, user: { id: m.user.id, username: DELETED_USER } } : m,
    );
  }
}

/** Orders two stream ids ("ms-seq") as numbers. */
export function compareIds(a: string, b: string): number {
  const pa = paddedId(a);
  const pb = paddedId(b);
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}
