// Rooms on the server: which rooms exist (public or private), who stands where in each
// (owner, moderator, member, invited, banned), which rooms each user is in, and how far each
// user has read. So a user's rooms, unread counts and mentions are the same on every device.
//
// A user's standing in a room is one string key (keys.roomAccess), read by the per-event
// check in the same batch as the session, so a removal, ban or demotion holds from the next
// event on, on every process. Every change of standing is one fenced script on the room's
// keys (one slot), which checks the actor's own standing when it runs: a moderator demoted a
// moment ago cannot still remove someone. The user's list of rooms lives with the user (another
// slot on a cluster) and is written after the room's keys; it only says what to show and
// rejoin, never what is allowed (a room the user no longer stands in is dropped when listed).

import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import {
  MAX_BANS_PER_ROOM,
  MAX_INVITATIONS,
  MAX_LIST_ENTRIES,
  MAX_PENDING_DMS,
  REMOVED_SECONDS,
  ROOMS_PER_DAY,
} from "../domain/limits.js";
import { STREAM_ID_RE } from "../domain/messages.js";
import { dmUsers, isDmRoom, isRole, ROLES } from "../domain/rooms.js";
import type { DirectoryEntry, RoomKind, RoomRole, RoomSummary } from "../domain/types.js";
import { parseCounts, readAllPosition, unreadSince } from "../domain/unread.js";
import type { Redis } from "../redis/client.js";
import { fencedEval } from "../redis/fence.js";
import { runScript } from "../redis/scripts.js";
import { keys } from "./keys.js";
import { script } from "./lua.js";
import { mGetAcrossSlots } from "./slots.js";

export type { DirectoryEntry, RoomKind, RoomSummary } from "../domain/types.js";
export type Role = RoomRole;
/** "removed": a moderator removed the user (they may rejoin a public room; a private one
 * needs a new invitation); events they send there meanwhile are refused as `forbidden`. */
export type Standing = Role | "invited" | "banned" | "removed";

export type JoinOutcome =
  | { ok: true; created: boolean; kind: RoomKind; role: Role; topic: string }
  | { ok: false; code: "forbidden" | "not_found" };

const JOIN = script("room-join");

const LEAVE = script("room-leave");

const MODERATE = script("room-moderate");

const MARK_READ = script("room-mark-read");

export type ModerationAction = "topic" | "invite" | "remove" | "ban" | "unban" | "role";

/** Members read per scan step (Redis's COUNT hint): a page overshoots its limit by less. */
const MEMBER_SCAN_STEP = 200;

const ADD_TO_LIST = script("list-add");

export class RoomStore {
  /** Each account's daily quota of rooms created. */
  private readonly roomQuota: RateLimiterRedis;

  constructor(private readonly redis: Redis) {
    this.roomQuota = new RateLimiterRedis({
      storeClient: redis,
      useRedisPackage: true,
      rejectIfRedisNotReady: true,
      keyPrefix: keys.roomsCreatedByUser,
      points: ROOMS_PER_DAY,
      duration: 24 * 60 * 60,
    });
  }

