// Acked events per second from 50 clients in a closed loop, with ack latency and the server's
// CPU and Redis commands per event, each against its reference in the same run:
// - `ping` (parley) against plain Socket.IO's and the guide's `echo`: the per-event check alone;
// - `message:history {limit: 1}` and `message:send` against the unguarded server (parley's
//   handlers with no per-event work in front of them): the check next to a handler's own
//   Redis work.
import type { Bench, Row, Server } from "../harness.js";
import { load, meter, metricIn } from "../harness.js";

interface EventLoad {
  event: string;
  payload: Record<string, unknown>;
  rooms?: string[];
  seed?: boolean;
}

/** Runs one closed-loop load on `s`; writes `<server>.<prefix>_*` figures into `row`. */
async function measure(b: Bench, s: Server, spec: EventLoad, prefix: string, row: Row) {
  const m = meter(b, s.pid);
  const ev = await load(
    {
      kind: "events",
      url: s.url,
      cookies: b.cookiesFor(s.name),
      clients: 50,
      seconds: b.sizes.evSeconds,
      warmupSeconds: b.sizes.warmup,
      ...spec,
    },
    m.onPhase,
  ).result;
  const used = await m.settle();
  const count = Number(ev.count);
  const k = `${s.name}.${prefix}`;
  row[`${k}_per_s`] = Number(ev.perSecond);
  row[`${k}_p50_ms`] = Number(ev.p50);
  row[`${k}_p99_ms`] = Number(ev.p99);
  row[`${k}_cpu_us`] = (used.cpuSeconds / count) * 1e6;
  row[`${k}_redis_cmds`] = used.redisCommands / count;
  row[`${k}_errors`] = Number(ev.errors);
}

export async function events(b: Bench, row: Row): Promise<void> {
  for (const s of [b.servers.plain, b.servers.docs, b.servers.parley]) {
    const event = s.name === "parley" ? "ping" : "echo";
    await measure(b, s, { event, payload: {} }, "ping", row);
  }
  const text = await b.metricsText();
  row["parley.guard_round_trips_per_check"] =
    metricIn(text, "parley_guard_redis_round_trips_total") /
    metricIn(text, "parley_guard_checks_total");
}

/** Ten public rooms, one per five clients (a run's own names: history starts empty). */
const tenRooms = (tag: string) =>
  Array.from({ length: 10 }, (_, i) => `bench-${tag}-${Date.now().toString(36)}-${i}`);

export async function history(b: Bench, row: Row): Promise<void> {
  for (const s of [b.servers.unguarded, b.servers.parley]) {
    const spec = {
      event: "message:history",
      payload: { limit: 1 },
      rooms: tenRooms("h"),
      seed: true,
    };
    await measure(b, s, spec, "history", row);
  }
}

export async function send(b: Bench, row: Row): Promise<void> {
  for (const s of [b.servers.unguarded, b.servers.parley]) {
    const spec = { event: "message:send", payload: { text: "hello" }, rooms: tenRooms("s") };
    await measure(b, s, spec, "send", row);
  }
}
