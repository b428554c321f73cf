// A socket's events are answered and take effect in the order they arrived, whatever extra
// reads one of them needs (message:send waits on its Redis-counted budget, history on a
// stream read; ping and typing need nothing).
import { expect } from "chai";
import fc from "fast-check";
import { MAX_WAITING_EVENTS } from "../../src/domain/limits.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { type ClientSocket, call, connect } from "../helpers/socket.js";

type Step =
  | { event: "message:send"; text: string }
  | { event: "room:join" }
  | { event: "room:leave" }
  | { event: "ping" }
  | { event: "typing" }
  | { event: "message:history" };

describe("event order on one socket", function () {
  this.timeout(60_000);
  let parley: TestParley;
  let socket: ClientSocket;
  let clock = Date.now();
  before(async () => {
    // A clock the test moves, so the per-user budgets never decide these runs.
    parley = await startParley({ now: () => clock });
    const b = new Browser(parley.url);
    await b.register(uniqueName("order"), PASSWORD);
    socket = await connect(parley.url, b);
  });
  after(async () => {
    socket?.close();
    await parley?.close();
  });

  /** Emits every step without waiting; resolves with the acks in the order they came. */
  function fire(
    room: string,
    steps: Step[],
    on: ClientSocket = socket,
  ): Promise<{ index: number; ack: unknown }[]> {
    const arrived: { index: number; ack: unknown }[] = [];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("acks missing")), 10_000);
      steps.forEach((step, index) => {
        const payload = step.event === "message:send" ? { room, text: step.text } : { room };
        (on as unknown as { emit(e: string, p: unknown, a: (r: unknown) => void): void }).emit(
          step.event,
          step.event === "ping" ? {} : payload,
          (ack: unknown) => {
            arrived.push({ index, ack });
            if (arrived.length === steps.length) {
              clearTimeout(timer);
              resolve(arrived);
            }
          },
        );
      });
    });
  }

  it("answers message:send before a room:leave sent right after it, and stores it", async () => {
    clock += 60_000;
    const room = `order-${Date.now().toString(36)}`;
    const acks = await fire(room, [
      { event: "room:join" },
      { event: "message:send", text: "before leaving" },
      { event: "room:leave" },
      { event: "ping" },
    ]);
    expect(acks.map((a) => a.index)).to.deep.equal([0, 1, 2, 3]);
    expect(acks.map((a) => (a.ack as { ok: boolean }).ok)).to.deep.equal([true, true, true, true]);
  });

  it("judges events sent right after the socket's own room:leave as after it (a private room is gone)", async () => {
    clock += 60_000;
    const room = `own-${Date.now().toString(36)}`;
    const created = await call(socket, "room:create", { room, kind: "private" });
    expect(created.ok).to.equal(true);
    // Someone else stays, so the room lives on.
    const other = new Browser(parley.url);
    const otherName = uniqueName("stay");
    await other.register(otherName, PASSWORD);
    expect((await call(socket, "room:invite", { room, username: otherName })).ok).to.equal(true);
    const otherSocket = await connect(parley.url, other);
    expect((await call(otherSocket, "room:join", { room })).ok).to.equal(true);
    const sent = await call(socket, "message:send", { room, text: "mine" });
    if (!sent.ok) throw new Error(sent.error.code);
    // Sent together, without waiting: the reads of the last two go out before the leave runs.
    const raw = socket as unknown as { emit(e: string, p: unknown, a: (r: unknown) => void): void };
    const ask = (event: string, payload: unknown) =>
      new Promise<{ ok: boolean; error?: { code: string } }>((resolve) =>
        raw.emit(event, payload, (r) => resolve(r as { ok: boolean; error?: { code: string } })),
      );
    const [left, history, edit] = await Promise.all([
      ask("room:leave", { room }),
      ask("message:history", { room }),
      ask("message:edit", { room, id: sent.message.id, text: "edited after leaving" }),
    ]);
    otherSocket.close();
    expect(left?.ok).to.equal(true);
    expect(history?.error?.code).to.equal("not_found");
    expect(edit?.error?.code).to.equal("not_found");
  });

  it(`refuses events past ${MAX_WAITING_EVENTS} waiting behind an unanswered one, at once`, async () => {
    clock += 60_000;
    const room = `flood-${Date.now().toString(36)}`;
    const steps: Step[] = [
      { event: "room:join" },
      ...Array.from({ length: 300 }, (): Step => ({ event: "ping" })),
    ];
    const acks = await fire(room, steps);
    const codes = acks.map((a) => {
      const r = a.ack as { ok: boolean; error?: { code: string } };
      return r.ok ? "ok" : r.error?.code;
    });
    // The join holds the socket (it reads Redis); at most the cap wait behind it.
    expect(codes.filter((c) => c === "ok").length).to.be.within(2, MAX_WAITING_EVENTS + 1);
    expect(codes.filter((c) => c === "rate_limited").length).to.be.at.least(
      300 - MAX_WAITING_EVENTS,
    );
    // Those answered ok were answered in order.
    const okIndexes = acks.filter((a) => (a.ack as { ok: boolean }).ok).map((a) => a.index);
    expect(okIndexes).to.deep.equal([...okIndexes].sort((x, y) => x - y));
  });

  it("property: acks arrive in emission order and each outcome follows the steps before it", async () => {
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.constant<Step>({ event: "room:join" }),
      fc.constant<Step>({ event: "room:leave" }),
      fc.constant<Step>({ event: "ping" }),
      fc.constant<Step>({ event: "typing" }),
      fc.constant<Step>({ event: "message:history" }),
      fc.string({ minLength: 1, maxLength: 8 }).map<Step>((t) => ({
        event: "message:send",
        text: `m ${t}`,
      })),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        clock += 60_000;
        const room = `prop-${Date.now().toString(36)}-${run++}`;
        // A user of its own per run: message:send's budget is counted in Redis, in real time.
        const b = new Browser(parley.url);
        await b.register(uniqueName("prop"), PASSWORD);
        const own = await connect(parley.url, b);
        const acks = await fire(room, steps, own).finally(() => own.close());
        expect(acks.map((a) => a.index)).to.deep.equal(steps.map((_, i) => i));
        // The model: joined or not, step by step, as the server must have seen them.
        let joined = false;
        steps.forEach((s, i) => {
          const ack = acks[i]?.ack as { ok: boolean; error?: { code: string } };
          if (s.event === "room:join") joined = true;
          if (s.event === "room:leave") joined = false;
          if (s.event === "message:send" || s.event === "typing") {
            expect(ack.ok ? "ok" : ack.error?.code, `${i} ${s.event}`).to.equal(
              joined ? "ok" : "not_joined",
            );
          } else {
            expect(ack.ok, `${i} ${s.event}`).to.equal(true);
          }
        });
      }),
      { numRuns: 40 },
    );
  });
});