  /**
   * Joins `room` (creating it, public, if it does not exist, with the user as its owner), or
   * with `create`, creates it of that kind (`exists` if it does). DM rooms are not rooms of
   * this store: they are only added to the user's list (addToList).
   */
  async join(
    room: string,
    userId: string,
    now: number,
    create?: { kind: RoomKind; topic: string },
  ): Promise<JoinOutcome | { ok: false; code: "exists" | "full" | "quota" }> {
    // The user's list first: a full list refuses the join before anything changes, and an
    // entry added for a join that is then refused is taken out again. Reading starts after
    // what the room holds now.
    const listed = await this.listAdd(userId, room, now, "join", await this.readAll(room));
    if (listed === -1) return { ok: false, code: "full" };
    const step = async (mayCreate: boolean) =>
      (await fencedEval(
        this.redis,
        JOIN,
        [
          keys.roomKind(room),
          keys.roomInfo(room),
          keys.roomAccess(room, userId),
          keys.roomMembers(room),
        ],
        [userId, String(now), create?.kind ?? "", create?.topic ?? "", mayCreate ? "1" : "0"],
      )) as string[];
    // Joining a room that exists costs no quota; a room that does not is created only with a
    // point of its creator's daily quota (given back if someone else created it meanwhile).
    let reply = await step(false);
    let quota = false;
    if (reply[0] === "absent") {
      quota = await this.roomQuota.consume(userId).then(
        () => true,
        (rej: unknown) => {
          if (rej instanceof RateLimiterRes) return false;
          throw rej;
        },
      );
      try {
        reply = quota ? await step(true) : ["quota"];
      } catch (err) {
        // Not created (or not known to be): the point is given back.
        await this.roomQuota.reward(userId, 1).catch(() => 0);
        throw err;
      }
    }
    const [outcome, kind, role, topic] = reply;
    if (quota && outcome !== "created") await this.roomQuota.reward(userId, 1).catch(() => 0);
    const refused =
      outcome === "banned" || outcome === "not_found" || outcome === "exists" || outcome === "quota"
        ? outcome
        : "";
    if (refused) {
      // Taken out again unless the user stands in the room after all (joined on another
      // device meanwhile, while this asked to create it).
      // Its read position and mentions go with it: a refused join keeps nothing.
      if (listed === 1 && !isRole(await this.standing(room, userId).catch(() => ""))) {
        await this.dropFromList(userId, room).catch(() => undefined);
      }
      return { ok: false, code: refused === "banned" ? "forbidden" : refused };
    }
    const created = outcome === "created";
    // Written on every join, so one whose directory entry was lost is repaired by joining
    // again (a no-op when it is there).
    if (kind === "public") {
      await this.redis.zAdd(keys.publicRooms, { score: 0, value: room }, { condition: "NX" });
    }
    return {
      ok: true,
      created,
      kind: kind as RoomKind,
      role: role as Role,
      topic: topic ?? "",
    };
  }

  /**
   * Adds a DM to the user's list: `as` "join" when the user opens it (or writes in it), "dm"
   * when the other user wrote first (a pending entry, kept apart from the user's own rooms).
   * Reading starts at `start` (the position before the first message to count as unread), or
   * after what the DM holds now. False when the user's list is full.
   */
  async addDm(
    userId: string,
    room: string,
    since: number,
    as: "join" | "dm",
    start?: string,
  ): Promise<boolean> {
    const from = start ?? (await this.readAll(room));
    return (await this.listAdd(userId, room, since, as, from)) !== -1;
  }

  /** The read position after everything `room` holds now: one small read of its counters. */
  private async readAll(room: string): Promise<string> {
    return readAllPosition(await this.redis.hmGet(keys.roomCounts(room), ["n", "ms"]));
  }

  /** Adds a room (or an invitation) to the user's list: 1 added, 0 there already, -1 full. */
  private async listAdd(
    userId: string,
    room: string,
    since: number | string,
    as: "join" | "invite" | "dm",
    start = "",
  ): Promise<number> {
    const r = await runScript(
      this.redis,
      ADD_TO_LIST,
      [keys.userRooms(userId), keys.readPositions(userId), keys.mentions(userId)],
      [
        room,
        String(since),
        as,
        String(MAX_LIST_ENTRIES),
        String(MAX_INVITATIONS),
        String(MAX_PENDING_DMS),
        start,
      ],
    );
    return Number(r);
  }

  /**
   * Leaves a room for good (its membership ends; an invitation is declined). Returns the
   * standing left ("" if none) and the new owner's id when ownership passed.
   */
  async leave(room: string, userId: string): Promise<{ left: string; heir?: string }> {
    let left = "";
    let heir: string | undefined;
    if (!isDmRoom(room)) {
      let choice = "";
      let orphan = false;
      let seen = 0;
      for (let attempt = 0; ; attempt++) {
        const reply = (await fencedEval(
          this.redis,
          LEAVE,
          [
            keys.roomInfo(room),
            keys.roomAccess(room, userId),
            keys.roomMembers(room),
            keys.roomAccess(room, choice || userId),
            keys.roomKind(room),
          ],
          [userId, choice, orphan ? "1" : "0", String(seen)],
        )) as string[];
        if (reply[0] !== "retry") {
          left = reply[0] ?? "";
          heir = reply[1] || undefined;
          break;
        }
        if (attempt === 3) throw new Error("the room's members kept changing: try again");
        const next = await this.heirFor(room, userId);
        choice = next.id;
        orphan = next.none;
        seen = next.seen;
      }
    }
    await this.dropFromList(userId, room);
    return heir ? { left, heir } : { left };
  }

