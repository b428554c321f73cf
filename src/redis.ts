// Creates the Redis clients parley uses, tuned to fail fast and never to act late.
//
// - Disconnected: commands are refused at once (no offline queue), so an outage answers 503
//   or `unavailable` instead of queueing; reconnection happens in the background.
// - Hung (a stopped process, a stalled disk, a half-open connection: no FIN, no RST):
//   node-redis's command timeout only covers a command still waiting to be written, never
//   one already sent, so it cannot help. A watchdog instead keeps one PING in flight per
//   connection: when a PING (queued behind every command before it) has no reply within
//   REDIS_REPLY_DEADLINE_MS while nothing at all arrives on the connection, or a new
//   connection is not ready by then, the connection is suspect and is reset (its TCP socket
//   reset; a TLS client, whose socket cannot be found, is destroyed and connected again).
//   node-redis then fails every pending command at once and reconnects. A connection whose
//   bytes keep arriving is busy, not hung (a long reply ahead of the PING), and is left alone
//   for up to REDIS_BUSY_LIMIT_MS (5 s); parley bounds every read by what it returns, so that
//   stays short. A PING goes out at most one tick after the last one settled and is judged
//   at most one tick late, so on a quiet connection no Redis call waits longer than the
//   deadline plus two ticks (1.75 s), and on a busy one no longer than the busy limit plus
//   two ticks; the per-event check has its own deadline (2 s). A reset does not unsend what
//   Redis already received: a stopped Redis
//   that resumes still runs what sits in its socket buffer, after a RST as after a FIN.
//   Writes that must not happen once parley has given up on them are therefore fenced.
// - Late writes: a fenced write carries a deadline in Redis's own clock (the offset between
//   the clocks is measured whenever a connection becomes ready) and is a Lua script that
//   refuses to act past it. The deadline is when parley gives up on any call at the latest.
import { createHash, randomUUID } from "node:crypto";
import dc from "node:diagnostics_channel";
import type net from "node:net";
import calculateSlot from "cluster-key-slot";
import type { Logger } from "pino";
import { createClient, createCluster, type RedisClientType, type RedisClusterType } from "redis";

/** One Redis (or the primary of a Sentinel set), or a Redis Cluster. */
export type Redis = RedisClientType | RedisClusterType;

/** True for a Redis Cluster client (node-redis's cluster has `masters`; a client has not). */
export function isCluster(redis: Redis): redis is RedisClusterType {
  return "masters" in redis;
}

/**
 * Whether Redis can take commands now: the client is ready, or, on a cluster, every primary's
 * connection is (a cluster with a primary away cannot serve that primary's keys).
 */
export function isRedisReady(redis: Redis): boolean {
  if (!isCluster(redis)) return redis.isReady;
  return redis.isOpen && redis.masters.length > 0 && redis.masters.every((m) => m.client?.isReady);
}

/** How long a Redis reply may take before its connection is reset (ms). */
export const REDIS_REPLY_DEADLINE_MS = 1250;
/**
 * The longest a PING may wait while bytes keep arriving ahead of it (ms): past it the
 * connection is reset all the same. parley's reads are bounded by what they return, so a
 * healthy connection never streams that long; this bounds what any call waits.
 */
export const REDIS_BUSY_LIMIT_MS = 4 * REDIS_REPLY_DEADLINE_MS;
/** How often the watchdog looks (ms). */
const WATCH_EVERY_MS = 250;
/** The longest any Redis call can wait before it fails (ms). */
export const REDIS_MAX_WAIT_MS = REDIS_REPLY_DEADLINE_MS + 2 * WATCH_EVERY_MS;

// node-redis keeps its socket private. Every TCP client socket is announced on this
// channel when created; a socket's own `connect` event comes first, and node-redis's
// `connect` event follows in the same turn (microtasks only, no other I/O in between), so
// the socket that connected last when a client says "connect" is that client's.
// (TLS sockets are not announced: a TLS client is reset by destroying and reconnecting it.)
let lastConnected: net.Socket | undefined;
dc.subscribe("net.client.socket", (message) => {
  const socket = (message as { socket: net.Socket }).socket;
  socket.once("connect", () => {
    lastConnected = socket;
  });
});

