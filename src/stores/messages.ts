// Room messages in Redis Streams: XADD (capped, approximately, at `cap` per room) before the
// sender's ack, so an acked message survives a restart of the app. The stream id is the
// message id: unique within the room and ordered as the room received messages.
//
// With replicas (REDIS_ACK_REPLICAS > 0, the default on Sentinel), a message is acked only
// once the replicas hold it (see replica-acks.ts). A message they do not confirm in time is
// taken back (a fenced XDEL) and refused as `unavailable`: an acked message survives a
// failover. (A take-back that cannot reach Redis leaves the message on that primary.)

import type { Member, Message } from "../domain/types.js";
import { FENCE, fencedEval, type Redis } from "../redis.js";
import { keys } from "./keys.js";
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

export const STREAM_ID_RE = /^\d{1,16}-\d{1,16}$/;

/** How long a client id is remembered: a retry within a day is never stored twice. */
const DEDUPE_SECONDS = 86_400;

// KEYS: the room's stream, the sender's client-id key (or the stream again when the send
// has no client id), the room's edits, the room's counts. ARGV: deadline, cap, user id,
// username, text, ts, "1" with a client id, "1" when replicas must confirm it first. Fenced:
// a message refused as `unavailable` is never stored when a stalled Redis resumes.
//
// The message's id is "<ms>-<n>": `n` counts the room's messages (so an unread count is a
// subtraction, never a read of messages) and `ms` is Redis's clock, never earlier than the
// id before it. A room with messages stored before counting began starts counting at its
// first message since, after the last of the old ones (whose ids count as 0).
//
// With a client id, the key remembers the message (id, time, a hash of its text, and whether
// it is confirmed): a send seen before answers {"dup", id, ts} when it carries the same text,
// is confirmed and is still stored as sent; {"revised", id, record} when it was edited or
// deleted since (its current version, from the edits: KEYS[3]); {"gone", id, ts} when the
// stream no longer holds it (trimmed); {"pending"} while its replicas have not confirmed it
// yet; {"conflict"} when the client id came with other text.
const APPEND = `${FENCE}
if ARGV[7] == '1' then
  local prior = redis.call('GET', KEYS[2])
  if prior then
    local id, ts, hash, state = string.match(prior, '^([^|]+)|([^|]+)|([^|]+)|(%a)$')
    if hash ~= redis.sha1hex(ARGV[5]) then return {'conflict'} end
    if state ~= 'D' then return {'pending'} end
    if #redis.call('XRANGE', KEYS[1], id, id) > 0 then return {'dup', id, ts} end
    local ms, seq = string.match(id, '^(%d+)-(%d+)$')
    local padded = string.rep('0', 16 - #ms) .. ms .. '-' .. string.rep('0', 16 - #seq) .. seq
    local revised = redis.call('ZRANGE', KEYS[3], '[' .. padded .. '|', '(' .. padded .. '}', 'BYLEX', 'LIMIT', 0, 1)
    if #revised > 0 then return {'revised', id, string.sub(revised[1], #padded + 2)} end
    return {'gone', id, ts}
  end
end
-- The time part of the stream's last id (XINFO's last-generated-id), when it is not counted.
local function last_ms()
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return tonumber(string.match(info[i + 1], '^(%d+)')) end
  end
  return 0
end
local counts = redis.call('HMGET', KEYS[4], 'n', 'ms')
local n = tonumber(counts[1])
local ms = tonumber(counts[2]) or 0
if not n then
  n = 0
  if redis.call('EXISTS', KEYS[1]) == 1 then
    -- The old ids count as 0: they are at or before 'b', and every new one is after it.
    local b = last_ms()
    redis.call('HSET', KEYS[4], 'b', string.format('%d', b))
    ms = b + 1
  end
end
n = n + 1
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if now > ms then ms = now end
local fields = {'u', ARGV[3], 'n', ARGV[4], 't', ARGV[5], 'ts', ARGV[6]}
local id = string.format('%d-%d', ms, n)
local added = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], id, unpack(fields))
if type(added) == 'table' and added.err then
  -- Another writer's id is newer (an older parley in a rolling upgrade): go after it.
  ms = math.max(ms, last_ms() + 1)
  id = string.format('%d-%d', ms, n)
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], id, unpack(fields))
end
redis.call('HSET', KEYS[4], 'n', n, 'ms', string.format('%d', ms), 'o:' .. ARGV[3], n)
if ARGV[7] == '1' then
  local state = 'D'
  if ARGV[8] == '1' then state = 'P' end
  redis.call('SET', KEYS[2], id .. '|' .. ARGV[6] .. '|' .. redis.sha1hex(ARGV[5]) .. '|' .. state, 'EX', ${DEDUPE_SECONDS})
end
return {'new', id}
`;

