// Files shared in rooms: what an upload goes through once the route has checked the login and
// the right to write in the room (http/file-routes.ts), the sweep that leaves nothing no
// message refers to, and the deletion of a deleted message's files.
//
// An upload is spooled to a file on local disk as it arrives (never held whole in memory),
// then its type is read from its bytes, raster images get their inline variants (inspect.ts),
// the record goes to PostgreSQL, the blobs to the store (disk or S3), and a key in Redis offers
// it to its uploader's next message in that room for FILE_PENDING_SECONDS. The spool is
// removed whatever happens; a failure leaves no blob and no record behind, and gives the
// reserved quota back.
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FileRef } from "../domain/types.js";
import type { Logger } from "../logger.js";
import type { Redis } from "../redis/client.js";
import { within } from "../redis/errors.js";
import { runScript } from "../redis/scripts.js";
import { keys } from "../stores/keys.js";
import { script } from "../stores/lua.js";
import type { BlobStore } from "./blobs.js";
import {
  detectType,
  ImageRefused,
  imageVariantType,
  isRaster,
  RenderBusy,
  renderImage,
} from "./inspect.js";
import type { FileRecord, FileRecords } from "./records.js";

const RESERVE = script("upload-reserve");

/**
 * The most of one upload parley holds in memory at once: the S3 part size (blobs.ts), and the
 * bound the streaming test holds RSS growth to (twice this, for a 200 MB upload).
 */
export const UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024;
const ROOM_COUNT = script("room-file-count");
const WITHDRAW = script("upload-withdraw");
const RELEASE = script("archive-release");

/** How long the file sweep's lease lasts (renewed each round of a sweep). */
const SWEEP_LEASE_MS = 30_000;
/** A spool file nothing has written to for this long belongs to an upload that is gone. */
const SPOOL_ABANDONED_MS = 3_600_000;

export interface FileLimits {
  /** FILE_MAX_BYTES: the largest file. */
  readonly maxBytes: number;
  /** FILE_QUOTA_BYTES: what one user may upload per day (UTC). */
  readonly quotaBytes: number;
  /** Uploads one user may begin per `windowSeconds`. */
  readonly uploadsPerWindow: number;
  readonly windowSeconds: number;
  /** ROOM_FILES_PER_DAY: files a room accepts per day (UTC). */
  readonly roomPerDay: number;
  /** FILE_PENDING_SECONDS: how long an upload waits to be sent. */
  readonly pendingSeconds: number;
  /** FILE_MAX_PIXELS: the most pixels an image may decode to. */
  readonly maxPixels: number;
}

/** An upload refused, with its HTTP status and code (nothing was stored). */
export class UploadRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "UploadRefused";
  }
}

/** A file spooled to local disk. */
export interface Spooled {
  path: string;
  size: number;
  /** The stream was cut at the size limit. */
  truncated: boolean;
}

/** Bytes reserved against a user's quota, settled or given back once. */
export interface Reservation {
  settle(actual: number): Promise<void>;
  release(): Promise<void>;
}

/** The UTC day of `ms`, as the quota's keys name it. */
function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Seconds to the next UTC midnight. */
function toMidnight(ms: number): number {
  return Math.max(1, Math.ceil((86_400_000 - (ms % 86_400_000)) / 1000));
}

/**
 * A file name as shown: its last path segment, without control, format (bidi overrides, zero
 * widths) or path characters, at most 200 characters (keeping the extension). Never used as a
 * path: blobs are named by the file's id.
 */
