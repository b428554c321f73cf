// Files over HTTP: uploads into a room, and downloads, each held to the rule every socket event
// is held to.
//
// Upload (POST /rooms/:room/files, multipart, one file in the field `file`): behind the whole
// page stack (session, the login's credentials generation, CSRF in the X-CSRF-Token header,
// Origin), then the user's right to write in the room is read from Redis, and the budget,
// daily quota and the room's count are taken, all before a byte is stored. Then the body
// streams to a spool file (files.ts), cut at FILE_MAX_BYTES.
//
// Download (GET /rooms/:room/files/:id, /thumb, /image): mounted before the session middleware,
// it reads no session the express way. It takes the session id from the signed cookie and
// confirms, in ONE batched Redis read (the per-event guard's MGET, shared with other downloads
// of the same instant), the session record, its user's credentials generation, the room's kind
// and the user's standing there. Only then is the file's record read (PostgreSQL) and its bytes
// sent. A removal, ban, logout, revocation or password change holds from the next request,
// on every process. (The first download of a login on a process reads its record once more,
// to learn whose it is; the guard then remembers.)

import type { Readable } from "node:stream";
import busboy from "busboy";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { Router } from "express";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { budgetAddress } from "../domain/address.js";
import { parseLoginRecord } from "../domain/login.js";
import { DM_ROOM_RE, dmUsers, ROOM_NAME_RE, roomAccess } from "../domain/rooms.js";
import { FILE_ID_RE } from "../files/blobs.js";
import { type Spooled, UploadRefused } from "../files/files.js";
import { imageVariantType, isRaster } from "../files/inspect.js";
import { admit } from "../realtime/room-policy.js";
import { within } from "../redis/errors.js";
import { REDIS_MAX_WAIT_MS } from "../redis/watchdog.js";
import { keys } from "../stores/keys.js";
import { clearBodyDeadline } from "./body-deadline.js";
import type { HttpContext } from "./context.js";
import { HttpError, httpErrors } from "./errors.js";

/** A client that sends nothing of its upload for this long loses it. */
const STALL_MS = 30_000;
/** Uploads one user may have under way at once (per process). */
const UPLOADS_AT_ONCE = 4;
/** Downloads one user may make per 10 s (a page of thumbnails is a few dozen). */
const DOWNLOADS_PER_USER = 600;
/** How long a signed URL to object storage lives (s). */
export const SIGNED_URL_SECONDS = 300;

const VARIANTS = new Set(["thumb", "image"]);

function validRoom(room: string): boolean {
  return ROOM_NAME_RE.test(room) || DM_ROOM_RE.test(room);
}

/** Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987). */
export function disposition(kind: "inline" | "attachment", name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\%]/g, "_");
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** Refusal as HttpError (the error handler answers JSON to clients that ask for it). */
function refused(err: UploadRefused): HttpError {
  return new HttpError(err.status, err.code, err.message);
}

