// Moves what each room's Redis stream holds into PostgreSQL: messages, edits, deletions and
// mentions. `message:send` is unchanged (it acks once Redis holds the message); this runs
// beside it, in every parley process.
//
// How the work is found and shared:
// - the process that stores a message or an edit marks its room dirty (in memory, no Redis
//   cost) and archives it within ARCHIVE_EVERY_MS;
// - every room that ever had a message is in one Redis set (added once per room per process,
//   before its first message there), and a sweep (one process at a time, under a lease) looks
//   through it for rooms whose counts say something is not archived: the work of a process
//   that died, or of one cut off from PostgreSQL;
// - a room is archived by one process at a time, under a lease in the room's slot.
//
// Each batch (in one room, in id order) is read in one script, written to PostgreSQL in one
// upsert that only ever moves a row to a newer version (a replay changes nothing), and only
// then acknowledged in Redis: the cursor moves forward, the edits archived lose their pending
// mark, and the stream is trimmed behind the cursor. So it runs at least once and never loses
// a message: a crash between the commit and the acknowledgement replays the batch.
//
// While PostgreSQL is down, slow or hung, chat goes on from Redis: each room may hold up to
// ROOM_BACKLOG messages that are not archived (then its sends answer `unavailable`, and none
// is ever dropped), and the archiver retries with backoff, catching up when it is back.
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { MAX_MENTIONS } from "../domain/limits.js";
import { mentionedNames } from "../domain/messages.js";
import type { Metrics } from "../metrics.js";
import { isCluster, type Redis } from "../redis/client.js";
import { runScript } from "../redis/scripts.js";
import { keys } from "../stores/keys.js";
import { script } from "../stores/lua.js";
import { compareIds, paddedId, type Revised } from "../stores/messages.js";
import { type ArchivedRow, type ArchiveStore, DELETED_VERSION } from "./store.js";

const READ = script("archive-read");
const ADVANCE = script("archive-advance");
const RELEASE = script("archive-release");
const REBASE = script("archive-rebase");

/** How often dirty rooms are archived. */
export const ARCHIVE_EVERY_MS = 100;
/** Messages (and edits) per batch. */
export const BATCH = 500;
/** How long a room's lease lasts: longer than a batch's PostgreSQL deadline. */
const LEASE_MS = 30_000;
/**
 * How often the sweep looks through every room (two small reads a room, one process at a
 * time): it finds only what a process that died, or one cut off from PostgreSQL, left; the
 * live work is found by the processes that store it.
 */
export const SWEEP_EVERY_MS = 60_000;
/** How long one sweep may hold the others off. */
const SWEEP_LEASE_MS = 30_000;
/** How often retention runs (when MESSAGE_RETENTION_DAYS is set). */
const RETENTION_EVERY_MS = 3_600_000;

export interface ArchiverOptions {
  window: number;
  retentionDays: number;
  now: () => number;
  everyMs?: number;
  sweepEveryMs?: number;
}

interface Entry {
  id: string;
  fields: Record<string, string>;
}

function parseEntries(raw: unknown): Entry[] {
  const out: Entry[] = [];
  for (const e of raw as [string, string[]][]) {
    const fields: Record<string, string> = {};
    const f = e[1];
    for (let i = 0; i + 1 < f.length; i += 2) fields[f[i] as string] = f[i + 1] as string;
    out.push({ id: e[0], fields });
  }
  return out;
}

function seqOf(id: string): number {
  return Number(id.split("-")[1] ?? 0);
}

