// Idle authenticated sockets (`--sockets`, 10,000 by default): each server's resident memory
// per socket, and, with them connected, what parley's periodic expiry check (the sweep) costs.
// parley's sockets each have a login of their own (copies of one login record under fresh
// session ids, as 10,000 people's tabs would), so the sweep checks 10,000 sessions.
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import type { Bench, Row } from "../harness.js";
import { load, metricIn, ROOT, sleep } from "../harness.js";
import { rssBytes } from "../lib.js";

/** Signals `pid` (started with --heapsnapshot-signal) and waits until its snapshot is written. */
async function heapSnapshot(pid: number): Promise<void> {
  const dir = path.join(ROOT, "bench/profiles");
  const before = new Set(readdirSync(dir));
  process.kill(pid, "SIGUSR2");
  for (let i = 0; i < 240; i++) {
    await sleep(500);
    const file = readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
    if (!file) continue;
    // Written in one go: complete once its size stops changing.
    const size = statSync(path.join(dir, file)).size;
    await sleep(1000);
    if (size > 0 && statSync(path.join(dir, file)).size === size) return;
  }
  throw new Error("no heap snapshot after 2 minutes");
}

export async function idle(b: Bench, row: Row): Promise<void> {
  const count = b.sizes.idle;
  // The same cookies for both: plain keeps each request's headers with its socket too.
  const cookies = await b.manyLogins(count);
  // Each on a fresh process: memory measured on a server that other scenarios have already
  // grown says little about what a socket costs.
  for (const kind of ["plain", "parley"] as const) {
    const fresh = await b.fresh(kind);
    const s = fresh.server;
    try {
      await sleep(b.sizes.quick ? 300 : 1000);
      if (b.sizes.profile) await heapSnapshot(s.pid);
      const before = rssBytes(s.pid);
      const held = load({ kind: "idle", url: s.url, cookies, count }, () => undefined, true);
      await held.result;
      await sleep(1000);
      row[`${kind}.idle_rss_kib_per_socket`] = (rssBytes(s.pid) - before) / count / 1024;
      if (kind === "parley") {
        const text0 = await fresh.metricsText();
        const c0 = await b.redisCalls();
        // At least one sweep (every 2 s here); three for the full figure.
        await sleep(b.sizes.quick ? 2100 : 6500);
        const text1 = await fresh.metricsText();
        const c1 = await b.redisCalls();
        const delta = (name: string) => metricIn(text1, name) - metricIn(text0, name);
        const sweeps = delta("parley_sweeps_total");
        row["parley.sweep_sessions"] = delta("parley_sweep_sessions_total") / sweeps;
        // Round trips (the scripts) and the EXISTS run inside them.
        row["parley.sweep_round_trips"] = ((c1.get("eval") ?? 0) - (c0.get("eval") ?? 0)) / sweeps;
        row["parley.sweep_redis_cmds"] =
          ((c1.get("exists") ?? 0) - (c0.get("exists") ?? 0)) / sweeps;
        row["parley.sweep_cpu_ms"] = (delta("parley_sweep_cpu_seconds_total") / sweeps) * 1000;
        // Share of one core at the default interval (SESSION_SWEEP_SECONDS=3).
        row["parley.sweep_core_pct"] = (row["parley.sweep_cpu_ms"] / 3000) * 100;
      }
      // Heap snapshots before (above) and with the sockets connected, into bench/profiles/:
      // `npm run bench:profile -- --diff <before> <with> --per <sockets>` gives bytes per socket.
      if (b.sizes.profile) await heapSnapshot(s.pid);
      held.child.kill("SIGKILL");
    } finally {
      await fresh.stop();
    }
  }
}
