// Room messages in Redis Streams: XADD (capped, approximately, at `cap` per room) before the
// sender's ack, so an acked message survives a restart of the app. The stream id is the
// message id: unique within the room and ordered as the room received messages.
//
// With replicas (REDIS_ACK_REPLICAS > 0, the default on Sentinel), a message is acked only
// once the replicas hold it (see replica-acks.ts). A message they do not confirm in time is
// taken back (a fenced XDEL) and refused as `unavailable`: an acked message survives a
// failover. (A take-back that cannot reach Redis leaves the message on that primary.)

import type { Member, Message } from "../realtime/events.js";
import { FENCE, fencedEval, type Redis } from "../redis.js";
import { keys } from "./keys.js";
import type { ReplicaAcks } from "./replica-acks.js";

/** How a deleted account's messages are attributed. */
export const DELETED_USER = "deleted user";

export const STREAM_ID_RE = /^\d{1,16}-\d{1,16}$/;

// KEYS: the room's stream. ARGV: deadline, cap, user id, username, text, ts. Fenced: a
// message refused as `unavailable` is never stored when a stalled Redis resumes.
const APPEND = `${FENCE}
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'u', ARGV[3], 'n', ARGV[4], 't', ARGV[5], 'ts', ARGV[6])
`;

// KEYS: the room's stream. ARGV: deadline, message id.
const TAKE_BACK = `${FENCE}
return redis.call('XDEL', KEYS[1], ARGV[2])
`;

export class MessageStore {
  constructor(
    private readonly redis: Redis,
    private readonly cap: number,
    private readonly acks?: ReplicaAcks,
  ) {}

  async append(room: string, user: Member, text: string, ts: number): Promise<Message> {
    const acks = this.acks;
    const key = keys.roomMessages(room);
    const stored = fencedEval(
      acks?.client ?? this.redis,
      APPEND,
      [key],
      [String(this.cap), user.id, user.username, text, String(ts)],
    );
    if (!acks) return { id: String(await stored), room, user, text, ts };
    const confirmed = acks.confirm();
    const id = String(await stored);
    if (!(await confirmed)) {
      // Taken back on the main connection: the messages' own may be held by the next WAIT.
      const takenBack = await fencedEval(this.redis, TAKE_BACK, [key], [id]).then(
        () => "taken back",
        () => "not taken back (Redis unreachable)",
      );
      throw new Error(`Connection: the replicas did not confirm the message in time; ${takenBack}`);
    }
    return { id, room, user, text, ts };
  }

  /** Up to `limit` messages before `before` (exclusive), or the newest; oldest first. */
  async page(room: string, limit: number, before?: string): Promise<Message[]> {
    const entries = await this.redis.xRevRange(
      keys.roomMessages(room),
      before ? `(${before}` : "+",
      "-",
      { COUNT: limit },
    );
    const out: Message[] = [];
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      if (!e) continue;
      const f = e.message as Record<string, string | undefined>;
      out.push({
        id: e.id,
        room,
        user: { id: f.u ?? "", username: f.n ?? "" },
        text: f.t ?? "",
        ts: Number(f.ts ?? 0),
      });
    }
    // A deleted account's messages stay, under "deleted user" (its name may be someone
    // else's now): one more read, of the authors on this page only.
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
