// parley's message:send in rooms of 2 and of 50: messages per second, ack latency, and what
// one message costs the server (CPU, Redis commands).

import type { Bench, Row } from "../harness.js";
import { load, sleep } from "../harness.js";
import { cpuSeconds, totalCalls } from "../lib.js";

export async function messages(b: Bench, row: Row): Promise<void> {
  const { sizes } = b;
  const parley = b.servers.parley;
  for (const [size, count] of [
    [2, sizes.msgUsers2],
    [50, sizes.msgUsers50],
  ] as const) {
    const list =
      size === 2
        ? b.users.slice(0, count)
        : b.users.slice(sizes.msgUsers2, sizes.msgUsers2 + count);
    const cpu0 = cpuSeconds(parley.pid);
    const c0 = await b.redisCalls();
    // Each user sends at most 20 per 10 s (parley's limit): the phase waits it out.
    const m = await load({
      kind: "messages",
      url: parley.url,
      cookies: list.map((u) => u.cookie),
      roomSize: size,
      perUser: sizes.perUser,
    }).result;
    const c1 = await b.redisCalls();
    const sent = Number(m.count);
    const k = `parley.room${size}`;
    row[`${k}.messages_per_s`] = Number(m.perSecond);
    row[`${k}.ack_p50_ms`] = Number(m.p50);
    row[`${k}.ack_p99_ms`] = Number(m.p99);
    row[`${k}.cpu_us_per_message`] = ((cpuSeconds(parley.pid) - cpu0) / sent) * 1e6;
    row[`${k}.redis_cmds_per_message`] = totalCalls(c0, c1, ["info"]) / sent;
    row[`${k}.errors`] = Number(m.errors);
    await sleep(sizes.quick ? 0 : 10_500); // let the send limit reset
  }
}