export function fileUploads(ctx: HttpContext): Router {
  const r = Router();
  const files = ctx.files;
  const inFlight = new Map<string, number>();

  r.post("/rooms/:room/files", async (req: Request, res: Response) => {
    const user = req.user;
    if (!user || !req.session?.login) {
      throw new HttpError(401, "unauthorized", "Log in to upload files.");
    }
    const room = String(req.params.room ?? "");
    if (!validRoom(room)) throw httpErrors.notFound();
    // The right to write there, read now: a member of the room, or one of a DM's two users.
    if (DM_ROOM_RE.test(room)) {
      // A DM's name as message:send takes it (its two ids in order, one of them the user's),
      // with someone at the other end.
      if (roomAccess(room, user.id) !== "ok") throw httpErrors.notFound();
      const other = dmUsers(room).find((id) => id !== user.id);
      if (!other || !(await ctx.users.exists(other))) throw httpErrors.notFound();
    } else {
      const [kind, standing] = await ctx.rooms.kindAndStanding(room, user.id);
      const no = admit("member", kind, standing, false);
      if (no === "forbidden") {
        throw new HttpError(403, "forbidden", "You were banned or removed from this room.");
      }
      if (no === "not_joined") {
        throw new HttpError(403, "not_joined", "Join the room before sharing files in it.");
      }
      if (no) throw httpErrors.notFound();
    }
    if (!req.is("multipart/form-data")) {
      throw new HttpError(415, "invalid", "Send the file as multipart/form-data.");
    }
    const max = files.limits.maxBytes;
    const declared = Number(req.get("content-length") ?? Number.NaN);
    // The multipart envelope adds a few hundred bytes; a body that cannot fit is refused
    // before anything is read or reserved.
    if (Number.isFinite(declared) && declared > max + 16 * 1024) {
      throw new HttpError(413, "too_large", `Files may be at most ${formatLimit(max)}.`);
    }
    // A few uploads at once per user (in this process): each holds a connection and a spool
    // file for as long as its body takes.
    const going = inFlight.get(user.id) ?? 0;
    if (going >= UPLOADS_AT_ONCE) {
      res.set("Retry-After", "5");
      throw new HttpError(
        429,
        "rate_limited",
        `At most ${UPLOADS_AT_ONCE} uploads at once: wait for one to finish.`,
      );
    }
    inFlight.set(user.id, going + 1);
    res.once("close", () => {
      const left = (inFlight.get(user.id) ?? 1) - 1;
      if (left > 0) inFlight.set(user.id, left);
      else inFlight.delete(user.id);
    });
    const reservation = await files
      .reserve(user.id, room, Number.isFinite(declared) ? Math.min(declared, max) : max)
      .catch((err: unknown) => {
        if (err instanceof UploadRefused) {
          if (err.retryAfter) res.set("Retry-After", String(err.retryAfter));
          throw refused(err);
        }
        throw err;
      });
    let outcome: Awaited<ReturnType<typeof receive>>;
    try {
      outcome = await receive(req, res, max);
    } catch (err) {
      await reservation.release();
      throw err;
    }
    const { spooled, name } = outcome;
    // (spooled.truncated cannot be true here: the limit ends the upload at once.)
    try {
      if (spooled.truncated || spooled.size > max) {
        throw new HttpError(413, "too_large", `Files may be at most ${formatLimit(max)}.`);
      }
      if (spooled.size === 0) throw new HttpError(400, "invalid", "The file is empty.");
      const file = await files.store(user.id, room, name, spooled);
      await reservation.settle(spooled.size);
      ctx.metrics.fileUploads.inc();
      ctx.metrics.fileUploadBytes.inc(spooled.size);
      res.status(201).json({ ok: true, file });
    } catch (err) {
      await reservation.release();
      await files.discardSpool(spooled.path);
      if (err instanceof UploadRefused) {
        if (err.retryAfter) res.set("Retry-After", String(err.retryAfter));
        throw refused(err);
      }
      throw err;
    }
  });

  // The uploader takes an upload off the message being written (Remove in the tray): it is
  // deleted at once rather than swept later.
  r.delete("/rooms/:room/files/:id", async (req: Request, res: Response) => {
    const user = req.user;
    if (!user || !req.session?.login) {
      throw new HttpError(401, "unauthorized", "Log in to manage your uploads.");
    }
    const room = String(req.params.room ?? "");
    const id = String(req.params.id ?? "");
    if (!validRoom(room) || !FILE_ID_RE.test(id)) throw httpErrors.notFound();
    if (!(await files.withdraw(user.id, room, id))) throw httpErrors.notFound();
    res.json({ ok: true });
  });

  /**
   * Reads the multipart body: one file, spooled to disk as it comes. Rejects on a client that
   * goes away or stalls (the spool is removed), and on a body with no file.
   */
  const receive = (req: Request, res: Response, max: number) =>
    new Promise<{ spooled: Spooled; name: string }>((resolve, reject) => {
      let bb: busboy.Busboy;
      try {
        bb = busboy({
          headers: req.headers,
          // Browsers send a file's name as raw UTF-8 (busboy's default reads it as Latin-1).
          defParamCharset: "utf8",
          // busboy counts a file that reaches its limit as cut: one byte more tells a file of
          // exactly FILE_MAX_BYTES from a larger one.
          limits: { fileSize: max + 1, files: 1, fields: 4, parts: 5, fieldSize: 1024 },
        });
      } catch {
        reject(new HttpError(400, "invalid", "The upload is not valid multipart/form-data."));
        return;
      }
      // The body is read from here on, under its own stall timeout (not the 30 s every other
      // request's body gets: server.ts).
      clearBodyDeadline(req);
      let spooling: Promise<{ spooled: Spooled; name: string }> | undefined;
      let file: Readable | undefined;
      const ended = new AbortController();
      let settled = false;
      let stall: NodeJS.Timeout | undefined;
      const arm = () => {
        if (settled) return;
        clearTimeout(stall);
        stall = setTimeout(() => {
          fail(new HttpError(408, "timeout", "The upload stalled."));
          req.destroy();
        }, STALL_MS);
      };
      /**
       * Ends the upload: nothing more is read or written. The file stream is destroyed, so the
       * spool's write ends (and its file is removed: see the spool below); the rest of the
       * body is not read: the connection closes once the answer (if any) is sent.
       */
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(stall);
        req.off("data", arm);
        req.unpipe(bb);
        // Not from inside busboy's own callbacks (a 'limit' is emitted mid-write, and busboy
        // goes on using the file stream after it): on the next turn.
        setImmediate(() => {
          ended.abort();
          file?.destroy();
          bb.destroy();
        });
        res.setHeader("Connection", "close");
        res.once("finish", () => req.destroy());
        reject(err);
      };
      arm();
      req.on("data", arm);
      req.on("aborted", () => fail(new HttpError(400, "aborted", "The upload was cancelled.")));
      req.on("close", () => {
        if (!req.complete) fail(new HttpError(400, "aborted", "The upload was cancelled."));
      });
      bb.on("file", (field, stream, info) => {
        // A part cut short (a body that ends before its boundary) errors its stream: heard
        // here, at once, for every part (an unheard stream error would end the process).
        stream.on("error", () =>
          fail(new HttpError(400, "invalid", "The upload is not valid multipart/form-data.")),
        );
        if (field !== "file" || spooling) {
          stream.resume();
          return;
        }
        file = stream;
        // Past the limit: answered at once, the rest of the body unread.
        stream.on("limit", () =>
          fail(new HttpError(413, "too_large", `Files may be at most ${formatLimit(max)}.`)),
        );
        let to: string | undefined;
        spooling = files
          .spoolPath()
          .then((path) => {
            // Gone meanwhile: no spool file is made.
            if (settled) throw new Error("the upload ended");
            to = path;
            return files.spool(stream, path, ended.signal);
          })
          .then((spooled) => ({ spooled, name: info.filename ?? "" }));
        // Whatever ends it early, its spool file goes (the write has ended: the stream was
        // destroyed, or the pipeline failed).
        spooling.then(
          (out) => {
            if (settled) void files.discardSpool(out.spooled.path);
          },
          (err: unknown) => {
            if (to) void files.discardSpool(to);
            fail(err as Error);
          },
        );
      });
      bb.on("error", () =>
        fail(new HttpError(400, "invalid", "The upload is not valid multipart/form-data.")),
      );
      bb.on("close", () => {
        if (!spooling) {
          fail(new HttpError(400, "invalid", "Send the file in the field named file."));
          return;
        }
        spooling.then(
          (out) => {
            if (settled) return;
            settled = true;
            clearTimeout(stall);
            req.off("data", arm);
            resolve(out);
          },
          () => undefined,
        );
      });
      req.pipe(bb);
    });

  return r;
}

