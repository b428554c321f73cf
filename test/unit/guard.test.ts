// The per-event session check against a fake Redis: what it reads, how reads are batched and
// ordered, its verdicts, and how often it records activity.
import { expect } from "chai";
import type { CheckResult } from "../../src/realtime/guard.js";
import { SessionGuard } from "../../src/realtime/guard.js";
import { keys } from "../../src/stores/keys.js";
import { FakeRedis, settle } from "./fake-redis.js";

const IDLE = 1800;
const ABSOLUTE = 43_200;
const T0 = 1_800_000_000_000;

function record(userId: string, o: { createdAt?: number; gen?: number; handle?: string } = {}) {
  const createdAt = o.createdAt ?? T0;
  return JSON.stringify({
    cookie: { originalMaxAge: ABSOLUTE * 1000, httpOnly: true, path: "/" },
    passport: { user: userId },
    login: {
      handle: o.handle ?? "h1",
      createdAt,
      lastActive: createdAt,
      ip: "127.0.0.1",
      userAgent: "test",
      gen: o.gen ?? 0,
    },
  });
}

describe("the per-event session check (fake Redis)", () => {
  let redis: FakeRedis;
  let clock: number;
  let guard: SessionGuard;
  beforeEach(() => {
    redis = new FakeRedis();
    clock = T0;
    guard = new SessionGuard(redis.client(), {
      idleSeconds: IDLE,
      absoluteSeconds: ABSOLUTE,
      now: () => clock,
    });
    redis.values.set(keys.session("s1"), record("u1"));
    redis.values.set(keys.session("s2"), record("u2"));
  });

  /** A check as an event the user sent would make (activity unless told otherwise). */
  function check(sid: string, userId: string, room?: string, activity = true) {
    const seen: { result?: CheckResult; kind?: string | null; standing?: string | null } = {};
    guard.check(
      sid,
      userId,
      (result, kind, standing) => {
        seen.result = result;
        seen.kind = kind;
        seen.standing = standing;
      },
      room,
      activity,
    );
    return seen;
  }

  /** The activity writes sent: each one's session and ended-note keys, TTL and time. */
  const writes = () =>
    redis.evals.map((e) => ({ keys: e.keys.slice(0, 2), ttl: e.args[0], now: e.args[1] }));

  it("answers every check of one turn with one MGET of each session and generation", async () => {
    const a = check("s1", "u1");
    const b = check("s2", "u2");
    const c = check("s1", "u1");
    await settle();
    expect(redis.reads).to.have.length(1);
    expect(redis.reads[0]).to.deep.equal([
      keys.session("s1"),
      keys.userGeneration("u1"),
      keys.session("s2"),
      keys.userGeneration("u2"),
      keys.session("s1"),
      keys.userGeneration("u1"),
    ]);
    expect([a.result, b.result, c.result]).to.deep.equal(["ok", "ok", "ok"]);
    expect(guard.roundTrips).to.equal(1);
    expect(guard.checks).to.equal(3);
  });

  it("reads again for checks of a later turn, numbering each batch", async () => {
    check("s1", "u1");
    await settle();
    check("s1", "u1");
    await settle();
    expect(redis.reads).to.have.length(2);
    expect(guard.sent).to.equal(2);
  });

  it("answers the callbacks of a batch in the order the checks were made", async () => {
    const order: string[] = [];
    for (const sid of ["s1", "s2", "s1", "s2"]) {
      guard.check(sid, sid === "s1" ? "u1" : "u2", () => order.push(sid));
    }
    await settle();
    expect(order).to.deep.equal(["s1", "s2", "s1", "s2"]);
  });

  it("never answers a check with a read sent before it: a logout in between is seen", async () => {
    redis.hold();
    const before = check("s1", "u1");
    await settle(); // the first read is sent, and held
    redis.values.delete(keys.session("s1")); // logout
    const after = check("s1", "u1");
    await settle();
    expect(redis.reads).to.have.length(2);
    redis.release();
    await settle();
    expect(before.result).to.equal("ok"); // it arrived before the logout
    expect(after.result).to.equal("gone");
  });

  it("refuses a record that is gone, someone else's, malformed, or made under older credentials", async () => {
    redis.values.set(keys.session("bad"), "{not json");
    redis.values.set(keys.session("old"), record("u3", { gen: 1 }));
    redis.values.set(keys.userGeneration("u3"), "2");
    const gone = check("nope", "u1");
    const theirs = check("s2", "u1");
    const bad = check("bad", "u1");
    const stale = check("old", "u3");
    await settle();
    expect([gone.result, theirs.result, bad.result, stale.result]).to.deep.equal([
      "gone",
      "mismatch",
      "mismatch",
      "stale",
    ]);
  });

  it("keeps the login that made the change current (carried over by its handle)", async () => {
    redis.values.set(keys.session("kept"), record("u4", { gen: 1, handle: "mine" }));
    redis.values.set(keys.userGeneration("u4"), "2:mine");
    const kept = check("kept", "u4");
    await settle();
    expect(kept.result).to.equal("ok");
    // The generation moves on again, carrying another login: this one is over.
    redis.values.set(keys.userGeneration("u4"), "3:other");
    const later = check("kept", "u4");
    await settle();
    expect(later.result).to.equal("stale");
  });

  it("refuses from the absolute deadline on, to the millisecond", async () => {
    clock = T0 + ABSOLUTE * 1000 - 1;
    const justBefore = check("s1", "u1");
    await settle();
    clock = T0 + ABSOLUTE * 1000;
    const at = check("s1", "u1");
    await settle();
    expect([justBefore.result, at.result]).to.deep.equal(["ok", "expired"]);
  });

  it("records activity at most once per min(idle / 10, 60 s), with a TTL capped at the deadline", async () => {
    check("s1", "u1");
    await settle();
    expect(writes(), "the record says activity was just recorded").to.deep.equal([]);
    clock = T0 + 59_999;
    check("s1", "u1");
    await settle();
    expect(writes()).to.deep.equal([]);
    clock = T0 + 60_000;
    check("s1", "u1");
    check("s1", "u1");
    await settle();
    expect(writes()).to.deep.equal([
      {
        keys: [keys.session("s1"), keys.endedSession("s1")],
        ttl: String(IDLE),
        now: String(T0 + 60_000),
      },
    ]);
    // Ten seconds before the deadline, the TTL is what is left, not the idle timeout.
    clock = T0 + ABSOLUTE * 1000 - 10_000;
    check("s1", "u1");
    await settle();
    expect(writes()[1]).to.include({ ttl: "10", now: String(clock) });
    // By SHA1: the first refused with NOSCRIPT and sent again as the script, the second not.
    expect(redis.shaCalls).to.equal(2);
  });

  it("never records activity for checks that are not the user's doing", async () => {
    clock = T0 + 3_600_000;
    check("s1", "u1", undefined, false);
    check("s1", "u1", "lobby", false);
    await guard.checkAsync("s1", "u1");
    await settle();
    expect(writes()).to.deep.equal([]);
    check("s1", "u1");
    await settle();
    expect(writes()).to.have.length(1);
  });

  it("starts from the record's own lastActive: a login idle for a period is recorded at once", async () => {
    clock = T0 + 120_000;
    check("s1", "u1");
    await settle();
    expect(writes()).to.have.length(1);
  });

  it("answers the rest of a batch when one check's callback throws", async () => {
    const errors: unknown[] = [];
    const g = new SessionGuard(redis.client(), {
      idleSeconds: IDLE,
      absoluteSeconds: ABSOLUTE,
      now: () => clock,
      onCallbackError: (err) => errors.push(err),
    });
    const seen: string[] = [];
    g.check("s1", "u1", () => {
      throw new Error("a bug");
    });
    g.check("s2", "u2", (r) => seen.push(r));
    await settle();
    expect(seen).to.deep.equal(["ok"]);
    expect(errors).to.have.length(1);
  });

  it("answers `unavailable` to every check of a batch whose read fails", async () => {
    redis.failWith = new Error("connection lost");
    const a = check("s1", "u1");
    const b = check("s2", "u2", "lobby");
    await settle();
    expect([a.result, b.result]).to.deep.equal(["unavailable", "unavailable"]);
  });

  it("reads a room's kind and the user's standing in the same MGET, for room events only", async () => {
    redis.values.set(keys.roomKind("lobby"), "public");
    redis.values.set(keys.roomAccess("lobby", "u1"), "member");
    const plain = check("s2", "u2");
    const inRoom = check("s1", "u1", "lobby");
    const outside = check("s1", "u1", "elsewhere");
    await settle();
    expect(redis.reads).to.have.length(1);
    expect(redis.reads[0]).to.include(keys.roomAccess("lobby", "u1"));
    expect(plain).to.deep.equal({ result: "ok", kind: undefined, standing: undefined });
    expect(inRoom).to.deep.equal({ result: "ok", kind: "public", standing: "member" });
    expect(outside).to.deep.equal({ result: "ok", kind: null, standing: null });
  });

  it("parses a record again only when its bytes changed", async () => {
    check("s1", "u1");
    await settle();
    // Same user, now another login's record under the same id (cannot happen, but the bytes
    // decide): a changed owner is seen at once.
    redis.values.set(keys.session("s1"), record("u2"));
    const changed = check("s1", "u1");
    await settle();
    expect(changed.result).to.equal("mismatch");
  });

  it("forgets sessions not checked lately, and checks them as strictly afterwards", async () => {
    check("s1", "u1");
    check("s2", "u2");
    await settle();
    expect(guard.cachedSessions).to.equal(2);
    clock += 5000;
    check("s1", "u1");
    await settle();
    clock += 2000;
    // s2 was last checked 7 s ago, s1 2 s ago.
    guard.prune(6000);
    expect(guard.cachedSessions).to.equal(1);
    // A check whose read is in flight while its session is pruned is answered from that read.
    redis.hold();
    const inFlight = check("s1", "u1");
    await settle();
    clock += 10_000;
    guard.prune(6000);
    expect(guard.cachedSessions).to.equal(0);
    redis.release();
    await settle();
    expect(inFlight.result).to.equal("ok");
    // s2's next check reads and parses its record again: still its user's, still refused as
    // someone else's, and refused once gone.
    const again = check("s2", "u2");
    const other = check("s2", "u1");
    await settle();
    expect([again.result, other.result]).to.deep.equal(["ok", "mismatch"]);
    redis.values.delete(keys.session("s2"));
    const gone = check("s2", "u2");
    await settle();
    expect(gone.result).to.equal("gone");
    // s1 is cached again (its check just ran); s2, gone, is not.
    expect(guard.cachedSessions).to.equal(1);
  });
});
