// `npm test`'s mocha run (and with --quick, `npm run test:quick`'s): the suite as two mocha
// processes at once, each with its own
// private redis-server (test/helpers/global.ts), so nothing one half does to its Redis (a
// flush, a hang, a restart) reaches the other. Most tests wait on time (deadlines, timers,
// Chromium), not the CPU, so two halves take little more than the longer one. Each half's
// report is printed whole when it ends; the run fails if either half fails.
// `npx mocha` (the .mocharc.json) still runs the whole suite in one process. --quick runs the
// inner loop: unit, stores and HTTP in one half, the socket layer (no fault tests) in the other.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const mocha = path.join(root, "node_modules", "mocha", "bin", "mocha.js");

const quick = process.argv.includes("--quick");
const halves = quick
  ? [
      { name: "unit, stores and HTTP", config: "test/mocharc.quick.json" },
      { name: "the socket layer", config: "test/mocharc.quick-sockets.json" },
    ]
  : [
      {
        name: "the pages in Chromium, and parley as processes",
        config: "test/mocharc.split-e2e.json",
      },
      { name: "everything else", config: "test/mocharc.split-rest.json" },
    ];
const passOn = process.argv.slice(2).filter((a) => a !== "--quick");
// A half that has not ended by then is stopped, with everything it started, and fails: CI
// must end with an answer, never wait (the whole suite takes about 4 minutes here).
const CEILING_MS = 20 * 60_000;
// A half's mocha exits when its run is over; whatever it started and left behind (a browser,
// a server) would keep its output open. Those are stopped too, and the half fails.
const LEFTOVER_MS = 10_000;
const groups = new Set();
const stopGroup = (pid) => {
  try {
    process.kill(-pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
};
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    for (const pid of groups) stopGroup(pid);
    process.exit(1);
  });
}

const started = Date.now();
const runs = halves.map(
  (half) =>
    new Promise((resolve) => {
      const out = [];
      const child = spawn(
        process.execPath,
        [
          mocha,
          "--config",
          half.config,
          ...(process.stdout.isTTY ? ["--color"] : ["--no-color"]),
          ...passOn,
        ],
        {
          cwd: root,
          env: process.env,
          stdio: ["ignore", "pipe", "pipe"],
          // Its own process group, so that it can be stopped with all it started.
          detached: true,
        },
      );
      groups.add(child.pid);
      let why = "";
      const ceiling = setTimeout(() => {
        why = `still running after ${CEILING_MS / 60_000} min: stopped`;
        stopGroup(child.pid);
      }, CEILING_MS);
      child.stdout.on("data", (b) => out.push(b));
      child.stderr.on("data", (b) => out.push(b));
      child.on("exit", () => {
        clearTimeout(ceiling);
        setTimeout(() => {
          if (stopGroup(child.pid)) why ||= "left processes running after it ended: stopped";
        }, LEFTOVER_MS).unref();
      });
      child.on("close", (code, signal) => {
        groups.delete(child.pid);
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        const passed = code === 0 && !why;
        process.stdout.write(
          `\n===== ${half.name} (${half.config}): ${passed ? "passed" : `FAILED (${why || signal || code})`} after ${seconds} s =====\n`,
        );
        process.stdout.write(Buffer.concat(out));
        resolve(passed);
      });
    }),
);
process.stdout.write(
  `running the suite in two halves at once: ${halves.map((h) => h.name).join("; ")}\n`,
);
const passed = await Promise.all(runs);
process.exit(passed.every(Boolean) ? 0 : 1);