  /**
   * Who inherits a room its owner leaves: a moderator if any, else a member; never a deleted
   * account (`none`: every other member is one, so the room is left with no owner).
   */
  private async heirFor(
    room: string,
    ownerId: string,
  ): Promise<{ id: string; none: boolean; seen: number }> {
    const members = Object.entries(await this.redis.hGetAll(keys.roomMembers(room)));
    const seen = members.length;
    const all = members.filter(
      ([id, role]) => id !== ownerId && (role === "moderator" || role === "member"),
    );
    if (all.length === 0) return { id: "", none: false, seen };
    const gone = await this.redis.smIsMember(
      keys.deletedUsers,
      all.map(([id]) => id),
    );
    const alive = all.filter((_, i) => gone[i] !== 1);
    if (alive.length === 0) return { id: "", none: true, seen };
    const heir = alive.find(([, role]) => role === "moderator") ?? alive[0];
    return { id: heir?.[0] ?? "", none: false, seen };
  }

  private async dropFromList(userId: string, room: string): Promise<void> {
    await Promise.all([
      this.redis.hDel(keys.userRooms(userId), room),
      this.redis.hDel(keys.readPositions(userId), room),
      this.redis.hDel(keys.mentions(userId), room),
    ]);
  }

  /**
   * A moderation action by `actorId` on `targetId` (or the room, for the topic), checked and
   * done in one step. On removal and ban the room also leaves the target's list.
   */
  async moderate(
    room: string,
    action: ModerationAction,
    actorId: string,
    targetId: string,
    value = "",
  ): Promise<{ code: "ok" | "forbidden" | "not_found" | "invalid" | "full"; before: string }> {
    // An invitation takes its place in the invitee's list first (refused when they hold too
    // many), and gives it back if the invitation is refused.
    let listed = 0;
    if (action === "invite") {
      listed = await this.listAdd(targetId, room, Date.now(), "invite");
      if (listed === -1) return { code: "full", before: "" };
    }
    const reply = (await fencedEval(
      this.redis,
      MODERATE,
      [
        keys.roomKind(room),
        keys.roomInfo(room),
        keys.roomAccess(room, actorId),
        keys.roomAccess(room, targetId),
        keys.roomMembers(room),
      ],
      [action, actorId, targetId, value, String(REMOVED_SECONDS), String(MAX_BANS_PER_ROOM)],
    )) as string[];
    const code = (reply[0] ?? "invalid") as "ok" | "forbidden" | "not_found" | "invalid" | "full";
    const before = reply[1] ?? "";
    if (code === "ok" && (action === "remove" || action === "ban")) {
      await this.dropFromList(targetId, room);
    }
    if (code !== "ok" && listed === 1) {
      await this.redis.hDel(keys.userRooms(targetId), room).catch(() => undefined);
    }
    return { code, before };
  }

  /** Moves the user's read position in `room` forward to `id`, clearing its mentions. */
  async markRead(userId: string, room: string, id: string): Promise<void> {
    if (!STREAM_ID_RE.test(id)) return;
    await runScript(
      this.redis,
      MARK_READ,
      [keys.readPositions(userId), keys.mentions(userId), keys.userRooms(userId)],
      [room, id],
    );
  }

  /** Counts a mention of the user in `room` (until they read it). */
  async mention(userId: string, room: string): Promise<number> {
    return this.redis.hIncrBy(keys.mentions(userId), room, 1);
  }

