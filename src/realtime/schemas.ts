// Runtime schemas for every client event payload (parse, do not validate): a payload is
// parsed into a typed value or answered with `invalid`. z.object drops unknown keys, so nothing a client adds
// (`user`, `id`, `__proto__`, …) is ever merged into server objects.
import { z } from "zod";
import {
  AROUND_MAX,
  HISTORY_MAX,
  MAX_ATTACHMENTS,
  MEMBER_PAGE_MAX,
  MESSAGE_MAX_CHARS,
  SEARCH_QUERY_MAX,
  TOPIC_MAX_CHARS,
} from "../domain/limits.js";
import { CLIENT_ID_RE, FILE_ID_RE, STREAM_ID_RE } from "../domain/messages.js";
import { ROOM_NAME_RE } from "../domain/rooms.js";

const room = z.string().max(100);

/** A message id to page before: a stream id after the very first one (0-0 has nothing before). */
const beforeId = z
  .string()
  .regex(STREAM_ID_RE, "before must be a message id")
  .refine((id) => /[1-9]/.test(id), "before must be a message id");

/** A room that can have members, roles and a topic (not a DM): the public-name form. */
const namedRoom = z.string().regex(ROOM_NAME_RE, "not a valid room name");
const username = z.string().max(64);
const topic = z
  .string()
  .max(400)
  .transform((t) => t.toWellFormed().replace(/\s+/g, " ").trim())
  .refine(
    (t) => [...t].length <= TOPIC_MAX_CHARS,
    `a topic is at most ${TOPIC_MAX_CHARS} characters`,
  );
/** A message id as the stream writes it: no leading zeros ("0017-00" names "17-0"). */
const canonicalId = (id: string) => id.replace(/(^|-)0+(?=\d)/g, "$1");
const messageId = z.string().regex(STREAM_ID_RE, "not a message id").transform(canonicalId);
const messageText = z
  .string()
  .max(4000)
  // Lone surrogates become U+FFFD here, before anything is stored or echoed, so the ack,
  // the broadcast and every later history read carry the same text.
  .transform((t) => t.toWellFormed().trim())
  .refine(
    (t) => t.length >= 1 && [...t].length <= MESSAGE_MAX_CHARS,
    `text must be 1–${MESSAGE_MAX_CHARS} characters`,
  );

export const schemas = {
  "room:join": z.object({ room }),
  "room:leave": z.object({ room }),
  "room:create": z.object({
    room: namedRoom,
    kind: z.enum(["public", "private"]),
    topic: topic.optional(),
  }),
  "room:list": z.object({}),
  "room:directory": z.object({
    query: z
      .string()
      .max(32)
      .regex(/^[a-z0-9-]*$/, "search with the letters of room names")
      .optional(),
  }),
  "room:members": z.object({
    room: namedRoom,
    cursor: z
      .string()
      .regex(/^\d{1,20}$/, "not a cursor from room:members")
      .optional(),
    limit: z.number().int().min(1).max(MEMBER_PAGE_MAX).optional(),
  }),
  "room:topic": z.object({ room: namedRoom, topic }),
  "room:invite": z.object({ room: namedRoom, username }),
  "room:remove": z.object({ room: namedRoom, username }),
  "room:ban": z.object({ room: namedRoom, username }),
  "room:unban": z.object({ room: namedRoom, username }),
  "room:role": z.object({ room: namedRoom, username, role: z.enum(["moderator", "member"]) }),
  "room:read": z.object({ room, id: messageId }),
  "message:send": z
    .object({
      room,
      // May be empty when the message carries files.
      text: z
        .string()
        .max(4000)
        .transform((t) => t.toWellFormed().trim())
        .refine(
          (t) => [...t].length <= MESSAGE_MAX_CHARS,
          `text must be 1–${MESSAGE_MAX_CHARS} characters`,
        ),
      // The sender's own id for this message: a retry with the same id is stored once.
      clientId: z
        .string()
        .regex(CLIENT_ID_RE, "clientId is 8–64 letters, digits, - or _")
        .optional(),
      // Uploads of the sender's to this room (POST /rooms/:room/files), at most 10.
      files: z
        .array(z.string().regex(FILE_ID_RE, "files are upload ids (32 hex digits)"))
        .max(MAX_ATTACHMENTS, `a message carries at most ${MAX_ATTACHMENTS} files`)
        .refine((l) => new Set(l).size === l.length, "a file is attached once")
        .optional(),
    })
    .refine(
      (m) => m.text.length >= 1 || (m.files?.length ?? 0) > 0,
      `text must be 1–${MESSAGE_MAX_CHARS} characters`,
    ),
  "message:edit": z.object({ room, id: messageId, text: messageText }),
  "message:delete": z.object({ room, id: messageId }),
  "message:history": z.object({
    room,
    before: beforeId.optional(),
    limit: z.number().int().min(1).max(HISTORY_MAX).optional(),
  }),
  "message:around": z.object({
    room,
    id: messageId,
    context: z.number().int().min(1).max(AROUND_MAX).optional(),
  }),
  "message:search": z.object({
    query: z
      .string()
      .max(SEARCH_QUERY_MAX * 2)
      // NUL cannot reach PostgreSQL's text; it separates words like a space.
      .transform((q) => q.toWellFormed().replaceAll("\u0000", " ").replace(/\s+/g, " ").trim())
      .refine(
        (q) => q.length >= 1 && q.length <= SEARCH_QUERY_MAX,
        `query must be 1–${SEARCH_QUERY_MAX} characters`,
      ),
    room: room.optional(),
    // The `next` of the page before: "<message id>@<room>".
    before: z
      .string()
      .max(200)
      .regex(/^\d{1,16}-\d{1,16}@[^@]{1,100}$/, "before must be the next of an earlier search")
      .optional(),
  }),
  typing: z.object({ room }),
  "dm:open": z.object({ username: z.string().max(64) }),
  activity: z.object({}),
  ping: z.object({}),
} as const;
