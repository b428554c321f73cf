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
        },
      );
      child.stdout.on("data", (b) => out.push(b));
      child.stderr.on("data", (b) => out.push(b));
      child.on("close", (code, signal) => {
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        process.stdout.write(
          `\n===== ${half.name} (${half.config}): ${code === 0 ? "passed" : `FAILED (${signal ?? code})`} after ${seconds} s =====\n`,
        );
        process.stdout.write(Buffer.concat(out));
        resolve(code === 0);
      });
    }),
);
process.stdout.write(
  `running the suite in two halves at once: ${halves.map((h) => h.name).join("; ")}\n`,
);
const passed = await Promise.all(runs);
process.exit(passed.every(Boolean) ? 0 : 1);
