// A TCP proxy between parley and Redis that can fail the way networks and stalled servers do:
// - pass: forward both ways;
// - delay: forward every chunk after a fixed delay (order kept, also when switching back);
// - hang: keep every connection open and accept new ones, but forward nothing (no FIN, no
//   RST: a stopped process, a full-disk stall, a half-open connection). When the mode goes
//   back to pass, what parley had sent is delivered to Redis, even for a connection parley
//   has reset meanwhile: a stopped Redis still reads and runs what sits in its socket buffer
//   when it resumes, whatever the client did since (the kernel keeps received bytes);
// - reset: reset every connection (RST) and every new one;
// - throttle: forward Redis's replies at a fixed rate (bytes per second), as a busy or slow
//   link delivers a large reply: bytes keep arriving, slowly.
import net from "node:net";

export type FaultMode = "pass" | "delay" | "hang" | "reset" | "throttle";

interface Lane {
  to: net.Socket;
  /** Chunks not yet delivered, in order, each with the earliest time it may go. */
  queue: { chunk: Buffer; due: number }[];
  timer: NodeJS.Timeout | undefined;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  up: Lane;
  down: Lane;
  clientGone: boolean;
}

/** How often a throttled lane delivers its next slice (ms). */
const THROTTLE_TICK_MS = 20;

export class FaultProxy {
  private mode: FaultMode = "pass";
  private delayMs = 0;
  private bytesPerSecond = 0;
  private readonly pairs = new Set<Pair>();
  private left = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Connections currently open through the proxy. */
  get connections(): number {
    return this.pairs.size;
  }

  /** How many clients have gone away (reset or closed their connection) so far. */
  get departures(): number {
    return this.left;
  }

  /**
   * Connections whose client went away (parley reset or closed them) while Redis's side is
   * still open. Once the proxy has passed on what such a client sent, it ends the connection
   * to Redis, and Redis closes it only after reading, and running, all of it: 0 (in pass
   * mode) means Redis has run everything any departed client sent.
   */
  get abandoned(): number {
    let n = 0;
    for (const p of this.pairs) if (p.clientGone) n++;
    return n;
  }

  /** What clients sent that the proxy holds back from Redis (while hanging, or delayed). */
  held(): string {
    const chunks: Buffer[] = [];
    for (const p of this.pairs) for (const q of p.up.queue) chunks.push(q.chunk);
    return Buffer.concat(chunks).toString("latin1");
  }

  static async start(targetPort: number, targetHost = "127.0.0.1"): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = net.createServer((client) => proxy?.accept(client, targetPort, targetHost));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new FaultProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  private accept(client: net.Socket, port: number, host: string): void {
    if (this.mode === "reset") {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(port, host);
    const pair: Pair = {
      client,
      upstream,
      up: { to: upstream, queue: [], timer: undefined },
      down: { to: client, queue: [], timer: undefined },
      clientGone: false,
    };
    this.pairs.add(pair);
    const close = () => {
      if (!this.pairs.delete(pair)) return;
      for (const lane of [pair.up, pair.down]) clearTimeout(lane.timer);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    // The client going away does not take back what it sent: Redis gets it (later, if it
    // is hanging now), then sees the connection close.
    const clientGone = () => {
      if (!pair.clientGone) this.left++;
      pair.clientGone = true;
      pair.down.queue = [];
      if (pair.up.queue.length === 0 && this.mode !== "hang") close();
    };
    client.on("error", clientGone).on("close", clientGone);
    upstream.on("error", close).on("close", close);
    client.on("data", (chunk: Buffer) => this.enqueue(pair, pair.up, chunk));
    upstream.on("data", (chunk: Buffer) => {
      if (!pair.clientGone) this.enqueue(pair, pair.down, chunk);
    });
  }

  private enqueue(pair: Pair, lane: Lane, chunk: Buffer): void {
    const due = performance.now() + (this.mode === "delay" ? this.delayMs : 0);
    lane.queue.push({ chunk, due });
    // A throttled lane sends on its own ticks only.
    if (this.mode === "throttle" && lane === pair.down && lane.timer !== undefined) return;
    this.pump(pair, lane);
  }

  /** Delivers what is due, in order; nothing while hanging. */
  private pump(pair: Pair, lane: Lane): void {
    clearTimeout(lane.timer);
    lane.timer = undefined;
    if (this.mode === "hang" || !this.pairs.has(pair)) return;
    if (this.mode === "throttle" && lane === pair.down) {
      // One slice per tick, at the set rate.
      const slice = Math.max(1, Math.floor((this.bytesPerSecond * THROTTLE_TICK_MS) / 1000));
      let left = slice;
      while (lane.queue.length > 0 && left > 0) {
        const next = lane.queue[0] as { chunk: Buffer; due: number };
        const part = next.chunk.subarray(0, left);
        if (part.length === next.chunk.length) lane.queue.shift();
        else next.chunk = next.chunk.subarray(part.length);
        left -= part.length;
        if (!lane.to.destroyed) lane.to.write(part);
      }
      if (lane.queue.length > 0) {
        lane.timer = setTimeout(() => this.pump(pair, lane), THROTTLE_TICK_MS);
      }
      return;
    }
    const now = performance.now();
    while (lane.queue.length > 0) {
      const next = lane.queue[0] as { chunk: Buffer; due: number };
      if (next.due > now) {
        lane.timer = setTimeout(() => this.pump(pair, lane), next.due - now);
        return;
      }
      lane.queue.shift();
      if (!lane.to.destroyed) lane.to.write(next.chunk);
    }
    if (pair.clientGone && lane === pair.up) pair.upstream.end();
  }

  /**
   * Switches the failure mode; `delay` takes the delay per chunk in ms, `throttle` the rate
   * of Redis's replies in bytes per second.
   */
  set(mode: FaultMode, amount = 0): void {
    this.mode = mode;
    this.delayMs = mode === "delay" ? amount : 0;
    this.bytesPerSecond = mode === "throttle" ? amount : 0;
    if (mode === "reset") {
      for (const p of [...this.pairs]) {
        this.pairs.delete(p);
        for (const lane of [p.up, p.down]) clearTimeout(lane.timer);
        p.client.resetAndDestroy();
        p.upstream.resetAndDestroy();
      }
      return;
    }
    if (mode === "pass" || mode === "delay" || mode === "throttle") {
      for (const p of [...this.pairs]) {
        this.pump(p, p.up);
        this.pump(p, p.down);
      }
    }
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      for (const lane of [p.up, p.down]) clearTimeout(lane.timer);
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