export interface RedisHooks {
  logger: Logger;
  /** Called on every connection error (metrics). */
  onError?: () => void;
  /** Connections that follow the main one (pub/sub) log their state changes at debug. */
  follower?: boolean;
  /** The server's port for a plain TCP connection; undefined for TLS (no socket to reset). */
  tcpPort?: number | undefined;
  /** Called each time the connection becomes ready. */
  onReady?: () => void;
}

/** The port of a redis:// URL (TCP); undefined for rediss:// (TLS). */
function tcpPortOf(url: string): number | undefined {
  const u = new URL(url);
  return u.protocol === "redis:" ? Number(u.port || 6379) : undefined;
}

function options(url: string) {
  return {
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2000,
      // Retry forever with a capped backoff: parley recovers by itself when Redis is back.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000),
    },
  };
}

/**
 * Logs state changes once each, and resets the connection when Redis stops answering.
 * `connectedNow`: the client is connecting at this very moment (a cluster's node client, whose
 * first connection is announced by the cluster): take the socket that just connected.
 */
function supervise<C extends RedisClientType>(
  client: C,
  name: string,
  hooks: RedisHooks,
  connectedNow = false,
): C {
  const { logger } = hooks;
  let up = false;
  let socket: net.Socket | undefined;
  let connectedAt = 0; // a connection that is not ready yet
  let pingSentAt = 0; // the watchdog's PING in flight (or the last progress seen since)
  let readAtMark = 0; // bytes the socket had read when pingSentAt was set
  let firstSentAt = 0; // when the PING in flight was sent (progress never moves this)
  let pingEpoch = 0;
  let closing = false;
  pingsInFlight.set(client, () => pingSentAt);

  const connected = () => {
    // Only a plain TCP socket to the server's port is taken for this client's.
    socket =
      hooks.tcpPort !== undefined && lastConnected?.remotePort === hooks.tcpPort
        ? lastConnected
        : undefined;
    connectedAt = performance.now();
  };
  client.on("connect", connected);
  if (connectedNow) connected();
  const info = hooks.follower ? logger.debug.bind(logger) : logger.info.bind(logger);
  const error = hooks.follower ? logger.debug.bind(logger) : logger.error.bind(logger);
  client.on("ready", () => {
    connectedAt = 0;
    pingSentAt = 0;
    if (!up) info({ event: "redis_up", client: name }, "redis connection ready");
    up = true;
    hooks.onReady?.();
  });
  client.on("error", (err: Error) => {
    hooks.onError?.();
    connectedAt = 0;
    pingSentAt = 0;
    if (up && !closing)
      error({ event: "redis_down", client: name, err: err.message }, "redis lost");
    up = false;
  });

  const originalDestroy = client.destroy.bind(client);
  const reset = (why: string) => {
    pingSentAt = 0;
    connectedAt = 0;
    pingEpoch++;
    logger.warn(
      { event: "redis_unresponsive", client: name, why, deadlineMs: REDIS_REPLY_DEADLINE_MS },
      "redis did not answer in time: resetting the connection",
    );
    if (socket && !socket.destroyed) {
      try {
        socket.resetAndDestroy();
        return;
      } catch {
        // not a TCP socket: fall through
      }
    }
    try {
      originalDestroy();
    } catch {
      // already closed
    }
    client.connect().catch(() => undefined);
  };

  // Judged after the poll phase (setImmediate): a reply that arrived while the event loop
  // was busy is read first, so a stalled process does not reset a healthy connection.
  const judge = (why: string, since: () => number) =>
    setImmediate(() => {
      const started = since();
      if (started > 0 && performance.now() - started > REDIS_REPLY_DEADLINE_MS) reset(why);
    });

  const timer = setInterval(() => {
    const now = performance.now();
    if (connectedAt > 0) {
      if (now - connectedAt > REDIS_REPLY_DEADLINE_MS) {
        judge("connection not ready", () => connectedAt);
      }
      return;
    }
    if (!client.isReady) return;
    if (pingSentAt > 0) {
      if (now - pingSentAt <= REDIS_REPLY_DEADLINE_MS) return;
      // Bytes still arriving mean Redis answers: a long reply ahead of the PING (someone's
      // large read) is a busy connection, not a hung one. The wait counts from the last
      // progress seen, so only a connection that has gone quiet for the deadline is reset.
      const read = socket?.bytesRead ?? 0;
      if (read !== readAtMark && now - firstSentAt < REDIS_BUSY_LIMIT_MS) {
        readAtMark = read;
        pingSentAt = now;
        return;
      }
      judge("no reply", () => pingSentAt);
      return;
    }
    pingSentAt = now;
    firstSentAt = now;
    readAtMark = socket?.bytesRead ?? 0;
    const epoch = ++pingEpoch;
    const settle = () => {
      if (epoch === pingEpoch) pingSentAt = 0;
    };
    client.ping().then(settle, settle);
  }, WATCH_EVERY_MS);
  timer.unref();

  // Stopping the client stops its watchdog, and is not an outage worth an error line.
  for (const method of ["close", "destroy", "quit", "disconnect"] as const) {
    const original = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
    if (typeof original !== "function") continue;
    Object.defineProperty(client, method, {
      configurable: true,
      value: (...args: unknown[]) => {
        closing = true;
        clearInterval(timer);
        return original.apply(client, args);
      },
    });
  }
  return client;
}

