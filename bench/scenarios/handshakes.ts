// Authenticated handshakes per second (websocket), 10 at a time, on each server: parley
// against plain Socket.IO (no check), the guide's approach, and the unguarded server (a
// cookie check that reads one Redis key).
import type { Bench, Row } from "../harness.js";
import { load } from "../harness.js";

export async function handshakes(b: Bench, row: Row): Promise<void> {
  // 50 logins of a user in no room: a handshake here is the authentication alone, not the
  // joining of rooms that follows it (plain and the guide's server have no rooms).
  const roomless = await b.manyLogins(50);
  for (const s of Object.values(b.servers)) {
    const parleyLike = s.name === "parley" || s.name === "unguarded";
    const hs = await load({
      kind: "handshakes",
      url: s.url,
      cookies: parleyLike ? roomless : b.cookiesFor(s.name),
      seconds: b.sizes.hsSeconds,
      concurrency: 10,
    }).result;
    row[`${s.name}.handshakes_per_s`] = Number(hs.perSecond);
    row[`${s.name}.handshake_p50_ms`] = Number(hs.p50);
    row[`${s.name}.handshake_p99_ms`] = Number(hs.p99);
  }
}
