// Revocation: from the start of a logout request on process 1 until the login's socket is
// disconnected, on the same process and on the other one.
import type { Bench, Row } from "../harness.js";
import { load } from "../harness.js";

export async function revocation(b: Bench, row: Row): Promise<void> {
  const one = b.servers.parley.url;
  const two = b.parley2.url;
  const rev = await load({
    kind: "revocation",
    login: one,
    targets: [one, two],
    users: b.users.slice(0, 10).map(({ username, password }) => ({ username, password })),
    rounds: b.sizes.rounds,
  }).result;
  const same = rev[one] as { p50: number; p99: number };
  const cross = rev[two] as { p50: number; p99: number };
  row["parley.revocation_same_p50_ms"] = same.p50;
  row["parley.revocation_same_p99_ms"] = same.p99;
  row["parley.revocation_cross_p50_ms"] = cross.p50;
  row["parley.revocation_cross_p99_ms"] = cross.p99;
}
