// Follows a Redis Sentinel set, so that parley's ordinary Redis clients always reach the
// current primary.
//
// parley connects to a local endpoint (127.0.0.1, a free port) instead of to Redis. Each
// connection made to it is joined to the primary the sentinels name at that moment, byte for
// byte. The sentinels are all asked, every 250 ms and at once when the primary refuses a
// connection, over one kept connection each; the answer with the highest configuration epoch
// wins (a sentinel left behind by a failover, or one that does not know the name, is
// outvoted), and a new primary is only taken once it says itself that it is one (ROLE).
// Then every joined connection is reset, so the clients reconnect, through the endpoint, to
// the new primary. When no sentinel answers, the last primary is kept.
//
// Why not node-redis's own Sentinel client: measured against a killed primary, it holds every
// command in its own queue until a new primary is elected (2–3 s here, `down-after-milliseconds`
// plus an election in production) and then runs them all, late, on the new primary. parley's
// rule is the opposite (refuse at once, never act late), and all of that rule lives in the
// ordinary client: no offline queue, the reply watchdog, fenced writes (see watchdog.ts and fence.ts). The
// endpoint keeps that client, and everything built on it, unchanged.
//
// During a failover the endpoint accepts connections and closes them when no primary answers,
// so clients see Redis as down: events get `unavailable`, pages 503, exactly as with one
// Redis that died. A connection is never joined to a server the sentinels do not name.
import net from "node:net";
import type { Logger } from "pino";
import { createClient, type RedisClientType } from "redis";
import { within } from "./errors.js";

export interface SentinelAddress {
  readonly host: string;
  readonly port: number;
}

export interface SentinelOptions {
  readonly sentinels: readonly SentinelAddress[];
  /** The name the sentinels monitor the primary under. */
  readonly name: string;
  /** The sentinels' own password (`requirepass` in sentinel.conf), if any. */
  readonly sentinelPassword?: string | undefined;
  /** The data nodes' credentials (from REDIS_URL), to ask a new primary its ROLE. */
  readonly credentials?: { username?: string; password?: string };
  readonly logger: Logger;
}

/** How often the sentinels are asked who the primary is (ms). */
const ASK_EVERY_MS = 250;
/** How long a sentinel, or the primary, may take to answer or accept (ms). */
const ANSWER_WITHIN_MS = 1000;

/** Parses `host:port,host:port` (IPv6 as `[::1]:26379`). */
export function parseSentinels(list: readonly string[]): SentinelAddress[] {
  return list.map((entry) => {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(entry.trim());
    const port = Number(m?.[3]);
    if (!m || port < 1 || port > 65535) {
      throw new Error(`"${entry}" is not host:port`);
    }
    return { host: (m[1] ?? m[2]) as string, port };
  });
}

interface Joined {
  readonly primary: string;
  readonly client: net.Socket;
  readonly server: net.Socket;
  accept?: NodeJS.Timeout;
}

/** What one sentinel says of the primary. */
type Answer =
  | { kind: "primary"; at: SentinelAddress; epoch: number }
  | { kind: "unknown" } // the sentinel does not monitor that name
  | { kind: "failed"; why: string };

export class SentinelEndpoint {
  private readonly listener: net.Server;
  private readonly joined = new Set<Joined>();
  private readonly clients = new Map<number, RedisClientType>();
  private primary: SentinelAddress | undefined;
  private timer: NodeJS.Timeout | undefined;
  private asking: Promise<Answer[]> | undefined;
  private unanswered = false;
  private closed = false;

  constructor(private readonly o: SentinelOptions) {
    this.listener = net.createServer({ noDelay: true }, (client) => this.join(client));
    this.listener.on("error", (err) =>
      o.logger.error({ event: "sentinel_endpoint_error", err: err.message }, "endpoint error"),
    );
  }

  /** The primary the sentinels named last, as host:port. */
  get current(): string | undefined {
    return this.primary ? `${this.primary.host}:${this.primary.port}` : undefined;
  }

  /** Asks the sentinels for the primary, then listens; resolves with the local port. */
  async start(): Promise<number> {
    const answers = await this.ask();
    if (!this.primary) {
      await this.close();
      const said = this.o.sentinels.map((s, i) => {
        const a = answers[i];
        const what =
          a?.kind === "unknown"
            ? `does not monitor "${this.o.name}"`
            : a?.kind === "failed"
              ? a.why
              : "names a server that is not a primary";
        return `${s.host}:${s.port} ${what}`;
      });
      throw new Error(
        `no sentinel in REDIS_SENTINELS names a primary for "${this.o.name}": ${said.join("; ")}`,
      );
    }
    await new Promise<void>((resolve, reject) => {
      this.listener.once("error", reject);
      this.listener.listen(0, "127.0.0.1", () => {
        this.listener.off("error", reject);
        resolve();
      });
    });
    this.timer = setInterval(() => void this.ask(), ASK_EVERY_MS);
    this.timer.unref();
    return (this.listener.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const j of this.joined) this.cut(j);
    if (this.listener.listening) {
      await new Promise<void>((resolve) => this.listener.close(() => resolve()));
    }
    await this.asking;
    for (const c of this.clients.values()) if (c.isOpen) c.destroy();
    this.clients.clear();
  }

  /** One round of questions at a time. */
  private ask(): Promise<Answer[]> {
    this.asking ??= this.askAll().finally(() => {
      this.asking = undefined;
    });
    return this.asking;
  }

