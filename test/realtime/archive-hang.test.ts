// PostgreSQL hung (accepts, never answers) or slow: chat goes on from Redis, what needs
// PostgreSQL answers `unavailable` within its deadline, a parley started meanwhile serves,
// and the archiver catches up with every acked message once PostgreSQL answers.
import { expect } from "chai";
import { keys } from "../../src/stores/keys.js";
import { compareIds, MessageStore } from "../../src/stores/messages.js";
import { startParley } from "../helpers/parley.js";
import { usePgFaults } from "../helpers/pg-faults.js";
import { type ClientSocket, call } from "../helpers/socket.js";

describe("the archive while PostgreSQL hangs or is slow", function () {
  this.timeout(120_000);
  const rig = usePgFaults();
  before(async () => {
    // A room longer than its window (100), archived and trimmed: older history is in
    // PostgreSQL only.
    const store = new MessageStore(
      rig.parley.redis,
      100_000,
      undefined,
      rig.parley.archiver,
      rig.parley.archive,
    );
    for (let i = 0; i < 400; i++) {
      await store.append(rig.room, { id: "seed", username: "seed" }, `seed ${i}`, Date.now());
    }
    await rig.parley.archiver.drain();
  });

  it("goes on while PostgreSQL hangs (accepts, never answers), and catches up when it answers", async () => {
    rig.proxy.set("hang");
    const during = rig.sendFor(10_000, "hung");
    await new Promise((r) => setTimeout(r, 1000));
    const search = await rig.searchAnswer();
    expect(search.code).to.equal("unavailable");
    expect(search.ms).to.be.below(4000);
    const history = await call(rig.sockets[2] as ClientSocket, "message:history", {
      room: rig.room,
      limit: 5,
    });
    expect(history.ok).to.equal(true);
    // A parley started now (its migrations cannot reach PostgreSQL) serves all the same, after
    // at most the 10 s it gives them, and its chat runs from Redis.
    const started = Date.now();
    const late = await startParley({ databaseUrl: rig.proxiedUrl });
    try {
      expect(Date.now() - started).to.be.below(15_000);
      expect((await fetch(`${late.url}/readyz`)).status).to.equal(200);
    } finally {
      await late.close();
    }
    const hung = await during;
    rig.proxy.set("pass");
    await rig.expectAllArchived(hung, "a hang");
  });

  it("keeps up, later, when PostgreSQL is slow", async () => {
    rig.proxy.set("delay", 300);
    const slow = await rig.sendFor(4000, "slow");
    await rig.expectAllArchived(slow, "slow answers");
    // And history past the window (below the trim point: only PostgreSQL has it), through
    // the slow link, still pages back.
    const t = await rig.parley.redis.hGet(keys.roomCounts(rig.room), "t");
    expect(t).to.be.a("string");
    const older = await call(
      rig.sockets[3] as ClientSocket,
      "message:history",
      { room: rig.room, limit: 5, before: t as string },
      10_000,
    );
    if (!older.ok) throw new Error(JSON.stringify(older));
    expect(older.messages.length).to.equal(5);
    for (const m of older.messages) expect(compareIds(m.id, t as string)).to.be.below(0);
    rig.proxy.set("pass");
  });
});
