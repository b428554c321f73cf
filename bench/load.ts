// The load generator: a separate process driving real socket.io-client connections. It gets
// one job as JSON in argv[2] and prints one JSON result line. Every phase is bounded.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { io, type Socket } from "socket.io-client";
import { Browser } from "../tools/form-client.js";
import { summarize } from "./lib.js";

type Job =
  | { kind: "handshakes"; url: string; cookies: string[]; seconds: number; concurrency: number }
  | {
      kind: "events";
      url: string;
      cookies: string[];
      clients: number;
      seconds: number;
      warmupSeconds: number;
      event: string;
      payload: Record<string, unknown>;
      /** Client i first joins rooms[i % length], and sends its events there (payload.room). */
      rooms?: string[];
      /** Before the loop, one message is sent in each room (something for history to read). */
      seed?: boolean;
    }
  | { kind: "messages"; url: string; cookies: string[]; roomSize: number; perUser: number }
  | { kind: "idle"; url: string; cookies: string[]; count: number }
  | {
      kind: "fanout";
      /** Sockets are spread over these servers in turn. */
      urls: string[];
      cookies: string[];
      sockets: number;
      room: string;
      /** The first `senders` sockets send in a closed loop. */
      senders: number;
      seconds: number;
      warmupSeconds: number;
    }
  | {
      kind: "revokeMany";
      login: string;
      targets: string[];
      user: { username: string; password: string };
      /** Sockets of the one login, spread over the targets. */
      sockets: number;
      rounds: number;
    }
  | {
      kind: "revocation";
      login: string;
      targets: string[];
      users: { username: string; password: string }[];
      rounds: number;
    };

// The job: JSON in argv[2], or "@<file>" naming a file that holds it (10,000 cookies do not
// fit in an argument list).
const arg = process.argv[2] ?? "{}";
const job = JSON.parse(arg.startsWith("@") ? readFileSync(arg.slice(1), "utf8") : arg) as Job;

/**
 * Opens a socket; with `joined`, resolves only once the server has sent its `rooms` list
 * (it has put the socket in the user's rooms).
 */
function open(url: string, cookie: string, timeoutMs = 10_000, joined = false): Promise<Socket> {
  const s = io(url, {
    transports: ["websocket"],
    extraHeaders: { cookie },
    forceNew: true,
    reconnection: false,
    timeout: timeoutMs,
  });
  return new Promise((resolve, reject) => {
    if (joined) {
      const timer = setTimeout(
        () => reject(new Error("no rooms list after connecting")),
        timeoutMs,
      );
      s.once("rooms", () => {
        clearTimeout(timer);
        resolve(s);
      });
    } else s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => {
      s.close();
      reject(e);
    });
  });
}

async function openMany(
  url: string,
  cookies: string[],
  n: number,
  concurrency = 100,
  joined = false,
): Promise<Socket[]> {
  const sockets: Socket[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        const i = next++;
        sockets.push(await open(url, cookies[i % cookies.length] ?? "", 10_000, joined));
      }
    }),
  );
  return sockets;
}

async function handshakes(j: Extract<Job, { kind: "handshakes" }>) {
  const lat: number[] = [];
  const until = performance.now() + j.seconds * 1000;
  let i = 0;
  await Promise.all(
    Array.from({ length: j.concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        const s = await open(j.url, j.cookies[i++ % j.cookies.length] ?? "");
        lat.push(performance.now() - t);
        s.close();
      }
    }),
  );
  return { perSecond: lat.length / j.seconds, ...summarize(lat) };
}

/** Puts socket i in rooms[i % length] (room:join); throws if a join is refused. */
async function joinAll(sockets: Socket[], rooms: string[]): Promise<void> {
  await Promise.all(
    sockets.map(async (s, i) => {
      const r = (await s
        .timeout(10_000)
        .emitWithAck("room:join", { room: rooms[i % rooms.length] })) as {
        ok: boolean;
        error?: { code: string };
      };
      if (!r.ok) throw new Error(`room:join answered ${r.error?.code}`);
    }),
  );
}

