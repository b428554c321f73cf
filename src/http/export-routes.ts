// Exporting a room's history as JSON Lines: for an admin, or the room's owner. Streamed a
// page at a time (keyset pages over PostgreSQL's record, then what Redis holds that is not
// archived yet), so a room of any size is exported in bounded memory. Deleted messages stay
// tombstones and deleted accounts stay "deleted user", as in the room itself. Whether the
// requester may export is read from Redis when the request arrives (their standing, their
// admin flag), like every page request. Anyone else gets the answer a missing room gets.
import type { Request, Response } from "express";
import { Router } from "express";
import { DM_ROOM_RE, ROOM_NAME_RE } from "../domain/rooms.js";
import type { Message } from "../domain/types.js";
import { keys } from "../stores/keys.js";
import { compareIds } from "../stores/messages.js";
import type { HttpContext } from "./context.js";
import { HttpError, httpErrors } from "./errors.js";
import { requireLogin } from "./login-session.js";

/** Messages per page of an export. */
const EXPORT_PAGE = 500;
/** Exports running at once in this process, and per user. */
const MAX_EXPORTS = 4;
/** A client that reads nothing for this long loses its export (and its slot). */
const STALL_MS = 15_000;

export function exportRoutes(ctx: HttpContext): Router {
  const r = Router();
  const running = new Set<string>();

  r.get("/rooms/:room/export", requireLogin, async (req: Request, res: Response) => {
    const user = req.user as Express.User;
    const room = String(req.params.room ?? "");
    if (!ROOM_NAME_RE.test(room) && !DM_ROOM_RE.test(room)) throw httpErrors.notFound();
    const [admin, standing] = await Promise.all([
      ctx.users.isAdmin(user),
      DM_ROOM_RE.test(room) ? Promise.resolve("") : ctx.rooms.standing(room, user.id),
    ]);
    if (!admin && standing !== "owner") throw httpErrors.notFound();
    if (running.has(user.id) || running.size >= MAX_EXPORTS) {
      throw new HttpError(
        429,
        "rate_limited",
        "An export is already running: try again when it ends.",
      );
    }
    running.add(user.id);
    let gone = false;
    res.on("close", () => {
      gone = true;
    });
    try {
      // The room as it stands when the export starts: messages sent after it are not waited
      // for (a busy room would keep an export going for ever).
      const end = await ctx.messages.newestId(room);
      const upToEnd = (list: Message[]) =>
        end === undefined ? [] : list.filter((m) => compareIds(m.id, end) <= 0);
      // The first page before any byte is sent: a PostgreSQL that is away answers 503.
      let page = upToEnd(await ctx.messages.after(room, "0-0", EXPORT_PAGE));
      res.status(200);
      res.setHeader("content-type", "application/x-ndjson; charset=utf-8");
      res.setHeader(
        "content-disposition",
        `attachment; filename="${room.replace(/:/g, "_")}.jsonl"`,
      );
      res.setHeader("cache-control", "no-store");
      await ctx.audit
        .record(
          {
            actorId: user.id,
            actor: user.username,
            action: "room_export",
            target: room,
            ip: req.ip ?? "",
          },
          ctx.now(),
        )
        .catch(() => undefined);
      while (page.length > 0 && !gone) {
        const chunk = `${page.map((m) => JSON.stringify(m)).join("\n")}\n`;
        if (!res.write(chunk)) {
          const drained = await new Promise<boolean>((resolve) => {
            const stalled = setTimeout(() => resolve(false), STALL_MS);
            const done = () => {
              clearTimeout(stalled);
              resolve(true);
            };
            res.once("drain", done);
            res.once("close", done);
          });
          if (!drained) {
            ctx.logger.info(
              { event: "export_stalled", room },
              "export stopped: the client reads nothing",
            );
            res.destroy();
            return;
          }
        }
        const last = page.at(-1);
        if (!last) break;
        // The login is checked again for every page, as for every request: one that ended
        // (logout, revocation, a password change) stops the export.
        if ((await ctx.redis.exists(keys.session(req.sessionID))) === 0) {
          res.destroy();
          return;
        }
        // Until a page comes back empty: a short page can be one that lost a message taken
        // back, not the end.
        page = upToEnd(await ctx.messages.after(room, last.id, EXPORT_PAGE));
      }
      res.end();
    } catch (err) {
      if (res.headersSent) {
        // Cut short: the client sees a truncated download, never a partial file that looks whole.
        ctx.logger.warn(
          { event: "export_failed", room, err: (err as Error).message },
          "export cut short",
        );
        res.destroy();
        return;
      }
      throw err instanceof HttpError ? err : httpErrors.unavailable();
    } finally {
      running.delete(user.id);
    }
  });
  return r;
}