/**
 * The one byte range a `Range` header asks for within `size` bytes (inclusive offsets);
 * undefined to send the whole (no header, several ranges, or one that is not understood), or
 * "unsatisfiable" (416).
 */
export function byteRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  const m = header === undefined ? null : /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  let start: number;
  let end: number;
  if (m[1] === "") {
    // The last n bytes.
    const n = Number(m[2]);
    if (n === 0) return "unsatisfiable";
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) return undefined;
  }
  if (start >= size || size === 0) return "unsatisfiable";
  return { start, end };
}

function formatLimit(n: number): string {
  return n >= 1024 * 1024 ? `${Math.round(n / (1024 * 1024))} MB` : `${Math.round(n / 1024)} KB`;
}

/**
 * Downloads. `cookies`: cookie-parser with the session secrets (the signed session cookie).
 */
export function fileDownloads(ctx: HttpContext, cookies: RequestHandler): Router {
  const r = Router();
  const perAddress = new RateLimiterMemory({ points: 1200, duration: 10 });
  const perUser = new RateLimiterMemory({ points: DOWNLOADS_PER_USER, duration: 10 });
  const sessionCookie = ctx.sessionCookie;

  const download = async (req: Request, res: Response, next: NextFunction) => {
    const room = String(req.params.room ?? "");
    const id = String(req.params.id ?? "");
    const variant = req.params.variant === undefined ? "" : String(req.params.variant);
    if (!validRoom(room) || !FILE_ID_RE.test(id) || (variant !== "" && !VARIANTS.has(variant))) {
      return next(httpErrors.notFound());
    }
    const signed = (req.signedCookies as Record<string, unknown> | undefined)?.[sessionCookie];
    const sid = typeof signed === "string" ? signed : undefined;
    if (!sid) return next(new HttpError(401, "unauthorized", "Log in to see this file."));
    try {
      await perAddress.consume(budgetAddress(req.ip ?? ""));
    } catch {
      res.set("Retry-After", "10");
      return next(httpErrors.tooMany());
    }
    const dm = DM_ROOM_RE.test(room);
    let userId = ctx.fileGuard.knownUser(sid);
    if (userId === undefined) {
      // First sight of this login on this process: whose is it?
      // Redis away, hung or slow: refused (fail closed), never served.
      const raw = await within(ctx.redis.get(keys.session(sid)), REDIS_MAX_WAIT_MS).catch(() => {
        throw httpErrors.unavailable();
      });
      userId = parseLoginRecord(raw)?.userId;
      if (!userId) return next(new HttpError(401, "unauthorized", "Log in to see this file."));
    }
    const who = userId;
    // The one batched read: session, generation, and (a named room) kind and standing.
    const verdict = await new Promise<{
      ok: string;
      kind?: string | null;
      standing?: string | null;
    }>((resolve) =>
      ctx.fileGuard.check(
        sid,
        who,
        (ok, kind, standing) => resolve({ ok, kind, standing }),
        dm ? undefined : room,
      ),
    );
    if (verdict.ok === "unavailable") return next(httpErrors.unavailable());
    if (verdict.ok !== "ok") {
      return next(new HttpError(401, "unauthorized", "Log in to see this file."));
    }
    if (dm) {
      if (!dmUsers(room).includes(who)) return next(httpErrors.notFound());
    } else {
      const no = admit("reader", verdict.kind, verdict.standing, false);
      if (no === "forbidden") {
        return next(new HttpError(403, "forbidden", "You can no longer read this room."));
      }
      if (no) return next(httpErrors.notFound());
    }
    try {
      await perUser.consume(who);
    } catch {
      res.set("Retry-After", "10");
      return next(httpErrors.tooMany());
    }
    const file = await ctx.files.records.get(room, id).catch(() => {
      throw httpErrors.unavailable();
    });
    if (!file || (variant !== "" && !file.variants.includes(variant))) {
      return next(httpErrors.notFound());
    }
    const inline = variant !== "";
    // The original is always a download, typed as what it is only when it is one of the four
    // raster types (anything else, other image types included, is application/octet-stream);
    // only the re-encoded variants of raster images are shown inline. Nothing served here
    // may run: a sandbox CSP and nosniff on every answer.
    const served =
      variant === "thumb"
        ? "image/webp"
        : variant === "image"
          ? imageVariantType(file.type)
          : isRaster(file.type)
            ? file.type
            : "application/octet-stream";
    const key = variant === "" ? id : `${id}.${variant}`;
    res.set("Cache-Control", "private, no-store");
    res.set("Content-Security-Policy", "default-src 'none'; sandbox");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Cross-Origin-Resource-Policy", "same-origin");
    const shownName = variant === "thumb" ? `${file.name.replace(/\.[^.]*$/, "")}.webp` : file.name;
    const how = disposition(inline ? "inline" : "attachment", shownName);
    ctx.metrics.fileDownloads.inc();
    const blobs = ctx.files.blobs;
    if (!inline && ctx.signedUrls && blobs.signedUrl) {
      // Object storage serves the bytes; the URL lives 5 minutes and is given only now, after
      // the check, to this request.
      const url = await blobs.signedUrl(key, SIGNED_URL_SECONDS, how, served).catch(() => {
        throw httpErrors.unavailable();
      });
      res.redirect(302, url);
      return;
    }
    // An original may be read in part (a download that resumes, a player that seeks): one
    // range of its bytes, as its record states its size.
    const range = variant === "" ? byteRange(req.get("range"), file.size) : undefined;
    if (range === "unsatisfiable") {
      res.set("Content-Range", `bytes */${file.size}`);
      res.status(416).end();
      return;
    }
    const opened = await blobs.open(key, range).catch(() => {
      throw httpErrors.unavailable();
    });
    if (!opened) return next(httpErrors.notFound());
    if (variant === "") res.set("Accept-Ranges", "bytes");
    res.set("Content-Type", served);
    res.set("Content-Disposition", how);
    if (range) {
      res.status(206);
      res.set("Content-Range", `bytes ${range.start}-${range.end}/${file.size}`);
      res.set("Content-Length", String(range.end - range.start + 1));
    } else {
      res.status(200);
      res.set("Content-Length", String(opened.size));
    }
    if (req.method === "HEAD") {
      opened.stream.destroy();
      res.end();
      return;
    }
    opened.stream.on("error", () => res.destroy());
    res.on("close", () => opened.stream.destroy());
    opened.stream.pipe(res);
  };

  r.get("/rooms/:room/files/:id", cookies, download);
  r.get("/rooms/:room/files/:id/:variant", cookies, download);
  return r;
}
