// The pipeline's ordering promise, without a server: whatever extra wait one event needs
// (the Redis-counted send budget, an asynchronous handler, a slow session read), a socket's
// events run their handlers and are answered in the order they arrived. fast-check's
// scheduler decides, run by run, in which order every pending promise resolves.
import { expect } from "chai";
import fc from "fast-check";
import pino from "pino";
import type { RateLimiterRedis } from "rate-limiter-flexible";
import { MAX_WAITING_EVENTS } from "../../src/domain/limits.js";
import { EventBudgets } from "../../src/realtime/budgets.js";
import { type DispatchDeps, dispatch, MAX_QUEUE_WAIT_MS } from "../../src/realtime/dispatch.js";
import { Drain } from "../../src/realtime/drain.js";
import type { CheckCallback, SessionGuard } from "../../src/realtime/guard.js";
import type { Handlers } from "../../src/realtime/handlers/index.js";
import type { ParleySocket } from "../../src/realtime/socket.js";

type Kind = "send" | "history" | "ping";
/** Each event's payload carries its number n where its schema keeps it. */
const EVENTS: Record<Kind, (n: number) => [string, unknown]> = {
  send: (n) => ["message:send", { room: "lobby", text: String(n) }],
  history: (n) => ["message:history", { room: "lobby", before: `${n}-0` }],
  ping: () => ["ping", {}],
};

/** The number an event carries (ping carries none: -0 stands for "a ping"). */
function numberOf(p: unknown): number {
  const o = p as { text?: string; before?: string } | undefined;
  if (o?.text) return Number(o.text);
  if (o?.before) return Number.parseInt(o.before, 10);
  return 0;
}

interface Rig {
  deps: DispatchDeps;
  socket: ParleySocket;
  ran: number[];
  answered: number[];
}

/** A dispatch whose every wait (session read, send budget, async handler) is `later`. */
function rig(later: <T>(v: T) => Promise<T>, verdict: () => string = () => "ok"): Rig {
  const ran: number[] = [];
  const answered: number[] = [];
  const guard = {
    sent: 0,
    check(_sid: string, _user: string, cb: CheckCallback, room?: string) {
      void later(null).then(() => {
        // As the real guard: a callback that throws is caught, the batch goes on.
        try {
          if (room === undefined) cb(verdict() as "ok");
          else cb(verdict() as "ok", "public", "member", ++guard.sent);
        } catch {}
      });
    },
  };
  const handler = (async: boolean) => (_s: ParleySocket, p: unknown) => {
    const n = numberOf(p);
    ran.push(n);
    return async ? later({ ok: true }) : { ok: true };
  };
  const handlers = {
    "message:send": handler(true),
    "message:history": handler(true),
    ping: handler(false),
  } as unknown as Handlers;
  const deps: DispatchDeps = {
    guard: guard as unknown as SessionGuard,
    handlers,
    sendLimiter: { consume: () => later({}) } as unknown as RateLimiterRedis,
    budgets: new EventBudgets(() => 0),
    endSession: () => undefined,
    isEnding: () => false,
    observe: () => undefined,
    logger: pino({ level: "silent" }),
    drain: new Drain(),
  };
  const socket = {
    data: { sid: "s", userId: "u", username: "u" },
    connected: true,
    rooms: new Set(["lobby"]),
  } as unknown as ParleySocket;
  return { deps, socket, ran, answered };
}

/** Emits event `kind` number `n`, noting its answer. */
function emit(r: Rig, kind: Kind, n: number): void {
  const [name, payload] = EVENTS[kind](n);
  dispatch(r.deps, r.socket, [
    name,
    payload,
    (ack: { ok: boolean }) => r.answered.push(ack.ok ? n : -n),
  ]);
}

