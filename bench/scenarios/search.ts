// Search over the record of messages: `message:search` p50/p99 over 1,000,000 messages (20,000
// with --quick), against a plain SQL query doing the same search from the bench process (no
// socket, no session check, no read of the user's rooms): the difference is what parley's
// authorization and event pipeline cost. Also the archive's lag (message stored in Redis →
// read for PostgreSQL) as parley's histogram saw it over the whole run so far.
//
// The messages are seeded once per bench process straight into PostgreSQL (as the archiver
// writes them), in 1,000 rooms; the searching user is a member of 20 of them, so a query
// reaches about 2% of the messages, as it would for a member of a large installation.
import pg from "pg";
import { io, type Socket } from "socket.io-client";
import { type Bench, log, metricIn, type Row } from "../harness.js";

/** Words are "w" and a hex number below this, drawn skewed: low numbers are common. */
const VOCABULARY = 2000;
const QUERIES = ["w1", "w2 w3", '"w5 w6"', "wa -wb", "w1f", "w3e8", "w7 OR w8", "nothingmatches"];

let seeded: Promise<string[]> | undefined;

async function seed(databaseUrl: string, total: number): Promise<string[]> {
  const db = new pg.Client(databaseUrl);
  await db.connect();
  try {
    const rooms = Array.from({ length: 1000 }, (_, i) => `bench-search-${i}`);
    const have = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM messages WHERE room LIKE 'bench-search-%'",
    );
    if (Number(have.rows[0]?.n) < total) {
      log(`    seeding ${total} messages into PostgreSQL`);
      await db.query("DELETE FROM messages WHERE room LIKE 'bench-search-%'");
      // Words drawn with a skew (low numbers often), ten per message, in SQL.
      await db.query(
        `INSERT INTO messages (room, ms, seq, user_id, username, body, sent_at, version, search)
         SELECT 'bench-search-' || (i % 1000), 1700000000000 + i, i / 1000 + 1, 'u', 'seeder', body,
                1700000000000 + i, 0, to_tsvector('simple', body)
         FROM (
           SELECT i, (SELECT string_agg('w' || to_hex((random() * random() * $2)::int), ' ')
                      FROM generate_series(1, 10) WHERE i > 0) AS body
           FROM generate_series(1, $1) AS i
         ) g`,
        [total, VOCABULARY],
      );
      await db.query("ANALYZE messages");
    }
    return rooms.slice(0, 20);
  } finally {
    await db.end();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

export async function search(b: Bench, row: Row): Promise<void> {
  const total = b.sizes.quick ? 20_000 : 1_000_000;
  seeded ??= seed(b.databaseUrl, total);
  const rooms = await seeded;
  const parley = b.servers.parley;
  const user = b.users[b.users.length - 1];
  if (!user) throw new Error("no user");
  const socket: Socket = io(parley.url, {
    transports: ["websocket"],
    extraHeaders: { cookie: user.cookie },
    forceNew: true,
    reconnection: false,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  try {
    for (const room of rooms) await socket.emitWithAck("room:join", { room });
    const rounds = b.sizes.quick ? 40 : 400;
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const query = QUERIES[i % QUERIES.length] as string;
      const started = performance.now();
      const r = (await socket.timeout(10_000).emitWithAck("message:search", { query })) as {
        ok: boolean;
        error?: { code: string };
      };
      times.push(performance.now() - started);
      if (!r.ok) throw new Error(`search refused: ${r.error?.code}`);
    }
    times.sort((x, y) => x - y);
    row["parley.search_p50_ms"] = percentile(times, 0.5);
    row["parley.search_p99_ms"] = percentile(times, 0.99);
  } finally {
    socket.close();
  }
  // The same searches as plain SQL: the query parley runs, for the same rooms.
  const db = new pg.Client(b.databaseUrl);
  await db.connect();
  try {
    const rounds = b.sizes.quick ? 40 : 400;
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const query = QUERIES[i % QUERIES.length] as string;
      const started = performance.now();
      await db.query(
        `WITH q AS (SELECT websearch_to_tsquery('simple', $1) AS q)
         SELECT room, ms, seq, user_id, username, body, sent_at, edited_at, deleted
         FROM messages, q
         WHERE room = ANY($2::text[]) AND NOT deleted AND search @@ q.q
         ORDER BY ms DESC, seq DESC, room DESC LIMIT 21`,
        [query, rooms],
      );
      times.push(performance.now() - started);
    }
    times.sort((x, y) => x - y);
    row["sql.search_p50_ms"] = percentile(times, 0.5);
    row["sql.search_p99_ms"] = percentile(times, 0.99);
  } finally {
    await db.end();
  }
  // The archive's lag over the run so far (parley's histogram): the bucket holding p99.
  const text = await b.metricsText();
  const count = metricIn(text, "parley_archive_lag_seconds_count");
  const bucket = (le: number) =>
    Number(
      new RegExp(`^parley_archive_lag_seconds_bucket\\{le="${le}"\\} (\\d+)`, "m").exec(
        text,
      )?.[1] ?? 0,
    );
  if (count > 0) {
    let p99 = Number.POSITIVE_INFINITY;
    for (const le of [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15, 60, 300]) {
      const inBucket = bucket(le);
      if (inBucket >= count * 0.99) {
        p99 = le;
        break;
      }
    }
    row["parley.archive_lag_p99_s"] = p99;
    row["parley.archived_messages"] = count;
  }
}
