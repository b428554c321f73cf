// The benchmark's report: the median of several runs, the targets table (each of parley's
// figures against its reference in the same run, and the target it is held to) and the
// details table (every figure of every server).
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

const f = (v: number | undefined, d = 1) =>
  v === undefined || Number.isNaN(v) || !Number.isFinite(v) ? "–" : v.toFixed(d);

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [
    line(rows[0] ?? []),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...rows.slice(1).map(line),
  ].join("\n");
}

/** One target: parley's figure, its reference's, and whether the target is met. */
interface Target {
  figure: string;
  parley: string;
  reference?: string;
  /** "ratio-min": parley/ref ≥ bound; "ratio-max": ≤ bound; "max": parley ≤ bound; "plus": parley - ref ≤ bound. */
  kind: "ratio-min" | "ratio-max" | "max" | "plus";
  bound: number;
  digits?: number;
}

const TARGETS: readonly Target[] = [
  {
    figure: "ping events/s",
    parley: "parley.ping_per_s",
    reference: "plain.ping_per_s",
    kind: "ratio-min",
    bound: 0.95,
    digits: 0,
  },
  {
    figure: "ping ack p99 ms",
    parley: "parley.ping_p99_ms",
    reference: "plain.ping_p99_ms",
    kind: "ratio-max",
    bound: 1.1,
    digits: 2,
  },
  {
    figure: "message:history {limit:1} events/s",
    parley: "parley.history_per_s",
    reference: "unguarded.history_per_s",
    kind: "ratio-min",
    bound: 0.95,
    digits: 0,
  },
  {
    figure: "message:history ack p99 ms",
    parley: "parley.history_p99_ms",
    reference: "unguarded.history_p99_ms",
    kind: "ratio-max",
    bound: 1.1,
    digits: 2,
  },
  {
    figure: "message:send events/s (10 rooms)",
    parley: "parley.send_per_s",
    reference: "unguarded.send_per_s",
    kind: "ratio-min",
    bound: 0.9,
    digits: 0,
  },
  {
    figure: "message:send ack p99 ms",
    parley: "parley.send_p99_ms",
    reference: "unguarded.send_p99_ms",
    kind: "ratio-max",
    bound: 1.1,
    digits: 2,
  },
  {
    figure: "message:send Redis commands per message (rooms of 2)",
    parley: "parley.room2.redis_cmds_per_message",
    reference: "unguarded.room2.redis_cmds_per_message",
    kind: "max",
    bound: 3,
    digits: 2,
  },
  {
    figure: "message:send server CPU µs per message (rooms of 2)",
    parley: "parley.room2.cpu_us_per_message",
    reference: "unguarded.room2.cpu_us_per_message",
    kind: "max",
    bound: 245,
    digits: 0,
  },
  {
    figure: "authenticated handshakes/s",
    parley: "parley.handshakes_per_s",
    reference: "unguarded.handshakes_per_s",
    kind: "ratio-min",
    bound: 0.9,
    digits: 0,
  },
  {
    figure: "handshake p99 ms",
    parley: "parley.handshake_p99_ms",
    reference: "unguarded.handshake_p99_ms",
    kind: "ratio-max",
    bound: 1.1,
    digits: 2,
  },
  {
    figure: "fan-out deliveries/s (1 room, 2 processes)",
    parley: "parley.fanout_deliveries_per_s",
    reference: "unguarded.fanout_deliveries_per_s",
    kind: "ratio-min",
    bound: 0.95,
    digits: 0,
  },
  {
    figure: "fan-out delivery p99 ms",
    parley: "parley.fanout_p99_ms",
    reference: "unguarded.fanout_p99_ms",
    kind: "ratio-max",
    bound: 1.1,
    digits: 1,
  },
  {
    figure: "idle RSS KiB per socket",
    parley: "parley.idle_rss_kib_per_socket",
    reference: "plain.idle_rss_kib_per_socket",
    kind: "plus",
    bound: 1,
    digits: 2,
  },
  {
    figure: "expiry sweep, % of one core",
    parley: "parley.sweep_core_pct",
    kind: "max",
    bound: 2,
    digits: 2,
  },
  {
    figure: "normal clients' ack p99 ms beside one hostile account at its budgets",
    parley: "parley.abuse_hostile_p99_ms",
    reference: "parley.abuse_alone_p99_ms",
    kind: "ratio-max",
    bound: 1.5,
    digits: 2,
  },
  {
    figure: "message:search p99 ms (1,000,000 messages; reference: the same SQL alone)",
    parley: "parley.search_p99_ms",
    reference: "sql.search_p99_ms",
    kind: "max",
    bound: 100,
    digits: 1,
  },
  {
    figure: "archive lag p99 s (Redis to PostgreSQL, the whole run)",
    parley: "parley.archive_lag_p99_s",
    kind: "max",
    bound: 1,
    digits: 2,
  },
  {
    figure: "revocation of one login's sockets over 2 processes, p99 ms",
    parley: "parley.revocation_many_p99_ms",
    kind: "max",
    bound: 100,
    digits: 1,
  },
];