describe("dispatch: a socket's events in arrival order (unit)", () => {
  it("property: handlers run and acks come in emission order, however the waits resolve", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.constantFrom<Kind>("send", "history", "ping"), { minLength: 1, maxLength: 15 }),
        async (s, kinds) => {
          const r = rig((v) => s.schedule(Promise.resolve(v)));
          for (const [i, k] of kinds.entries()) emit(r, k, i + 1);
          await s.waitAll();
          const expected = kinds.map((_, i) => i + 1);
          expect(r.ran).to.deep.equal(kinds.map((k, i) => (k === "ping" ? 0 : i + 1)));
          expect(r.answered).to.deep.equal(expected);
          expect(r.deps.drain.inFlight).to.equal(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("keeps a ping behind an earlier send that waits on its budget", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), async (s) => {
        const r = rig((v) => s.schedule(Promise.resolve(v)));
        emit(r, "send", 1);
        emit(r, "ping", 2);
        emit(r, "history", 3);
        await s.waitAll();
        expect(r.answered).to.deep.equal([1, 2, 3]);
      }),
      { numRuns: 100 },
    );
  });

  it(`refuses events beyond ${MAX_WAITING_EVENTS} waiting behind an unanswered one, at once`, async () => {
    // The send's budget is counted "in Redis": it answers when the test says so.
    let release: () => void = () => undefined;
    const budget = new Promise<void>((resolve) => {
      release = resolve;
    });
    const r = rig((v) => Promise.resolve(v));
    r.deps.sendLimiter = { consume: () => budget } as unknown as typeof r.deps.sendLimiter;
    let reads = 0;
    const check = r.deps.guard.check.bind(r.deps.guard);
    r.deps.guard.check = (...args: Parameters<typeof check>) => {
      reads++;
      check(...args);
    };
    // Sent in one burst with the send: every read starts; 100 wait behind it, 20 are refused.
    emit(r, "send", 1);
    for (let i = 2; i <= MAX_WAITING_EVENTS + 21; i++) emit(r, "ping", i);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(reads).to.equal(MAX_WAITING_EVENTS + 21);
    expect(r.answered.filter((n) => n < 0)).to.have.length(20);
    // Sent while the socket is held and full: refused at arrival, without a read.
    emit(r, "ping", 500);
    expect(r.answered.at(-1)).to.equal(-500);
    expect(reads).to.equal(MAX_WAITING_EVENTS + 21);
    release();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(r.answered.filter((n) => n > 0)).to.deep.equal(
      Array.from({ length: MAX_WAITING_EVENTS + 1 }, (_, i) => i + 1),
    );
  });

  it(`answers unavailable, without running them, events that waited over ${MAX_QUEUE_WAIT_MS} ms behind others`, async () => {
    let release: () => void = () => undefined;
    const budget = new Promise<void>((resolve) => {
      release = resolve;
    });
    const r = rig((v) => Promise.resolve(v));
    r.deps.sendLimiter = { consume: () => budget } as unknown as typeof r.deps.sendLimiter;
    emit(r, "send", 1);
    emit(r, "history", 2);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // The clock the queue reads moves on past the bound while the send is stuck.
    const realNow = performance.now.bind(performance);
    const skew = MAX_QUEUE_WAIT_MS + 1;
    performance.now = () => realNow() + skew;
    try {
      release();
      await new Promise((resolve) => setTimeout(resolve, 5));
    } finally {
      performance.now = realNow;
    }
    expect(r.answered).to.deep.equal([1, -2]);
    expect(r.ran).to.deep.equal([1]);
  });

  it("runs a burst of events that need no waiting, however many", async () => {
    const r = rig((v) => Promise.resolve(v));
    for (let i = 1; i <= 1000; i++) emit(r, "ping", i);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.answered).to.deep.equal(Array.from({ length: 1000 }, (_, i) => i + 1));
  });

  it("refuses every event after one whose check refused the session, whatever their reads said", async () => {
    const verdicts = ["ok", "gone", "ok", "ok"];
    const r = rig(
      (v) => Promise.resolve(v),
      () => verdicts.shift() ?? "ok",
    );
    const ended: string[] = [];
    r.deps.endSession = (_s, refusal) => ended.push(refusal);
    for (let i = 1; i <= 4; i++) emit(r, "ping", i);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.answered).to.deep.equal([1, -2, -3, -4]);
    expect(ended).to.deep.equal(["gone"]);
  });

  it("refuses the events of a session this process is ending, though their reads said ok", async () => {
    const r = rig((v) => Promise.resolve(v));
    let ending = false;
    r.deps.isEnding = () => ending;
    emit(r, "ping", 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    ending = true;
    emit(r, "send", 2);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(r.answered).to.deep.equal([1, -2]);
    expect(r.ran).to.deep.equal([0]);
  });

  it("answers once and counts the event done once when the ack itself throws", async () => {
    const r = rig((v) => Promise.resolve(v));
    dispatch(r.deps, r.socket, [
      "ping",
      {},
      () => {
        throw new Error("a broken ack");
      },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.deps.drain.inFlight).to.equal(0);
    emit(r, "ping", 2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.answered).to.deep.equal([2]);
  });

  it("refuses every event `unavailable` once the drain has begun, and runs none", () => {
    const r = rig((v) => Promise.resolve(v));
    void r.deps.drain.stop(10);
    emit(r, "ping", 1);
    expect(r.answered).to.deep.equal([-1]);
    expect(r.ran).to.deep.equal([]);
  });

  it("answers `unauthorized` and ends the session when the check refuses it", async () => {
    const ended: string[] = [];
    const r = rig(
      (v) => Promise.resolve(v),
      () => "gone",
    );
    r.deps.endSession = (_s, refusal) => ended.push(refusal);
    emit(r, "send", 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.answered).to.deep.equal([-1]);
    expect(r.ran).to.deep.equal([]);
    expect(ended).to.deep.equal(["gone"]);
  });
});
