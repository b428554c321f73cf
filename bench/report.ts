// The benchmark's report: the median of several runs, and the table the README shows.
import type { Row } from "./harness.js";

/** Each figure's median over the runs. */
export function median(runs: readonly Row[]): Row {
  const out: Row = {};
  for (const key of Object.keys(runs[0] ?? {})) {
    const v = runs.map((x) => x[key] ?? Number.NaN).sort((a, b) => a - b);
    out[key] = v[Math.floor(v.length / 2)] ?? Number.NaN;
  }
  return out;
}

export function render(m: Record<string, number>): string {
  const f = (v: number | undefined, d = 1) =>
    v === undefined || Number.isNaN(v) ? "–" : v.toFixed(d);
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || !b ? "–" : `${(a / b).toFixed(2)}×`;
  const rows: string[][] = [["figure", "parley", "plain", "docs", "parley/plain", "parley/docs"]];
  const trio = (label: string, key: string, d = 1) =>
    rows.push([
      label,
      f(m[`parley.${key}`], d),
      f(m[`plain.${key}`], d),
      f(m[`docs.${key}`], d),
      ratio(m[`parley.${key}`], m[`plain.${key}`]),
      ratio(m[`parley.${key}`], m[`docs.${key}`]),
    ]);
  trio("authenticated handshakes/s (websocket)", "handshakes_per_s", 0);
  trio("handshake p50 ms", "handshake_p50_ms", 2);
  trio("handshake p99 ms", "handshake_p99_ms", 2);
  trio("acked events/s (50 clients, closed loop)", "events_per_s", 0);
  trio("ack p50 ms", "ack_p50_ms", 2);
  trio("ack p99 ms", "ack_p99_ms", 2);
  trio("server CPU µs per event", "cpu_us_per_event", 1);
  trio("Redis commands per event", "redis_cmds_per_event", 3);
  rows.push([
    "Redis round trips per event check (parley, whole run so far)",
    f(m["parley.guard_round_trips_per_check"], 3),
    "",
    "1 (reload)",
    "",
    "",
  ]);
  trio("RSS MiB per 1,000 idle sockets", "rss_mb_per_1000_idle", 2);
  const one = (label: string, value: string) => rows.push([label, value, "", "", "", ""]);
  const ms = (a: string, b: string) => `${f(m[a], 1)} / ${f(m[b], 1)}`;
  for (const size of [2, 50]) {
    const k = `parley.room${size}`;
    one(`message:send, rooms of ${size}: messages/s`, f(m[`${k}.messages_per_s`], 0));
    one(
      `message:send, rooms of ${size}: ack p50 / p99 ms`,
      ms(`${k}.ack_p50_ms`, `${k}.ack_p99_ms`),
    );
    one(
      `message:send, rooms of ${size}: CPU µs, Redis cmds per message`,
      `${f(m[`${k}.cpu_us_per_message`], 0)}, ${f(m[`${k}.redis_cmds_per_message`], 2)}`,
    );
  }
  one(
    "revocation p50 / p99 ms from the logout request's start, same process",
    ms("parley.revocation_same_p50_ms", "parley.revocation_same_p99_ms"),
  );
  one(
    "revocation p50 / p99 ms from the logout request's start, other process",
    ms("parley.revocation_cross_p50_ms", "parley.revocation_cross_p99_ms"),
  );
  one(
    "idle sweep: sessions, Redis commands, CPU ms per sweep",
    `${f(m["parley.sweep_sessions"], 0)}, ${f(m["parley.sweep_redis_cmds"], 0)}, ${f(m["parley.sweep_cpu_ms"], 1)}`,
  );
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [
    line(rows[0] ?? []),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...rows.slice(1).map(line),
  ].join("\n");
}
