// One hostile account at its budgets beside 50 normal clients: the normal clients' ack p99
// with and without it. The normal clients read history ({limit: 1}, 10 rooms, closed loop);
// the hostile account, whose list holds 300 rooms of 100 messages of 8 KB (the unread-count
// attack's data, seeded in Redis), uses every budget at the real rates (parley's budgets are
// scaled up in the bench for the normal load, so it paces itself): room:list 3/s, history of
// 100 messages 4/s, 2,000-character messages with 10 mentions 2/s, a new connection 3/s,
// joining and leaving the normal clients' rooms 3/s, typing there 2/s.
import { io, type Socket } from "socket.io-client";
import { keys } from "../../src/stores/keys.js";
import { seedRoom } from "../../tools/seed-rooms.js";
import { type Bench, load, log, type Row, sleep } from "../harness.js";

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
function every(
  ms: number,
  act: () => Promise<unknown>,
  counts: { ok: number; refused: number; codes: Set<string> },
) {
  let on = true;
  const done = (async () => {
    while (on) {
      const started = Date.now();
      await act().then(
        (r) => {
          const answer = r as { ok?: boolean; error?: { code?: string } } | undefined;
          if (answer?.ok === false) {
            counts.refused++;
            counts.codes.add(answer.error?.code ?? "?");
          } else counts.ok++;
        },
        (err: unknown) => {
          counts.refused++;
          counts.codes.add(err instanceof Error ? err.message : "?");
        },
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
  const base = Date.now() - 60_000;
  for (const room of heavy) {
    await seedRoom(b.redis, room, {
      userId: id,
      messages: 100,
      bytes: 8192,
      base,
      authorId: "seed",
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
  // Where it writes and types: one of its heavy rooms, and the last of the normal clients'
  // rooms (it joins and leaves the others).
  const typingRoom = normalRooms[9];
  await main.timeout(10_000).emitWithAck("room:join", { room: heavy[0] });
  await main.timeout(10_000).emitWithAck("room:join", { room: typingRoom });
  const counts = { ok: 0, refused: 0, codes: new Set<string>() };
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
        const room = normalRooms[Math.floor(k / 2) % 9];
        return main.timeout(10_000).emitWithAck(k % 2 ? "room:leave" : "room:join", { room });
      },
      counts,
    ),
    every(500, () => main.timeout(10_000).emitWithAck("typing", { room: typingRoom }), counts),
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
  if (counts.refused > 0)
    log(`    the hostile account's refusals: ${[...counts.codes].join(", ")}`);
  for (const room of heavy) {
    await b.redis.unlink([keys.roomMessages(room), keys.roomCounts(room)]);
  }
}
