// Acked events per second from 50 clients in a closed loop (parley's `ping`, the references'
// `echo`), with the server's CPU and Redis commands per event.

import type { Bench, Row } from "../harness.js";
import { load, metricIn } from "../harness.js";
import { cpuSeconds, totalCalls } from "../lib.js";

export async function events(b: Bench, row: Row): Promise<void> {
  for (const s of Object.values(b.servers)) {
    let cpu0 = 0;
    let cpu1 = 0;
    let calls0 = new Map<string, number>();
    let calls1 = new Map<string, number>();
    const marks: Promise<void>[] = [];
    const ev = await load(
      {
        kind: "events",
        url: s.url,
        cookies: b.cookiesFor(s.name),
        clients: 50,
        seconds: b.sizes.evSeconds,
        warmupSeconds: b.sizes.warmup,
        event: s.name === "parley" ? "ping" : "echo",
        payload: {},
      },
      (phase) => {
        if (phase === "measuring") {
          cpu0 = cpuSeconds(s.pid);
          marks.push(
            b.redisCalls().then((c) => {
              calls0 = c;
            }),
          );
        }
        if (phase === "done") {
          cpu1 = cpuSeconds(s.pid);
          marks.push(
            b.redisCalls().then((c) => {
              calls1 = c;
            }),
          );
        }
      },
    ).result;
    await Promise.all(marks);
    const count = Number(ev.count);
    row[`${s.name}.events_per_s`] = Number(ev.perSecond);
    row[`${s.name}.ack_p50_ms`] = Number(ev.p50);
    row[`${s.name}.ack_p99_ms`] = Number(ev.p99);
    row[`${s.name}.cpu_us_per_event`] = ((cpu1 - cpu0) / count) * 1e6;
    row[`${s.name}.redis_cmds_per_event`] = totalCalls(calls0, calls1, ["info"]) / count;
    row[`${s.name}.event_errors`] = Number(ev.errors);
    if (s.name === "parley") {
      const text = await b.metricsText();
      row["parley.guard_round_trips_per_check"] =
        metricIn(text, "parley_guard_redis_round_trips_total") /
        metricIn(text, "parley_guard_checks_total");
    }
  }
}