export function cleanName(raw: string): string {
  let name = raw.normalize("NFC");
  name = name.slice(Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1);
  name = name
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, "")
    .replace(/[<>:"|?*]/g, "_")
    .replace(/\s+/g, " ")
    .trim()
    .replace(/^\.+/, "");
  const chars = [...name];
  if (chars.length > 200) {
    const dot = name.lastIndexOf(".");
    const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : "";
    name = chars.slice(0, 200 - [...ext].length).join("") + ext;
  }
  return name || "file";
}

export class Files {
  private sweeping: NodeJS.Timeout | undefined;
  private sweepRun: Promise<void> | undefined;
  readonly me = randomBytes(8).toString("hex");

  constructor(
    private readonly redis: Redis,
    readonly records: FileRecords,
    readonly blobs: BlobStore,
    /** Where uploads are spooled (local disk). */
    private readonly spoolDir: string,
    readonly limits: FileLimits,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts an upload of up to `bytes` by `userId` into `room` against the user's budget and
   * daily quota and the room's daily count, or refuses it (UploadRefused).
   */
  async reserve(userId: string, room: string, bytes: number): Promise<Reservation> {
    const now = this.now();
    const day = dayOf(now);
    const quotaKey = keys.fileQuota(userId, day);
    const l = this.limits;
    const reply = (await runScript(
      this.redis,
      RESERVE,
      [quotaKey, keys.fileBudget(userId)],
      [
        String(bytes),
        String(l.quotaBytes),
        String(l.uploadsPerWindow),
        String(l.windowSeconds * 1000),
        String(2 * 86_400),
      ],
    )) as [string, number?];
    if (reply[0] === "budget") {
      throw new UploadRefused(
        429,
        "rate_limited",
        "Too many uploads: wait a moment and try again.",
        Math.ceil(Number(reply[1] ?? 1000) / 1000),
      );
    }
    if (reply[0] === "quota") {
      throw new UploadRefused(
        429,
        "over_quota",
        `That would pass your upload quota for today (${formatBytes(l.quotaBytes)}).`,
        toMidnight(now),
      );
    }
    let open = true;
    let roomCounted = false;
    const roomKey = keys.roomFiles(room, day);
    // Settled: the quota takes the bytes stored. Given back (nothing stored): the quota and
    // the room's count both. The upload budget keeps every attempt.
    const giveBack = async (n: number, stored: boolean) => {
      if (!open) return;
      open = false;
      if (n !== 0) await this.redis.incrBy(quotaKey, n).catch(() => undefined);
      if (!stored && roomCounted) await this.redis.decr(roomKey).catch(() => undefined);
    };
    const counted = await runScript(
      this.redis,
      ROOM_COUNT,
      [roomKey],
      [String(l.roomPerDay), String(2 * 86_400)],
    ).catch(async (err: unknown) => {
      await giveBack(-bytes, false);
      throw err;
    });
    roomCounted = Number(counted) === 1;
    if (!roomCounted) {
      await giveBack(-bytes, false);
      throw new UploadRefused(
        429,
        "room_limit",
        `This room has had ${l.roomPerDay} files today: try again tomorrow.`,
        toMidnight(now),
      );
    }
    return {
      settle: (actual) => giveBack(actual - bytes, true),
      release: () => giveBack(-bytes, false),
    };
  }

  /** A fresh spool path (the caller removes it). */
  async spoolPath(): Promise<string> {
    await mkdir(this.spoolDir, { recursive: true, mode: 0o700 });
    return path.join(this.spoolDir, `${randomBytes(16).toString("hex")}.part`);
  }

  /** Removes a spool file (an upload that failed or was refused). */
  async discardSpool(p: string): Promise<void> {
    await rm(p, { force: true }).catch(() => undefined);
  }

  /** Writes `stream` to `to`, counting its bytes (the stream itself stops at the size limit). */
  async spool(
    stream: Readable & { truncated?: boolean },
    to: string,
    /** Aborted: the upload ended early (both streams are destroyed, the promise rejects). */
    signal?: AbortSignal,
  ): Promise<Spooled> {
    let size = 0;
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
    });
    const out = createWriteStream(to, { mode: 0o600 });
    try {
      await pipeline(stream, out, signal ? { signal } : {});
    } catch (err) {
      // Not before the file is closed (it may not even be open yet): a caller that removes
      // it now must not see it created after.
      if (!out.closed) await new Promise<void>((resolve) => out.once("close", () => resolve()));
      throw err;
    }
    return { path: to, size, truncated: stream.truncated === true };
  }

  /**
   * Stores a spooled upload of `uploader`'s into `room` under the (cleaned) `name`: its type
   * from its bytes, inline variants for raster images, the blobs, the record, and the offer
   * to the uploader's next message. The spool's files are removed whatever happens.
   */
  async store(uploader: string, room: string, name: string, spooled: Spooled): Promise<FileRef> {
    const id = randomBytes(16).toString("hex");
    const made: string[] = [];
    const stored: string[] = [];
    try {
      const type = await detectType(spooled.path);
      const ref: FileRecord = {
        id,
        room,
        uploader,
        name: cleanName(name),
        type,
        size: spooled.size,
        variants: [],
      };
      if (isRaster(type)) {
        const r = await renderImage(spooled.path, type, this.limits.maxPixels, uploader).catch(
          (err: unknown) => {
            if (err instanceof RenderBusy) {
              throw new UploadRefused(
                503,
                "unavailable",
                "parley is busy with other images: try again in a moment.",
                2,
              );
            }
            if (err instanceof ImageRefused) {
              made.push(`${spooled.path}.thumb`, `${spooled.path}.image`);
              throw new UploadRefused(
                422,
                err.reason === "too_large" ? "image_too_large" : "image_damaged",
                err.reason === "too_large"
                  ? `The image has more than ${this.limits.maxPixels.toLocaleString("en")} pixels: it is not accepted.`
                  : "The image could not be read: it is damaged or not what its contents claim.",
              );
            }
            throw err;
          },
        );
        made.push(r.thumb, r.image);
        ref.width = r.width;
        ref.height = r.height;
        ref.variants = ["thumb", "image"];
      }
      // The record first: a process that dies before the blobs are all written leaves a
      // record the sweep finds (never sent), never a blob nothing names.
      await this.records.insert(ref);
      if (ref.variants.length > 0) {
        await this.blobs.put(`${id}.thumb`, `${spooled.path}.thumb`, "image/webp");
        stored.push(`${id}.thumb`);
        await this.blobs.put(`${id}.image`, `${spooled.path}.image`, imageVariantType(type));
        stored.push(`${id}.image`);
      }
      await this.blobs.put(id, spooled.path, type);
      stored.push(id);
      const { room: _r, uploader: _u, variants: _v, ...shown } = ref;
      await this.redis.set(keys.fileUpload(room, id), `${uploader}|${JSON.stringify(shown)}`, {
        EX: this.limits.pendingSeconds,
      });
      return shown;
    } catch (err) {
      // Nothing half-stored: the record (if written) is marked deleted for the sweep, the
      // blobs are removed now.
      await this.records.markDeleted(room, [id]).catch(() => undefined);
      await Promise.all(stored.map((k) => this.blobs.remove(k).catch(() => undefined)));
      throw err;
    } finally {
      await Promise.all(
        [spooled.path, ...made].map((p) => rm(p, { force: true }).catch(() => undefined)),
      );
    }
  }

  private lastPing = { at: -Infinity, ok: true };

  /** Whether the blob store answers (for /readyz): asked at most every 2 s, 2 s to answer. */
  async reachable(): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastPing.at < 2_000) return this.lastPing.ok;
    const ok = await within(this.blobs.ping(), 2_000).then(
      () => true,
      () => false,
    );
    this.lastPing = { at: now, ok };
    return ok;
  }

  /**
   * `userId` takes their upload `id` off the message being written (before it was sent): it
   * can no longer be attached, and it is deleted. False when it is not such an upload (sent
   * already, expired, someone else's).
   */
  async withdraw(userId: string, room: string, id: string): Promise<boolean> {
    const done = await runScript(this.redis, WITHDRAW, [keys.fileUpload(room, id)], [userId]);
    if (Number(done) !== 1) return false;
    await this.discard(room, [{ id, name: "", size: 0, type: "" }]);
    return true;
  }

  /**
   * A deleted message's files: no longer served from now on (their record is marked), and
   * their bytes removed. If PostgreSQL or the blob store does not answer now, the archiver
   * marks them when it copies the deletion and the sweep removes the bytes later.
   */
  async discard(room: string, files: readonly FileRef[]): Promise<void> {
    const ids = files.map((f) => f.id).filter((id) => /^[0-9a-f]{32}$/.test(id));
    if (ids.length === 0) return;
    await this.records.markDeleted(room, ids);
    // The bytes after the answer (the sweep removes them if this fails; it also forgets the
    // records once their bytes are gone).
    void this.removeBytes(ids.map((id) => ({ id, variants: ["thumb", "image"] })));
  }

  /** discard, waiting `ms` at most; never throws (what it could not do is logged). */
  async discardWithin(room: string, files: readonly FileRef[], ms: number): Promise<void> {
    await within(this.discard(room, files), ms).catch((err: unknown) => {
      this.logger.warn(
        { event: "files_not_marked", room, err: (err as Error).message },
        "a deleted message's files are marked deleted by the archiver instead",
      );
    });
  }

  private async removeBytes(list: { id: string; variants: string[] }[]): Promise<string[]> {
    const done: string[] = [];
    await Promise.all(
      list.map(async (f) => {
        try {
          await Promise.all(
            ["", ...f.variants.map((v) => `.${v}`)].map((s) => this.blobs.remove(`${f.id}${s}`)),
          );
          done.push(f.id);
        } catch (err) {
          this.logger.warn(
            { event: "file_remove_failed", err: (err as Error).message },
            "could not remove a deleted file's bytes (tried again by the next sweep)",
          );
        }
      }),
    );
    return done;
  }

  /**
   * One sweep (under a lease, so one process at a time): files never sent within a day are
   * marked deleted, then deleted files lose their bytes and their records. `unsentAfterMs`:
   * how old an unsent file must be; `archiveHealthy`: when the archive is behind, a message
   * that carries a file may be in Redis only, so nothing is taken as unsent.
   */
  async sweep(unsentAfterMs: number, archiveHealthy: boolean): Promise<void> {
    await this.sweepSpool();
    const lease = keys.fileSweepLease;
    const got = await this.redis.set(lease, this.me, { NX: true, PX: SWEEP_LEASE_MS });
    if (got !== "OK") return;
    try {
      if (archiveHealthy) await this.records.markUnsent(this.now() - unsentAfterMs, 1_000);
      for (let round = 0; round < 10; round++) {
        const list = await this.records.deleted(100);
        if (list.length === 0) break;
        const done = await this.removeBytes(list);
        await this.records.forget(done);
        if (done.length < list.length) break;
        // Still ours for another round (a round against a slow object store takes a while)?
        if ((await this.redis.get(lease)) !== this.me) break;
        await this.redis.pExpire(lease, SWEEP_LEASE_MS);
      }
    } finally {
      await runScript(this.redis, RELEASE, [lease], [this.me]).catch(() => undefined);
    }
  }

  /**
   * Removes spool files of uploads that are gone (this machine's: a process that died in the
   * middle of one). One untouched for an hour is no upload's any more: a live upload writes
   * at least every 30 s, or ends.
   */
  private async sweepSpool(): Promise<void> {
    const names = await readdir(this.spoolDir).catch(() => [] as string[]);
    const before = Date.now() - SPOOL_ABANDONED_MS;
    for (const n of names) {
      const p = path.join(this.spoolDir, n);
      const s = await stat(p).catch(() => undefined);
      if (s?.isFile() && s.mtimeMs < before) await rm(p, { force: true }).catch(() => undefined);
    }
  }

  /** Sweeps every `everyMs`; an upload unsent for `unsentAfterMs` is swept. */
  start(everyMs: number, unsentAfterMs: number, archiveHealthy: () => boolean): void {
    const run = () => {
      // One sweep at a time in this process: a tick that finds one running waits for the next.
      if (this.sweepRun) return;
      this.sweepRun = this.sweep(unsentAfterMs, archiveHealthy())
        .catch((err: unknown) => {
          this.logger.warn(
            { event: "file_sweep_failed", err: (err as Error).message },
            "file sweep failed (tried again later)",
          );
        })
        .finally(() => {
          this.sweepRun = undefined;
        });
    };
    this.sweeping = setInterval(run, everyMs);
    this.sweeping.unref();
  }

  async stop(): Promise<void> {
    if (this.sweeping) clearInterval(this.sweeping);
    this.sweeping = undefined;
    await this.sweepRun;
    await this.blobs.close();
  }
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(n % 1024 ** 3 === 0 ? 0 : 1)} GB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(n % 1024 ** 2 === 0 ? 0 : 1)} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} bytes`;
}
