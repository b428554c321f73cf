import { expect } from "chai";
import pino from "pino";
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  ErrorReply,
  SocketClosedUnexpectedlyError,
} from "redis";
import type { Redis } from "../../src/redis/client.js";
import { connectRedis } from "../../src/redis/connect.js";
import { isRedisUnavailable, RedisUnavailableError } from "../../src/redis/errors.js";
import { keys } from "../../src/stores/keys.js";
import { MessageStore } from "../../src/stores/messages.js";
import { testRedisUrl } from "../helpers/parley.js";
import { countingCalls } from "../helpers/redis.js";

// Pages answer 503 (not 500) for these, even when the connection is already back by the time
// the error is looked at (a reset repaired within milliseconds).
describe("which Redis errors mean 'Redis unavailable'", () => {
  let redis: Redis;
  before(async () => {
    redis = await connectRedis(testRedisUrl(), pino({ level: "silent" }));
  });
  after(async () => {
    await redis?.close();
  });

  it("counts every connection failure node-redis reports, on a ready client", () => {
    for (const err of [
      new SocketClosedUnexpectedlyError(),
      new ClientOfflineError(),
      new ClientClosedError(),
      new ConnectionTimeoutError(),
      new ErrorReply("READONLY You can't write against a read only replica."),
      new ErrorReply("CLUSTERDOWN The cluster is down"),
      new ErrorReply("ERR LATE write refused: parley had already given up on it"),
      // rate-limiter-flexible's own refusal (rejectIfRedisNotReady), even once it is back.
      new Error("Redis connection is not ready"),
      // parley's own: a deadline passed, a primary down, replicas that did not confirm.
      new RedisUnavailableError("the replicas did not confirm the message in time"),
    ]) {
      expect(isRedisUnavailable(err, redis), err.message).to.equal(true);
    }
  });

  it("does not hide a bug as an outage", () => {
    expect(isRedisUnavailable(new TypeError("x is not a function"), redis)).to.equal(false);
    expect(isRedisUnavailable(new ErrorReply("WRONGTYPE Operation against a key"), redis)).to.equal(
      false,
    );
  });
});

// Fenced writes go by the script's SHA1; a Redis that lost its script cache (a restart, a
// failover to a replica that never ran it, SCRIPT FLUSH) gets the script itself, once.
describe("fenced writes by SHA1", () => {
  let redis: Redis;
  before(async () => {
    redis = await connectRedis(testRedisUrl(), pino({ level: "silent" }));
  });
  after(async () => {
    await redis?.close();
  });

  it("are sent as EVALSHA, and as EVAL once after the script cache was flushed, applied once", async () => {
    // The client with its script calls counted (not server-wide counts, which other clients
    // of the test Redis move too).
    const { client, calls } = countingCalls(redis, ["evalSha", "eval"]);
    const store = new MessageStore(client, 100);
    const room = `sha-${Date.now().toString(36)}`;
    await store.append(room, { id: "u", username: "u" }, "first", 1);
    await store.append(room, { id: "u", username: "u" }, "cached", 2);
    const before = { evalSha: calls.evalSha ?? 0, eval: calls.eval ?? 0 };
    await redis.scriptFlush();
    await store.append(room, { id: "u", username: "u" }, "after the flush", 3);
    await store.append(room, { id: "u", username: "u" }, "cached again", 4);
    // Before the flush the script was known (EVALSHA only, once it had been sent); after it,
    // EVALSHA (NOSCRIPT), EVAL, then EVALSHA again.
    expect(before.evalSha - before.eval).to.be.at.least(1);
    expect((calls.evalSha ?? 0) - before.evalSha).to.equal(2);
    expect((calls.eval ?? 0) - before.eval).to.equal(1);
    const texts = (await redis.xRange(keys.roomMessages(room), "-", "+")).map((m) => m.message.t);
    expect(texts).to.deep.equal(["first", "cached", "after the flush", "cached again"]);
  });
});