  /**
   * The user's rooms with their unread and mention counts. Rooms the user no longer stands
   * in (removed or banned while away, a room gone) are left out and dropped from the list.
   *
   * What it costs is bounded by the list (MAX_LIST_ENTRIES and the invitations and pending
   * DMs beside it), never by what the rooms hold: three hashes of the user's, one MGET of
   * the standings and kinds, and per entry one small hash read of the room's counters plus
   * its topic (a DM: the other user's name). Unread counts are subtractions (domain/unread.ts).
   */
  async list(userId: string): Promise<RoomSummary[]> {
    // One read for someone in no room yet (what every new connection of theirs costs).
    const joined = await this.redis.hGetAll(keys.userRooms(userId));
    const names = Object.keys(joined);
    if (names.length === 0) return [];
    const named = names.filter((r) => !isDmRoom(r));
    const [reads, mentions, standing] = await Promise.all([
      this.redis.hGetAll(keys.readPositions(userId)),
      this.redis.hGetAll(keys.mentions(userId)),
      mGetAcrossSlots(
        this.redis,
        named.flatMap((r) => [keys.roomAccess(r, userId), keys.roomKind(r)]),
        (k) => this.redis.mGet(k),
      ),
    ]);
    const of = new Map(
      named.map((r, i) => [r, { access: standing[2 * i], kind: standing[2 * i + 1] }]),
    );
    const rows = await Promise.all(
      names.map(async (room) => {
        const isDm = isDmRoom(room);
        const other = isDm ? dmUsers(room).find((id) => id !== userId) : undefined;
        const access = isDm ? "member" : (of.get(room)?.access ?? null);
        const kind = isDm ? "dm" : (of.get(room)?.kind ?? null);
        if (!kind || !access || access === "banned" || access === "removed") return undefined;
        const invited = access === "invited";
        const [label, counts] = await Promise.all([
          // For a DM, the label is the other user's name; for a room, its topic.
          isDm
            ? other
              ? this.redis.hGet(keys.user(other), "username")
              : Promise.resolve(undefined)
            : this.redis.hGet(keys.roomInfo(room), "topic"),
          invited
            ? Promise.resolve(undefined)
            : this.redis.hmGet(keys.roomCounts(room), ["n", "b", `o:${userId}`]),
        ]);
        // Entries made before read positions started with them: read from when they joined.
        const since = reads[room] ?? `${(joined[room] ?? "0").replace(/^[id]:/, "")}-0`;
        const summary: RoomSummary = {
          room,
          ...((joined[room] ?? "").startsWith("d:") ? { pending: true } : {}),
          label: isDm ? (label ?? "") : room,
          kind: kind as RoomKind | "dm",
          topic: isDm ? "" : (label ?? ""),
          role: access as Role | "invited",
          // An invitation has nothing to count yet.
          unread: counts ? unreadSince(since, parseCounts(counts)) : 0,
          mentions: Number(mentions[room] ?? 0),
        };
        return summary;
      }),
    );
    const gone = names.filter((_, i) => rows[i] === undefined);
    if (gone.length > 0) await this.redis.hDel(keys.userRooms(userId), gone);
    return rows.filter((r): r is RoomSummary => r !== undefined);
  }

  /**
   * The rooms `userId` may read now, as search needs them: public rooms they are in, private
   * rooms they are a member of, and their direct messages. Two reads (their list, then one
   * MGET of their standing and each room's kind), both after the event that asks arrived,
   * so a removal or ban that came before it is seen, on every process. Bounded by the list
   * (MAX_LIST_ENTRIES).
   */
  async readable(userId: string): Promise<string[]> {
    const names = await this.redis.hKeys(keys.userRooms(userId));
    const named = names.filter((r) => !isDmRoom(r));
    const standing =
      named.length === 0
        ? []
        : await mGetAcrossSlots(
            this.redis,
            named.flatMap((r) => [keys.roomAccess(r, userId), keys.roomKind(r)]),
            (k) => this.redis.mGet(k),
          );
    const ok = new Set(
      named.filter((_, i) => isRole(standing[2 * i]) && Boolean(standing[2 * i + 1])),
    );
    return names.filter((r) => ok.has(r) || (isDmRoom(r) && dmUsers(r).includes(userId)));
  }

