// Revocation, measured from the start of a logout request on process 1:
// - one socket of the login, on the same process and on the other one (many rounds);
// - 1,000 sockets of one login, half on each process: until each of them is disconnected.
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

  const user = b.users[b.users.length - 1];
  if (!user) throw new Error("no bench user");
  const many = await load({
    kind: "revokeMany",
    login: one,
    targets: [one, two],
    user: { username: user.username, password: user.password },
    sockets: b.sizes.revokeSockets,
    rounds: b.sizes.quick ? 1 : 3,
  }).result;
  row["parley.revocation_many_p50_ms"] = Number(many.p50);
  row["parley.revocation_many_p99_ms"] = Number(many.p99);
  row["parley.revocation_many_missed"] = Number(many.missed);
}