export class Archiver {
  private readonly dirty = new Set<string>();
  private readonly registered = new Set<string>();
  private readonly owner = `${process.pid}:${randomBytes(6).toString("hex")}`;
  private timer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Consecutive failed passes (PostgreSQL or Redis away): the next pass waits longer. */
  private failures = 0;
  private nextPassAt = 0;
  /** Rooms whose last read showed messages not archived yet, with how many. */
  private readonly backlogs = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly store: ArchiveStore,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly o: ArchiverOptions,
  ) {
    metrics.archiveBacklog.set(0);
  }

  /**
   * Before a room's first message from this process: the room goes in the set the sweep
   * reads (once per room per process). Undefined when nothing needs doing.
   */
  register(room: string): Promise<void> | undefined {
    if (this.registered.has(room)) return undefined;
    return this.redis.sAdd(keys.archiveRooms, room).then(() => {
      this.registered.add(room);
    });
  }

  /** A room has something new to archive. */
  touch(room: string): void {
    this.dirty.add(room);
  }

  /** Messages this process last saw waiting for PostgreSQL, over all rooms. */
  get backlog(): number {
    let n = 0;
    for (const v of this.backlogs.values()) n += v;
    return n;
  }

  /** Whether the last pass could reach PostgreSQL (false while it fails). */
  get healthy(): boolean {
    return this.failures === 0;
  }

  start(): void {
    const every = this.o.everyMs ?? ARCHIVE_EVERY_MS;
    this.timer = setInterval(() => this.kick(), every);
    this.timer.unref();
    this.sweepTimer = setInterval(() => {
      this.sweep().catch((err: unknown) => this.failed("sweep", err));
    }, this.o.sweepEveryMs ?? SWEEP_EVERY_MS);
    this.sweepTimer.unref();
    if (this.o.retentionDays > 0) {
      this.retentionTimer = setInterval(() => {
        this.retain().catch((err: unknown) => this.failed("retention", err));
      }, RETENTION_EVERY_MS);
      this.retentionTimer.unref();
      this.retain().catch((err: unknown) => this.failed("retention", err));
    }
    // At start: the rooms of an installation from before PostgreSQL, then a first sweep.
    this.importRooms()
      .then(() => this.sweep())
      .catch((err: unknown) => this.failed("sweep", err));
  }

  /** Stops the timers and waits for the pass in progress (its batch commits or fails). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.sweepTimer);
    clearInterval(this.retentionTimer);
    await this.running;
    // A sweep under way ends (its lease released) before the Redis connection does.
    await this.sweeping;
  }

  private sweeping: Promise<void> | undefined;

  /** Marks a sweep under way; the function returned marks it done. */
  private sweepDone(): () => void {
    let done: () => void = () => undefined;
    this.sweeping = new Promise<void>((resolve) => {
      done = resolve;
    });
    return () => {
      this.sweeping = undefined;
      done();
    };
  }

  /** Starts a pass over the dirty rooms unless one runs (or a failure's backoff holds). */
  kick(): Promise<void> {
    // With nothing dirty a pass runs only to find out whether PostgreSQL is back.
    const idle = this.dirty.size === 0 && this.failures === 0;
    if (this.running || this.stopped || idle) return this.running ?? Promise.resolve();
    if (this.o.now() < this.nextPassAt) return Promise.resolve();
    this.running = this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Archives every dirty room now, until nothing is left (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.running) await this.running;
    this.nextPassAt = 0;
    while (this.dirty.size > 0) {
      await this.kick();
      if (this.failures > 0) throw new Error("the archive could not reach PostgreSQL");
    }
  }

  private async pass(): Promise<void> {
    const rooms = [...this.dirty];
    this.dirty.clear();
    let failed = false;
    // Whether this pass reached PostgreSQL at all (rooms leased by another process do not
    // tell: that one may be stuck on a PostgreSQL that hangs).
    let reached = false;
    for (const [i, room] of rooms.entries()) {
      if (this.stopped) {
        for (const r of rooms.slice(i)) this.dirty.add(r);
        break;
      }
      try {
        const outcome = await this.archiveRoom(room);
        if (outcome === "leased" || outcome === "more") this.dirty.add(room); // next pass
        if (outcome === "done" || outcome === "more") reached = true;
      } catch (err) {
        // PostgreSQL (or Redis) does not answer: the pass stops here (each further room
        // would wait its own deadline), and the rooms left wait for the next one.
        for (const r of rooms.slice(i)) this.dirty.add(r);
        this.failed("archive", err);
        failed = true;
        break;
      }
    }
    if (!failed && !reached && this.failures > 0) {
      // Nothing here needed PostgreSQL (rooms idle, or leased elsewhere): ask it directly.
      try {
        await this.store.ping();
        reached = true;
      } catch (err) {
        this.failed("archive", err);
        failed = true;
      }
    }
    if (failed) {
      this.failures++;
      this.nextPassAt = this.o.now() + Math.min(5_000, 100 * 2 ** Math.min(this.failures, 6));
    } else if (reached) {
      if (this.failures > 0) {
        this.logger.info({ event: "archive_recovered" }, "the archive reaches PostgreSQL again");
      }
      this.failures = 0;
      this.nextPassAt = 0;
    }
    this.metrics.archiveBacklog.set(this.backlog);
  }

  private failed(what: string, err: unknown): void {
    this.metrics.archiveFailures.inc();
    // Logged once per outage, then at debug: a down PostgreSQL must not flood the log.
    const level = this.failures === 0 ? "warn" : "debug";
    this.logger[level](
      { event: "archive_failed", what, err: (err as Error)?.message ?? String(err) },
      "the archive could not move messages into PostgreSQL; chat goes on from Redis and it will retry",
    );
  }

  /**
   * Archives one room's batches until none is left ("done", or "idle" when there was nothing
   * to copy); "leased" when another process holds the room's lease, "more" when this pass
   * stops early with more left.
   */
  async archiveRoom(room: string): Promise<"done" | "idle" | "leased" | "more"> {
    const lease = keys.archiveLease(room);
    const took = await this.redis.set(lease, this.owner, { NX: true, PX: LEASE_MS });
    if (took === null) return "leased";
    try {
      for (let i = 0; i < 20; i++) {
        const b = await this.batch(room);
        // Nothing to copy at all: PostgreSQL was not asked (so this says nothing of it).
        if (b === "empty") return i === 0 ? "idle" : "done";
        if (b === "partial") return "done";
      }
      return "more";
    } finally {
      await runScript(this.redis, RELEASE, [lease], [this.owner]).catch(() => undefined);
    }
  }

  /** One batch of one room: "full" (more may follow), "partial", or "empty" (nothing to copy). */
  private async batch(room: string): Promise<"full" | "partial" | "empty"> {
    const roomKeys = [
      keys.roomMessages(room),
      keys.roomEdits(room),
      keys.roomPendingEdits(room),
      keys.roomCounts(room),
    ];
    const reply = (await runScript(this.redis, READ, roomKeys, [String(BATCH)])) as [
      string,
      string,
      string,
      string,
      unknown,
      string[],
      string,
    ];
    const [cursor, , n, a] = reply;
    // Known before PostgreSQL is asked: while it does not answer, readiness tells how many wait.
    if (Number(n) > Number(a)) this.backlogs.set(room, Number(n) - Number(a));
    const entries = parseEntries(reply[4]);
    const edits = reply[5];
    const now = this.o.now();
    const rows: ArchivedRow[] = [];
    for (const e of entries) {
      const [ms = "0", seq = "0"] = e.id.split("-");
      const text = e.fields.t ?? "";
      rows.push({
        ms: Number(ms),
        seq: Number(seq),
        userId: e.fields.u ?? "",
        username: e.fields.n ?? "",
        text,
        ts: Number(e.fields.ts ?? 0),
        deleted: false,
        mentions: mentionedNames(text, MAX_MENTIONS),
        version: 0,
        ...(e.fields.f ? { files: e.fields.f } : {}),
      });
      this.metrics.archiveLagSeconds.observe(Math.max(0, now - Number(ms)) / 1000);
    }
    const archivedEdits: string[] = [];
    const withdrawn: { ms: number; seq: number }[] = [];
    for (let i = 0; i + 2 < edits.length; i += 3) {
      const padded = edits[i] as string;
      const score = edits[i + 1] as string;
      const member = edits[i + 2] as string;
      archivedEdits.push(padded, score);
      const [ms = "0", seq = "0"] = padded.split("-");
      if (!member) {
        // Marked with no record: a message taken back (its replicas never confirmed it). It
        // was never stored: PostgreSQL must not keep a copy the archiver made meanwhile.
        withdrawn.push({ ms: Number(ms), seq: Number(seq) });
        continue;
      }
      try {
        const rec = JSON.parse(member.slice(34)) as Revised;
        const text = rec.deleted ? "" : (rec.t ?? "");
        rows.push({
          ms: Number(ms),
          seq: Number(seq),
          userId: rec.u ?? "",
          username: rec.n ?? "",
          text,
          ts: Number(rec.ts ?? 0),
          ...(rec.edited ? { edited: rec.edited } : {}),
          deleted: rec.deleted === true,
          mentions: rec.deleted ? [] : mentionedNames(text, MAX_MENTIONS),
          // The room's edit counter orders versions (never a clock): a later edit, made on any
          // process, always wins; a deletion wins over everything.
          version: rec.deleted ? DELETED_VERSION : Number(score) + 1,
          ...(rec.f && !rec.deleted ? { files: rec.f } : {}),
          ...(rec.fd && rec.deleted ? { droppedFiles: rec.fd } : {}),
        });
      } catch {
        // a damaged record: nothing to write, its mark is cleared below
      }
    }
    // Read to the end of the stream: the cursor may go to the room's newest id (what came
    // after the last entry read was edited or deleted, and is among the edits).
    const newest = reply[6];
    let aid = entries.at(-1)?.id ?? "";
    if (entries.length < BATCH && newest && (!aid || compareIds(newest, aid) > 0)) aid = newest;
    if (aid && cursor && compareIds(aid, cursor) <= 0) aid = "";
    if (!aid && archivedEdits.length === 0) {
      this.backlogs.delete(room);
      return "empty";
    }
    const refused = await this.store.upsert(room, rows);
    let remarked = 0;
    if (refused.length > 0) {
      // The room's edit counter went back (a failover): those edits are marked again, higher.
      const scoreOf = new Map<string, string>();
      for (let i = 0; i + 1 < archivedEdits.length; i += 2) {
        scoreOf.set(archivedEdits[i] as string, archivedEdits[i + 1] as string);
      }
      const args = refused.flatMap((r) => {
        const padded = paddedId(`${r.ms}-${r.seq}`);
        const score = scoreOf.get(padded);
        return score === undefined ? [] : [padded, score, String(r.version)];
      });
      if (args.length > 0) {
        remarked = Number(
          await runScript(
            this.redis,
            REBASE,
            [keys.roomPendingEdits(room), keys.roomCounts(room)],
            args,
          ),
        );
      }
    }
    if (withdrawn.length > 0) await this.store.remove(room, withdrawn);
    // As in archive-advance.lua: a counted id needs a room that counts (`n`), past `b`.
    const boundary = Number(reply[1] || -1);
    const counted = aid !== "" && Number(n) > 0 && Number(aid.split("-")[0]) > boundary;
    await runScript(this.redis, ADVANCE, roomKeys, [
      aid,
      aid ? paddedId(aid) : "",
      counted ? String(seqOf(aid)) : "0",
      String(this.o.window),
      ...archivedEdits,
    ]);
    this.metrics.archivedMessages.inc(entries.length);
    const left = Number(n) - (counted ? seqOf(aid) : Number(a));
    if (left > 0) this.backlogs.set(room, left);
    else this.backlogs.delete(room);
    // Edits marked again (above) are written by the next batch, at once.
    return entries.length === BATCH || edits.length / 3 === BATCH || remarked > 0
      ? "full"
      : "partial";
  }

  /**
   * Looks through every room for work left undone (one process at a time): a room whose
   * counts show messages after the archive cursor, or edits pending, is archived here.
   */
  async sweep(): Promise<void> {
    if (this.stopped) return;
    // A lease of its own length (a sweep takes a moment): one left by a process that died
    // mid-sweep holds the others back no longer than that.
    const took = await this.redis.set(keys.archiveSweepLease, this.owner, {
      NX: true,
      PX: SWEEP_LEASE_MS,
    });
    if (took === null) return;
    const sweeping = this.sweepDone();
    try {
      let cursor = "0";
      do {
        const r = await this.redis.sScan(keys.archiveRooms, cursor, { COUNT: 200 });
        cursor = String(r.cursor);
        const rooms = r.members;
        const counts = await Promise.all(
          rooms.map((room) =>
            Promise.all([
              this.redis.hmGet(keys.roomCounts(room), ["n", "a", "aid"]),
              this.redis.zCard(keys.roomPendingEdits(room)),
            ]),
          ),
        );
        // Rooms from before counting began (no `n`): their stream's last entry against the
        // cursor, one more read for those only.
        const uncounted = rooms.filter((_, i) => !counts[i]?.[0]?.[0]);
        const lasts = await Promise.all(
          uncounted.map((room) =>
            this.redis.xRevRange(keys.roomMessages(room), "+", "-", { COUNT: 1 }),
          ),
        );
        const newestOf = new Map(uncounted.map((room, i) => [room, lasts[i]?.[0]?.id]));
        rooms.forEach((room, i) => {
          const [[n, a, aid] = [], pending = 0] = counts[i] ?? [];
          // Behind: counted messages after the cursor, edits pending, or (uncounted) a stream
          // whose last entry is past the cursor.
          const newest = newestOf.get(room);
          const behind =
            Number(n ?? 0) > Number(a ?? 0) ||
            pending > 0 ||
            (newest !== undefined && (!aid || compareIds(newest, aid) > 0));
          if (behind) this.dirty.add(room);
        });
      } while (cursor !== "0" && !this.stopped);
    } finally {
      await runScript(this.redis, RELEASE, [keys.archiveSweepLease], [this.owner]).catch(
        () => undefined,
      );
      sweeping();
    }
    await this.kick();
  }

  /**
   * Once per installation: the rooms of a parley from before PostgreSQL (every message
   * stream in Redis) go into the set the sweep reads, so their history is imported.
   */
  async importRooms(): Promise<void> {
    if ((await this.redis.exists(keys.archiveImported)) === 1) return;
    const streams = await scanKeys(this.redis, keys.roomMessages("*"));
    const prefix = keys.roomMessages("");
    const suffix = ":messages";
    const rooms = streams.map((k) => k.slice(prefix.length - suffix.length, -suffix.length));
    for (let i = 0; i < rooms.length; i += 500) {
      await this.redis.sAdd(keys.archiveRooms, rooms.slice(i, i + 500));
    }
    // Their edited and deleted messages live only in the edits set (the stream entry was
    // replaced): each is marked pending, so the archiver copies it too. (That set was capped
    // at 10,000 per room.)
    for (const room of rooms) {
      const edits = await this.redis.zRange(keys.roomEdits(room), 0, -1);
      const marks = edits.map((m) => ({ score: 0, value: m.slice(0, 33) }));
      for (let i = 0; i < marks.length; i += 500) {
        await this.redis.zAdd(keys.roomPendingEdits(room), marks.slice(i, i + 500), {
          condition: "NX",
        });
      }
    }
    await this.redis.set(keys.archiveImported, String(this.o.now()));
    // This process does the import's work (a sweep elsewhere may be under way).
    for (const room of rooms) this.dirty.add(room);
    if (rooms.length > 0) {
      this.logger.info(
        { event: "archive_import", rooms: rooms.length },
        `importing the history of ${rooms.length} rooms into PostgreSQL`,
      );
    }
  }

  /** Applies MESSAGE_RETENTION_DAYS (one process at a time). */
  async retain(): Promise<number> {
    const took = await this.redis.set(keys.archiveRetentionLease, this.owner, {
      NX: true,
      PX: RETENTION_EVERY_MS / 2,
    });
    if (took === null) return 0;
    const removed = await this.store.applyRetention(this.o.retentionDays, this.o.now());
    if (removed > 0) {
      this.logger.info(
        { event: "archive_retention", removed, days: this.o.retentionDays },
        `removed ${removed} messages older than ${this.o.retentionDays} days`,
      );
    }
    return removed;
  }
}

/** Every key matching `pattern`, on every primary of a cluster. */
async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const nodes = isCluster(redis)
    ? await Promise.all(redis.masters.map((m) => redis.nodeClient(m)))
    : [redis];
  const out: string[] = [];
  for (const node of nodes) {
    for await (const batch of node.scanIterator({ MATCH: pattern, COUNT: 500 })) {
      out.push(...(batch as string[]));
    }
  }
  return out;
}