/** When each connection's watchdog PING in flight was sent (performance.now(); 0 if none). */
const pingsInFlight = new WeakMap<object, () => number>();

/**
 * The earliest moment (Date.now() clock) at which the watchdog may reset the connection that
 * carries a write to `key` sent now. The watchdog resets a connection when its PING has had
 * no reply for the deadline: a PING sent after the write ends that no earlier than the
 * deadline from now, but one already in flight ends it a deadline from when it was sent,
 * which may be any moment from now on.
 */
function earliestReset(client: Redis, key: string | undefined, now: number): number {
  const node = isCluster(client)
    ? key === undefined
      ? undefined
      : client.slots[calculateSlot(key)]?.master.client
    : client;
  const sent = node ? (pingsInFlight.get(node)?.() ?? 0) : 0;
  const since = sent > 0 ? Math.min(0, sent - performance.now()) : 0;
  return now + since + REDIS_REPLY_DEADLINE_MS;
}

/**
 * Redis's clock minus ours (ms), measured when each connection becomes ready, as its lower
 * bound: Redis read its clock before the reply reached us. A deadline built on the lower
 * bound falls, in Redis's clock, no later than the moment parley gives up.
 */
const clockOffsets = new WeakMap<Redis, number>();

function measureClock(client: RedisClientType, into: (offset: number) => void): void {
  client.time().then(
    (reply) => {
      const [seconds, micros] = reply as unknown as [string, string];
      const theirs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      into(theirs - Date.now());
    },
    () => undefined,
  );
}

/** Each cluster node's clock offset, by address (measured as its connection becomes ready). */
const nodeOffsets = new WeakMap<RedisClusterType, Map<string, number>>();

function clusterClock(cluster: RedisClusterType): (node: string, offset: number) => void {
  const offsets = new Map<string, number>();
  nodeOffsets.set(cluster, offsets);
  return (node, offset) => {
    offsets.set(node, offset);
  };
}

/**
 * The offset for a write to `key`: on a cluster, that of the primary serving the key's slot
 * (a fence is judged by the clock of the node that runs it); if unknown yet, the lowest
 * known, whose deadline falls earliest.
 */
function offsetFor(client: Redis, key: string | undefined): number {
  if (!isCluster(client)) return clockOffsets.get(client) ?? 0;
  const offsets = nodeOffsets.get(client);
  if (!offsets || offsets.size === 0) return 0;
  const address = key === undefined ? undefined : client.slots[calculateSlot(key)]?.master.address;
  const own = address === undefined ? undefined : offsets.get(address);
  return own ?? Math.min(...offsets.values());
}