async function events(j: Extract<Job, { kind: "events" }>) {
  const sockets = await openMany(j.url, j.cookies, j.clients);
  const rooms = j.rooms;
  if (rooms) await joinAll(sockets, rooms);
  if (rooms && j.seed) {
    await Promise.all(
      rooms.map((room, i) =>
        sockets[i]?.timeout(10_000).emitWithAck("message:send", { room, text: "seed" }),
      ),
    );
  }
  const lat: number[] = [];
  let errors = 0;
  let measuring = false;
  let running = true;
  const loop = (s: Socket, i: number) =>
    new Promise<void>((resolve) => {
      const payload = rooms ? { ...j.payload, room: rooms[i % rooms.length] } : j.payload;
      const fire = () => {
        if (!running) return resolve();
        const t = performance.now();
        s.emit(j.event, payload, (r: { ok?: boolean }) => {
          if (measuring) {
            lat.push(performance.now() - t);
            if (!r?.ok) errors++;
          }
          fire();
        });
      };
      fire();
    });
  const loops = sockets.map(loop);
  const elapsed = await measureWindow(
    j,
    (on) => {
      measuring = on;
    },
    () => {
      running = false;
    },
    loops,
  );
  for (const s of sockets) s.close();
  return { perSecond: lat.length / elapsed, errors, ...summarize(lat) };
}

/**
 * The closed loops' timing: a warm-up, then the measured window (announced to the bench as
 * the "measuring" and "done" phases, when it reads its counters), then the loops are told to
 * stop and given 2 s to finish. Returns the window's length in seconds.
 */
async function measureWindow(
  j: { warmupSeconds: number; seconds: number },
  setMeasuring: (on: boolean) => void,
  stop: () => void,
  loops: Promise<void>[],
): Promise<number> {
  await new Promise((r) => setTimeout(r, j.warmupSeconds * 1000));
  setMeasuring(true);
  const start = performance.now();
  process.stdout.write(`${JSON.stringify({ phase: "measuring" })}\n`);
  await new Promise((r) => setTimeout(r, j.seconds * 1000));
  setMeasuring(false);
  const elapsed = (performance.now() - start) / 1000;
  process.stdout.write(`${JSON.stringify({ phase: "done" })}\n`);
  stop();
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 2000))]);
  return elapsed;
}

