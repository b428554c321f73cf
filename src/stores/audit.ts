// The admin audit log: every admin action (and account deletion) as a stream entry in Redis
// (who, what, to whom, when, from where), capped, shown on the admin page; each entry also
// goes to the security log (pino, event "audit") so it outlives the cap.
import type { Logger } from "pino";
import type { Redis } from "../redis/client.js";
import { keys } from "./keys.js";

export interface AuditEntry {
  readonly id: string;
  readonly at: number;
  readonly actorId: string;
  readonly actor: string;
  readonly action: string;
  /** Whom or what the action was about (a username, an invite), "" if nothing. */
  readonly target: string;
  readonly ip: string;
}

/** Entries kept in Redis (the oldest are dropped beyond it). */
const AUDIT_CAP = 10_000;

export class AuditLog {
  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {}

  async record(e: Omit<AuditEntry, "id" | "at">, now: number): Promise<void> {
    this.logger.info(
      { event: "audit", ...e, at: now },
      `audit: ${e.actor} ${e.action} ${e.target}`,
    );
    await this.redis.xAdd(
      keys.audit,
      "*",
      {
        at: String(now),
        actorId: e.actorId,
        actor: e.actor,
        action: e.action,
        target: e.target,
        ip: e.ip,
      },
      { TRIM: { strategy: "MAXLEN", strategyModifier: "~", threshold: AUDIT_CAP } },
    );
  }

  /** The newest `count` entries, newest first. */
  async recent(count: number): Promise<AuditEntry[]> {
    const entries = await this.redis.xRevRange(keys.audit, "+", "-", { COUNT: count });
    return entries.map((x) => {
      const f = x.message as Record<string, string | undefined>;
      return {
        id: x.id,
        at: Number(f.at ?? 0),
        actorId: f.actorId ?? "",
        actor: f.actor ?? "",
        action: f.action ?? "",
        target: f.target ?? "",
        ip: f.ip ?? "",
      };
    });
  }
}