/**
 * Runs a fenced write: a Lua script that begins with FENCE, with its deadline (in Redis's
 * clock) put before `args` as ARGV[1]. Redis refuses to act on it past the deadline; if the
 * connection fails first, the failure is reported only once the deadline has passed. So
 * when parley says a write failed, it can no longer happen: a stalled Redis that resumes
 * later refuses it.
 *
 * A stalled Redis may also resume before the deadline, after the watchdog has already reset
 * the connection: the write is then applied though its reply is lost. So a script that runs
 * after the earliest moment the watchdog could have reset its connection (less a tick, for a
 * reply still on its way) leaves its outcome under a key of its own (same slot, 10 s), and
 * once the deadline has passed parley reads it back: a write that happened is reported as
 * done, with its result, never as failed. That moment counts from the watchdog's PING if one
 * is in flight (it may be due just after the write is sent), else from the write. Writes
 * that run in time (all of them, normally) leave nothing.
 *
 * What this cannot tell: a write that ran in time but whose reply was lost on the way (the
 * connection reset mid-reply, or replies held up by the network for over a tick) is
 * reported as failed although it happened, as is one whose note could not be read back
 * within READ_BACK_MS. Such a write happened before parley answered, never after; a client
 * that retries is made safe by de-duplication, not by this fence.
 */
export async function fencedEval(
  client: Redis,
  script: string,
  keys: string[],
  args: string[],
): Promise<unknown> {
  const sentAt = Date.now();
  const giveUpAt = sentAt + REDIS_MAX_WAIT_MS;
  const offset = offsetFor(client, keys[0]);
  const deadline = String(Math.floor(giveUpAt + offset));
  const lateAfter = String(
    Math.floor(earliestReset(client, keys[0], sentAt) - WATCH_EVERY_MS + offset),
  );
  const outcome = `parley:outcome:{${slotTag(keys[0] ?? "")}}:${randomUUID()}`;
  const w = wrapped(script);
  const options = { keys: [...keys, outcome], arguments: [deadline, ...args, lateAfter] };
  try {
    // By its SHA1 (Redis caches scripts it has run): not the whole script on every write. A
    // Redis that does not know it yet (a restart, a failover, SCRIPT FLUSH) answers NOSCRIPT
    // without running anything, and the script itself is sent, once.
    return await client.evalSha(w.sha, options).catch((err: unknown) => {
      if (err instanceof Error && err.message.startsWith("NOSCRIPT")) {
        return client.eval(w.text, options);
      }
      throw err;
    });
  } catch (err) {
    // Never written (the client was offline or closed), or answered by Redis: the outcome
    // is known. Otherwise the write may still sit in Redis's socket buffer: wait it out.
    const e = err as Error;
    const known =
      /The client is (offline|closed)|\bLATE write|ERR|WRONGTYPE|READONLY|CLUSTERDOWN|CROSSSLOT|TRYAGAIN|NOPERM/.test(
        e.message,
      );
    if (known) throw err;
    const wait = giveUpAt - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 1));
    // Past the deadline nothing more can happen; did it happen before? Ask for a moment (a
    // Redis that resumed has usually been reconnected to by then; a connection not ready
    // refuses at once, and only the note's own node is asked).
    const askUntil = Date.now() + READ_BACK_MS;
    for (let left = READ_BACK_MS; left > 0; left = askUntil - Date.now()) {
      const found = await within(client.get(outcome), left).catch(() => undefined);
      if (found !== undefined) {
        if (found === null) throw err; // not applied
        return asReply(found);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw err;
  }
}

/**
 * A noted outcome as the script's own reply would have reached us: a Lua false as null, an
 * empty table as an empty array (JSON cannot tell it from an empty object), numbers as
 * integers (Redis truncates a Lua number to an integer reply).
 */
function asReply(noted: string): unknown {
  const convert = (v: unknown): unknown => {
    if (typeof v === "number") return Math.trunc(v);
    if (Array.isArray(v)) return v.map(convert);
    if (v !== null && typeof v === "object" && Object.keys(v).length === 0) return [];
    return v;
  };
  return convert(JSON.parse(noted));
}

/** How long a write of unknown outcome is looked up after its deadline (ms). */
const READ_BACK_MS = 400;

/** Scripts as sent: the body runs as a function so its outcome can be noted when it is late. */
const wrappedScripts = new Map<string, { text: string; sha: string }>();
function wrapped(script: string): { text: string; sha: string } {
  let w = wrappedScripts.get(script);
  if (w === undefined) {
    const text = `local outcome = table.remove(KEYS)
local late_after = tonumber(table.remove(ARGV))
local function body()
${script}
end
local r = body()
if type(r) == 'table' and r.err then return r end
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > late_after then
  local v = r
  if v == false then v = cjson.null elseif v == true then v = 1
  elseif type(v) == 'table' and v.ok then v = v.ok end
  local encoded, text = pcall(cjson.encode, v)
  if encoded then redis.call('SET', outcome, text, 'PX', 10000) end
end
return r
`;
    w = { text, sha: createHash("sha1").update(text).digest("hex") };
    wrappedScripts.set(script, w);
  }
  return w;
}

