// Validates the environment once, up front, into a frozen typed object.
// Every problem is reported at once, one line per variable, and never as a stack trace.
import { z } from "zod";
import { USERNAME_RE } from "./auth/validation.js";
import { parseSentinels, type SentinelAddress } from "./redis/sentinel.js";

export interface Config {
  readonly port: number;
  readonly host: string;
  /** Unset: a private redis-server is started (never in production), unless sentinels are set. */
  readonly redisUrl: string | undefined;
  /** Sentinels (host:port) that name the primary; REDIS_URL then only carries credentials. */
  readonly redisSentinels: readonly SentinelAddress[] | undefined;
  /** The name the sentinels monitor the primary under. */
  readonly redisSentinelName: string | undefined;
  /** The sentinels' own password, if they require one. */
  readonly redisSentinelPassword: string | undefined;
  /** Redis Cluster nodes (host:port) to discover the cluster from; REDIS_URL then only carries credentials. */
  readonly redisClusterNodes: readonly SentinelAddress[] | undefined;
  /** Replicas that must hold a message before it is acked (default 1 on Sentinel, else 0). */
  readonly redisAckReplicas: number;
  /** First signs, all verify. Unset outside production: generated and kept under dataDir. */
  readonly sessionSecrets: readonly string[] | undefined;
  /** Unset: the server's own origin, derived once it listens. */
  readonly allowedOrigins: readonly string[] | undefined;
  readonly sessionIdleSeconds: number;
  readonly sessionAbsoluteSeconds: number;
  /** Lifetime of a session that only holds a CSRF token (an idle anonymous session ends within 15 minutes). */
  readonly anonymousSessionSeconds: number;
  readonly trustProxy: number | false;
  readonly production: boolean;
  readonly logLevel: string;
  readonly dataDir: string;
  /** Admin listener for GET /metrics; unset: no metrics endpoint. */
  readonly metricsPort: number | undefined;
  readonly metricsHost: string;
  /** Workers for `--cluster` mode; unset: one per core. */
  readonly workers: number | undefined;
  /** How often sockets of sessions that expired while idle are looked for. */
  readonly sweepSeconds: number;
  /** Who may create an account: anyone, holders of an invite, or nobody (but the first). */
  readonly registration: "open" | "invite" | "closed";
  /** Accounts one client address may create per hour with REGISTRATION=open (0: no limit). */
  readonly registrationsPerAddress: number;
  /** Lower-cased usernames that are admins whatever the admin page says. */
  readonly adminUsernames: ReadonlySet<string>;
  /**
   * Multiplies every per-user event budget (benchmarks only, so that a load from 50 users
   * measures the per-event checks and not the limits; refused in production).
   */
  readonly budgetScale: number;
  /** The PostgreSQL holding the record of messages; unset: a private one under dataDir. */
  readonly databaseUrl: string | undefined;
  /** Days a message is kept in PostgreSQL (by the time it was sent); 0: for ever. */
  readonly messageRetentionDays: number;
  /** The messages of each room Redis keeps once PostgreSQL holds them (the recent window). */
  readonly roomWindow: number;
  /** Messages of a room Redis may hold that PostgreSQL does not yet (then sends wait). */
  readonly roomBacklog: number;
  /** PostgreSQL's text-search configuration for message search ("simple": any language). */
  readonly searchConfig: string;
  /** Files: limits, and where their bytes live. */
  readonly files: FilesConfig;
  /** The level successful requests are logged at (the access log); "silent": not at all. */
  readonly accessLogLevel: "info" | "debug" | "silent";
  /** Where people reach parley (an origin: scheme, host, port); unset: not known. */
  readonly publicUrl: string | undefined;
}

export interface FilesConfig {
  readonly maxBytes: number;
  readonly quotaBytes: number;
  readonly uploadsPerMinute: number;
  readonly roomPerDay: number;
  readonly pendingSeconds: number;
  readonly maxPixels: number;
  /** Local disk (unset: <dataDir>/files), used when no bucket is set. */
  readonly dir: string | undefined;
  /** S3-compatible storage, when FILES_S3_BUCKET is set. */
  readonly s3:
    | {
        readonly bucket: string;
        readonly region: string;
        readonly endpoint: string | undefined;
        readonly accessKeyId: string | undefined;
        readonly secretAccessKey: string | undefined;
        readonly prefix: string;
        readonly forcePathStyle: boolean;
        readonly signedUrls: boolean;
      }
    | undefined;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const intIn = (min: number, max: number) => {
  const said = `must be a whole number from ${min} to ${max}`;
  return z
    .string()
    .trim()
    .regex(/^\d+$/, said)
    .transform(Number)
    .pipe(z.number().int(said).min(min, said).max(max, said));
};

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ["true", "false", "1", "0"].includes(v), "must be true or false")
  .transform((v) => v === "true" || v === "1");

