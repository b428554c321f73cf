// The private PostgreSQL that `npm start` runs when DATABASE_URL is unset: one per data
// directory, reachable by parley only, and a server left running by a parley killed outright
// is stopped before a new one starts.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import pg from "pg";
import { startPostgresServer } from "../../src/db/server.js";
import { alive } from "../../src/redis/server.js";
import { eventually } from "../helpers/eventually.js";
import { killAndWait, reapOnExit } from "../helpers/process.js";

describe("the private PostgreSQL", function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  const dataDir = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), "parley-pg-"));
    dirs.push(d);
    return path.join(d, "postgres");
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("is reachable by parley only: 127.0.0.1, no Unix socket, a password only its owner reads", async () => {
    const dir = dataDir();
    const server = await startPostgresServer({ dir, fast: true });
    try {
      expect(statSync(path.join(dir, "password")).mode & 0o777).to.equal(0o600);
      const c = new pg.Client(server.url);
      await c.connect();
      const listen = await c.query("SHOW listen_addresses");
      const sockets = await c.query("SHOW unix_socket_directories");
      await c.end();
      expect(listen.rows[0].listen_addresses).to.equal("127.0.0.1");
      expect(sockets.rows[0].unix_socket_directories).to.equal("");
      const url = new URL(server.url);
      url.password = "not-the-password";
      const wrong = new pg.Client(url.toString());
      let refused: unknown;
      await wrong.connect().catch((e) => {
        refused = e;
      });
      await wrong.end().catch(() => undefined);
      expect(String((refused as Error)?.message)).to.match(/password authentication failed/);
    } finally {
      await server.stop();
    }
  });

  it("refuses a second one on the same data directory (another process)", async () => {
    const dir = dataDir();
    const server = await startPostgresServer({ dir, fast: true });
    try {
      const script = `import { startPostgresServer } from ${JSON.stringify(path.resolve("src/db/server.ts"))};
        await startPostgresServer({ dir: ${JSON.stringify(dir)}, fast: true }).then(
          () => process.stdout.write("started"),
          (e) => process.stdout.write(e.name));
        process.exit(0);`;
      const child = reapOnExit(
        spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
          stdio: ["ignore", "pipe", "inherit"],
        }),
      );
      let out = "";
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
      });
      await new Promise((resolve) => child.once("exit", resolve));
      expect(out).to.equal("DataDirBusyError");
    } finally {
      await server.stop();
    }
  });

  it("stops a server left by a parley killed with SIGKILL before starting its own", async () => {
    const dir = dataDir();
    // A process that starts the private PostgreSQL and is then killed outright.
    const script = `import { startPostgresServer } from ${JSON.stringify(path.resolve("src/db/server.ts"))};
      const s = await startPostgresServer({ dir: ${JSON.stringify(dir)}, fast: true });
      process.stdout.write("pid " + s.pid() + "\\n");
      setInterval(() => {}, 1000);`;
    const child = reapOnExit(
      spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        stdio: ["ignore", "pipe", "inherit"],
      }),
    );
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const oldPid = await eventually(() => Number(/pid (\d+)/.exec(out)?.[1]) || false, {
      what: "the first PostgreSQL",
      within: 30_000,
    });
    child.kill("SIGKILL");
    await killAndWait(child);
    expect(alive(oldPid)).to.equal(true); // left behind, as after any SIGKILL
    const server = await startPostgresServer({ dir, fast: true });
    try {
      expect(server.pid()).to.not.equal(oldPid);
      await eventually(() => expect(alive(oldPid)).to.equal(false), {
        what: "the old PostgreSQL to be gone",
      });
      const c = new pg.Client(server.url);
      await c.connect();
      await c.end();
    } finally {
      await server.stop();
    }
  });
});
