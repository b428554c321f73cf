// Builds the whole service from its dependencies and starts listening. Nothing here reads
// process.env or exits: main.ts does that, and tests call createServer directly, several
// instances per process if they like.
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { RedisClientType } from "redis";
import { Archiver } from "./archive/archiver.js";
import { ArchiveStore } from "./archive/store.js";
import { LoginLimiter } from "./auth/login-limiter.js";
import { createPassport, createUserLookup } from "./auth/passport.js";
import { dummyHash } from "./auth/passwords.js";
import { RegistrationLimiter } from "./auth/registration-limiter.js";
import { Revocation } from "./auth/revocation.js";
import { cookieName, createSessionMiddleware } from "./auth/session.js";
import type { Config } from "./config.js";
import { type Database, migrate, openDatabase } from "./db/database.js";
import { type BlobStore, DiskBlobs, openS3Blobs } from "./files/blobs.js";
import { Files } from "./files/files.js";
import { FileRecords } from "./files/records.js";
import { createApp } from "./http/app.js";
import { startBodyDeadline } from "./http/body-deadline.js";
import type { HttpContext } from "./http/context.js";
import type { Logger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { SessionGuard } from "./realtime/guard.js";
import { createRealtime, type Realtime } from "./realtime/realtime.js";
import { isCluster, isRedisReady, type Redis } from "./redis/client.js";
import { connectRedisCluster } from "./redis/cluster.js";
import { closeRedis, connectRedis, connectWithin, duplicateRedis } from "./redis/connect.js";
import { SentinelEndpoint } from "./redis/sentinel.js";
import { AccountStore } from "./stores/accounts.js";
import { AuditLog } from "./stores/audit.js";
import { InviteStore } from "./stores/invites.js";
import { MessageStore } from "./stores/messages.js";
import { migrateLayout } from "./stores/migrations.js";
import { ReplicaAcks } from "./stores/replica-acks.js";
import { RoomStore } from "./stores/rooms.js";
import { SessionIndex } from "./stores/session-index.js";
import { NewerDataError } from "./version.js";

/** Config with the parts main.ts resolves (a Redis and a PostgreSQL to use, secrets to sign with). */
export interface RuntimeConfig extends Config {
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly sessionSecrets: readonly string[];
}

export interface ParleyServer {
  readonly url: string;
  readonly port: number;
  readonly redis: Redis;
  readonly realtime: Realtime;
  /** Ends logins (logout, revoke, password change) and tells their sockets everywhere. */
  readonly revocation: Revocation;
  readonly metrics: Metrics;
  /** Moves messages from Redis into PostgreSQL. */
  readonly archiver: Archiver;
  /** The record of messages in PostgreSQL. */
  readonly archive: ArchiveStore;
  /** Files shared in rooms. */
  readonly files: Files;
  readonly database: Database;
  /** http://host:port of the admin listener serving GET /metrics, when METRICS_PORT is set. */
  readonly metricsUrl: string | undefined;
  close(): Promise<void>;
}

export interface ServerDeps {
  config: RuntimeConfig;
  logger: Logger;
  now?: () => number;
  /** How often sockets of sessions that expired in Redis are looked for (ms, <= 30 s). */
  sweepIntervalMs?: number;
  /** How often the archiver looks through every room (ms). */
  archiveSweepMs?: number;
  /** How often files are swept (ms), and how old an upload never sent must be to go. */
  fileSweepMs?: number;
  fileUnsentMs?: number;
  /** false: do not listen (a cluster worker gets its connections from the primary). */
  listen?: boolean;
}

export function defaultOrigins(host: string, port: number): string[] {
  const hosts = new Set([host.includes(":") ? `[${host}]` : host]);
  if (["127.0.0.1", "localhost", "0.0.0.0", "::", "::1"].includes(host)) {
    hosts.add("localhost");
    hosts.add("127.0.0.1");
  }
  return [...hosts].map((h) => `http://${h}:${port}`);
}

export async function createServer({
  config,
  logger,
  now = Date.now,
  sweepIntervalMs = config.sweepSeconds * 1000,
  archiveSweepMs,
  fileSweepMs = 60_000,
  // An upload can be sent for FILE_PENDING_SECONDS; an hour more covers a message that
  // carries it reaching PostgreSQL (and the sweep waits while the archive is behind).
  fileUnsentMs = config.files.pendingSeconds * 1000 + 3_600_000,
  listen = true,
}: ServerDeps): Promise<ParleyServer> {
  const metrics = new Metrics();
  const onRedisError = () => metrics.redisErrors.inc();
  // What is opened is closed again, last first, if a later step fails.
  const opened: Array<() => Promise<void>> = [];
  try {
    return await build(opened);
  } catch (err) {
    for (const undo of opened.reverse()) await undo().catch(() => undefined);
    throw err;
  }

  async function build(opened: Array<() => Promise<void>>): Promise<ParleyServer> {
    const { url: redisUrl, sentinel } = await resolveRedis(config, logger);
    if (sentinel) opened.push(() => sentinel.close());
    const redis = await (config.redisClusterNodes
      ? connectRedisCluster(config.redisClusterNodes, redisUrl, logger, "main", onRedisError)
      : connectRedis(redisUrl, logger, "main", onRedisError));
    opened.push(() => closeRedis(redis));
    metrics.watchRedis("main", () => isRedisReady(redis));
    await migrateLayout(redis, logger);
    // PostgreSQL holds the record of messages; chat itself runs from Redis, so a PostgreSQL
    // that is away at start-up delays the archive (it retries), never the service.
    const database = openDatabase(config.databaseUrl, logger);
    opened.push(() => database.close());
    // Searches get connections of their own: however many run, the archiver keeps its own.
    const searchDatabase = openDatabase(config.databaseUrl, logger, { max: 3 });
    opened.push(() => searchDatabase.close());
    const archive = new ArchiveStore(database, config.searchConfig, searchDatabase);
    // At most 10 s at start-up (a hung PostgreSQL must not hold the service back); after
    // that the migrations are retried in the background.
    await migrate(database, logger, 10_000).catch((err: unknown) => {
      // Data from a newer parley: not a PostgreSQL that is away, a reason not to start.
      if (err instanceof NewerDataError) throw err;
      logger.warn(
        { event: "postgres_unavailable", err: (err as Error).message },
        "cannot reach PostgreSQL (DATABASE_URL): chat runs from Redis; history past the window and search wait for it",
      );
      return retryMigrations(database, logger);
    });
    const archiver = new Archiver(redis, archive, logger, metrics, {
      window: config.roomWindow,
      retentionDays: config.messageRetentionDays,
      now,
      ...(archiveSweepMs ? { sweepEveryMs: archiveSweepMs } : {}),
    });
    // Messages wait for replicas on a connection of their own (WAIT blocks its connection).
    let acks: ReplicaAcks | undefined;
    if (config.redisAckReplicas > 0 && !isCluster(redis)) {
      const durable = duplicateRedis(redis, logger, "durable", { fenced: true }) as RedisClientType;
      await connectWithin(durable, "durable");
      opened.push(() => closeRedis(durable));
      metrics.watchRedis("durable", () => isRedisReady(durable));
      acks = new ReplicaAcks(durable, config.redisAckReplicas);
    }
    const messages = new MessageStore(redis, config.roomBacklog, acks, archiver, archive);
    messages.uploadSeconds = config.files.pendingSeconds;
    const fc = config.files;
    const filesDir = path.resolve(fc.dir ?? path.join(config.dataDir, "files"));
    const blobs: BlobStore = fc.s3 ? await openS3Blobs(fc.s3) : new DiskBlobs(filesDir);
    const files = new Files(
      redis,
      new FileRecords(database),
      blobs,
      // Uploads are spooled on local disk (beside the blobs on disk: moved, not copied).
      path.join(filesDir, "spool"),
      {
        maxBytes: fc.maxBytes,
        quotaBytes: fc.quotaBytes,
        uploadsPerWindow: fc.uploadsPerMinute,
        windowSeconds: 60,
        roomPerDay: fc.roomPerDay,
        pendingSeconds: fc.pendingSeconds,
        maxPixels: fc.maxPixels,
      },
      logger,
      now,
    );
    opened.push(() => files.stop());
    // Downloads' batched session check: its own guard (same rule and batching as events').
    const fileGuard = new SessionGuard(redis, {
      idleSeconds: config.sessionIdleSeconds,
      absoluteSeconds: config.sessionAbsoluteSeconds,
      now,
    });
    const pruneGuard = setInterval(() => fileGuard.prune(600_000), 60_000);
    pruneGuard.unref();
    opened.push(async () => clearInterval(pruneGuard));
    const users = new AccountStore(redis, config.adminUsernames);
    const sessionIndex = new SessionIndex(redis, config.sessionAbsoluteSeconds);
    const revocation = new Revocation(redis, sessionIndex, users);
    let origins: ReadonlySet<string> = new Set(config.allowedOrigins ?? []);
    // One cache of users' names for the pages (Passport) and the handshake.
    const userById = createUserLookup(users);
    const ctx: HttpContext = {
      production: config.production,
      sessionSecrets: config.sessionSecrets,
      formSeconds: config.anonymousSessionSeconds,
      trustProxy: config.trustProxy,
      redis,
      users,
      sessionIndex,
      revocation,
      limiter: new LoginLimiter(redis),
      registrations: new RegistrationLimiter(redis, config.registrationsPerAddress),
      passport: createPassport(users, userById),
      logger,
      metrics,
      now,
      absoluteSeconds: config.sessionAbsoluteSeconds,
      idleSeconds: config.sessionIdleSeconds,
      allowedOrigins: () => origins,
      invites: new InviteStore(redis),
      audit: new AuditLog(redis, logger),
      registration: config.registration,
      messages,
      rooms: new RoomStore(redis),
      archive: archiver,
      files,
      fileGuard,
      signedUrls: fc.s3?.signedUrls === true,
      sessionCookie: cookieName(config.production),
      accessLogLevel: config.accessLogLevel,
    };
    const {
      middleware: sessionMiddleware,
      engineMiddleware: engineSessionMiddleware,
      engineIdMiddleware,
    } = createSessionMiddleware(redis, {
      secrets: config.sessionSecrets,
      production: config.production,
      idleSeconds: config.sessionIdleSeconds,
      absoluteSeconds: config.sessionAbsoluteSeconds,
      anonymousSeconds: config.anonymousSessionSeconds,
      now,
    });
    await dummyHash(); // computed once up front so the first unknown-user login is not faster
    const app = createApp(ctx, sessionMiddleware);
    const server = http.createServer(app);
    server.headersTimeout = 10_000;
    // Uploads may take minutes on a slow link: they have their own stall timeout
    // (file-routes.ts), and every other request's body its 30 s (http/body-deadline.ts).
    server.requestTimeout = 600_000;
    const realtime = await createRealtime({
      httpServer: server,
      redis,
      users,
      messages,
      archive,
      files,
      revocation,
      sessionMiddleware: engineSessionMiddleware,
      sessionIdMiddleware: engineIdMiddleware,
      cookieName: cookieName(config.production),
      trustProxy: config.trustProxy,
      userById,
      allowedOrigins: ctx.allowedOrigins,
      logger,
      metrics,
      now,
      idleSeconds: config.sessionIdleSeconds,
      absoluteSeconds: config.sessionAbsoluteSeconds,
      sweepIntervalMs,
      budgetScale: config.budgetScale,
    });
    opened.push(() => realtime.close());
    // Before anything else, engine.io's listener included (it replaced the server's listeners
    // with its own when it attached, just now): every request's body has 30 s.
    server.prependListener("request", (req) => startBodyDeadline(req));
    archiver.start();
    opened.push(() => archiver.stop());
    files.start(fileSweepMs, fileUnsentMs, () => archiver.healthy);

    const port = listen ? await listenOn(server, config.port, config.host) : config.port;
    if (listen) opened.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    if (!config.allowedOrigins) {
      origins = new Set([
        ...defaultOrigins(config.host, port),
        ...(config.publicUrl ? [config.publicUrl] : []),
      ]);
    }
    if (config.production && config.trustProxy === false) {
      // parley speaks no TLS itself: production's Secure cookies need a TLS proxy it trusts.
      logger.warn(
        { event: "production_without_proxy" },
        "NODE_ENV=production with TRUST_PROXY unset: cookies are Secure, so logins work only through an HTTPS proxy that parley trusts (set TRUST_PROXY to its hop count); over plain HTTP every login fails",
      );
    }
    const shownHost = config.host.includes(":") ? `[${config.host}]` : config.host;
    const url = `http://${shownHost === "0.0.0.0" ? "127.0.0.1" : shownHost}:${port}`;
    const unclaimed = await users.unclaimedAdminNames();
    if (unclaimed.length > 0) {
      logger.warn(
        { event: "admin_names_unclaimed", usernames: unclaimed },
        `ADMIN_USERNAMES names ${unclaimed.join(", ")} with no account: only the first account may register such a name`,
      );
    }
    if ((await users.registrations.count(now())) === 0) {
      logger.warn(
        { event: "no_accounts", registration: config.registration },
        `no account yet: the first one created (${url}/register) is an admin${config.registration === "open" ? "" : ", even with registration closed or by invite"}`,
      );
    }

    // Metrics live on their own listener so the public port never exposes them.
    let admin: http.Server | undefined;
    let metricsUrl: string | undefined;
    if (config.metricsPort !== undefined) {
      admin = http.createServer((req, res) => {
        if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
          res.writeHead(404, { "content-type": "text/plain" }).end("not found");
          return;
        }
        metrics.registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
          () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics failed"),
        );
      });
      const adminPort = await listenOn(admin, config.metricsPort, config.metricsHost);
      metricsUrl = `http://${config.metricsHost}:${adminPort}`;
    }

    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        // Stop accepting connections first, then drain sockets (in-flight acks finish), then
        // close what is left and Redis last.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await realtime.close();
        await archiver.stop();
        await files.stop();
        clearInterval(pruneGuard);
        admin?.close();
        const force = setTimeout(() => server.closeAllConnections(), 2000);
        force.unref();
        await closed;
        clearTimeout(force);
        const durable = acks?.client;
        if (durable) await closeRedis(durable);
        await closeRedis(redis);
        await database.close();
        await searchDatabase.close();
        await sentinel?.close();
      })();
      return closing;
    };
    return {
      url,
      port,
      redis,
      realtime,
      revocation,
      metrics,
      metricsUrl,
      archiver,
      archive,
      files,
      database,
      close,
    };
  }
}