const list = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((p) => p.trim())
      .filter((p) => p.length > 0),
  )
  .pipe(z.array(z.string()).min(1, "must list at least one value"));

const origin = z.string().refine((o) => {
  try {
    const u = new URL(o);
    return (u.protocol === "http:" || u.protocol === "https:") && u.origin === o;
  } catch {
    return false;
  }
}, "must be origins like https://chat.example.com (scheme, host and optional port; no path, no trailing slash)");

const schema = z.object({
  PORT: intIn(0, 65535).default(3000),
  HOST: z.string().trim().min(1, "must not be empty").default("127.0.0.1"),
  REDIS_URL: z
    .string()
    .trim()
    .refine((u) => /^rediss?:\/\//.test(u), "must start with redis:// or rediss://")
    .optional(),
  REDIS_SENTINELS: list.optional(),
  REDIS_SENTINEL_NAME: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, "must be a sentinel master name (letters, digits, . _ -)")
    .optional(),
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  REDIS_ACK_REPLICAS: intIn(0, 16).optional(),
  REDIS_CLUSTER_NODES: list.optional(),
  SESSION_SECRET: list
    .pipe(z.array(z.string().min(32, "each secret must be at least 32 characters long")))
    .optional(),
  ALLOWED_ORIGINS: list.pipe(z.array(origin)).optional(),
  PUBLIC_URL: z
    .string()
    .trim()
    .transform((u) => u.replace(/\/+$/, ""))
    .pipe(origin)
    .optional(),
  SESSION_IDLE_SECONDS: intIn(1, 31_536_000).default(1800),
  SESSION_ABSOLUTE_SECONDS: intIn(1, 31_536_000).default(43_200),
  SESSION_ANONYMOUS_SECONDS: intIn(1, 900).default(900),
  TRUST_PROXY: z
    .string()
    .trim()
    .refine((v) => v === "false" || /^\d+$/.test(v), "must be a whole number of hops or false")
    .transform((v) => (v === "false" ? (false as const) : Number(v)))
    .default(false),
  NODE_ENV: z.string().optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(", ")}`).default("info"),
  PARLEY_DATA_DIR: z.string().trim().min(1).default("./data"),
  METRICS_PORT: intIn(0, 65535).optional(),
  METRICS_HOST: z.string().trim().min(1, "must not be empty").default("127.0.0.1"),
  PARLEY_WORKERS: intIn(1, 64).optional(),
  SESSION_SWEEP_SECONDS: intIn(1, 4).default(3),
  REGISTRATION: z.enum(["open", "invite", "closed"], "must be open, invite or closed").optional(),
  REGISTRATIONS_PER_ADDRESS: intIn(0, 1_000_000).default(300),
  ADMIN_USERNAMES: list
    .pipe(
      z.array(z.string().regex(USERNAME_RE, "must list usernames (3–32 letters, digits, . _ -)")),
    )
    .optional(),
  PARLEY_BENCH_BUDGET_SCALE: intIn(1, 100_000).default(1),
  DATABASE_URL: z
    .string()
    .trim()
    .refine((u) => /^postgres(ql)?:\/\//.test(u), "must start with postgres:// or postgresql://")
    .optional(),
  MESSAGE_RETENTION_DAYS: intIn(0, 365_000).default(0),
  ROOM_WINDOW: intIn(100, 1_000_000).default(10_000),
  ROOM_BACKLOG: intIn(1_000, 10_000_000).default(100_000),
  SEARCH_CONFIG: z
    .string()
    .trim()
    .regex(
      /^[a-z_][a-z0-9_]{0,62}$/,
      "must be a text-search configuration name like simple or english",
    )
    .default("simple"),
  ACCESS_LOG_LEVEL: z
    .enum(["info", "debug", "silent"], "must be info, debug or silent")
    .default("info"),
  FILE_MAX_BYTES: intIn(1024, 10 * 1024 ** 3).default(25 * 1024 * 1024),
  FILE_QUOTA_BYTES: intIn(1024, 1024 ** 4).default(1024 ** 3),
  FILE_UPLOADS_PER_MINUTE: intIn(1, 100_000).default(30),
  ROOM_FILES_PER_DAY: intIn(1, 10_000_000).default(2_000),
  FILE_PENDING_SECONDS: intIn(60, 86_400).default(3_600),
  FILE_MAX_PIXELS: intIn(1_000_000, 1_000_000_000).default(50_000_000),
  FILES_DIR: z.string().trim().min(1).optional(),
  FILES_S3_BUCKET: z
    .string()
    .trim()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name (3–63 a-z 0-9 . -)")
    .optional(),
  FILES_S3_REGION: z.string().trim().min(1).default("us-east-1"),
  FILES_S3_ENDPOINT: z
    .string()
    .trim()
    .refine((u) => /^https?:\/\//.test(u), "must start with http:// or https://")
    .optional(),
  FILES_S3_ACCESS_KEY_ID: z.string().trim().min(1).optional(),
  FILES_S3_SECRET_ACCESS_KEY: z.string().trim().min(1).optional(),
  FILES_S3_PREFIX: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9!_.*'()/-]{0,200}$/, "must be a key prefix of letters, digits and !_.*'()/-")
    .default(""),
  FILES_S3_PATH_STYLE: bool.optional(),
  FILES_S3_SIGNED_URLS: bool.default(false),
});

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

/** Parses an environment; throws ConfigError listing every problem, one line each. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // Empty strings count as unset, as a shell `VAR=` usually means.
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ""),
  );
  const parsed = schema.safeParse(cleaned);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? "configuration");
      const value = cleaned[name];
      // Secrets and URLs (which may carry a password) are never repeated.
      const secret = /SECRET|PASSWORD|^REDIS_URL$|^DATABASE_URL$|ACCESS_KEY/.test(name);
      const shown = secret || value === undefined ? "" : ` (got "${value}")`;
      problems.push(`${name} ${issue.message}${shown}`);
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === "production";
  let sentinels: SentinelAddress[] | undefined;
  if (e.REDIS_SENTINELS) {
    try {
      sentinels = parseSentinels(e.REDIS_SENTINELS);
    } catch (err) {
      problems.push(`REDIS_SENTINELS must list host:port entries: ${(err as Error).message}`);
    }
    if (e.REDIS_SENTINEL_NAME === undefined) {
      problems.push("REDIS_SENTINEL_NAME is required with REDIS_SENTINELS");
    }
    if (e.REDIS_URL?.startsWith("rediss://")) {
      problems.push(
        "REDIS_URL must use redis:// with REDIS_SENTINELS (TLS to a sentinel-managed primary is not supported)",
      );
    }
  } else if (e.REDIS_SENTINEL_NAME !== undefined) {
    problems.push("REDIS_SENTINEL_NAME needs REDIS_SENTINELS");
  }
  let clusterNodes: SentinelAddress[] | undefined;
  if (e.REDIS_CLUSTER_NODES) {
    try {
      clusterNodes = parseSentinels(e.REDIS_CLUSTER_NODES);
    } catch (err) {
      problems.push(`REDIS_CLUSTER_NODES must list host:port entries: ${(err as Error).message}`);
    }
    if (e.REDIS_SENTINELS) {
      problems.push("REDIS_CLUSTER_NODES and REDIS_SENTINELS cannot be used together");
    }
    if (e.REDIS_URL?.startsWith("rediss://")) {
      problems.push(
        "REDIS_URL must use redis:// with REDIS_CLUSTER_NODES (TLS to a cluster is not supported)",
      );
    }
    if ((e.REDIS_ACK_REPLICAS ?? 0) > 0) {
      problems.push(
        "REDIS_ACK_REPLICAS must be 0 with REDIS_CLUSTER_NODES (replica acks are for Sentinel)",
      );
    }
  }
  if (
    production &&
    e.REDIS_URL === undefined &&
    e.REDIS_SENTINELS === undefined &&
    e.REDIS_CLUSTER_NODES === undefined
  ) {
    problems.push(
      "REDIS_URL (or REDIS_SENTINELS, or REDIS_CLUSTER_NODES) is required when NODE_ENV=production",
    );
  }
  if (production && e.SESSION_SECRET === undefined) {
    problems.push("SESSION_SECRET is required when NODE_ENV=production");
  }
  if (e.SESSION_ABSOLUTE_SECONDS < e.SESSION_IDLE_SECONDS) {
    problems.push(
      `SESSION_ABSOLUTE_SECONDS must not be shorter than SESSION_IDLE_SECONDS (got "${e.SESSION_ABSOLUTE_SECONDS}")`,
    );
  }
  if (production && e.PARLEY_BENCH_BUDGET_SCALE !== 1) {
    problems.push(
      "PARLEY_BENCH_BUDGET_SCALE is for benchmarks and cannot be set when NODE_ENV=production",
    );
  }
  if (production && e.PUBLIC_URL?.startsWith("http://")) {
    problems.push(
      `PUBLIC_URL is plain HTTP (got "${e.PUBLIC_URL}"), but NODE_ENV=production makes cookies Secure, which browsers never send over it: every login would fail. Serve parley over HTTPS (TLS at a proxy, with TRUST_PROXY) and say https://, or leave NODE_ENV unset`,
    );
  }
  if (e.FILES_S3_SIGNED_URLS && !e.FILES_S3_BUCKET) {
    problems.push("FILES_S3_SIGNED_URLS needs FILES_S3_BUCKET");
  }
  if ((e.FILES_S3_ACCESS_KEY_ID === undefined) !== (e.FILES_S3_SECRET_ACCESS_KEY === undefined)) {
    problems.push("FILES_S3_ACCESS_KEY_ID and FILES_S3_SECRET_ACCESS_KEY go together");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    redisUrl: e.REDIS_URL,
    redisSentinels: sentinels ? Object.freeze(sentinels) : undefined,
    redisSentinelName: e.REDIS_SENTINEL_NAME,
    redisSentinelPassword: e.REDIS_SENTINEL_PASSWORD,
    redisClusterNodes: clusterNodes ? Object.freeze(clusterNodes) : undefined,
    redisAckReplicas: e.REDIS_ACK_REPLICAS ?? (sentinels ? 1 : 0),
    sessionSecrets: e.SESSION_SECRET ? Object.freeze([...e.SESSION_SECRET]) : undefined,
    allowedOrigins: e.ALLOWED_ORIGINS ? Object.freeze([...e.ALLOWED_ORIGINS]) : undefined,
    sessionIdleSeconds: e.SESSION_IDLE_SECONDS,
    sessionAbsoluteSeconds: e.SESSION_ABSOLUTE_SECONDS,
    anonymousSessionSeconds: e.SESSION_ANONYMOUS_SECONDS,
    trustProxy: e.TRUST_PROXY,
    production,
    logLevel: e.LOG_LEVEL,
    dataDir: e.PARLEY_DATA_DIR,
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST,
    workers: e.PARLEY_WORKERS,
    sweepSeconds: e.SESSION_SWEEP_SECONDS,
    registration: e.REGISTRATION ?? (production ? "invite" : "open"),
    registrationsPerAddress: e.REGISTRATIONS_PER_ADDRESS,
    adminUsernames: new Set((e.ADMIN_USERNAMES ?? []).map((n) => n.toLowerCase())),
    budgetScale: e.PARLEY_BENCH_BUDGET_SCALE,
    databaseUrl: e.DATABASE_URL,
    messageRetentionDays: e.MESSAGE_RETENTION_DAYS,
    roomWindow: e.ROOM_WINDOW,
    roomBacklog: e.ROOM_BACKLOG,
    searchConfig: e.SEARCH_CONFIG,
    accessLogLevel: e.ACCESS_LOG_LEVEL,
    publicUrl: e.PUBLIC_URL,
    files: Object.freeze({
      maxBytes: e.FILE_MAX_BYTES,
      quotaBytes: e.FILE_QUOTA_BYTES,
      uploadsPerMinute: e.FILE_UPLOADS_PER_MINUTE,
      roomPerDay: e.ROOM_FILES_PER_DAY,
      pendingSeconds: e.FILE_PENDING_SECONDS,
      maxPixels: e.FILE_MAX_PIXELS,
      dir: e.FILES_DIR,
      s3: e.FILES_S3_BUCKET
        ? Object.freeze({
            bucket: e.FILES_S3_BUCKET,
            region: e.FILES_S3_REGION,
            endpoint: e.FILES_S3_ENDPOINT,
            accessKeyId: e.FILES_S3_ACCESS_KEY_ID,
            secretAccessKey: e.FILES_S3_SECRET_ACCESS_KEY,
            prefix: e.FILES_S3_PREFIX,
            forcePathStyle: e.FILES_S3_PATH_STYLE ?? e.FILES_S3_ENDPOINT !== undefined,
            signedUrls: e.FILES_S3_SIGNED_URLS,
          })
        : undefined,
    }),
  });
}
