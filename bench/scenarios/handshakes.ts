// Authenticated handshakes per second (websocket), 10 at a time, on each server: parley
// against plain Socket.IO (no check), the guide's approach, and the unguarded server (a
// cookie check that reads one Redis key).
import type { Bench, Row } from "../harness.js";
import { load } from "../harness.js";

export async function handshakes(b: Bench, row: Row): Promise<void> {
  for (const s of Object.values(b.servers)) {
    const hs = await load({
      kind: "handshakes",
      url: s.url,
      cookies: b.cookiesFor(s.name),
      seconds: b.sizes.hsSeconds,
      concurrency: 10,
    }).result;
    row[`${s.name}.handshakes_per_s`] = Number(hs.perSecond);
    row[`${s.name}.handshake_p50_ms`] = Number(hs.p50);
    row[`${s.name}.handshake_p99_ms`] = Number(hs.p99);
  }
}
