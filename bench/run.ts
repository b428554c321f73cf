// `npm run bench`: parley against its reference servers in one run on one machine: plain
// Socket.IO, the express-session guide's reload-per-event approach, and the unguarded server
// (parley's own handlers with no per-event check). Each server
// is its own process, the load generator another, and a private redis-server is started and
// stopped here. Each scenario is a module of bench/scenarios/; prints a table with ratios and
// writes bench/results.json.
//   npm run bench                one run (about 2 minutes)
//   npm run bench -- --runs 3    the median of three runs (what the README shows)
//   npm run bench -- --quick     parley/reference for every scenario in about a minute
//   npm run bench -- --only events,send       only these scenarios (abuse: one hostile
//                                account at its budgets beside 50 normal clients)
//   npm run bench -- --profile   parley's processes write .cpuprofile files to bench/profiles/
//                                (and, in the idle scenario, parley and plain Socket.IO write
//                                heap snapshots with the sockets connected);
//                                `npm run bench:profile` summarises them
import { execSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "redis";
import { startPostgresServer } from "../src/db/server.js";
import { freePort, startRedisServer } from "../src/redis/server.js";
import { keys } from "../src/stores/keys.js";
import { Browser } from "../tools/form-client.js";
import {
  type Bench,
  log,
  ROOT,
  type Row,
  redisCallsOf,
  type Sizes,
  startServer,
  stopChildren,
  stopProcesses,
  type User,
} from "./harness.js";
import { signSid, unsignSid } from "./lib.js";
import { median, render } from "./report.js";
import { abuse } from "./scenarios/abuse.js";
import { events, history, send } from "./scenarios/events.js";
import { fanout } from "./scenarios/fanout.js";
import { files } from "./scenarios/files.js";
import { handshakes } from "./scenarios/handshakes.js";
import { idle } from "./scenarios/idle.js";
import { messages } from "./scenarios/messages.js";
import { revocation } from "./scenarios/revocation.js";
import { search } from "./scenarios/search.js";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string", default: "1" },
    sockets: { type: "string" },
    only: { type: "string" },
    profile: { type: "boolean", default: false },
  },
});
const RUNS = Math.max(1, Number.parseInt(args.runs ?? "1", 10) || 1);
const SIZES: Sizes = args.quick
  ? {
      hsSeconds: 0.5,
      evSeconds: 1,
      warmup: 0.3,
      idle: 500,
      rounds: 3,
      msgUsers2: 10,
      msgUsers50: 50,
      perUser: 5,
      fanoutSockets: 200,
      revokeSockets: 200,
      quick: true,
      profile: args.profile ?? false,
    }
  : {
      hsSeconds: 4,
      evSeconds: 6,
      warmup: 1,
      idle: 10_000,
      rounds: 100,
      msgUsers2: 50,
      msgUsers50: 100,
      perUser: 20,
      fanoutSockets: 1000,
      revokeSockets: 1000,
      quick: false,
      profile: args.profile ?? false,
    };
if (args.sockets) SIZES.idle = Math.max(100, Number.parseInt(args.sockets, 10) || SIZES.idle);
/** The scenarios, in the order each run measures them. */
const ALL = [
  handshakes,
  events,
  history,
  send,
  messages,
  fanout,
  idle,
  revocation,
  abuse,
  search,
  files,
];
const only = args.only?.split(",").map((s) => s.trim());
const SCENARIOS = only ? ALL.filter((s) => only.includes(s.name)) : ALL;
if (only && SCENARIOS.length !== only.length)
  throw new Error(`--only takes scenario names: ${ALL.map((s) => s.name).join(", ")}`);
/** With --profile, parley's processes write CPU profiles (and heap snapshots on SIGUSR2). */
const PROFILE_DIR = path.join(ROOT, "bench/profiles");
const parleyArgs = args.profile
  ? [
      "--cpu-prof",
      `--diagnostic-dir=${PROFILE_DIR}`,
      "--heapsnapshot-signal=SIGUSR2",
      "dist/src/main.js",
    ]
  : ["dist/src/main.js"];