/** The part of a key that decides its cluster slot: its hash tag, or the whole key. */
function slotTag(key: string): string {
  const open = key.indexOf("{");
  const close = open < 0 ? -1 : key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** Lua prelude of a fenced write: ARGV[1] is its deadline (see fencedEval). */
export const FENCE = `
local clock = redis.call('TIME')
if tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) > tonumber(ARGV[1]) then
  return redis.error_reply('LATE write refused: parley had already given up on it')
end
`;

export async function connectRedis(
  url: string,
  logger: Logger,
  name = "main",
  onError: () => void = () => undefined,
): Promise<Redis> {
  const client: RedisClientType = supervise(createClient(options(url)) as RedisClientType, name, {
    logger,
    onError,
    tcpPort: tcpPortOf(url),
    onReady: () => measureClock(client, (offset) => clockOffsets.set(client, offset)),
  });
  await firstConnect(client);
  return client;
}

/**
 * Connects, or fails with the first connection error: at start-up an unreachable Redis is
 * reported at once (main.ts prints one line), instead of being retried for ever in silence.
 * Once connected, the client retries by itself whatever happens.
 */
async function firstConnect(client: RedisClientType): Promise<void> {
  let onError: (err: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    onError = reject;
  });
  client.once("error", onError);
  const connecting = client.connect();
  connecting.catch(() => undefined);
  try {
    await Promise.race([connecting, failed]);
  } catch (err) {
    if (client.isOpen) client.destroy();
    throw err;
  } finally {
    client.off("error", onError);
  }
}

/**
 * A Redis Cluster client: `nodes` to discover the cluster from, `url` for credentials (its
 * host is not used). Each node's connection has the same watchdog as a single Redis.
 */