/**
 * The Redis URL to connect to. With sentinels, a local endpoint that always leads to the
 * primary they name (see redis/sentinel.ts); REDIS_URL's credentials and database are kept.
 */
async function resolveRedis(
  config: RuntimeConfig,
  logger: Logger,
): Promise<{ url: string; sentinel: SentinelEndpoint | undefined }> {
  if (!config.redisSentinels || !config.redisSentinelName) {
    return { url: config.redisUrl, sentinel: undefined };
  }
  const sentinel = new SentinelEndpoint({
    sentinels: config.redisSentinels,
    name: config.redisSentinelName,
    sentinelPassword: config.redisSentinelPassword,
    credentials: credentialsOf(config.redisUrl),
    logger,
  });
  const port = await sentinel.start();
  logger.info(
    { event: "redis_sentinel", name: config.redisSentinelName, primary: sentinel.current },
    `following the Redis primary "${config.redisSentinelName}" named by the sentinels (now ${sentinel.current})`,
  );
  const url = new URL(config.redisUrl || "redis://");
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return { url: url.toString(), sentinel };
}

/** The user name and password in a Redis URL, if any. */
function credentialsOf(url: string): { username?: string; password?: string } {
  const u = new URL(url);
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/**
 * Migrations that could not run at start-up (PostgreSQL away) are retried in the background,
 * every 5 s; until they ran, what needs PostgreSQL answers `unavailable`.
 */
function retryMigrations(database: Database, logger: Logger): Promise<void> {
  const again = () =>
    setTimeout(() => {
      migrate(database, logger).then(
        () => logger.info({ event: "postgres_ready" }, "PostgreSQL answers: schema up to date"),
        again,
      );
    }, 5_000).unref();
  again();
  return Promise.resolve();
}

function listenOn(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
