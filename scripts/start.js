// `npm start`: builds only what is out of date (the server with tsc, the page's client with
// esbuild), then runs parley in this same process. One process matters: npm forwards SIGTERM
// and SIGINT to the process it started (the script `exec`s node, so that is this one), so
// they reach parley itself and through it the private redis-server, instead of a shell that
// would leave node running.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { copyLua } from "./copy-lua.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const at = (...p) => path.join(root, ...p);

/**
 * The newest modification time of the files and folders under these paths (0 when none
 * exist). Folders count: renaming or deleting a file changes its folder's time only.
 */
function newest(...paths) {
  let latest = 0;
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    latest = Math.max(latest, st.mtimeMs);
    if (st.isDirectory()) {
      for (const entry of readdirSync(p)) latest = Math.max(latest, newest(path.join(p, entry)));
    }
  }
  return latest;
}

function build(what, args) {
  const bin = at("node_modules", ".bin", args[0]);
  try {
    statSync(bin);
  } catch {
    // A production install (npm ci --omit=dev) has no compiler: it runs what `npm run build`
    // made, and says so if that is missing or older than the sources.
    process.stderr.write(
      `parley: ${what} needs building, and ${args[0]} is not installed (a production install): run \`npm run build\` where the dev dependencies are, or \`npm install\`\n`,
    );
    process.exit(1);
  }
  const run = spawnSync(bin, args.slice(1), { cwd: root, stdio: "inherit" });
  if (run.status !== 0) {
    process.stderr.write(`parley: building ${what} failed\n`);
    process.exit(1);
  }
}

const config = [at("package.json"), at("tsconfig.json"), at("tsconfig.build.json")];
// tsc's incremental build writes nothing when nothing changed, so a stamp records the build.
const stamp = at("dist", ".built");
if (newest(at("src"), ...config) > newest(stamp) || newest(at("dist", "src", "main.js")) === 0) {
  build("the server", ["tsc", "-p", "tsconfig.build.json"]);
  mkdirSync(at("dist"), { recursive: true });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}
copyLua();
const clientOut = at("public", "js", "chat.js");
if (
  newest(at("client"), at("src", "contract"), at("src", "domain"), ...config) > newest(clientOut)
) {
  build("the page's client", [
    "esbuild",
    "client/main.ts",
    "--bundle",
    "--format=esm",
    "--target=es2020",
    "--minify",
    "--sourcemap",
    `--outfile=${path.relative(root, clientOut)}`,
    "--log-level=warning",
  ]);
}

// If whatever started us goes away without passing on a signal (npm killed outright), stop
// as if told to: parley and its private redis-server must not outlive `npm start`.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
}, 1000).unref();

await import(at("dist", "src", "main.js"));