// KEYS: the client-id key. ARGV: deadline, message id. The replicas hold the message: a
// retry of it is now answered with it.
const CONFIRMED = `${FENCE}
local prior = redis.call('GET', KEYS[1])
if prior and string.sub(prior, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then
  redis.call('SET', KEYS[1], string.sub(prior, 1, -2) .. 'D', 'KEEPTTL')
end
return 1
`;

// KEYS: the room's stream, the client-id key (or the stream again). ARGV: deadline, message
// id. A message taken back was never stored: a retry of it is stored anew.
const TAKE_BACK = `${FENCE}
if KEYS[2] ~= KEYS[1] then redis.call('DEL', KEYS[2]) end
return redis.call('XDEL', KEYS[1], ARGV[2])
`;

// KEYS: the room's stream, its edits. ARGV: deadline, message id, padded id, actor id,
// "edit" or "delete", new text, now (ms), "1" if the actor may delete others' messages, cap.
// The message is taken from the stream (or from the edits, if edited before), checked (only
// its author edits; its author or a moderator deletes), and replaced: the stream entry is
// deleted, so the original text is not kept, and the edits hold the new version (or a
// tombstone). Returns {"ok", JSON record} or {"not_found"} / {"forbidden"}. (XDEL only marks
// a stream entry deleted: Redis frees its bytes when the stream's node empties or is
// trimmed, so the old text can linger in memory, and in snapshots or an append-only file
// written before then, though parley never serves it again. See the README.)
const REVISE = `${FENCE}
local rec
local found = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if #found > 0 then
  local f = found[1][2]
  local m = {}
  for i = 1, #f, 2 do m[f[i]] = f[i + 1] end
  rec = { u = m.u, n = m.n, t = m.t, ts = tonumber(m.ts) }
else
  local prior = redis.call('ZRANGE', KEYS[2], '[' .. ARGV[3] .. '|', '(' .. ARGV[3] .. '}', 'BYLEX', 'LIMIT', 0, 1)
  if #prior == 0 then return {'not_found'} end
  rec = cjson.decode(string.sub(prior[1], #ARGV[3] + 2))
  if rec.deleted then return {'not_found'} end
end
if ARGV[5] == 'edit' then
  if rec.u ~= ARGV[4] then return {'forbidden'} end
  rec.t = ARGV[6]
  rec.edited = tonumber(ARGV[7])
else
  if rec.u ~= ARGV[4] and ARGV[8] ~= '1' then return {'forbidden'} end
  rec = { u = rec.u, n = rec.n, t = '', ts = rec.ts, deleted = true }
end
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYLEX', KEYS[2], '[' .. ARGV[3] .. '|', '(' .. ARGV[3] .. '}')
local json = cjson.encode(rec)
redis.call('ZADD', KEYS[2], 0, ARGV[3] .. '|' .. json)
-- Capped like the stream: the newest edits are kept (all scores are 0, so rank is id order).
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[9]) + 1))
return {'ok', json}
`;

/** A message id padded so that byte order is id order: "<16 digits>-<16 digits>". */
export function paddedId(id: string): string {
  const [ms = "0", seq = "0"] = id.split("-");
  return `${ms.padStart(16, "0")}-${seq.padStart(16, "0")}`;
}