  private async askAll(): Promise<Answer[]> {
    const answers = await Promise.all(this.o.sentinels.map((_, i) => this.askOne(i)));
    if (this.closed) return answers;
    // The highest configuration epoch is the latest failover any sentinel has seen.
    let best: { at: SentinelAddress; epoch: number } | undefined;
    for (const a of answers) {
      if (a.kind === "primary" && (!best || a.epoch > best.epoch)) best = a;
    }
    if (!best) {
      if (!this.unanswered && this.primary) {
        this.o.logger.warn(
          { event: "sentinels_unanswered", primary: this.current },
          `no sentinel names a primary: keeping ${this.current}`,
        );
      }
      this.unanswered = true;
      return answers;
    }
    this.unanswered = false;
    const named = `${best.at.host}:${best.at.port}`;
    if (named !== this.current && (await isPrimary(best.at, this.o.credentials)))
      this.name(best.at);
    return answers;
  }

  private async askOne(index: number): Promise<Answer> {
    if (this.closed) return { kind: "failed", why: "closed" };
    const at = this.o.sentinels[index] as SentinelAddress;
    let c = this.clients.get(index);
    try {
      if (!c?.isReady) {
        if (c?.isOpen) c.destroy();
        c = createClient({
          socket: {
            host: at.host,
            port: at.port,
            connectTimeout: ANSWER_WITHIN_MS,
            reconnectStrategy: false,
          },
          ...(this.o.sentinelPassword ? { password: this.o.sentinelPassword } : {}),
          disableOfflineQueue: true,
        }) as RedisClientType;
        c.on("error", () => undefined);
        this.clients.set(index, c);
        await within(c.connect(), ANSWER_WITHIN_MS);
      }
      const reply = await within(
        c.sendCommand<string[] | null>(["SENTINEL", "MASTER", this.o.name]),
        ANSWER_WITHIN_MS,
      );
      if (!Array.isArray(reply)) return { kind: "unknown" };
      const f = new Map<string, string>();
      for (let i = 0; i + 1 < reply.length; i += 2) f.set(String(reply[i]), String(reply[i + 1]));
      const ip = f.get("ip");
      const port = Number(f.get("port"));
      if (!ip || !port) return { kind: "unknown" };
      return { kind: "primary", at: { host: ip, port }, epoch: Number(f.get("config-epoch") ?? 0) };
    } catch (err) {
      const message = (err as Error).message;
      // An answer, on a healthy connection: it does not know the name.
      if (/No such master|unknown master/i.test(message)) return { kind: "unknown" };
      // A sentinel that hangs or fails is asked afresh next time.
      if (c?.isOpen) c.destroy();
      this.clients.delete(index);
      return { kind: "failed", why: message || "no answer" };
    }
  }

  private name(primary: SentinelAddress): void {
    const before = this.current;
    this.primary = primary;
    const now = this.current;
    if (before !== undefined) {
      this.o.logger.warn(
        { event: "redis_failover", from: before, to: now },
        `the sentinels name a new Redis primary: ${now}`,
      );
    }
    for (const j of this.joined) if (j.primary !== now) this.cut(j);
  }

  private join(client: net.Socket): void {
    const target = this.primary;
    if (!target || this.closed) {
      reset(client);
      return;
    }
    const server = net.connect({ host: target.host, port: target.port, noDelay: true });
    const j: Joined = { primary: `${target.host}:${target.port}`, client, server };
    this.joined.add(j);
    j.accept = setTimeout(() => this.cut(j), ANSWER_WITHIN_MS);
    j.accept.unref();
    server.once("connect", () => clearTimeout(j.accept));
    server.on("error", (err: NodeJS.ErrnoException) => {
      // The named primary refuses: perhaps a failover has begun. Ask now, not in 250 ms.
      if (err.code === "ECONNREFUSED" || err.code === "EHOSTUNREACH") void this.ask();
      this.cut(j);
    });
    client.on("error", () => this.cut(j));
    server.on("close", () => this.cut(j));
    client.on("close", () => this.cut(j));
    client.pipe(server);
    server.pipe(client);
  }

  /** Resets both sides, so the client notices at once (no FIN that could be mistaken). */
  private cut(j: Joined): void {
    if (!this.joined.delete(j)) return;
    clearTimeout(j.accept);
    reset(j.client);
    reset(j.server);
  }
}

/** Whether the server at `at` says itself that it is a primary (ROLE), within the time limit. */
async function isPrimary(
  at: SentinelAddress,
  credentials: { username?: string; password?: string } = {},
): Promise<boolean> {
  const c = createClient({
    socket: {
      host: at.host,
      port: at.port,
      connectTimeout: ANSWER_WITHIN_MS,
      reconnectStrategy: false,
    },
    ...credentials,
    disableOfflineQueue: true,
  });
  c.on("error", () => undefined);
  try {
    await within(c.connect(), ANSWER_WITHIN_MS);
    const role = await within(c.sendCommand<unknown[]>(["ROLE"]), ANSWER_WITHIN_MS);
    return Array.isArray(role) && role[0] === "master";
  } catch {
    return false;
  } finally {
    if (c.isOpen) c.destroy();
  }
}

function reset(socket: net.Socket): void {
  if (socket.destroyed) return;
  // A socket still connecting would be reset only once connected: destroy it now.
  if (socket.connecting) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
