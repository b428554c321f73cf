import { expect } from "chai";
import pino from "pino";
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  ErrorReply,
  SocketClosedUnexpectedlyError,
} from "redis";
import { connectRedis, isRedisUnavailable, type Redis } from "../../src/redis.js";
import { testRedisUrl } from "../helpers/parley.js";

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
