// Single-use invite links. Only the SHA-256 of a token is stored, so reading Redis does not
// hand out working links; the link itself is shown once, to the admin who made it. An
// invite is taken (marked) by the registration that uses it, in one fenced step, so two
// registrations racing with one link cannot both have it. A registration refused after
// taking it (the name was taken) gives it back, unless it was withdrawn meanwhile; one that
// failed otherwise leaves it taken (fail closed: the admin makes another). A used invite is
// deleted.
import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "../redis/client.js";
import { fencedEval } from "../redis/fence.js";
import { keys } from "./keys.js";
import { script } from "./lua.js";

export interface Invite {
  /** The SHA-256 of the token (hex): how the invite is named on the admin page. */
  readonly id: string;
  readonly createdBy: string;
  readonly createdByName: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;
export const INVITE_ID_RE = /^[0-9a-f]{64}$/;

export function inviteId(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

const TAKE = script("invite-take");

const GIVE_BACK = script("invite-give-back");

const PUT = script("invite-put");

const DROP = script("invite-drop");

const WITHDRAW = script("invite-withdraw");

/** A valid invite from its stored fields: undefined if it is taken or damaged. */
function parse(id: string, f: Record<string, string>): Invite | undefined {
  const expiresAt = Number(f.expiresAt);
  if (!f.createdBy || !Number.isFinite(expiresAt) || f.taken) return undefined;
  return {
    id,
    createdBy: f.createdBy,
    createdByName: f.createdByName ?? "",
    createdAt: Number(f.createdAt),
    expiresAt,
  };
}

export class InviteStore {
  constructor(private readonly redis: Redis) {}

  /** Makes an invite valid for `seconds`; returns the token for the link (shown once). */
  async create(
    by: { id: string; username: string },
    seconds: number,
    now: number,
  ): Promise<{ token: string; invite: Invite }> {
    const token = randomBytes(32).toString("base64url");
    const invite: Invite = {
      id: inviteId(token),
      createdBy: by.id,
      createdByName: by.username,
      createdAt: now,
      expiresAt: now + seconds * 1000,
    };
    await this.put(invite);
    await this.redis.zAdd(keys.invites, { score: invite.expiresAt, value: invite.id });
    return { token, invite };
  }

  private async put(invite: Invite): Promise<void> {
    const fields = [
      "createdBy",
      invite.createdBy,
      "createdByName",
      invite.createdByName,
      "createdAt",
      String(invite.createdAt),
      "expiresAt",
      String(invite.expiresAt),
    ];
    await fencedEval(
      this.redis,
      PUT,
      [keys.invite(invite.id)],
      [String(invite.expiresAt), ...fields],
    );
  }

  /** The invite a token names, if it is still valid (not used, not expired). */
  async peek(token: string, now: number): Promise<Invite | undefined> {
    if (!TOKEN_RE.test(token)) return undefined;
    const id = inviteId(token);
    const invite = parse(id, await this.redis.hGetAll(keys.invite(id)));
    return invite && invite.expiresAt > now ? invite : undefined;
  }

  /** Takes the invite a token names, once: undefined if it is used, expired or unknown. */
  async take(token: string, now: number): Promise<Invite | undefined> {
    if (!TOKEN_RE.test(token)) return undefined;
    const id = inviteId(token);
    const reply = (await fencedEval(this.redis, TAKE, [keys.invite(id)], [])) as string[] | null;
    if (!Array.isArray(reply)) return undefined;
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2)
      fields[reply[i] as string] = reply[i + 1] as string;
    const invite = parse(id, fields);
    return invite && invite.expiresAt > now ? invite : undefined;
  }

  /** Gives back an invite a refused registration took (not if it was withdrawn meanwhile). */
  async giveBack(invite: Invite): Promise<void> {
    await fencedEval(this.redis, GIVE_BACK, [keys.invite(invite.id)], []);
  }

  /** Removes an invite a registration has used. */
  async used(invite: Invite): Promise<void> {
    await fencedEval(this.redis, DROP, [keys.invite(invite.id)], []);
    await this.redis.zRem(keys.invites, invite.id);
  }

  /**
   * Withdraws an invite: "done"; "gone" if it is unknown, used or expired; "in_use" while a
   * registration holds it (then it may yet be used: the admin is told so, not "withdrawn").
   */
  async revoke(id: string): Promise<"done" | "gone" | "in_use"> {
    if (!INVITE_ID_RE.test(id)) return "gone";
    const r = Number(await fencedEval(this.redis, WITHDRAW, [keys.invite(id)], []));
    if (r === -1) return "in_use";
    await this.redis.zRem(keys.invites, id);
    return r === 1 ? "done" : "gone";
  }

  /** Invites still valid, soonest to expire first (expired ones are cleared on the way). */
  async list(now: number): Promise<Invite[]> {
    await this.redis.zRemRangeByScore(keys.invites, "-inf", now);
    const ids = await this.redis.zRange(keys.invites, 0, 199);
    const records = await Promise.all(ids.map((id) => this.redis.hGetAll(keys.invite(id))));
    const out: Invite[] = [];
    records.forEach((f, i) => {
      const invite = parse(ids[i] as string, f);
      if (invite && invite.expiresAt > now) out.push(invite);
    });
    return out;
  }
}