const boundText = (t: Target) =>
  t.kind === "ratio-min"
    ? `≥ ${t.bound}×`
    : t.kind === "ratio-max"
      ? `≤ ${t.bound}×`
      : t.kind === "plus"
        ? `≤ reference + ${t.bound}`
        : `≤ ${t.bound}`;

/** The targets table: figure, parley, reference, parley/reference, target, met. */
export function renderTargets(m: Row): string {
  const rows = [["figure", "parley", "reference", "parley/reference", "target", "met"]];
  for (const t of TARGETS) {
    const p = m[t.parley];
    const r = t.reference ? m[t.reference] : undefined;
    const ratio = p !== undefined && r !== undefined && r ? p / r : undefined;
    const met =
      p === undefined || Number.isNaN(p)
        ? undefined
        : t.kind === "ratio-min"
          ? ratio !== undefined && ratio >= t.bound
          : t.kind === "ratio-max"
            ? ratio !== undefined && ratio <= t.bound
            : t.kind === "plus"
              ? r !== undefined && p - r <= t.bound
              : p <= t.bound;
    const refName = t.reference?.includes("alone")
      ? "alone "
      : t.reference
        ? `${t.reference.split(".")[0]} `
        : "";
    rows.push([
      t.figure,
      f(p, t.digits),
      t.reference ? `${refName}${f(r, t.digits)}` : "–",
      ratio === undefined ? "–" : `${ratio.toFixed(2)}×`,
      boundText(t),
      met === undefined ? "–" : met ? "yes" : "no",
    ]);
  }
  return table(rows);
}

