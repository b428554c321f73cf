// `npm run bench`: parley against two reference servers (plain Socket.IO, and the
// express-session guide's reload-per-event approach) in one run on one machine. Each server
// is its own process, the load generator another, and a private redis-server is started and
// stopped here. Prints a table with ratios and writes bench/results.json.
//   npm run bench                one run (about 2 minutes)
//   npm run bench -- --runs 3    the median of three runs (what the README shows)
//   npm run bench -- --quick     a short smoke run
import { type ChildProcess, execSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { freePort, startRedisServer } from "../src/redis-server.js";
import { Browser } from "../test/helpers/http.js";
import { commandCalls, cpuSeconds, rssBytes, totalCalls } from "./lib.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const RUNS =
  Number(argv[argv.indexOf("--runs") + 1]) > 0 && argv.includes("--runs")
    ? Number(argv[argv.indexOf("--runs") + 1])
    : 1;
const P = QUICK
  ? {
      hsSeconds: 1,
      evSeconds: 2,
      warmup: 0.5,
      idle: 300,
      rounds: 10,
      msgUsers2: 10,
      msgUsers50: 50,
      perUser: 5,
    }
  : {
      hsSeconds: 4,
      evSeconds: 6,
      warmup: 1,
      idle: 5000,
      rounds: 100,
      msgUsers2: 50,
      msgUsers50: 100,
      perUser: 20,
    };
const PASSWORD = "bench password 123";
const children: ChildProcess[] = [];
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

interface Server {
  name: string;
  url: string;
  pid: number;
  child: ChildProcess;
}

function startServer(
  name: string,
  args: string[],
  env: Record<string, string>,
  readyText: string,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 20 s`)), 20_000);
    const url = `http://127.0.0.1:${env.PORT}`;
    const done = () => {
      clearTimeout(timer);
      child.stdout?.removeAllListeners("data");
      child.stdout?.resume();
      resolve({ name, url, pid: child.pid ?? 0, child });
    };
    if (readyText === "/healthz") {
      child.stdout?.resume();
      const poll = () =>
        fetch(`${url}/healthz`).then(
          (r) => (r.ok ? done() : setTimeout(poll, 100)),
          () => setTimeout(poll, 100),
        );
      poll();
    }
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(readyText)) done();
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

/** Runs one load job in its own process; `onPhase` sees its progress lines. */
function load(job: object, onPhase: (phase: string) => void = () => undefined, keep = false) {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/load.ts", JSON.stringify(job)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  let buf = "";
  const result = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("load job timed out")), 120_000);
    child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as {
          phase?: string;
          result?: unknown;
          error?: string;
        };
        buf = buf.slice(nl + 1);
        if (line.phase) {
          onPhase(line.phase);
          if (keep && line.phase === "connected") {
            clearTimeout(timer);
            resolve(line as Record<string, unknown>);
          }
        }
        if (line.error) reject(new Error(line.error));
        if (line.result) {
          clearTimeout(timer);
          resolve(line.result as Record<string, unknown>);
        }
        nl = buf.indexOf("\n");
      }
    });
  });
  return { child, result };
}

