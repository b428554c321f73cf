// `npm run bench:profile [files…]`: what the profiles `npm run bench -- --profile` wrote to
// bench/profiles/ say, in text:
// - a .cpuprofile: the functions with the most self time (where the CPU went), and the share
//   under each of parley's own modules (self time inside dist/src/, by file);
// - a .heapsnapshot: retained memory by object kind (constructor name), largest first.
// With no arguments, reads the newest .cpuprofile and .heapsnapshot there.
// `--diff a.heapsnapshot b.heapsnapshot [--per N]`: what b holds beyond a, per unit.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./harness.js";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const TOP = 25;

function short(url: string): string {
  const i = url.indexOf("node_modules/");
  if (i >= 0) return url.slice(i + "node_modules/".length);
  const d = url.indexOf("/dist/");
  if (d >= 0) return url.slice(d + 1);
  return url.replace(/^file:\/\//, "") || "(native)";
}

function pct(part: number, whole: number): string {
  return `${((part / whole) * 100).toFixed(1).padStart(5)}%`;
}

function cpu(file: string): void {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i] ?? -1);
    const dt = p.timeDeltas[i] ?? 0;
    if (!node) continue;
    const f = node.callFrame;
    if (f.functionName === "(idle)") {
      idle += dt;
      continue;
    }
    total += dt;
    const key = `${f.functionName || "(anonymous)"}  ${short(f.url)}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const url = short(f.url);
    const pkg = url.startsWith("dist/")
      ? url
      : url.startsWith("(")
        ? f.functionName.startsWith("(")
          ? f.functionName
          : "(native)"
        : url.startsWith("node:")
          ? "node core"
          : ((url.split("/")[0]?.startsWith("@")
              ? url.split("/").slice(0, 2).join("/")
              : url.split("/")[0]) ?? url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + dt);
  }
  process.stdout.write(
    `\n${path.basename(file)}: ${(total / 1e6).toFixed(2)} s busy, ${(idle / 1e6).toFixed(2)} s idle\n`,
  );
  process.stdout.write(`\nself time by function (top ${TOP})\n`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP))
    process.stdout.write(`${pct(v, total)}  ${k}\n`);
  process.stdout.write("\nself time by package or parley module\n");
  for (const [k, v] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, TOP))
    process.stdout.write(`${pct(v, total)}  ${k}\n`);
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] }; node_count: number };
  nodes: number[];
  strings: string[];
}

/** Self size and count of a heap snapshot's objects, by constructor name (or kind). */
function heapByKind(file: string): {
  total: number;
  kinds: Map<string, { size: number; count: number }>;
} {
  const h = JSON.parse(readFileSync(file, "utf8")) as HeapSnapshot;
  const fields = h.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const types = h.snapshot.meta.node_types[0];
  const kinds = new Map<string, { size: number; count: number }>();
  let total = 0;
  for (let i = 0; i < h.nodes.length; i += width) {
    const type = types[h.nodes[i + typeAt] ?? 0] ?? "?";
    const name =
      type === "object" || type === "closure" ? h.strings[h.nodes[i + nameAt] ?? 0] : `(${type})`;
    const size = h.nodes[i + sizeAt] ?? 0;
    total += size;
    const key = type === "closure" ? `closure ${name}` : (name ?? "?");
    const e = kinds.get(key) ?? { size: 0, count: 0 };
    e.size += size;
    e.count++;
    kinds.set(key, e);
  }
  return { total, kinds };
}

function heap(file: string): void {
  const { total, kinds } = heapByKind(file);
  process.stdout.write(
    `\n${path.basename(file)}: ${(total / 2 ** 20).toFixed(1)} MiB of objects (self sizes)\n`,
  );
  process.stdout.write(`\nself size by constructor (top ${TOP})\n`);
  for (const [k, v] of [...kinds].sort((a, b) => b[1].size - a[1].size).slice(0, TOP))
    process.stdout.write(
      `${pct(v.size, total)}  ${(v.size / 1024).toFixed(0).padStart(8)} KiB  ${String(v.count).padStart(8)}×  ${k}\n`,
    );
}

/**
 * `--diff a.heapsnapshot b.heapsnapshot --per 10000`: what b holds more than a, by
 * constructor, in bytes and objects per unit (per socket, for the idle scenario's pair).
 */
function heapDiff(a: string, b: string, per: number): void {
  const x = heapByKind(a);
  const y = heapByKind(b);
  const names = new Set([...x.kinds.keys(), ...y.kinds.keys()]);
  const rows = [...names].map((k) => {
    const p = x.kinds.get(k) ?? { size: 0, count: 0 };
    const q = y.kinds.get(k) ?? { size: 0, count: 0 };
    return { k, size: q.size - p.size, count: q.count - p.count };
  });
  process.stdout.write(
    `\n${path.basename(b)} minus ${path.basename(a)}: ${((y.total - x.total) / per).toFixed(0)} bytes per unit (${per} units)\n\n`,
  );
  for (const r of rows.sort((m, n) => Math.abs(n.size) - Math.abs(m.size)).slice(0, TOP))
    process.stdout.write(
      `${(r.size / per).toFixed(1).padStart(9)} B  ${(r.count / per).toFixed(2).padStart(7)}×  ${r.k}\n`,
    );
}

function newest(ext: string): string | undefined {
  const dir = path.join(ROOT, "bench/profiles");
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(ext));
  } catch {
    return undefined;
  }
  return files
    .map((f) => path.join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

const argv = process.argv.slice(2);
if (argv[0] === "--diff") {
  const per = Number(argv[3] === "--per" ? argv[4] : 1) || 1;
  heapDiff(argv[1] ?? "", argv[2] ?? "", per);
  process.exit(0);
}
const files = argv;
if (files.length === 0) {
  for (const f of [newest(".cpuprofile"), newest(".heapsnapshot")]) if (f) files.push(f);
  if (files.length === 0) {
    process.stderr.write("no profiles in bench/profiles/: run `npm run bench -- --profile`\n");
    process.exit(1);
  }
}
for (const f of files) (f.endsWith(".heapsnapshot") ? heap : cpu)(f);