const PASSWORD = "bench password 123";
const SECRET = "bench-session-secret-0123456789abcdef";

for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

/** Registers `count` parley users through the form, 8 at a time. */
async function register(url: string, count: number): Promise<User[]> {
  const users: User[] = [];
  const tag = Date.now().toString(36);
  for (let i = 0; i < count; i += 8) {
    await Promise.all(
      Array.from({ length: Math.min(8, count - i) }, async (_, k) => {
        const b = new Browser(url);
        const username = `bench_${tag}_${i + k}`;
        const res = await b.register(username, PASSWORD);
        if (res.status !== 303) throw new Error(`register answered ${res.status}`);
        users.push({ username, password: PASSWORD, cookie: b.cookieHeader() });
      }),
    );
  }
  return users;
}

/**
 * Cookies of `n` logins: copies of the login behind `cookie` under fresh session ids, each
 * with the original's TTL (as if `n` people had logged in; made in Redis, not through argon2).
 */
async function copyLogin(
  rc: ReturnType<typeof createClient>,
  cookie: string,
  n: number,
): Promise<string[]> {
  const value = /(?:^|;\s*)parley\.sid=([^;]+)/.exec(cookie)?.[1] ?? "";
  const sid = unsignSid(value, SECRET);
  if (!sid) throw new Error("cannot read the bench login's session id");
  const [raw, ttl] = await Promise.all([rc.get(keys.session(sid)), rc.pTTL(keys.session(sid))]);
  if (!raw || ttl <= 0) throw new Error("the bench login's session is gone");
  const cookies: string[] = [];
  for (let i = 0; i < n; i += 1000) {
    const multi = rc.multi();
    for (let k = i; k < Math.min(n, i + 1000); k++) {
      const id = randomBytes(24).toString("base64url");
      multi.set(keys.session(id), raw, { PX: ttl });
      cookies.push(`parley.sid=${signSid(id, SECRET)}`);
    }
    await multi.exec();
  }
  return cookies;
}