/** The details table: every figure by server. */
export function renderDetails(m: Row): string {
  const servers = ["parley", "unguarded", "plain", "docs"];
  const rows: string[][] = [["figure", ...servers]];
  const add = (label: string, key: string, d = 1) => {
    if (servers.every((s) => m[`${s}.${key}`] === undefined)) return;
    rows.push([label, ...servers.map((s) => f(m[`${s}.${key}`], d))]);
  };
  add("authenticated handshakes/s (websocket, 10 at a time)", "handshakes_per_s", 0);
  add("handshake p50 ms", "handshake_p50_ms", 2);
  add("handshake p99 ms", "handshake_p99_ms", 2);
  for (const [name, label] of [
    ["ping", "ping / echo"],
    ["history", "message:history {limit:1}"],
    ["send", "message:send, 10 rooms"],
  ] as const) {
    add(`${label}: acked events/s (50 clients)`, `${name}_per_s`, 0);
    add(`${label}: ack p50 ms`, `${name}_p50_ms`, 2);
    add(`${label}: ack p99 ms`, `${name}_p99_ms`, 2);
    add(`${label}: server CPU µs per event`, `${name}_cpu_us`, 1);
    add(`${label}: Redis commands per event`, `${name}_redis_cmds`, 3);
  }
  rows.push([
    "Redis round trips per event check (parley, whole run so far)",
    f(m["parley.guard_round_trips_per_check"], 3),
    "0",
    "0",
    "1 (reload)",
  ]);
  for (const size of [2, 50]) {
    const k = `room${size}`;
    add(`message:send, rooms of ${size}: messages/s`, `${k}.messages_per_s`, 0);
    add(`message:send, rooms of ${size}: ack p99 ms`, `${k}.ack_p99_ms`, 2);
    add(`message:send, rooms of ${size}: CPU µs per message`, `${k}.cpu_us_per_message`, 0);
    add(
      `message:send, rooms of ${size}: Redis commands per message`,
      `${k}.redis_cmds_per_message`,
      2,
    );
  }
  add("fan-out: deliveries/s", "fanout_deliveries_per_s", 0);
  add("fan-out: delivery p50 ms", "fanout_p50_ms", 1);
  add("fan-out: delivery p99 ms", "fanout_p99_ms", 1);
  add("fan-out: CPU µs per delivery (both processes)", "fanout_cpu_us_per_delivery", 2);
  add("idle: RSS KiB per socket", "idle_rss_kib_per_socket", 2);
  add("abuse: normal history acks/s, alone", "abuse_alone_per_s", 0);
  add("abuse: normal history acks/s, beside the hostile account", "abuse_hostile_per_s", 0);
  add("abuse: normal ack p99 ms, alone", "abuse_alone_p99_ms", 2);
  add("abuse: normal ack p99 ms, beside the hostile account", "abuse_hostile_p99_ms", 2);
  add("abuse: the hostile account's events", "abuse_hostile_events", 0);
  add("abuse: the hostile account's events refused", "abuse_hostile_refused", 0);
  const one = (label: string, value: string) => rows.push([label, value, "", "", ""]);
  const ms = (a: string, b: string) => `${f(m[a], 1)} / ${f(m[b], 1)}`;
  one(
    "idle sweep: sessions, round trips, keys checked, CPU ms per sweep",
    `${f(m["parley.sweep_sessions"], 0)}, ${f(m["parley.sweep_round_trips"], 0)}, ${f(m["parley.sweep_redis_cmds"], 0)}, ${f(m["parley.sweep_cpu_ms"], 1)}`,
  );
  one(
    "message:search p50 / p99 ms, parley / plain SQL",
    `${ms("parley.search_p50_ms", "parley.search_p99_ms")} / ${ms("sql.search_p50_ms", "sql.search_p99_ms")}`,
  );
  one(
    "files, 20 clients × 1 MB: upload MB/s and p99 ms, parley / static server",
    `${f(m["parley.upload_mb_per_s"], 0)}, ${f(m["parley.upload_p99_ms"], 1)} / ${f(m["static.upload_mb_per_s"], 0)}, ${f(m["static.upload_p99_ms"], 1)}`,
  );
  one(
    "files, 20 clients × 1 MB: download MB/s and p99 ms, parley / static server",
    `${f(m["parley.download_mb_per_s"], 0)}, ${f(m["parley.download_p99_ms"], 1)} / ${f(m["static.download_mb_per_s"], 0)}, ${f(m["static.download_p99_ms"], 1)}`,
  );
  one(
    "files: server CPU µs per 1 MB download, parley (checked) / static server (no check)",
    `${f(m["parley.cpu_us_per_download"], 0)} / ${f(m["static.cpu_us_per_download"], 0)}`,
  );
  one(
    "files: a checked request alone (HEAD): server CPU µs, p99 ms; /healthz's CPU µs",
    `${f(m["parley.cpu_us_per_check"], 0)}, ${f(m["parley.check_p99_ms"], 1)}; ${f(m["parley.cpu_us_per_healthz"], 0)}`,
  );
  one(
    "archive: messages read for PostgreSQL, lag p99 s (bucket)",
    `${f(m["parley.archived_messages"], 0)}, ${f(m["parley.archive_lag_p99_s"], 2)}`,
  );
  one(
    "revocation p50 / p99 ms, one socket, same process",
    ms("parley.revocation_same_p50_ms", "parley.revocation_same_p99_ms"),
  );
  one(
    "revocation p50 / p99 ms, one socket, other process",
    ms("parley.revocation_cross_p50_ms", "parley.revocation_cross_p99_ms"),
  );
  one(
    "revocation p50 / p99 ms, one login's sockets over 2 processes",
    ms("parley.revocation_many_p50_ms", "parley.revocation_many_p99_ms"),
  );
  return table(rows);
}

export function render(m: Row): string {
  return `${renderTargets(m)}\n\n${renderDetails(m)}`;
}
