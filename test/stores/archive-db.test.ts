// The PostgreSQL side of the archive on its own: migrations that several processes may run
// at once, and retention (MESSAGE_RETENTION_DAYS).
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import pg from "pg";
import { ArchiveStore } from "../../src/archive/store.js";
import { type Database, migrate, openDatabase } from "../../src/db/database.js";
import { createLogger } from "../../src/logger.js";
import { testDatabaseUrl } from "../helpers/parley.js";

describe("the archive's database", function () {
  this.timeout(30_000);
  const logger = createLogger("silent");
  let admin: pg.Client;
  let url: string;
  let dbs: Database[] = [];
  before(async () => {
    // A database of its own, empty: as a first start finds it.
    const name = `mig_${randomBytes(4).toString("hex")}`;
    admin = new pg.Client(testDatabaseUrl());
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const u = new URL(testDatabaseUrl());
    u.pathname = `/${name}`;
    url = u.toString();
  });
  after(async () => {
    for (const d of dbs) await d.close();
    dbs = [];
    await admin.query(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
    await admin.end();
  });

  it("migrates once when several processes start at once (under the advisory lock)", async () => {
    const four = Array.from({ length: 4 }, () => openDatabase(url, logger, { max: 2 }));
    dbs.push(...four);
    const ran = await Promise.all(four.map((d) => migrate(d, logger)));
    // One of them applied the migration; the others found it applied.
    expect(ran.flat()).to.deep.equal([
      "001_messages",
      "002_withdrawn_and_room_search",
      "003_files",
    ]);
    const tables = await four[0]?.query<{ n: string }>(
      "SELECT count(*) AS n FROM parley_migrations",
    );
    expect(Number(tables?.rows[0]?.n)).to.equal(3);
    expect(await migrate(four[1] as Database, logger)).to.deep.equal([]);
  });

  it("refuses to start on a database a newer parley migrated (a migration it does not have)", async () => {
    const db = openDatabase(url, logger, { max: 1 });
    dbs.push(db);
    await migrate(db, logger);
    await db.query(
      "INSERT INTO parley_migrations (name, run_on) VALUES ('999_from_the_future', now())",
    );
    try {
      const refused = await migrate(db, logger).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      expect(refused?.name).to.equal("NewerDataError");
      expect(refused?.message).to.match(
        /^PostgreSQL holds migration 999_from_the_future, newer than parley \d+\.\d+\.\d+ understands/,
      );
    } finally {
      await db.query("DELETE FROM parley_migrations WHERE name = '999_from_the_future'");
    }
  });

  it("deletes what is older than the retention, and nothing newer", async () => {
    const db = dbs[0] as Database;
    const store = new ArchiveStore(db, "simple");
    const day = 86_400_000;
    const now = Date.now();
    const row = (seq: number, ts: number) => ({
      ms: ts,
      seq,
      userId: "u",
      username: "u",
      text: `m${seq}`,
      ts,
      deleted: false,
      mentions: [],
      version: 0,
    });
    await store.upsert("kept", [row(1, now - 40 * day), row(2, now - 20 * day), row(3, now)]);
    expect(await store.applyRetention(30, now, 1)).to.equal(1);
    const left = await db.query<{ seq: string }>("SELECT seq FROM messages ORDER BY seq");
    expect(left.rows.map((r) => Number(r.seq))).to.deep.equal([2, 3]);
  });
});
