// Idle authenticated sockets: memory per 1,000 on each server, and what parley's periodic
// sweep costs with them connected.

import type { Bench, Row } from "../harness.js";
import { load, metricIn, sleep } from "../harness.js";
import { rssBytes } from "../lib.js";

export async function idle(b: Bench, row: Row): Promise<void> {
  const count = b.sizes.idle;
  for (const s of Object.values(b.servers)) {
    const before = rssBytes(s.pid);
    const held = load(
      { kind: "idle", url: s.url, cookies: b.cookiesFor(s.name), count },
      () => undefined,
      true,
    );
    await held.result;
    await sleep(1000);
    row[`${s.name}.rss_mb_per_1000_idle`] = (((rssBytes(s.pid) - before) / count) * 1000) / 2 ** 20;
    if (s.name === "parley") {
      const text0 = await b.metricsText();
      const c0 = await b.redisCalls();
      await sleep(4500);
      const text1 = await b.metricsText();
      const c1 = await b.redisCalls();
      const delta = (name: string) => metricIn(text1, name) - metricIn(text0, name);
      const sweeps = delta("parley_sweeps_total");
      row["parley.sweep_sessions"] = delta("parley_sweep_sessions_total") / sweeps;
      row["parley.sweep_redis_cmds"] = ((c1.get("exists") ?? 0) - (c0.get("exists") ?? 0)) / sweeps;
      row["parley.sweep_cpu_ms"] = (delta("parley_sweep_cpu_seconds_total") / sweeps) * 1000;
    }
    held.child.kill("SIGKILL");
    await sleep(1500);
  }
}
