// Fan-out: one room of 1,000 members (sockets of 50 users, each user having joined once, so
// their sockets are put in the room on connect) spread over two processes on the same Redis, a few of them sending in a closed loop; deliveries per second to all members
// and each delivery's latency from its send. parley's two processes against two unguarded
// ones (the same handlers and the same Redis adapter, nothing checked per event).
import type { Bench, Row } from "../harness.js";
import { load, meter } from "../harness.js";

export async function fanout(b: Bench, row: Row): Promise<void> {
  const cookies = b.users.slice(0, 50).map((u) => u.cookie);
  const pairs = [
    ["unguarded", b.servers.unguarded, b.unguarded2],
    ["parley", b.servers.parley, b.parley2],
  ] as const;
  for (const [name, one, two] of pairs) {
    const m = meter(b, one.pid, two.pid);
    const f = await load(
      {
        kind: "fanout",
        urls: [one.url, two.url],
        cookies,
        sockets: b.sizes.fanoutSockets,
        room: `bench-fan-${Date.now().toString(36)}`,
        senders: 4,
        seconds: b.sizes.evSeconds,
        warmupSeconds: b.sizes.warmup,
      },
      m.onPhase,
    ).result;
    const used = await m.settle();
    const delivered = Number(f.count);
    row[`${name}.fanout_deliveries_per_s`] = Number(f.perSecond);
    row[`${name}.fanout_p50_ms`] = Number(f.p50);
    row[`${name}.fanout_p99_ms`] = Number(f.p99);
    row[`${name}.fanout_errors`] = Number(f.errors);
    // Both processes' CPU while measuring, per delivery.
    row[`${name}.fanout_cpu_us_per_delivery`] = (used.cpuSeconds / delivered) * 1e6;
  }
}
