// One hostile account at its budgets beside 50 normal clients: the normal clients' ack p99
// with and without it. The normal clients read history ({limit: 1}, 10 rooms, closed loop);
// the hostile account, whose list holds 300 rooms of 100 messages of 8 KB (the unread-count
// attack's data, seeded in Redis), uses every budget at the real rates (parley's budgets are
// scaled up in the bench for the normal load, so it paces itself): room:list 3/s, history of
// 100 messages 4/s, 2,000-character messages with 10 mentions 2/s, a new connection 3/s,
// joining and leaving the normal clients' rooms 3/s, typing there 2/s.
import { io, type Socket } from "socket.io-client";
import { keys } from "../../src/stores/keys.js";
import { type Bench, load, log, type Row, sleep } from "../harness.js";

// KEYS: stream, counts, kind, the user's access, members. ARGV: user id, messages, bytes each,
// time part of the ids. A public room the user is in, its messages written as parley does.
const SEED = `
local text = string.rep('x', tonumber(ARGV[3]))
for i = 1, tonumber(ARGV[2]) do
  redis.call('XADD', KEYS[1], ARGV[4] .. '-' .. i, 'u', 'seed', 'n', 'seed', 't', text, 'ts', ARGV[4])
end
redis.call('HSET', KEYS[2], 'n', ARGV[2], 'ms', ARGV[4])
redis.call('SET', KEYS[3], 'public')
redis.call('SET', KEYS[4], 'member')
redis.call('HSET', KEYS[5], ARGV[1], 'member')
return 1
`;

function open(url: string, cookie: string): Promise<Socket> {
  const s = io(url, {
    transports: ["websocket"],
    extraHeaders: { cookie },
    forceNew: true,
    reconnection: false,
    timeout: 10_000,
  });
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => {
      s.close();
      reject(e);
    });
  });
}

/** Runs `act` every `ms` until stopped; counts what was answered and refused. */
function every(ms: number, act: () => Promise<unknown>, counts: { ok: number; refused: number }) {
  let on = true;
  const done = (async () => {
    while (on) {
      const started = Date.now();
      await act().then(
        (r) => {
          if ((r as { ok?: boolean } | undefined)?.ok === false) counts.refused++;
          else counts.ok++;
        },
        () => counts.refused++,
      );
      await sleep(Math.max(0, ms - (Date.now() - started)));
    }
  })();
  return async () => {
    on = false;
    await done;
  };
}

export async function abuse(b: Bench, row: Row): Promise<void> {
  const parley = b.servers.parley;
  const hostile = b.users[b.users.length - 1];
  if (!hostile) throw new Error("no user for the hostile account");
  const id = (await b.redis.get(keys.username(hostile.username))) ?? "";
  const rooms = b.sizes.quick ? 50 : 300;
  const tag = Date.now().toString(36);
  const heavy = Array.from({ length: rooms }, (_, i) => `abuse-${tag}-${i}`);
  log(`    seeding ${rooms} rooms of 100 messages of 8 KB`);
  const base = String(Date.now() - 60_000);
  for (const room of heavy) {
    await b.redis.eval(SEED, {
      keys: [
        keys.roomMessages(room),
        keys.roomCounts(room),
        keys.roomKind(room),
        keys.roomAccess(room, id),
        keys.roomMembers(room),
      ],
      arguments: [id, "100", "8192", base],
    });
  }
  await b.redis.hSet(keys.userRooms(id), Object.fromEntries(heavy.map((r) => [r, "1"])));

  const normalRooms = Array.from({ length: 10 }, (_, i) => `abuse-n-${tag}-${i}`);
  const normal = async () =>
    load({
      kind: "events",
      url: parley.url,
      cookies: b.cookiesFor("parley"),
      clients: 50,
      seconds: b.sizes.evSeconds,
      warmupSeconds: b.sizes.warmup,
      event: "message:history",
      payload: { limit: 1 },
      rooms: normalRooms,
      seed: true,
    }).result;

  const alone = await normal();
  row["parley.abuse_alone_p99_ms"] = Number(alone.p99);
  row["parley.abuse_alone_per_s"] = Number(alone.perSecond);

  const main = await open(parley.url, hostile.cookie);
  const counts = { ok: 0, refused: 0 };
  const mentions = b.users
    .slice(0, 10)
    .map((u) => `@${u.username}`)
    .join(" ");
  const text = `${mentions} ${"y".repeat(2000 - mentions.length - 1)}`;
  let n = 0;
  let m = 0;
  const stops = [
    every(334, () => main.timeout(10_000).emitWithAck("room:list", {}), counts),
    every(
      250,
      () =>
        main
          .timeout(10_000)
          .emitWithAck("message:history", { room: heavy[n++ % heavy.length], limit: 100 }),
      counts,
    ),
    every(
      500,
      () => main.timeout(10_000).emitWithAck("message:send", { room: heavy[0], text }),
      counts,
    ),
    every(
      334,
      async () => {
        const s = await open(parley.url, hostile.cookie);
        s.close();
        return { ok: true };
      },
      counts,
    ),
    every(
      334,
      () => {
        // Joins one of the normal clients' rooms, then leaves it: one membership event each.
        const k = m++;
        const room = normalRooms[Math.floor(k / 2) % normalRooms.length];
        return main.timeout(10_000).emitWithAck(k % 2 ? "room:leave" : "room:join", { room });
      },
      counts,
    ),
    every(500, () => main.timeout(10_000).emitWithAck("typing", { room: normalRooms[0] }), counts),
  ];
  const withHostile = await normal();
  await Promise.all(stops.map((stop) => stop()));
  main.close();
  row["parley.abuse_hostile_p99_ms"] = Number(withHostile.p99);
  row["parley.abuse_hostile_per_s"] = Number(withHostile.perSecond);
  row["parley.abuse_hostile_events"] = counts.ok + counts.refused;
  // parley's budgets are scaled up in the bench: the account paces itself to the real ones,
  // so none of its events should be refused (a refusal would mean it went over them).
  row["parley.abuse_hostile_refused"] = counts.refused;
  for (const room of heavy) {
    await b.redis.unlink([keys.roomMessages(room), keys.roomCounts(room)]);
  }
}
