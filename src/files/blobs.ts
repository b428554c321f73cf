// Where the bytes of files live: local disk (the default, under ./data/files) or S3-compatible
// object storage (FILES_S3_BUCKET). Either way a blob is named by the file's random id and a
// variant ("" the original, ".thumb", ".image"), never by anything a client sent, and is
// written from a file spooled on local disk (uploads.ts), so nothing is held whole in memory.
// A blob is written under a temporary name and renamed (disk) or written in one upload (S3):
// a reader never sees half a file.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** A blob opened for reading. */
export interface Opened {
  stream: Readable;
  size: number;
}

export interface BlobStore {
  /** "disk" or "s3" (logs and metrics). */
  readonly kind: "disk" | "s3";
  /** Stores the local file `from` as `key` (the local file is left where it is). */
  put(key: string, from: string, type: string): Promise<void>;
  /** Opens `key`; undefined when there is no such blob. `range`: inclusive byte offsets. */
  open(key: string, range?: { start: number; end: number }): Promise<Opened | undefined>;
  /** Removes `key` (no error when it is not there). */
  remove(key: string): Promise<void>;
  /**
   * A URL the browser may fetch `key` from directly for at most `seconds` (object storage
   * only; undefined: parley serves the bytes itself).
   */
  signedUrl?(key: string, seconds: number, disposition: string, type: string): Promise<string>;
  /** Whether the store answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export { FILE_ID_RE } from "../domain/messages.js";

const KEY_RE = /^[0-9a-f]{32}(\.thumb|\.image)?$/;

function checkKey(key: string): void {
  if (!KEY_RE.test(key)) throw new Error(`not a blob key: ${key.slice(0, 40)}`);
}

export class DiskBlobs implements BlobStore {
  readonly kind = "disk" as const;
  constructor(private readonly dir: string) {}

  /** Whether `file` is in this store's spool (files.ts spools there): it may be moved. */
  private owns(file: string): boolean {
    return path.dirname(path.resolve(file)) === path.join(path.resolve(this.dir), "spool");
  }

  /** Two levels of fan-out by the id's first bytes: no directory grows past 65,536 entries' worth. */
  private pathOf(key: string): string {
    checkKey(key);
    return path.join(this.dir, key.slice(0, 2), key.slice(2, 4), key);
  }

  async put(key: string, from: string): Promise<void> {
    const to = this.pathOf(key);
    await mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
    const part = `${to}.part`;
    if (this.owns(from)) {
      // A spool file of ours on the same filesystem: moved, not copied.
      try {
        await rename(from, to);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      }
    }
    try {
      // Copied, then renamed: a reader sees the whole blob or none (the spool may be on
      // another filesystem, so a rename of the spool itself is not always possible).
      await pipeline(createReadStream(from), createWriteStream(part, { mode: 0o600 }));
      await rename(part, to);
    } catch (err) {
      await rm(part, { force: true });
      throw err;
    }
  }

  async open(key: string, range?: { start: number; end: number }): Promise<Opened | undefined> {
    const p = this.pathOf(key);
    try {
      const s = await stat(p);
      // Read in 256 KiB pieces (Node's default is 64 KiB): a quarter of the reads and writes.
      const stream = createReadStream(p, {
        highWaterMark: 256 * 1024,
        ...(range ? { start: range.start, end: range.end } : {}),
      });
      return { stream, size: s.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async remove(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async ping(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async close(): Promise<void> {}
}

export interface S3Options {
  bucket: string;
  region: string;
  /** An S3-compatible server (MinIO, …); unset: AWS. */
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style addressing (MinIO and most S3-compatible servers). */
  forcePathStyle: boolean;
  /** A prefix for every key (several parleys in one bucket). */
  prefix: string;
}

/** The size of one part of a multipart upload to S3 (files.ts's UPLOAD_CHUNK_BYTES). */
const S3_PART_BYTES = 8 * 1024 * 1024;

/** How long one S3 request may take before it counts as failed (ms). */
const S3_REQUEST_MS = 15_000;

export async function openS3Blobs(o: S3Options): Promise<BlobStore> {
  // The SDK warns on every start that its releases from 2027 on need Node.js 22: parley's
  // log is JSON only, and the README states the Node.js it needs.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const s3 = await import("@aws-sdk/client-s3");
  const { Upload } = await import("@aws-sdk/lib-storage");
  const { getSignedUrl } = await import("@aws-sdk/s3-request-presigner");
  const client = new s3.S3Client({
    region: o.region,
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    forcePathStyle: o.forcePathStyle,
    ...(o.accessKeyId && o.secretAccessKey
      ? { credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey } }
      : {}),
    // Checksums only where S3 requires them: S3-compatible servers differ in what they accept.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: S3_REQUEST_MS },
  });
  const Key = (key: string) => {
    checkKey(key);
    return `${o.prefix}${key}`;
  };
  const missing = (err: unknown) => {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    return e.name === "NoSuchKey" || e.name === "NotFound" || e.$metadata?.httpStatusCode === 404;
  };
  return {
    kind: "s3",
    async put(key, from, type) {
      // Multipart in 8 MiB parts, one at a time: at most one part of a file in memory.
      await new Upload({
        client,
        params: {
          Bucket: o.bucket,
          Key: Key(key),
          Body: createReadStream(from),
          ContentType: type,
        },
        partSize: S3_PART_BYTES,
        queueSize: 1,
      }).done();
    },
    async open(key, range) {
      try {
        const r = await client.send(
          new s3.GetObjectCommand({
            Bucket: o.bucket,
            Key: Key(key),
            ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
          }),
        );
        const total = r.ContentRange
          ? Number(r.ContentRange.split("/")[1])
          : Number(r.ContentLength ?? 0);
        return { stream: r.Body as Readable, size: total };
      } catch (err) {
        if (missing(err)) return undefined;
        throw err;
      }
    },
    async remove(key) {
      await client.send(new s3.DeleteObjectCommand({ Bucket: o.bucket, Key: Key(key) }));
    },
    signedUrl(key, seconds, disposition, type) {
      return getSignedUrl(
        client,
        new s3.GetObjectCommand({
          Bucket: o.bucket,
          Key: Key(key),
          ResponseContentDisposition: disposition,
          ResponseContentType: type,
          ResponseCacheControl: "private, no-store",
        }),
        { expiresIn: seconds },
      );
    },
    async ping() {
      await client.send(new s3.HeadBucketCommand({ Bucket: o.bucket }));
    },
    async close() {
      client.destroy();
    },
  };
}