async function messages(j: Extract<Job, { kind: "messages" }>) {
  const sockets = await openMany(j.url, j.cookies, j.cookies.length);
  const room = (i: number) => `bench-${j.roomSize}-${Math.floor(i / j.roomSize)}`;
  await Promise.all(
    sockets.map((s, i) => s.timeout(10_000).emitWithAck("room:join", { room: room(i) })),
  );
  let delivered = 0;
  for (const s of sockets) s.on("message", () => delivered++);
  const lat: number[] = [];
  let errors = 0;
  // The bench reads its counters on "measuring": a pause lets the joins' work settle first.
  await new Promise((r) => setTimeout(r, 300));
  process.stdout.write(`${JSON.stringify({ phase: "measuring" })}\n`);
  await new Promise((r) => setTimeout(r, 100));
  const start = performance.now();
  await Promise.all(
    sockets.map(async (s, i) => {
      for (let k = 0; k < j.perUser; k++) {
        const t = performance.now();
        const r = (await s
          .timeout(10_000)
          .emitWithAck("message:send", { room: room(i), text: `m${k}` })) as {
          ok: boolean;
        };
        lat.push(performance.now() - t);
        if (!r.ok) errors++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  // The last deliveries land, then the counters are read before any socket closes.
  await new Promise((r) => setTimeout(r, 100));
  process.stdout.write(`${JSON.stringify({ phase: "done" })}\n`);
  await new Promise((r) => setTimeout(r, 300));
  for (const s of sockets) s.close();
  return { perSecond: lat.length / elapsed, errors, delivered, ...summarize(lat) };
}

/**
 * One room of `sockets` members spread over several processes: the first `senders` send
 * in a closed loop (each message carries its send time), and every delivery to every socket
 * is counted with its latency.
 */
async function fanout(j: Extract<Job, { kind: "fanout" }>) {
  // Each user joins the room once; every socket opened after that is put in it by the server
  // on connect (the user's rooms), as a real user's tabs are: 50 joins, not 1,000 (each join
  // answers with the member list and announces presence to the whole room).
  const first = await openMany(j.urls[0] ?? "", j.cookies, j.cookies.length, 10);
  for (let i = 0; i < first.length; i += 10) await joinAll(first.slice(i, i + 10), [j.room]);
  for (const s of first) s.close();
  const sockets: Socket[] = [];
  for (let k = 0; k < j.urls.length; k++) {
    const share = Math.floor(j.sockets / j.urls.length) + (k < j.sockets % j.urls.length ? 1 : 0);
    const cookies = j.cookies.filter((_, i) => i % j.urls.length === k);
    sockets.push(...(await openMany(j.urls[k] ?? "", cookies, share, 50, true)));
  }
  const lat: number[] = [];
  let measuring = false;
  let running = true;
  let errors = 0;
  for (const s of sockets) {
    s.on("message", (m: { text: string }) => {
      if (measuring) lat.push(performance.now() - Number(m.text));
    });
  }
  const loops = sockets.slice(0, j.senders).map(
    (s) =>
      new Promise<void>((resolve) => {
        const fire = () => {
          if (!running) return resolve();
          s.timeout(10_000).emit(
            "message:send",
            { room: j.room, text: String(performance.now()) },
            (err: unknown, r: { ok?: boolean }) => {
              if (measuring && (err || !r?.ok)) errors++;
              fire();
            },
          );
        };
        fire();
      }),
  );
  const elapsed = await measureWindow(
    j,
    (on) => {
      measuring = on;
    },
    () => {
      running = false;
    },
    loops,
  );
  for (const s of sockets) s.close();
  return { perSecond: lat.length / elapsed, errors, ...summarize(lat) };
}

/**
 * One login with `sockets` sockets over the targets, logged out: the time from the start of
 * the logout request until each socket is disconnected (2 s counts as never).
 */
async function revokeMany(j: Extract<Job, { kind: "revokeMany" }>) {
  const lat: number[] = [];
  let missed = 0;
  for (let round = 0; round < j.rounds; round++) {
    const b = new Browser(j.login);
    const res = await b.login(j.user.username, j.user.password);
    if (res.status !== 303) throw new Error(`login answered ${res.status}`);
    const cookie = b.cookieHeader();
    const sockets: Socket[] = [];
    for (let k = 0; k < j.targets.length; k++) {
      const share = Math.floor(j.sockets / j.targets.length);
      // Once each has its rooms list: the server's work for the connects is over, so the
      // logout is measured on its own.
      sockets.push(...(await openMany(j.targets[k] ?? "", [cookie], share, 50, true)));
    }
    const _csrf = await b.csrf("/chat");
    let startedAt = 0;
    const gone = sockets.map(
      (s) =>
        new Promise<void>((resolve) =>
          s.once("disconnect", () => {
            lat.push(performance.now() - startedAt);
            resolve();
          }),
        ),
    );
    startedAt = performance.now();
    await b.post("/logout", { _csrf });
    const all = Promise.all(gone).then(() => true);
    if (!(await Promise.race([all, new Promise((r) => setTimeout(() => r(false), 2000))]))) {
      missed += sockets.filter((s) => s.connected).length;
    }
    for (const s of sockets) s.close();
  }
  for (let i = 0; i < missed; i++) lat.push(2000);
  return { missed, ...summarize(lat) };
}

async function idle(j: Extract<Job, { kind: "idle" }>) {
  const sockets = await openMany(j.url, j.cookies, j.count, 200);
  process.stdout.write(`${JSON.stringify({ phase: "connected", count: sockets.length })}\n`);
  await new Promise(() => undefined); // held until the harness kills this process
}

async function revocation(j: Extract<Job, { kind: "revocation" }>) {
  const byTarget = new Map<string, number[]>(j.targets.map((t) => [t, []]));
  for (let round = 0; round < j.rounds; round++) {
    const user = j.users[round % j.users.length];
    if (!user) break;
    for (const target of j.targets) {
      const b = new Browser(j.login);
      const res = await b.login(user.username, user.password);
      if (res.status !== 303) throw new Error(`login answered ${res.status}`);
      const s = await open(target, b.cookieHeader());
      const _csrf = await b.csrf("/chat");
      let disconnectedAt = 0;
      const gone = new Promise<void>((resolve) =>
        s.once("disconnect", () => {
          disconnectedAt = performance.now();
          resolve();
        }),
      );
      // Measured from the start of the logout request: the time a user waits from clicking
      // "Log out" until their open socket on this process is gone.
      const startedAt = performance.now();
      await b.post("/logout", { _csrf });
      await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
      s.close();
      byTarget.get(target)?.push(disconnectedAt ? disconnectedAt - startedAt : 2000);
    }
  }
  return Object.fromEntries([...byTarget].map(([t, lat]) => [t, summarize(lat)]));
}

const run = {
  handshakes,
  events,
  messages,
  idle,
  revocation,
  fanout,
  revokeMany,
} as const;

(run[job.kind] as (j: Job) => Promise<unknown>)(job).then(
  (result) => {
    process.stdout.write(`${JSON.stringify({ result })}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stdout.write(
      `${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`,
    );
    process.exit(1);
  },
);
