// Backups that restore: data of every kind (accounts, a login, rooms, messages archived and
// not, an edit, an invite, a file) is backed up with deploy/backup.sh while parley runs,
// restored with deploy/restore.sh into fresh servers (a new Redis directory, an empty
// database, an empty files directory), and a parley started on them has all of it, the login
// included (sessions live in Redis, so a restore keeps them).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import pg from "pg";
import { freePort, type PrivateRedis, startRedisServer } from "../../src/redis/server.js";
import { download, uploaded } from "../helpers/files.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, testDatabaseUrl } from "../helpers/parley.js";
import { call, connect } from "../helpers/socket.js";

const REDIS_PASSWORD = "backup-test-redis-password-0123";

/** Runs a deploy/ script as an operator would; a failure says what it printed. */
function script(name: string, args: string[], env: Record<string, string>): void {
  try {
    execFileSync("sh", [`deploy/${name}`, ...args], {
      env: { ...process.env, ...env },
      stdio: "pipe",
    });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(`${name} failed: ${e.stderr?.toString() ?? ""}${e.stdout?.toString() ?? ""}`);
  }
}

describe("backups (deploy/backup.sh and deploy/restore.sh)", function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(path.join(os.tmpdir(), "parley-backup-"));
  let admin: pg.Client;
  const databases: string[] = [];
  const running: { stop(): Promise<void> }[] = [];
  before(async () => {
    admin = new pg.Client(testDatabaseUrl());
    await admin.connect();
  });
  after(async () => {
    for (const r of running.reverse()) await r.stop().catch(() => undefined);
    for (const d of databases) await admin.query(`DROP DATABASE IF EXISTS ${d} WITH (FORCE)`);
    await admin.end();
    rmSync(tmp, { recursive: true, force: true });
  });

  async function database(): Promise<string> {
    const name = `backup_${randomBytes(4).toString("hex")}`;
    await admin.query(`CREATE DATABASE ${name}`);
    databases.push(name);
    const u = new URL(testDatabaseUrl());
    u.pathname = `/${name}`;
    return u.toString();
  }

  async function redisIn(dir: string): Promise<PrivateRedis> {
    const r = await startRedisServer({ dir, appendOnly: true, password: REDIS_PASSWORD });
    running.push(r);
    return r;
  }

  async function parleyOn(redis: PrivateRedis, databaseUrl: string, files: string) {
    const p: TestParley = await startParley({
      redisUrl: redis.url,
      databaseUrl,
      env: { FILES_DIR: files },
    });
    running.push({ stop: () => p.close() });
    return p;
  }

  it("backs up while parley runs and restores into fresh servers with everything there", async () => {
    // The installation, with data of every kind.
    const redisA = await redisIn(path.join(tmp, "a", "redis"));
    const dbA = await database();
    const filesA = path.join(tmp, "a", "files");
    const a = await parleyOn(redisA, dbA, filesA);
    const owner = new Browser(a.url);
    await owner.register("backup_owner", PASSWORD); // the first account: an admin
    const guest = new Browser(a.url);
    await guest.register("backup_guest", PASSWORD);
    const socket = await connect(a.url, owner);
    await call(socket, "room:create", { room: "kept", kind: "private" });
    await call(socket, "room:invite", { room: "kept", username: "backup_guest" });
    const first = await call(socket, "message:send", { room: "kept", text: "first, archived" });
    if (!first.ok) throw new Error(JSON.stringify(first));
    await call(socket, "message:edit", {
      room: "kept",
      id: first.message.id,
      text: "first, edited",
    });
    const file = await uploaded(owner, "kept", "plan.png", await png());
    await call(socket, "message:send", { room: "kept", text: "the plan", files: [file.id] });
    await a.archiver.drain();
    // One more that only Redis holds when the backup is made.
    await call(socket, "message:send", { room: "kept", text: "latest, in Redis" });
    const _csrf = await owner.csrf("/admin");
    expect((await owner.post("/admin/invites", { _csrf, expires: "604800" })).status).to.equal(303);
    socket.close();

    // The documented backup, while parley runs.
    const backup = path.join(tmp, "backup");
    script("backup.sh", [backup], { REDIS_URL: redisA.url, DATABASE_URL: dbA, FILES_DIR: filesA });
    await a.close();
    await redisA.stop();

    // Fresh servers, restored with the documented command.
    const redisDirB = path.join(tmp, "b", "redis");
    const dbB = await database();
    const filesB = path.join(tmp, "b", "files");
    script("restore.sh", [backup], {
      REDIS_DIR: redisDirB,
      DATABASE_URL: dbB,
      FILES_DIR: filesB,
      RESTORE_PORT: String(await freePort()),
    });
    const redisB = await redisIn(redisDirB);
    const b = await parleyOn(redisB, dbB, filesB);

    // The owner's login still works (its cookie, against the restored Redis).
    const again = new Browser(b.url);
    for (const [k, v] of owner.cookies) again.cookies.set(k, v);
    expect((await again.get("/chat")).status).to.equal(200);
    const s2 = await connect(b.url, again);
    try {
      const history = await call(s2, "message:history", { room: "kept" });
      if (!history.ok) throw new Error(JSON.stringify(history));
      expect(history.messages.map((m) => m.text)).to.deep.equal([
        "first, edited",
        "the plan",
        "latest, in Redis",
      ]);
      expect(history.messages[1]?.files?.[0]?.id).to.equal(file.id);
      const got = await download(again, "kept", file.id, "thumb");
      expect(got.status).to.equal(200);
    } finally {
      s2.close();
    }
    // The guest's invitation to the room, the admin's invite, and passwords.
    const guestB = new Browser(b.url);
    expect((await guestB.login("backup_guest", PASSWORD)).status).to.equal(303);
    const rooms = await connect(b.url, guestB);
    try {
      const listed = await call(rooms, "room:list", {});
      if (!listed.ok) throw new Error(JSON.stringify(listed));
      expect(listed.rooms.find((r) => r.room === "kept")?.role).to.equal("invited");
    } finally {
      rooms.close();
    }
    const adminPage = (await again.get("/admin")).body;
    expect(adminPage).to.include("Unused invites");
    expect(adminPage).to.not.include("No unused invites.");
  });
});

async function png(): Promise<Buffer> {
  const { default: sharp } = await import("sharp");
  return sharp({ create: { width: 32, height: 24, channels: 3, background: "#3654d6" } })
    .png()
    .toBuffer();
}
