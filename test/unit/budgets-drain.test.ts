// Two small clocks of the pipeline: the per-user event budgets (fixed windows, counted in the
// process) and the shutdown drain (event-driven, bounded).
import { expect } from "chai";
import { EventBudgets, LOCAL_BUDGETS } from "../../src/realtime/budgets.js";
import { Drain } from "../../src/realtime/drain.js";

describe("event budgets (budgets.ts, fake clock)", () => {
  it("allows a class's points per window per user, then refuses until the window ends", () => {
    let now = 0;
    const b = new EventBudgets(() => now);
    const { points, seconds } = LOCAL_BUDGETS.typing;
    for (let i = 0; i < points; i++) expect(b.take("typing", "u1"), `event ${i}`).to.equal(true);
    expect(b.take("typing", "u1")).to.equal(false);
    expect(b.take("typing", "u2"), "another user has their own budget").to.equal(true);
    expect(b.take("history", "u1"), "another class has its own budget").to.equal(true);
    now = seconds * 1000 - 1;
    expect(b.take("typing", "u1")).to.equal(false);
    now = seconds * 1000;
    expect(b.take("typing", "u1")).to.equal(true);
  });

  it("multiplies every budget by the benchmark scale", () => {
    const b = new EventBudgets(() => 0, 3);
    const { points } = LOCAL_BUDGETS.typing;
    for (let i = 0; i < 3 * points; i++)
      expect(b.take("typing", "u1"), `event ${i}`).to.equal(true);
    expect(b.take("typing", "u1")).to.equal(false);
  });

  it("counts refused events too (a flood never earns its way back in)", () => {
    let now = 0;
    const b = new EventBudgets(() => now);
    for (let i = 0; i < 1000; i++) b.take("dm", "u1");
    now = 9_999;
    expect(b.take("dm", "u1")).to.equal(false);
  });

  it("prunes ended windows and keeps running ones", () => {
    let now = 0;
    const b = new EventBudgets(() => now);
    for (let i = 0; i < LOCAL_BUDGETS.dm.points; i++) b.take("dm", "u1");
    now = 5_000;
    b.prune();
    expect(b.take("dm", "u1"), "the window still runs: its count is kept").to.equal(false);
    now = 20_000;
    b.prune();
    expect(b.take("dm", "u1")).to.equal(true);
  });
});

describe("the shutdown drain (drain.ts)", () => {
  it("resolves at once when nothing runs, and refuses new events from then on", async () => {
    const d = new Drain();
    await d.stop(1000);
    expect(d.draining).to.equal(true);
  });

  it("resolves when the last running event answers, not before", async () => {
    const d = new Drain();
    d.begin();
    d.begin();
    let done = false;
    const stopped = d.stop(5000).then(() => {
      done = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    d.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).to.equal(false);
    d.end();
    await stopped;
    expect(d.inFlight).to.equal(0);
  });

  it("gives up after its timeout when an event never answers", async () => {
    const d = new Drain();
    d.begin();
    const started = Date.now();
    await d.stop(30);
    expect(Date.now() - started).to.be.within(25, 1000);
    expect(d.inFlight).to.equal(1);
  });
});
