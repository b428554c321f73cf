// Prometheus metrics (prom-client), one registry per parley instance (no global default
// registry, so several instances can live in one test process). Served on the admin listener
// only (METRICS_PORT), never on the public port.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { VERSION } from "./version.js";

/** Methods counted by name (any other is "other": a label's values stay few). */
const METHODS = new Set(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

export class Metrics {
  readonly registry = new Registry();

  /** Always 1; its labels say which parley this is. */
  readonly buildInfo = new Gauge({
    name: "parley_build_info",
    help: "Which parley this is: its version and Node.js's",
    labelNames: ["version", "node"],
    aggregator: "first",
    registers: [this.registry],
  });

  readonly connectedSockets = new Gauge({
    name: "parley_connected_sockets",
    help: "Socket.IO sockets connected to this process",
    registers: [this.registry],
  });

  readonly events = new Counter({
    name: "parley_socket_events_total",
    help: "Socket events by outcome: ok, or the refusal code",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly guardSeconds = new Histogram({
    name: "parley_guard_seconds",
    help: "Time from an event's arrival to its session check's verdict",
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
    registers: [this.registry],
  });

  readonly guardChecks = new Counter({
    name: "parley_guard_checks_total",
    help: "Session checks made by the per-event guard",
    registers: [this.registry],
  });

  readonly httpRequests = new Histogram({
    name: "parley_http_request_duration_seconds",
    help: "HTTP requests (pages, forms, files, probes) by method, route template and status class",
    labelNames: ["method", "route", "status"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });

  readonly messagesSent = new Counter({
    name: "parley_messages_sent_total",
    help: "Messages stored by message:send (a retry of one already stored is not counted again)",
    registers: [this.registry],
  });

  private readonly redisConnections = new Map<string, () => boolean>();

  readonly redisUp = new Gauge({
    name: "parley_redis_up",
    help: "1 while this Redis connection is ready, 0 while it is not",
    labelNames: ["connection"],
    aggregator: "min",
    registers: [this.registry],
    collect: () => {
      for (const [name, ready] of this.redisConnections) {
        this.redisUp.set({ connection: name }, ready() ? 1 : 0);
      }
    },
  });

  /** Reports connection `name`'s readiness as parley_redis_up at each scrape. */
  watchRedis(name: string, ready: () => boolean): void {
    this.redisConnections.set(name, ready);
  }

  readonly fileUploads = new Counter({
    name: "parley_file_uploads_total",
    help: "Files stored by uploads",
    registers: [this.registry],
  });

  readonly fileUploadBytes = new Counter({
    name: "parley_file_upload_bytes_total",
    help: "Bytes of files stored by uploads (originals)",
    registers: [this.registry],
  });

  readonly fileDownloads = new Counter({
    name: "parley_file_downloads_total",
    help: "File downloads allowed by the per-request check",
    registers: [this.registry],
  });

  readonly guardRoundTrips = new Counter({
    name: "parley_guard_redis_round_trips_total",
    help: "Redis round trips made by the guard (batched reads); divide by checks for trips per event",
    registers: [this.registry],
  });

  readonly logins = new Counter({
    name: "parley_logins_total",
    help: "Login attempts by outcome",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly handshakesRefused = new Counter({
    name: "parley_handshakes_refused_total",
    help: "engine.io requests and upgrades refused, by HTTP status",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });

  readonly sweeps = new Counter({
    name: "parley_sweeps_total",
    help: "Idle-expiry sweeps run",
    registers: [this.registry],
  });

  readonly sweepSessions = new Counter({
    name: "parley_sweep_sessions_total",
    help: "Sessions checked by idle-expiry sweeps (a read-only script per 1,000)",
    registers: [this.registry],
  });

  readonly sweepCpuSeconds = new Counter({
    name: "parley_sweep_cpu_seconds_total",
    help: "Process CPU time spent while sweeps ran",
    registers: [this.registry],
  });

  readonly redisErrors = new Counter({
    name: "parley_redis_errors_total",
    help: "Redis client errors (connection losses, timeouts)",
    registers: [this.registry],
  });

  readonly archiveBacklog = new Gauge({
    name: "parley_archive_backlog_messages",
    help: "Messages this process last saw in Redis that PostgreSQL does not hold yet",
    registers: [this.registry],
  });

  readonly archiveLagSeconds = new Histogram({
    name: "parley_archive_lag_seconds",
    help: "Time from a message being stored in Redis to the archiver reading it for PostgreSQL",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15, 60, 300],
    registers: [this.registry],
  });

  readonly archivedMessages = new Counter({
    name: "parley_archived_messages_total",
    help: "Messages written to PostgreSQL by this process's archiver",
    registers: [this.registry],
  });

  readonly archiveFailures = new Counter({
    name: "parley_archive_failures_total",
    help: "Archive passes that could not reach PostgreSQL (or Redis)",
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.buildInfo.set({ version: VERSION, node: process.version }, 1);
  }

  /** Observes one HTTP request (its route template, or "other" for what no route matched). */
  readonly observeRequest = (
    method: string,
    route: string,
    status: number,
    seconds: number,
  ): void => {
    const m = method === "HEAD" ? "GET" : METHODS.has(method) ? method : "other";
    this.httpRequests.observe(
      { method: m, route, status: `${Math.floor(status / 100)}xx` },
      seconds,
    );
  };

  /**
   * Counts a socket event's outcome and observes its guard time. Labelled children are
   * looked up once per outcome, not once per event (the hot path).
   */
  readonly observeEvent = (outcome: string, guardSeconds: number): void => {
    let counter = this.outcomeCounters.get(outcome);
    if (!counter) {
      counter = this.events.labels(outcome);
      this.outcomeCounters.set(outcome, counter);
    }
    counter.inc();
    this.guardSeconds.observe(guardSeconds);
  };
  private readonly outcomeCounters = new Map<string, { inc(): void }>();
}