export async function connectRedisCluster(
  nodes: readonly { host: string; port: number }[],
  url: string,
  logger: Logger,
  name = "main",
  onError: () => void = () => undefined,
): Promise<Redis> {
  const { socket, ...rest } = options(url);
  const u = new URL(url);
  const credentials = {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
  // node-redis discovers the cluster from the root nodes one after another, and one that
  // accepts but never answers holds it for ever: start from those that answer a PING.
  const answering = await Promise.all(
    nodes.map(async (n) => {
      const probe = createClient({
        socket: { host: n.host, port: n.port, connectTimeout: 1000, reconnectStrategy: false },
        ...credentials,
      });
      probe.on("error", () => undefined);
      try {
        await within(
          probe.connect().then(() => probe.ping()),
          REDIS_REPLY_DEADLINE_MS,
        );
        return n;
      } catch {
        return undefined;
      } finally {
        if (probe.isOpen) probe.destroy();
      }
    }),
  );
  const roots = answering.filter((n) => n !== undefined);
  const cluster = createCluster({
    rootNodes: (roots.length > 0 ? roots : nodes).map((n) => ({
      socket: { host: n.host, port: n.port },
    })),
    defaults: {
      disableOfflineQueue: rest.disableOfflineQueue,
      ...credentials,
      socket,
    },
  }) as unknown as RedisClusterType;
  const unwatch = watchCluster(cluster, name, { logger, onError }, true);
  // node-redis waits for every primary, retrying for ever: bound the wait at start-up.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `cannot connect to the Redis Cluster within ${CLUSTER_START_MS / 1000} s (a node in REDIS_CLUSTER_NODES may be unreachable or hung, or a primary down)`,
          ),
        ),
      CLUSTER_START_MS,
    );
  });
  const connecting = cluster.connect();
  connecting.catch(() => undefined);
  try {
    await Promise.race([connecting, late]);
  } catch (err) {
    unwatch();
    try {
      cluster.destroy();
    } catch {
      // never connected
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return cluster;
}

/**
 * Connects another connection (duplicateRedis) at start-up, failing rather than waiting for
 * ever (a cluster's discovery can hang on a node that accepts and never answers).
 */
export async function connectWithin(client: Redis, name: string): Promise<void> {
  const connecting = client.connect() as Promise<unknown>;
  connecting.catch(() => undefined);
  try {
    await within(connecting, CLUSTER_START_MS);
  } catch (err) {
    await closeRedis(client).catch(() => undefined);
    throw new Error(`cannot connect Redis connection "${name}": ${(err as Error).message}`);
  }
}

/** How long a cluster may take to connect at start-up (ms). */
const CLUSTER_START_MS = 10_000;

/**
 * Supervises each node connection of a cluster as it appears (the cluster announces a node
 * client's first connection; later ones are seen by the client's own events).
 */
function watchCluster(
  cluster: RedisClusterType,
  name: string,
  hooks: RedisHooks,
  fenced: boolean,
): () => void {
  const clock = clusterClock(cluster);
  const watched = new WeakSet<object>();
  cluster.on("node-connect", (node: { host: string; port: number }) => {
    const shard = [...cluster.masters, ...cluster.replicas].find(
      (m) => m.host === node.host && m.port === node.port,
    );
    const client = shard?.client as RedisClientType | undefined;
    if (!client || watched.has(client)) return;
    watched.add(client);
    const address = `${node.host}:${node.port}`;
    supervise(
      client,
      `${name} ${address}`,
      {
        ...hooks,
        tcpPort: node.port,
        ...(fenced ? { onReady: () => measureClock(client, (o) => clock(address, o)) } : {}),
      },
      true,
    );
  });
  // Each node's connection reports through its watchdog; these only repeat it.
  cluster.on("node-error", () => undefined);
  cluster.on("error", () => hooks.onError?.());

  // node-redis learns a new topology only from a MOVED or ASK reply. With no offline queue,
  // commands for a primary that died fail at once ("offline") and never get one, so after its
  // replica takes over, parley would keep failing for that primary's slots. While a primary's
  // connection is down, ask a live node for the slots again (node-redis's own rediscovery,
  // reached through its cluster's `_slots`: internal, hence the pinned version and the
  // failover test that depends on it).
  const slots = (cluster as unknown as { _slots?: Partial<SlotsInternals> })._slots;
  if (typeof slots?.rediscover !== "function") {
    hooks.logger.error(
      "this node-redis has no cluster rediscovery: failovers will not be followed",
    );
    return () => undefined;
  }
  const rediscover = slots.rediscover.bind(slots);
  let busy = false;
  let announced: string | undefined; // the owners last announced (the first view is not)
  const timer = setInterval(() => {
    if (!cluster.isOpen || busy) return;
    const live = cluster.masters.filter((m) => m.client?.isReady);
    const ask = live[Math.floor(Math.random() * live.length)]?.client as
      | RedisClientType
      | undefined;
    if (!ask) return;
    busy = true;
    const down = live.length < cluster.masters.length;
    // Who serves each slot now, asked of a live primary within the reply deadline (a hung
    // node cannot hold this up), compared with what the client believes.
    // Announced once per real change of owners (a primary that stays down does not repeat
    // it), including one that a MOVED reply, or a rediscovery that outlived its bound, made.
    within(ask.sendCommand<unknown[]>(["CLUSTER", "SLOTS"]), REDIS_REPLY_DEADLINE_MS)
      .then(async (reply) => {
        if (down || slotOwners(reply) !== believedOwners(cluster)) {
          await within(rediscover(ask), REDIS_REPLY_DEADLINE_MS * 2).catch(() => undefined);
        }
      })
      .catch(() => undefined)
      .then(() => {
        const now = believedOwners(cluster);
        if (now === announced) return;
        const first = announced === undefined;
        announced = now;
        if (!first) cluster.emit(TOPOLOGY_CHANGED);
      })
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, REDISCOVER_EVERY_MS);
  timer.unref();
  cluster.on("disconnect", () => clearInterval(timer));
  return () => clearInterval(timer);
}

/** The part of node-redis's cluster internals parley uses (see watchCluster). */
interface SlotsInternals {
  rediscover(startWith: RedisClientType): Promise<void>;
}
/**
 * How often a cluster checks who serves its slots (ms). A failover (graceful or not), a
 * primary that returns as a replica, or a migrated slot is followed within this; node-redis
 * itself only notices from a MOVED reply, which subscriptions and failed commands never get.
 */
const REDISCOVER_EVERY_MS = 1000;

/** Emitted on a cluster client once its view of the slots was renewed (see watchCluster). */
export const TOPOLOGY_CHANGED = "parley:topology-changed";

/** "from-to@host:port" for each slot range of a CLUSTER SLOTS reply, sorted. */
function slotOwners(reply: unknown[]): string {
  return reply
    .map((range) => {
      const [from, to, primary] = range as [number, number, [string, number]];
      return `${from}-${to}@${primary[0]}:${primary[1]}`;
    })
    .sort()
    .join(",");
}

/** The same, as the client believes it. */
function believedOwners(cluster: RedisClusterType): string {
  const ranges: string[] = [];
  const slots = cluster.slots;
  let start = 0;
  for (let i = 1; i <= slots.length; i++) {
    const owner = slots[start]?.master.address;
    if (i === slots.length || slots[i]?.master.address !== owner) {
      ranges.push(`${start}-${i - 1}@${owner}`);
      start = i;
    }
  }
  return ranges.sort().join(",");
}

/** Rejects when `p` has not settled within `ms`. */
export function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("Timeout: no answer in time")), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Another connection to the same Redis, supervised the same way: for pub/sub, or (`fenced`)
 * for fenced writes of their own, which need this connection's view of Redis's clock.
 */
export function duplicateRedis(
  client: Redis,
  logger: Logger,
  name: string,
  opts: { fenced?: boolean } = {},
): Redis {
  if (isCluster(client)) {
    // Discovered from the primaries known to answer, not the configured list: a hung node in
    // REDIS_CLUSTER_NODES would hold node-redis's discovery for ever.
    const live = client.masters
      .filter((m) => m.client?.isReady)
      .map((m) => ({ socket: { host: m.host, port: m.port } }));
    const copy = client.duplicate(
      live.length > 0 ? { rootNodes: live } : {},
    ) as unknown as RedisClusterType;
    watchCluster(copy, name, { logger, follower: true }, opts.fenced === true);
    return copy;
  }
  const url = (client.options as { url?: string } | undefined)?.url ?? "redis://localhost";
  const copy: RedisClientType = supervise(client.duplicate() as RedisClientType, name, {
    logger,
    follower: true,
    tcpPort: tcpPortOf(url),
    ...(opts.fenced
      ? { onReady: () => measureClock(copy, (offset) => clockOffsets.set(copy, offset)) }
      : {}),
  });
  return copy;
}

/** PING, answered by every primary of a cluster (a keyless PING goes to one at random). */
export async function pingRedis(redis: Redis): Promise<void> {
  if (!isCluster(redis)) {
    await redis.ping();
    return;
  }
  if (!isRedisReady(redis)) throw new Error("Connection: a cluster primary is down");
  await Promise.all(redis.masters.map((m) => (m.client as RedisClientType).ping()));
}

/**
 * Closes a client, letting replies already asked for arrive, but never waiting longer than
 * any Redis call may (a hung Redis at shutdown would otherwise hold it for ever): then it is
 * destroyed.
 */
export async function closeRedis(client: Redis): Promise<void> {
  if (!client.isOpen) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, REDIS_MAX_WAIT_MS);
  });
  await Promise.race([client.close().catch(() => undefined), late]);
  clearTimeout(timer);
  if (client.isOpen) {
    try {
      client.destroy();
    } catch {
      // already closed
    }
  }
}

/** True when an error came from Redis being unreachable or slow rather than from a bug. */
export function isRedisUnavailable(err: unknown, client: Redis): boolean {
  if (!(err instanceof Error)) return false;
  if (!isRedisReady(client)) return true;
  return /Timeout|ClientClosed|ClientOffline|SocketClosed|ECONNREFUSED|ECONNRESET|EPIPE|Socket closed|client is (offline|closed)|Connection|Disconnects|READONLY|CLUSTERDOWN|TRYAGAIN|\bLATE write/i.test(
    `${err.name} ${err.message}`,
  );
}
