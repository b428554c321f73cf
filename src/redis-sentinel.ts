// Follows a Redis Sentinel set, so that parley's ordinary Redis clients always reach the
// current primary.
//
// parley connects to a local endpoint (127.0.0.1, a free port) instead of to Redis. Each
// connection made to it is joined to the primary the sentinels name at that moment, byte for
// byte. When the sentinels name another primary (asked every 250 ms, and at once when the
// primary refuses a connection), every joined connection is reset, so the clients reconnect,
// through the endpoint, to the new primary.
//
// Why not node-redis's own Sentinel client: measured against a killed primary, it holds every
// command in its own queue until a new primary is elected (2–3 s here, `down-after-milliseconds`
// plus an election in production) and then runs them all, late, on the new primary. parley's
// rule is the opposite (refuse at once, never act late), and all of that rule lives in the
// ordinary client: no offline queue, the reply watchdog, fenced writes (see redis.ts). The
// endpoint keeps that client, and everything built on it, unchanged.
//
// During a failover the endpoint accepts connections and closes them when no primary answers,
// so clients see Redis as down: events get `unavailable`, pages 503, exactly as with one
// Redis that died. A connection is never joined to a server the sentinels do not name.
import net from "node:net";
import type { Logger } from "pino";
import { createClient } from "redis";

export interface SentinelAddress {
  readonly host: string;
  readonly port: number;
}

export interface SentinelOptions {
  readonly sentinels: readonly SentinelAddress[];
  /** The name the sentinels monitor the primary under. */
  readonly name: string;
  /** The sentinels' own password (`requirepass` in sentinel.conf), if any. */
  readonly password?: string | undefined;
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
}

export class SentinelEndpoint {
  private readonly listener: net.Server;
  private readonly joined = new Set<Joined>();
  private primary: SentinelAddress | undefined;
  private timer: NodeJS.Timeout | undefined;
  private asking: Promise<void> | undefined;
  private next = 0; // the sentinel to ask first
  private closed = false;

  constructor(private readonly o: SentinelOptions) {
    this.listener = net.createServer({ noDelay: true }, (client) => this.join(client));
  }

  /** The primary the sentinels named last, as host:port. */
  get current(): string | undefined {
    return this.primary ? `${this.primary.host}:${this.primary.port}` : undefined;
  }

  /** Asks the sentinels for the primary, then listens; resolves with the local port. */
  async start(): Promise<number> {
    await this.ask();
    if (!this.primary) {
      throw new Error(
        `no sentinel in REDIS_SENTINELS names a primary for "${this.o.name}" (asked ${this.o.sentinels
          .map((s) => `${s.host}:${s.port}`)
          .join(", ")})`,
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
    await new Promise<void>((resolve) => this.listener.close(() => resolve()));
    await this.asking;
  }

  /** One question at a time: the first sentinel that answers is believed. */
  private ask(): Promise<void> {
    this.asking ??= this.askAll().finally(() => {
      this.asking = undefined;
    });
    return this.asking;
  }

  private async askAll(): Promise<void> {
    const { sentinels } = this.o;
    for (let i = 0; i < sentinels.length && !this.closed; i++) {
      const index = (this.next + i) % sentinels.length;
      const answer = await this.askOne(sentinels[index] as SentinelAddress).catch(() => undefined);
      if (answer === undefined) continue;
      this.next = index; // keep asking the one that answered
      this.name(answer);
      return;
    }
  }

  private async askOne(at: SentinelAddress): Promise<SentinelAddress | null> {
    const c = createClient({
      socket: {
        host: at.host,
        port: at.port,
        connectTimeout: ANSWER_WITHIN_MS,
        reconnectStrategy: false,
      },
      ...(this.o.password ? { password: this.o.password } : {}),
      disableOfflineQueue: true,
    });
    c.on("error", () => undefined);
    const giveUp = setTimeout(() => c.destroy(), ANSWER_WITHIN_MS);
    try {
      await c.connect();
      const reply = (await c.sendCommand(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", this.o.name])) as
        | [string, string]
        | null;
      if (!reply) return null;
      return { host: reply[0], port: Number(reply[1]) };
    } finally {
      clearTimeout(giveUp);
      if (c.isOpen) c.destroy();
    }
  }

  private name(primary: SentinelAddress | null): void {
    const before = this.current;
    this.primary = primary ?? undefined;
    const now = this.current;
    if (before === now) return;
    if (before !== undefined) {
      this.o.logger.warn(
        { event: "redis_failover", from: before, to: now ?? null },
        `the sentinels name a new Redis primary: ${now ?? "none"}`,
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
    const accept = setTimeout(() => this.cut(j), ANSWER_WITHIN_MS);
    server.once("connect", () => clearTimeout(accept));
    server.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(accept);
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
    reset(j.client);
    reset(j.server);
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
