// Copies the Redis scripts (src/**/*.lua) beside the compiled server (dist/src/), where the
// script loader finds them (tsc copies only TypeScript's output). Run by `npm run build` and
// by `npm start` on every start (cheap), so an edited script is never left behind.
import { cpSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export function copyLua() {
  cpSync(path.join(root, "src"), path.join(root, "dist", "src"), {
    recursive: true,
    filter: (p) => statSync(p).isDirectory() || p.endsWith(".lua"),
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) copyLua();
