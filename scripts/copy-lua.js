// Copies the Redis scripts (src/**/*.lua) and the SQL migrations (src/db/migrations/*.sql) beside the compiled server (dist/src/), where the
// script loader finds them (tsc copies only TypeScript's output). Run by `npm run build`, by
// `npm start` on every start (cheap), and by the tests that build the server, so an edited
// script is never left behind. The copies are made anew: a script removed from src/ is gone
// from dist/ too.
import { cpSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const copied = (p) => p.endsWith(".lua") || p.endsWith(".sql");

/** Every .lua and .sql under `dir`, recursively. */
function luaFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return luaFiles(p);
    return copied(e.name) ? [p] : [];
  });
}

export function copyLua(into = path.join(root, "dist")) {
  const target = path.join(into, "src");
  try {
    for (const old of luaFiles(target)) rmSync(old);
  } catch {
    // nothing built yet
  }
  cpSync(path.join(root, "src"), target, {
    recursive: true,
    filter: (p) => statSync(p).isDirectory() || copied(p),
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) copyLua();
