// A TCP proxy between parley and Redis that can fail the way networks and stalled servers do:
// - pass: forward both ways;
// - delay: forward every chunk after a fixed delay (order kept);
// - hang: keep every connection open and accept new ones, but forward nothing (no FIN, no
//   RST: a stopped process, a full-disk stall, a half-open connection). What was held is
//   delivered when the mode goes back to pass, as a resumed Redis would read its socket
//   buffer; held bytes of a connection the client reset are dropped, as the kernel would;
// - reset: reset every connection (RST) and every new one.
import net from "node:net";

export type FaultMode = "pass" | "delay" | "hang" | "reset";

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  heldUp: Buffer[];
  heldDown: Buffer[];
}

export class FaultProxy {
  private mode: FaultMode = "pass";
  private delayMs = 0;
  private readonly pairs = new Set<Pair>();

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
    const pair: Pair = { client, upstream, heldUp: [], heldDown: [] };
    this.pairs.add(pair);
    const drop = () => {
      if (!this.pairs.delete(pair)) return;
      // Whatever was held for a side that is gone is never delivered.
      pair.heldUp = [];
      pair.heldDown = [];
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.on("data", (chunk: Buffer) => this.forward(pair, chunk, "up"));
    upstream.on("data", (chunk: Buffer) => this.forward(pair, chunk, "down"));
  }

  private forward(pair: Pair, chunk: Buffer, dir: "up" | "down"): void {
    const to = dir === "up" ? pair.upstream : pair.client;
    const held = dir === "up" ? pair.heldUp : pair.heldDown;
    if (this.mode === "hang" || held.length > 0) {
      held.push(chunk);
      return;
    }
    if (this.mode === "delay") {
      setTimeout(() => {
        if (this.pairs.has(pair) && !to.destroyed) to.write(chunk);
      }, this.delayMs);
      return;
    }
    if (!to.destroyed) to.write(chunk);
  }

  /** Switches the failure mode; `delay` takes the delay per chunk in ms. */
  set(mode: FaultMode, delayMs = 0): void {
    this.mode = mode;
    this.delayMs = delayMs;
    if (mode === "reset") {
      for (const p of [...this.pairs]) {
        this.pairs.delete(p);
        p.client.resetAndDestroy();
        p.upstream.resetAndDestroy();
      }
      return;
    }
    if (mode === "pass") {
      for (const p of this.pairs) {
        for (const c of p.heldUp.splice(0)) p.upstream.write(c);
        for (const c of p.heldDown.splice(0)) p.client.write(c);
      }
    }
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