async function main() {
  // Always built from the working tree: a dist/ left from an earlier build would measure
  // old code.
  log("building parley (npm run build)");
  execSync("npm run build --silent", { cwd: ROOT, stdio: "inherit" });
  const redis = await startRedisServer({ appendOnly: false });
  const rc = createClient({ url: redis.url });
  await rc.connect();
  const info = async () => commandCalls(await rc.info("commandstats"));
  try {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "parley-bench-"));
    const parleyEnv = async () => ({
      PORT: String(await freePort()),
      REDIS_URL: redis.url,
      SESSION_SECRET: "bench-session-secret-0123456789abcdef",
      LOG_LEVEL: "warn",
      PARLEY_DATA_DIR: dataDir,
      SESSION_SWEEP_SECONDS: "2",
      METRICS_PORT: String(await freePort()),
      NODE_ENV: "development",
    });
    const p1env = await parleyEnv();
    const servers = {
      plain: await startServer(
        "plain",
        ["--import", "tsx", "bench/servers/plain.ts"],
        { PORT: String(await freePort()) },
        "ready",
      ),
      docs: await startServer(
        "docs",
        ["--import", "tsx", "bench/servers/docs.ts"],
        { PORT: String(await freePort()), REDIS_URL: redis.url },
        "ready",
      ),
      parley: await startServer("parley", ["dist/src/main.js"], p1env, "/healthz"),
    };
    const parley2 = await startServer(
      "parley-2",
      ["dist/src/main.js"],
      await parleyEnv(),
      "/healthz",
    );
    const metricsUrl = `http://127.0.0.1:${p1env.METRICS_PORT}/metrics`;

    // Logins: real registrations for parley, the guide's session login for docs.
    log("creating users");
    const users: { username: string; password: string; cookie: string }[] = [];
    const wanted = P.msgUsers2 + P.msgUsers50;
    const tag = Date.now().toString(36);
    for (let i = 0; i < wanted; i += 8) {
      await Promise.all(
        Array.from({ length: Math.min(8, wanted - i) }, async (_, k) => {
          const b = new Browser(servers.parley.url);
          const username = `bench_${tag}_${i + k}`;
          const res = await b.register(username, PASSWORD);
          if (res.status !== 303) throw new Error(`register answered ${res.status}`);
          users.push({ username, password: PASSWORD, cookie: b.cookieHeader() });
        }),
      );
    }
    const docsCookies: string[] = [];
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${servers.docs.url}/login`, { method: "POST" });
      docsCookies.push((res.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "");
    }
    const cookiesFor = (name: string) =>
      name === "parley"
        ? users.slice(0, 50).map((u) => u.cookie)
        : name === "docs"
          ? docsCookies
          : [""];
    const eventFor = (name: string) => (name === "parley" ? "ping" : "echo");

    const runs: Record<string, number>[] = [];
    for (let r = 0; r < RUNS; r++) {
      log(`run ${r + 1} of ${RUNS}`);
      const row: Record<string, number> = {};
      for (const s of Object.values(servers)) {
        const hs = await load({
          kind: "handshakes",
          url: s.url,
          cookies: cookiesFor(s.name),
          seconds: P.hsSeconds,
          concurrency: 10,
        }).result;
        row[`${s.name}.handshakes_per_s`] = Number(hs.perSecond);
        row[`${s.name}.handshake_p50_ms`] = Number(hs.p50);
        row[`${s.name}.handshake_p99_ms`] = Number(hs.p99);
      }
      for (const s of Object.values(servers)) {
        let cpu0 = 0;
        let cpu1 = 0;
        let calls0 = new Map<string, number>();
        let calls1 = new Map<string, number>();
        const marks: Promise<void>[] = [];
        const ev = await load(
          {
            kind: "events",
            url: s.url,
            cookies: cookiesFor(s.name),
            clients: 50,
            seconds: P.evSeconds,
            warmupSeconds: P.warmup,
            event: eventFor(s.name),
            payload: {},
          },
          (phase) => {
            if (phase === "measuring") {
              cpu0 = cpuSeconds(s.pid);
              marks.push(
                info().then((c) => {
                  calls0 = c;
                }),
              );
            }
            if (phase === "done") {
              cpu1 = cpuSeconds(s.pid);
              marks.push(
                info().then((c) => {
                  calls1 = c;
                }),
              );
            }
          },
        ).result;
        await Promise.all(marks);
        const events = Number(ev.count);
        row[`${s.name}.events_per_s`] = Number(ev.perSecond);
        row[`${s.name}.ack_p50_ms`] = Number(ev.p50);
        row[`${s.name}.ack_p99_ms`] = Number(ev.p99);
        row[`${s.name}.cpu_us_per_event`] = ((cpu1 - cpu0) / events) * 1e6;
        row[`${s.name}.redis_cmds_per_event`] = totalCalls(calls0, calls1, ["info"]) / events;
        row[`${s.name}.event_errors`] = Number(ev.errors);
        if (s.name === "parley") {
          const text = await (await fetch(metricsUrl)).text();
          const num = (name: string) =>
            Number(new RegExp(`^${name} ([\\d.e+-]+)`, "m").exec(text)?.[1] ?? 0);
          row["parley.guard_round_trips_per_check"] =
            num("parley_guard_redis_round_trips_total") / num("parley_guard_checks_total");
        }
      }
      for (const [size, count] of [
        [2, P.msgUsers2],
        [50, P.msgUsers50],
      ] as const) {
        const list =
          size === 2 ? users.slice(0, count) : users.slice(P.msgUsers2, P.msgUsers2 + count);
        const cpu0 = cpuSeconds(servers.parley.pid);
        const c0 = await info();
        // Each user sends at most 20 per 10 s (parley's limit): the phase waits it out.
        const m = await load({
          kind: "messages",
          url: servers.parley.url,
          cookies: list.map((u) => u.cookie),
          roomSize: size,
          perUser: P.perUser,
        }).result;
        const c1 = await info();
        const sent = Number(m.count);
        row[`parley.room${size}.messages_per_s`] = Number(m.perSecond);
        row[`parley.room${size}.ack_p50_ms`] = Number(m.p50);
        row[`parley.room${size}.ack_p99_ms`] = Number(m.p99);
        row[`parley.room${size}.cpu_us_per_message`] =
          ((cpuSeconds(servers.parley.pid) - cpu0) / sent) * 1e6;
        row[`parley.room${size}.redis_cmds_per_message`] = totalCalls(c0, c1, ["info"]) / sent;
        row[`parley.room${size}.errors`] = Number(m.errors);
        await new Promise((res) => setTimeout(res, QUICK ? 0 : 10_500)); // let the send limit reset
      }
      for (const s of Object.values(servers)) {
        const before = rssBytes(s.pid);
        const idle = load(
          { kind: "idle", url: s.url, cookies: cookiesFor(s.name), count: P.idle },
          () => undefined,
          true,
        );
        await idle.result;
        await new Promise((res) => setTimeout(res, 1000));
        row[`${s.name}.rss_mb_per_1000_idle`] =
          (((rssBytes(s.pid) - before) / P.idle) * 1000) / 2 ** 20;
        if (s.name === "parley") {
          const text0 = await (await fetch(metricsUrl)).text();
          const c0 = await info();
          await new Promise((res) => setTimeout(res, 4500));
          const text1 = await (await fetch(metricsUrl)).text();
          const c1 = await info();
          const num = (t: string, name: string) =>
            Number(new RegExp(`^${name} ([\\d.e+-]+)`, "m").exec(t)?.[1] ?? 0);
          const sweeps = num(text1, "parley_sweeps_total") - num(text0, "parley_sweeps_total");
          row["parley.sweep_sessions"] =
            (num(text1, "parley_sweep_sessions_total") -
              num(text0, "parley_sweep_sessions_total")) /
            sweeps;
          row["parley.sweep_redis_cmds"] =
            ((c1.get("exists") ?? 0) - (c0.get("exists") ?? 0)) / sweeps;
          row["parley.sweep_cpu_ms"] =
            ((num(text1, "parley_sweep_cpu_seconds_total") -
              num(text0, "parley_sweep_cpu_seconds_total")) /
              sweeps) *
            1000;
        }
        idle.child.kill("SIGKILL");
        await new Promise((res) => setTimeout(res, 1500));
      }
      const rev = await load({
        kind: "revocation",
        login: servers.parley.url,
        targets: [servers.parley.url, parley2.url],
        users: users.slice(0, 10).map(({ username, password }) => ({ username, password })),
        rounds: P.rounds,
      }).result;
      const same = rev[servers.parley.url] as { p50: number; p99: number };
      const cross = rev[parley2.url] as { p50: number; p99: number };
      row["parley.revocation_same_p50_ms"] = same.p50;
      row["parley.revocation_same_p99_ms"] = same.p99;
      row["parley.revocation_cross_p50_ms"] = cross.p50;
      row["parley.revocation_cross_p99_ms"] = cross.p99;
      runs.push(row);
    }

    const median: Record<string, number> = {};
    for (const key of Object.keys(runs[0] ?? {})) {
      const v = runs.map((x) => x[key] ?? Number.NaN).sort((a, b) => a - b);
      median[key] = v[Math.floor(v.length / 2)] ?? Number.NaN;
    }
    const table = render(median);
    process.stdout.write(`${table}\n`);
    const machine = {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? "unknown",
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      date: new Date().toISOString(),
      runs: RUNS,
      quick: QUICK,
    };
    writeFileSync(
      path.join(ROOT, "bench/results.json"),
      `${JSON.stringify({ machine, median, runs, table }, null, 2)}\n`,
    );
    log(`wrote bench/results.json (${RUNS} run(s), median)`);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    await rc.close().catch(() => undefined);
    await redis.stop();
  }
}

function render(m: Record<string, number>): string {
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
    "revocation p50 / p99 ms, same process",
    ms("parley.revocation_same_p50_ms", "parley.revocation_same_p99_ms"),
  );
  one(
    "revocation p50 / p99 ms, other process",
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

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
