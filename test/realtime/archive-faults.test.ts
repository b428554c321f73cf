// PostgreSQL stopped, hung or slow: chat goes on from Redis, what needs PostgreSQL answers
// `unavailable` within its deadline, readiness says the archive is behind, and once
// PostgreSQL is back the archiver catches up with every acked message.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import pg from "pg";
import { type PrivatePostgres, startPostgresServer } from "../../src/db/server.js";
import { keys } from "../../src/stores/keys.js";
import { compareIds } from "../../src/stores/messages.js";
import { eventually } from "../helpers/eventually.js";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { type ClientSocket, call, connect } from "../helpers/socket.js";

describe("the archive while PostgreSQL is stopped, hung or slow", function () {
  this.timeout(120_000);
  let dir: string;
  let postgres: PrivatePostgres;
  let proxy: FaultProxy;
  let parley: TestParley;
  const sockets: ClientSocket[] = [];
  let room: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "parley-pg-faults-"));
    postgres = await startPostgresServer({ dir: path.join(dir, "postgres"), fast: true });
    proxy = await FaultProxy.start(postgres.port);
    const url = new URL(postgres.url);
    url.port = String(proxy.port);
    parley = await startParley({ databaseUrl: url.toString(), env: { ROOM_WINDOW: "100" } });
    room = `faults-${Date.now().toString(36)}`;
    for (let i = 0; i < 6; i++) {
      const browser = new Browser(parley.url);
      await browser.register(uniqueName("pf"), PASSWORD);
      const socket = await connect(parley.url, browser);
      sockets.push(socket);
      await call(socket, "room:join", { room });
    }
  });
  after(async () => {
    for (const s of sockets) s.close();
    await parley?.close();
    await proxy?.close();
    await postgres?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Six people send for `ms`, each within the send budget; every ack must be ok. */
  async function sendFor(ms: number, tag: string): Promise<string[]> {
    const until = Date.now() + ms;
    const ids: string[] = [];
    await Promise.all(
      sockets.map(async (s, who) => {
        for (let i = 0; Date.now() < until; i++) {
          const ack = await call(s, "message:send", { room, text: `${tag} ${who}.${i}` });
          if (!ack.ok) throw new Error(`send refused: ${JSON.stringify(ack)}`);
          ids.push(ack.message.id);
          await new Promise((r) => setTimeout(r, 700));
        }
      }),
    );
    return ids;
  }

  async function archivedIds(): Promise<Set<string>> {
    const c = new pg.Client(postgres.url);
    await c.connect();
    try {
      const r = await c.query<{ id: string }>(
        "SELECT ms || '-' || seq AS id FROM messages WHERE room = $1",
        [room],
      );
      return new Set(r.rows.map((x) => x.id));
    } finally {
      await c.end();
    }
  }

  async function expectAllArchived(ids: string[], what: string): Promise<void> {
    await eventually(
      async () => {
        const have = await archivedIds();
        const missing = ids.filter((id) => !have.has(id));
        expect(missing, `acked messages missing from PostgreSQL (${what})`).to.deep.equal([]);
      },
      { what: `every acked message in PostgreSQL after ${what}`, within: 20_000, every: 250 },
    );
  }

  async function searchAnswer(): Promise<{ code: string | undefined; ms: number }> {
    const started = Date.now();
    const r = await call(
      sockets[0] as ClientSocket,
      "message:search",
      { query: "anything" },
      10_000,
    );
    return { code: r.ok ? undefined : r.error.code, ms: Date.now() - started };
  }

  it("goes on from Redis while PostgreSQL is stopped for 30 s, then archives every acked message", async () => {
    const before = await sendFor(1500, "before");
    await postgres.stop();
    const during = sendFor(30_000, "stopped");
    // Meanwhile: recent history is served from Redis, search says unavailable, and readiness
    // says the archive is behind (but parley is ready: chat works).
    await new Promise((r) => setTimeout(r, 3000));
    const history = await call(sockets[1] as ClientSocket, "message:history", { room });
    expect(history.ok).to.equal(true);
    const search = await searchAnswer();
    expect(search.code).to.equal("unavailable");
    expect(search.ms).to.be.below(4000);
    await eventually(
      async () => {
        const res = await fetch(`${parley.url}/readyz`);
        expect(res.status).to.equal(200);
        expect(res.headers.get("x-parley-archive")).to.equal("behind");
        expect(await res.text()).to.match(/archive is behind/);
      },
      { what: "readiness showing the archive behind", within: 10_000 },
    );
    const stopped = await during;
    expect(stopped.length).to.be.above(100);
    await postgres.restart();
    await expectAllArchived([...before, ...stopped], "a 30 s stop");
    await eventually(async () => {
      const res = await fetch(`${parley.url}/readyz`);
      expect(res.headers.get("x-parley-archive")).to.equal("ok");
    });
  });

  it("goes on while PostgreSQL hangs (accepts, never answers), and catches up when it answers", async () => {
    proxy.set("hang");
    const during = sendFor(10_000, "hung");
    await new Promise((r) => setTimeout(r, 1000));
    const search = await searchAnswer();
    expect(search.code).to.equal("unavailable");
    expect(search.ms).to.be.below(4000);
    const history = await call(sockets[2] as ClientSocket, "message:history", { room, limit: 5 });
    expect(history.ok).to.equal(true);
    // A parley started now (its migrations cannot reach PostgreSQL) serves all the same, after
    // at most the 10 s it gives them, and its chat runs from Redis.
    const url = new URL(postgres.url);
    url.port = String(proxy.port);
    const started = Date.now();
    const late = await startParley({ databaseUrl: url.toString() });
    try {
      expect(Date.now() - started).to.be.below(15_000);
      expect((await fetch(`${late.url}/readyz`)).status).to.equal(200);
    } finally {
      await late.close();
    }
    const hung = await during;
    proxy.set("pass");
    await expectAllArchived(hung, "a hang");
  });

  it("keeps up, later, when PostgreSQL is slow", async () => {
    proxy.set("delay", 300);
    const slow = await sendFor(4000, "slow");
    await expectAllArchived(slow, "slow answers");
    // And history past the window (below the trim point: only PostgreSQL has it), through
    // the slow link, still pages back.
    const t = await parley.redis.hGet(keys.roomCounts(room), "t");
    expect(t).to.be.a("string");
    const older = await call(
      sockets[3] as ClientSocket,
      "message:history",
      { room, limit: 5, before: t as string },
      10_000,
    );
    if (!older.ok) throw new Error(JSON.stringify(older));
    expect(older.messages.length).to.equal(5);
    for (const m of older.messages) expect(compareIds(m.id, t as string)).to.be.below(0);
    proxy.set("pass");
  });
});
