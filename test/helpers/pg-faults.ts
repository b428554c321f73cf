// A parley whose PostgreSQL is a private one of the test's, reached through the fault proxy
// (so the test can stop it, or make it hang or slow), with six people in one room: the rig
// of the archive's fault tests.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import pg from "pg";
import { type PrivatePostgres, startPostgresServer } from "../../src/db/server.js";
import { eventually } from "./eventually.js";
import { FaultProxy } from "./fault-proxy.js";
import { Browser } from "./http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "./parley.js";
import { type ClientSocket, call, connect } from "./socket.js";

export interface PgFaults {
  readonly postgres: PrivatePostgres;
  readonly proxy: FaultProxy;
  readonly parley: TestParley;
  readonly sockets: ClientSocket[];
  readonly room: string;
  /** PostgreSQL's URL through the proxy. */
  readonly proxiedUrl: string;
  /** Six people send for `ms`, each within the send budget; every ack must be ok. */
  sendFor(ms: number, tag: string): Promise<string[]>;
  /** Resolves once PostgreSQL holds every one of `ids` (within 20 s). */
  expectAllArchived(ids: string[], what: string): Promise<void>;
  /** A search's answer code (undefined: ok) and how long it took. */
  searchAnswer(): Promise<{ code: string | undefined; ms: number }>;
}

/** Registers the rig's hooks in the enclosing describe. */
export function usePgFaults(): PgFaults {
  let dir = "";
  let postgres: PrivatePostgres | undefined;
  let proxy: FaultProxy | undefined;
  let parley: TestParley | undefined;
  let proxiedUrl = "";
  const sockets: ClientSocket[] = [];
  const room = `faults-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const need = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error("usePgFaults: used before its before() hook ran");
    return v;
  };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "parley-pg-faults-"));
    postgres = await startPostgresServer({ dir: path.join(dir, "postgres"), fast: true });
    proxy = await FaultProxy.start(postgres.port);
    const url = new URL(postgres.url);
    url.port = String(proxy.port);
    proxiedUrl = url.toString();
    parley = await startParley({ databaseUrl: proxiedUrl, env: { ROOM_WINDOW: "100" } });
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
    proxy?.set("pass");
    await parley?.close();
    await proxy?.close();
    await postgres?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function archivedIds(): Promise<Set<string>> {
    const c = new pg.Client(need(postgres).url);
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

  return {
    get postgres() {
      return need(postgres);
    },
    get proxy() {
      return need(proxy);
    },
    get parley() {
      return need(parley);
    },
    get proxiedUrl() {
      return proxiedUrl;
    },
    sockets,
    room,
    async sendFor(ms, tag) {
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
    },
    async expectAllArchived(ids, what) {
      await eventually(
        async () => {
          const have = await archivedIds();
          const missing = ids.filter((id) => !have.has(id));
          expect(missing, `acked messages missing from PostgreSQL (${what})`).to.deep.equal([]);
        },
        { what: `every acked message in PostgreSQL after ${what}`, within: 20_000, every: 250 },
      );
    },
    async searchAnswer() {
      const started = Date.now();
      const r = await call(
        sockets[0] as ClientSocket,
        "message:search",
        { query: "anything" },
        10_000,
      );
      return { code: r.ok ? undefined : r.error.code, ms: Date.now() - started };
    },
  };
}
