// PostgreSQL stopped for 30 s: chat goes on from Redis, what needs PostgreSQL answers
// `unavailable` within its deadline, readiness says the archive is behind, and once
// PostgreSQL is back the archiver catches up with every acked message. (Hung and slow:
// archive-hang.test.ts, which runs in the suite's other half.)
import { expect } from "chai";
import { eventually } from "../helpers/eventually.js";
import { usePgFaults } from "../helpers/pg-faults.js";
import { type ClientSocket, call } from "../helpers/socket.js";

describe("the archive while PostgreSQL is stopped", function () {
  this.timeout(120_000);
  const rig = usePgFaults();

  it("goes on from Redis while PostgreSQL is stopped for 30 s, then archives every acked message", async () => {
    const before = await rig.sendFor(1500, "before");
    await rig.postgres.stop();
    const during = rig.sendFor(30_000, "stopped");
    // Meanwhile: recent history is served from Redis, search says unavailable, and readiness
    // says the archive is behind (but parley is ready: chat works).
    await new Promise((r) => setTimeout(r, 3000));
    const history = await call(rig.sockets[1] as ClientSocket, "message:history", {
      room: rig.room,
    });
    expect(history.ok).to.equal(true);
    const search = await rig.searchAnswer();
    expect(search.code).to.equal("unavailable");
    expect(search.ms).to.be.below(4000);
    await eventually(
      async () => {
        const res = await fetch(`${rig.parley.url}/readyz`);
        expect(res.status).to.equal(200);
        expect(res.headers.get("x-parley-archive")).to.equal("behind");
        expect(await res.text()).to.match(/archive is behind/);
      },
      { what: "readiness showing the archive behind", within: 10_000 },
    );
    const stopped = await during;
    expect(stopped.length).to.be.above(100);
    await rig.postgres.restart();
    await rig.expectAllArchived([...before, ...stopped], "a 30 s stop");
    await eventually(async () => {
      const res = await fetch(`${rig.parley.url}/readyz`);
      expect(res.headers.get("x-parley-archive")).to.equal("ok");
    });
  });
});