interface Revised {
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
  return m;
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

export class MessageStore {
  constructor(
    private readonly redis: Redis,
    private readonly cap: number,
    private readonly acks?: ReplicaAcks,
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
  ): Promise<{ message: Message; fresh: boolean; redeliver: boolean }> {
    const acks = this.acks;
    const key = keys.roomMessages(room);
    const dedupeKey = clientId === undefined ? key : keys.sentByClient(room, user.id, clientId);
    const stored = fencedEval(
      acks?.client ?? this.redis,
      APPEND,
      [key, dedupeKey, keys.roomEdits(room), keys.roomCounts(room)],
      [
        String(this.cap),
        user.id,
        user.username,
        text,
        String(ts),
        clientId === undefined ? "0" : "1",
        acks ? "1" : "0",
      ],
    ).then((reply) => reply as string[]);
    const confirmed = acks?.confirm();
    const reply = await stored;
    if (reply[0] === "conflict") throw new ClientIdConflict();
    if (reply[0] === "pending") {
      throw new Error("Connection: that message is still being confirmed by the replicas");
    }
    const id = String(reply[1]);
    if (reply[0] === "dup") {
      // Stored as sent: delivered again (the first delivery may have been lost with it).
      const message = { id, room, user, text, ts: Number(reply[2]) };
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
      const takenBack = await fencedEval(this.redis, TAKE_BACK, [key, dedupeKey], [id]).then(
        () => "taken back",
        () => "not taken back (Redis unreachable)",
      );
      throw new Error(`Connection: the replicas did not confirm the message in time; ${takenBack}`);
    }
    if (acks && clientId !== undefined) {
      // Best effort: until this lands a retry answers unavailable, then the message.
      await fencedEval(this.redis, CONFIRMED, [dedupeKey], [id]).catch(() => undefined);
    }
    return { message: { id, room, user, text, ts }, fresh: true, redeliver: false };
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
  ): Promise<Message | "not_found" | "forbidden"> {
    const edit = "text" in change;
    const reply = (await fencedEval(
      this.redis,
      REVISE,
      [keys.roomMessages(room), keys.roomEdits(room)],
      [
        id,
        paddedId(id),
        actorId,
        edit ? "edit" : "delete",
        edit ? change.text : "",
        String(now),
        !edit && change.moderator ? "1" : "0",
        String(this.cap),
      ],
    )) as string[];
    if (reply[0] !== "ok") return reply[0] === "forbidden" ? "forbidden" : "not_found";
    return (
      await this.attribute([fromRecord(room, id, JSON.parse(reply[1] ?? "{}"))])
    )[0] as Message;
  }

  /**
   * Up to `limit` messages before `before` (exclusive), or the newest; oldest first. Edited
   * messages come from the edits set: the newest `limit` of each, read in one MULTI (one
   * instant: an edit cannot land between the two reads), merged by id (the page's newest
   * `limit` are among them; an id in both keeps the edited version).
   */
  async page(room: string, limit: number, before?: string): Promise<Message[]> {
    const [entries, edits] = (await this.redis
      .multi()
      .xRevRange(keys.roomMessages(room), before ? `(${before}` : "+", "-", { COUNT: limit })
      .zRange(keys.roomEdits(room), before ? `(${paddedId(before)}` : "+", "-", {
        BY: "LEX",
        REV: true,
        LIMIT: { offset: 0, count: limit },
      })
      .exec()) as unknown as [
      { id: string; message: Record<string, string | undefined> }[],
      string[],
    ];
    const byId = new Map<string, Message>();
    for (const e of entries) {
      const f = e.message;
      byId.set(e.id, {
        id: e.id,
        room,
        user: { id: f.u ?? "", username: f.n ?? "" },
        text: f.t ?? "",
        ts: Number(f.ts ?? 0),
      });
    }
    for (const member of edits) {
      const m = parseEdit(room, member);
      if (m) byId.set(m.id, m);
    }
    const all = [...byId.values()];
    if (edits.length > 0) all.sort((a, b) => compareIds(b.id, a.id));
    return this.attribute(all.slice(0, limit).reverse());
  }

  /**
   * A deleted account's messages stay, under "deleted user" (its name may be someone else's
   * now): one more read, of the authors on this page only.
   */
  private async attribute(out: Message[]): Promise<Message[]> {
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
