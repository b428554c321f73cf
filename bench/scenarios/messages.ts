// message:send in rooms of 2 and of 50, on parley and on the unguarded server: messages per
// second, ack latency, and what one message costs the server (CPU, Redis commands, the latter
// as INFO commandstats counts them: commands run inside a script count one each).
import type { Bench, Row } from "../harness.js";
import { load, log, meter } from "../harness.js";

export async function messages(b: Bench, row: Row): Promise<void> {
  const { sizes } = b;
  for (const s of [b.servers.unguarded, b.servers.parley]) {
    for (const [size, count] of [
      [2, sizes.msgUsers2],
      [50, sizes.msgUsers50],
    ] as const) {
      const list =
        size === 2
          ? b.users.slice(0, count)
          : b.users.slice(sizes.msgUsers2, sizes.msgUsers2 + count);
      // Metered from the first message to the last ack: not the connects and joins.
      const meterIt = meter(b, s.pid);
      const m = await load(
        {
          kind: "messages",
          url: s.url,
          cookies: list.map((u) => u.cookie),
          roomSize: size,
          perUser: sizes.perUser,
        },
        meterIt.onPhase,
      ).result;
      const used = await meterIt.settle();
      const sent = Number(m.count);
      const k = `${s.name}.room${size}`;
      row[`${k}.messages_per_s`] = Number(m.perSecond);
      row[`${k}.ack_p50_ms`] = Number(m.p50);
      row[`${k}.ack_p99_ms`] = Number(m.p99);
      row[`${k}.cpu_us_per_message`] = (used.cpuSeconds / sent) * 1e6;
      row[`${k}.redis_cmds_per_message`] = used.redisCommands / sent;
      // Which commands, per message (INFO counts a script's inner commands one by one).
      log(
        `    ${k}: Redis commands per message: ${[...used.byCommand]
          .sort((a, c) => c[1] - a[1])
          .map(([cmd, n]) => `${cmd} ${(n / sent).toFixed(2)}`)
          .join(", ")}`,
      );
      row[`${k}.errors`] = Number(m.errors);
    }
  }
}