  /** Public rooms whose name starts with `query` (all, if empty), by name, at most 50. */
  /**
   * Public rooms with members, by name (from `query` on), at most 50. Rooms everyone left
   * stay in the index (the next joiner gets them); they are skipped here, reading on in
   * pages of 100 names (up to 1,000), and taken out of the index as they are found, so rooms
   * someone emptied on purpose cannot crowd the directory out.
   */
  async directory(query: string): Promise<DirectoryEntry[]> {
    const found: DirectoryEntry[] = [];
    const PAGE = 100;
    let offset = 0;
    for (let pages = 0; pages < 10 && found.length < 50; pages++) {
      const names = query
        ? await this.redis.zRangeByLex(keys.publicRooms, `[${query}`, `[${query}\xff`, {
            LIMIT: { offset, count: PAGE },
          })
        : await this.redis.zRange(keys.publicRooms, offset, offset + PAGE - 1);
      const rows = await Promise.all(
        names.map(async (room) => {
          const [topic, members] = await Promise.all([
            this.redis.hGet(keys.roomInfo(room), "topic"),
            this.redis.hLen(keys.roomMembers(room)),
          ]);
          return { room, topic: topic ?? "", members };
        }),
      );
      const empty = rows.filter((r) => r.members === 0).map((r) => r.room);
      // A join re-adds its room to the index, so one that fills up again comes back.
      const removed =
        empty.length > 0 ? await this.redis.zRem(keys.publicRooms, empty).catch(() => 0) : 0;
      for (const r of rows) if (r.members > 0 && found.length < 50) found.push(r);
      if (names.length < PAGE) break;
      // Names taken out no longer count in the index's offsets.
      offset += PAGE - removed;
    }
    return found;
  }

  /**
   * A page of a room's members and their roles (user ids), from `cursor` ("0": the start;
   * otherwise the `next` of the page before), `next` being "0" when there are no more. A page
   * is whole scan steps until it holds `limit` (so it may hold up to one step more: a small
   * room's hash is one step); Redis's scan then returns every member present the whole time
   * at least once, however members come and go between pages.
   */
  async members(
    room: string,
    limit: number,
    cursor = "0",
  ): Promise<{ members: { id: string; role: Role }[]; next: string }> {
    const out: { id: string; role: Role }[] = [];
    let at = cursor;
    do {
      const r = await this.redis.hScan(keys.roomMembers(room), at, {
        COUNT: Math.min(limit, MEMBER_SCAN_STEP),
      });
      at = String(r.cursor);
      for (const { field, value } of r.entries) {
        if (ROLES.has(value)) out.push({ id: field, role: value as Role });
      }
    } while (at !== "0" && out.length < limit);
    return { members: out, next: at };
  }

  /** A room's topic ("" if none). */
  /** Whether a named room exists (it has a kind); a DM room exists once opened. */
  async exists(room: string): Promise<boolean> {
    return (await this.redis.exists(keys.roomKind(room))) === 1;
  }

  async topic(room: string): Promise<string> {
    return (await this.redis.hGet(keys.roomInfo(room), "topic")) ?? "";
  }

  /** The standing of each user in one room ("" none), read at once. */
  async standings(room: string, userIds: readonly string[]): Promise<string[]> {
    if (userIds.length === 0) return [];
    const values = await this.redis.mGet(userIds.map((id) => keys.roomAccess(room, id)));
    return values.map((v) => v ?? "");
  }

  /** Whether the user is a member (any role) of each room now; DMs always. One read. */
  async stillIn(userId: string, rooms: readonly string[]): Promise<boolean[]> {
    const named = rooms.filter((r) => !isDmRoom(r));
    const values = await mGetAcrossSlots(
      this.redis,
      named.map((r) => keys.roomAccess(r, userId)),
      (names) => this.redis.mGet(names),
    );
    const standing = new Map(named.map((r, i) => [r, values[i] ?? null]));
    return rooms.map((r) => isDmRoom(r) || isRole(standing.get(r)));
  }

  /** The room's kind and the user's standing there now (null: none), in one read (one slot). */
  async kindAndStanding(room: string, userId: string): Promise<[string | null, string | null]> {
    const [kind, standing] = await this.redis.mGet([
      keys.roomKind(room),
      keys.roomAccess(room, userId),
    ]);
    return [kind ?? null, standing ?? null];
  }

  /** The user's standing in a room now ("" none). */
  async standing(room: string, userId: string): Promise<string> {
    return (await this.redis.get(keys.roomAccess(room, userId))) ?? "";
  }
}
