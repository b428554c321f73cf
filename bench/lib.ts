// Shared bench helpers: percentiles, per-process CPU and memory from /proc, Redis command
// counts from INFO commandstats.
import { readFileSync } from "node:fs";

export { signSid, unsignSid } from "../tools/session-cookie.js";

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export function summarize(latenciesMs: number[]) {
  const s = [...latenciesMs].sort((a, b) => a - b);
  return { count: s.length, p50: percentile(s, 50), p99: percentile(s, 99) };
}

const TICK_SECONDS = 1 / 100; // getconf CLK_TCK on Linux

/** User + system CPU seconds a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_SECONDS;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

/** Total calls per Redis command from `INFO commandstats` text. */
export function commandCalls(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls.set(m[1] ?? "", Number(m[2]));
  }
  return calls;
}

export function totalCalls(
  before: Map<string, number>,
  after: Map<string, number>,
  ignore: string[] = [],
): number {
  let total = 0;
  for (const [cmd, n] of after) if (!ignore.includes(cmd)) total += n - (before.get(cmd) ?? 0);
  return total;
}
