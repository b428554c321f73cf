// parley's version (semver, from package.json: one place to change at a release, with its
// CHANGELOG entry). Reported by /healthz, the start-up log and the parley_build_info metric.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
/** Works from src/ (tsx) and from dist/src/ (built). */
const root = path.resolve(here, path.basename(path.dirname(here)) === "dist" ? "../.." : "..");

export const VERSION: string = (
  JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }
).version;

/**
 * A store holds data written by a newer parley than this one (a Redis key layout or a SQL
 * migration it does not know): it refuses to start rather than misread or damage it.
 */
export class NewerDataError extends Error {
  constructor(what: string) {
    super(
      `${what}, newer than parley ${VERSION} understands: run the newer parley again, or restore a backup made before it (see the README's "Upgrading and rolling back")`,
    );
    this.name = "NewerDataError";
  }
}
