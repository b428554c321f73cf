// The PostgreSQL that holds the record of messages (DATABASE_URL, or the private one): a
// pool with deadlines on everything, and the schema's migrations.
//
// PostgreSQL is not the authority for any check (Redis is): when it is down, slow or hung,
// chat goes on from Redis, and what needs PostgreSQL (history past the window, search,
// export) answers `unavailable` within its deadline. So every query has one:
// - connecting: CONNECT_MS;
// - a query: its own deadline (QUERY_MS unless given). node-postgres's `query_timeout` fails
//   the query's promise but leaves the connection waiting for an answer that may never come
//   (a hung server still holds the socket open): `query()` here destroys that connection's
//   socket, so the pool never hands it out again;
// - on the server, `statement_timeout` stops a query the client gave up on.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import pg from "pg";
import type { Logger } from "pino";
import { NewerDataError } from "../version.js";

/** How long connecting may take. */
export const CONNECT_MS = 3_000;
/** A query's deadline unless it names one. */
export const QUERY_MS = 3_000;

/** PostgreSQL could not answer in time, or at all. */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`PostgreSQL is unavailable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "DatabaseUnavailableError";
    this.cause = cause;
  }
}

export interface Database {
  /**
   * Runs `fn` with one connection (a transaction is the caller's BEGIN/COMMIT), all within
   * `ms`. On any failure the connection is destroyed, never reused.
   */
  withClient<T>(fn: (client: pg.PoolClient) => Promise<T>, ms?: number): Promise<T>;
  /** One query, within `ms`. */
  query<R extends pg.QueryResultRow>(
    text: string,
    values?: unknown[],
    ms?: number,
  ): Promise<pg.QueryResult<R>>;
  /** The pool itself (streams: export). */
  readonly pool: pg.Pool;
  /** Whether the last query answered (for readiness and metrics). */
  readonly healthy: () => boolean;
  close(): Promise<void>;
}

/** Destroys a client's socket: an unanswered query must not keep it in the pool. */
export function destroyClient(client: pg.PoolClient): void {
  try {
    (client as unknown as pg.Client).connection.stream.destroy();
  } catch {
    // already gone
  }
}

function deadline<T>(p: Promise<T>, ms: number, onLate: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onLate();
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export function openDatabase(url: string, logger: Logger, opts: { max?: number } = {}): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: CONNECT_MS,
    idleTimeoutMillis: 30_000,
    // Server side: a statement the client gave up on does not run on.
    options: "-c statement_timeout=15000 -c idle_in_transaction_session_timeout=15000",
    application_name: "parley",
  });
  let healthy = false;
  // An idle connection that breaks (a restart of PostgreSQL) is dropped by the pool; the
  // event must be handled or it would end the process.
  pool.on("error", (err) => {
    healthy = false;
    logger.warn(
      { event: "postgres_idle_error", err: err.message },
      "a PostgreSQL connection broke",
    );
  });
  const withClient = async <T>(
    fn: (client: pg.PoolClient) => Promise<T>,
    ms = QUERY_MS,
  ): Promise<T> => {
    let client: pg.PoolClient | undefined;
    let done = false;
    // A checked-out client whose connection breaks emits 'error': with no listener that
    // would end the process. The query that was running fails on its own.
    const ignore = () => undefined;
    const work = (async () => {
      const c = await pool.connect();
      client = c;
      c.on("error", ignore);
      if (done) {
        destroyClient(c);
        c.release(true);
        throw new Error("late");
      }
      try {
        const out = await fn(c);
        c.off("error", ignore);
        c.release();
        return out;
      } catch (err) {
        destroyClient(c);
        c.release(true);
        throw err;
      }
    })();
    try {
      const out = await deadline(work, ms, () => {
        done = true;
        if (client) destroyClient(client);
      });
      healthy = true;
      return out;
    } catch (err) {
      work.catch(() => undefined);
      // Not about the connection: PostgreSQL answered, with data this parley must not touch.
      if (err instanceof NewerDataError) {
        healthy = true;
        throw err;
      }
      const code = String((err as { code?: unknown }).code ?? "");
      if (/^[0-9A-Z]{5}$/.test(code) && !/^(08|57P|53)/.test(code)) {
        // PostgreSQL answered (an SQLSTATE about the query, not the connection): it is up.
        healthy = true;
        throw err;
      }
      healthy = false;
      throw new DatabaseUnavailableError(err);
    }
  };
  return {
    pool,
    withClient,
    query: <R extends pg.QueryResultRow>(text: string, values?: unknown[], ms?: number) =>
      withClient((c) => c.query<R>(text, values), ms),
    healthy: () => healthy,
    close: async () => {
      // A hung server would hold end() for ever: it gets a deadline too.
      await deadline(pool.end(), 2_000, () => undefined).catch(() => undefined);
    },
  };
}

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));

/**
 * Applies the schema's migrations that have not run yet, under PostgreSQL's advisory lock
 * (node-pg-migrate's), so several parley processes may start at once: one migrates, the
 * others wait for it and then find nothing to do. Logs each migration it runs.
 */
export async function migrate(db: Database, logger: Logger, ms = 60_000): Promise<string[]> {
  return db.withClient(async (client) => {
    // Migrations this parley does not have were applied by a newer one: refuse.
    const table = await client.query<{ t: string | null }>(
      "SELECT to_regclass('parley_migrations')::text AS t",
    );
    if (table.rows[0]?.t) {
      const known = new Set(
        readdirSync(MIGRATIONS)
          .filter((f) => f.endsWith(".sql"))
          .map((f) => f.replace(/\.sql$/, "")),
      );
      const applied = await client.query<{ name: string }>("SELECT name FROM parley_migrations");
      const unknown = applied.rows.map((r) => r.name).filter((n) => !known.has(n));
      if (unknown.length > 0) {
        throw new NewerDataError(`PostgreSQL holds migration ${unknown.join(", ")}`);
      }
    }
    const ran = await runner({
      dbClient: client as unknown as pg.Client,
      dir: MIGRATIONS,
      migrationsTable: "parley_migrations",
      direction: "up",
      checkOrder: true,
      advisoryLockMode: "wait",
      singleTransaction: true,
      logger: {
        debug: () => undefined,
        info: (msg: string) => logger.debug({ event: "migration_log" }, msg),
        warn: (msg: string) => logger.warn({ event: "migration_log" }, msg),
        error: (msg: string) => logger.error({ event: "migration_log" }, msg),
      },
    });
    for (const m of ran) {
      logger.info({ event: "migration_applied", migration: m.name }, `applied migration ${m.name}`);
    }
    return ran.map((m) => m.name);
  }, ms);
}