async function main() {
  // Always built from the working tree: a dist/ left from an earlier build would measure
  // old code.
  if (args.profile) mkdirSync(PROFILE_DIR, { recursive: true });
  log("building parley (npm run build)");
  execSync("npm run build --silent", { cwd: ROOT, stdio: "inherit" });
  const redis = await startRedisServer({ appendOnly: false });
  const pgDir = mkdtempSync(path.join(os.tmpdir(), "parley-bench-pg-"));
  const postgres = await startPostgresServer({ dir: path.join(pgDir, "postgres"), fast: true });
  const rc = createClient({ url: redis.url });
  await rc.connect();
  try {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "parley-bench-"));
    const parleyEnv = async () => ({
      PORT: String(await freePort()),
      REDIS_URL: redis.url,
      DATABASE_URL: postgres.url,
      SESSION_SECRET: SECRET,
      LOG_LEVEL: "warn",
      PARLEY_DATA_DIR: dataDir,
      SESSION_SWEEP_SECONDS: "2",
      METRICS_PORT: String(await freePort()),
      NODE_ENV: "development",
      // The per-user budgets would cap a load from 50 users long before the checks do.
      PARLEY_BENCH_BUDGET_SCALE: "1000",
      // The bench registers its thousands of users from one address.
      REGISTRATIONS_PER_ADDRESS: "0",
    });
    const unguardedEnv = async () => ({
      PORT: String(await freePort()),
      REDIS_URL: redis.url,
      DATABASE_URL: postgres.url,
      SESSION_SECRET: SECRET,
    });
    const unguarded = ["--import", "tsx", "bench/servers/unguarded.ts"];
    const plainArgs = [
      ...(args.profile ? [`--diagnostic-dir=${PROFILE_DIR}`, "--heapsnapshot-signal=SIGUSR2"] : []),
      "--import",
      "tsx",
      "bench/servers/plain.ts",
    ];
    const startParley = async (name: string) => {
      const env = await parleyEnv();
      const server = await startServer(name, parleyArgs, env, "/healthz");
      const metricsUrl = `http://127.0.0.1:${env.METRICS_PORT}/metrics`;
      return { server, metricsText: async () => (await fetch(metricsUrl)).text() };
    };
    // Every run starts its servers afresh (one run's leftovers, such as a server's grown
    // heap, do not weigh on the next), on the same Redis and users.
    const startAll = async () => {
      const p1 = await startParley("parley");
      const servers = {
        plain: await startServer("plain", plainArgs, { PORT: String(await freePort()) }, "ready"),
        docs: await startServer(
          "docs",
          ["--import", "tsx", "bench/servers/docs.ts"],
          { PORT: String(await freePort()), REDIS_URL: redis.url },
          "ready",
        ),
        unguarded: await startServer("unguarded", unguarded, await unguardedEnv(), "ready"),
        parley: p1.server,
      };
      const unguarded2 = await startServer("unguarded-2", unguarded, await unguardedEnv(), "ready");
      const parley2 = (await startParley("parley-2")).server;
      return { servers, unguarded2, parley2, metricsText: p1.metricsText };
    };

    let set = await startAll();
    // Logins: real registrations for parley, the guide's session login for docs (its records
    // are in the same Redis, so they outlive a restart of its server).
    log("creating users");
    const users = await register(set.servers.parley.url, SIZES.msgUsers2 + SIZES.msgUsers50);
    // Copies of the login of a user who never joins a room (handshakes, idle sockets).
    const [roomless] = await register(set.servers.parley.url, 1);
    const docsCookies: string[] = [];
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${set.servers.docs.url}/login`, { method: "POST" });
      docsCookies.push((res.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "");
    }

    const runs: Row[] = [];
    for (let r = 0; r < RUNS; r++) {
      log(`run ${r + 1} of ${RUNS}`);
      if (r > 0) set = await startAll();
      const current = set;
      const bench: Bench = {
        sizes: SIZES,
        servers: current.servers,
        parley2: current.parley2,
        unguarded2: current.unguarded2,
        users,
        manyLogins: (n) => copyLogin(rc, roomless?.cookie ?? "", n),
        fresh: async (kind) => {
          const started =
            kind === "parley"
              ? await startParley(`fresh-${kind}`)
              : {
                  server: await startServer(
                    `fresh-${kind}`,
                    plainArgs,
                    { PORT: String(await freePort()) },
                    "ready",
                  ),
                  metricsText: async () => "",
                };
          return { ...started, stop: () => stopProcesses([started.server.child]) };
        },
        cookiesFor: (name) =>
          name === "parley" || name === "unguarded"
            ? users.slice(0, 50).map((u) => u.cookie)
            : name === "docs"
              ? docsCookies
              : [""],
        redisCalls: redisCallsOf(rc),
        redis: rc,
        metricsText: current.metricsText,
        databaseUrl: postgres.url,
      };
      const row: Row = {};
      for (const scenario of SCENARIOS) {
        log(`  ${scenario.name}`);
        await scenario(bench, row);
      }
      runs.push(row);
      await stopProcesses([
        ...Object.values(current.servers).map((x) => x.child),
        current.parley2.child,
        current.unguarded2.child,
      ]);
    }

    const figures = median(runs);
    const table = render(figures);
    process.stdout.write(`${table}\n`);
    const machine = {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? "unknown",
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      date: new Date().toISOString(),
      runs: RUNS,
      quick: SIZES.quick,
    };
    writeFileSync(
      path.join(ROOT, "bench/results.json"),
      `${JSON.stringify({ machine, median: figures, runs, table }, null, 2)}\n`,
    );
    log(`wrote bench/results.json (${RUNS} run(s), median)`);
  } finally {
    await stopChildren();
    await rc.close().catch(() => undefined);
    await redis.stop();
    await postgres.stop();
    rmSync(pgDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
