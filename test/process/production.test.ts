// The production path: `npm run build` once, then the built server runs with no compiler
// installed (no TypeScript, esbuild or tsx in node_modules), from a tree it may not write,
// and everything it prints is JSON (no npm banner: it is started with node directly).
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { freePort } from "../../src/redis/server.js";
import { testRedisUrl } from "../helpers/parley.js";
import { killAll, runListening, useBuiltServer } from "../helpers/process.js";

const COMPILERS = new Set(["typescript", "esbuild", "tsx", "@esbuild", ".bin"]);

describe("the production build", function () {
  useBuiltServer();
  this.timeout(60_000);
  const tmp = mkdtempSync(path.join(os.tmpdir(), "parley-prod-"));
  afterEach(function () {
    killAll.call(this);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("runs from dist/ with no compiler installed, its log pure JSON", async () => {
    const app = path.join(tmp, "app");
    for (const part of ["dist", "public", "views", "package.json"]) {
      cpSync(part, path.join(app, part), { recursive: true });
    }
    // node_modules without the compilers (the rest linked, as `npm ci --omit=dev` leaves it).
    const modules = path.join(app, "node_modules");
    mkdirSync(modules);
    for (const entry of readdirSync("node_modules")) {
      if (COMPILERS.has(entry)) continue;
      symlinkSync(path.resolve("node_modules", entry), path.join(modules, entry));
    }
    const port = await freePort();
    const r = await runListening(
      {
        PORT: String(port),
        REDIS_URL: testRedisUrl(),
        SESSION_SECRET: "production-test-secret-0123456789abcdef",
        PARLEY_DATA_DIR: path.join(tmp, "data"),
      },
      [],
      path.join(app, "dist", "src", "main.js"),
    );
    const page = await fetch(`http://127.0.0.1:${port}/login`);
    expect(page.status).to.equal(200);
    const script = await fetch(`http://127.0.0.1:${port}/static/js/chat.js`);
    expect(script.status).to.equal(200);
    const lines = r
      .stdout()
      .split("\n")
      .filter((l) => l.length > 0);
    expect(lines.length).to.be.at.least(1);
    for (const l of lines) expect(() => JSON.parse(l), l).to.not.throw();
    expect(r.stderr()).to.equal("");
  });
});
