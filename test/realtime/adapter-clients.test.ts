// The adapter fires SUBSCRIBE and PUBLISH and never looks at their promises. A Redis that
// dies while one is in flight used to end parley (an unhandled rejection), and node-redis
// does not renew a subscription Redis never confirmed, so the adapter would have stayed deaf.
import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "chai";
import { createLogger } from "../../src/logger.js";
import { steadyPublisher, steadySubscriber } from "../../src/realtime/adapter-clients.js";
import { isRedisReady, type Redis } from "../../src/redis/client.js";
import { connectRedis } from "../../src/redis/connect.js";
import { eventually } from "../helpers/eventually.js";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { testRedisUrl, uniqueName } from "../helpers/parley.js";
import { clientEvent, redisClient, type TestRedis } from "../helpers/redis.js";

const logger = createLogger("silent");

/**
 * Publishes every 100 ms until `received` says the message arrived, or gives up after `ms`.
 * Where nothing must arrive, the whole `ms` is waited, deliberately: that is the check.
 */
async function deliveredWithin(
  redis: TestRedis,
  channel: string,
  received: () => boolean,
  ms: number,
): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await redis.publish(channel, "hello");
    await sleep(100);
    if (received()) return true;
  }
  return false;
}

/** Resolves on the client's next `event` (unlike clientEvent, never at once). */
function nextEvent(client: Redis, event: "ready" | "reconnecting"): Promise<void> {
  const emitter = client as unknown as { once(event: string, listener: () => void): unknown };
  return new Promise((resolve) => emitter.once(event, () => resolve()));
}

describe("the adapter's Redis connections", function () {
  this.timeout(30_000);
  let proxy: FaultProxy;
  let redis: TestRedis;
  const clients: Redis[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  before(async () => {
    proxy = await FaultProxy.start(Number(new URL(testRedisUrl()).port));
    redis = await redisClient();
  });
  beforeEach(() => {
    unhandled.length = 0;
    process.on("unhandledRejection", onUnhandled);
  });
  afterEach(async () => {
    process.off("unhandledRejection", onUnhandled);
    proxy.set("pass");
    for (const c of clients.splice(0)) c.destroy();
  });
  after(async () => {
    await redis?.close();
    await proxy?.close();
  });

  async function throughProxy(): Promise<Redis> {
    const c = await connectRedis(proxy.url, logger, "adapter-sub");
    clients.push(c);
    return c;
  }

  /**
   * Sends a PSUBSCRIBE through `sub`, waits until it reached the proxy, then resets the
   * connection under it and lets Redis back once `inner` (the connection) noticed.
   */
  async function subscribeAcrossAReset(
    inner: Redis,
    sub: Redis,
    pattern: string,
    onMessage: () => void,
  ): Promise<{ subscribed: Promise<unknown> }> {
    proxy.set("hang");
    const subscribed = sub.pSubscribe(pattern, onMessage, true);
    subscribed.catch(() => undefined); // observed below; never unhandled here
    await eventually(() => expect(proxy.held(), "held back from Redis").to.match(/psubscribe/i), {
      what: "the PSUBSCRIBE to reach the proxy",
    });
    proxy.set("reset");
    await clientEvent(inner, "reconnecting");
    proxy.set("pass");
    return { subscribed };
  }

  it("node-redis itself drops a subscription whose SUBSCRIBE failed (why the wrapper exists)", async () => {
    const raw = await throughProxy();
    const channel = uniqueName("raw");
    let got = 0;
    const { subscribed } = await subscribeAcrossAReset(raw, raw, `${channel}*`, () => got++);
    const outcome = await subscribed.then(
      () => "resolved",
      () => "rejected",
    );
    expect(outcome).to.equal("rejected");
    // Reconnected, yet deaf: the failed subscription was never recorded, so never renewed.
    await clientEvent(raw, "ready");
    expect(isRedisReady(raw)).to.equal(true);
    expect(await deliveredWithin(redis, `${channel}x`, () => got > 0, 2000)).to.equal(false);
  });

  it("a SUBSCRIBE cut off by a reset never rejects and is renewed once Redis is back", async () => {
    const inner = await throughProxy();
    const sub = steadySubscriber(inner, logger);
    const channel = uniqueName("steady");
    let got = 0;
    const { subscribed } = await subscribeAcrossAReset(inner, sub, `${channel}*`, () => got++);
    expect(await deliveredWithin(redis, `${channel}x`, () => got > 0, 8000)).to.equal(true);
    // It settles as done, not as an error.
    expect(await subscribed).to.equal(undefined);
    expect(unhandled).to.deep.equal([]);
  });

  it("subscribing while disconnected waits for the connection instead of rejecting", async () => {
    const inner = await throughProxy();
    const sub = steadySubscriber(inner, logger);
    proxy.set("reset"); // every connection reset, and every new one
    await clientEvent(inner, "reconnecting", 3000);
    expect(isRedisReady(inner)).to.equal(false);
    const channel = uniqueName("offline");
    let got = 0;
    const subscribed = sub.subscribe(channel, () => got++, true);
    let settled = false;
    void subscribed.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    // It stays pending through a reconnect attempt that fails meanwhile.
    await nextEvent(inner, "reconnecting");
    expect(settled, "settled while Redis was unreachable").to.equal(false);
    proxy.set("pass");
    expect(await deliveredWithin(redis, channel, () => got > 0, 8000)).to.equal(true);
    expect(await subscribed).to.equal(undefined);
    expect(unhandled).to.deep.equal([]);
  });

  it("keeps the order of a subscribe and an unsubscribe asked for while disconnected", async () => {
    const inner = await throughProxy();
    const sub = steadySubscriber(inner, logger);
    proxy.set("reset");
    await clientEvent(inner, "reconnecting");
    const channel = uniqueName("order");
    let got = 0;
    void sub.subscribe(channel, () => got++, true);
    const left = sub.unsubscribe(channel);
    proxy.set("pass");
    await left;
    // Left last, as asked: nothing arrives.
    expect(await deliveredWithin(redis, channel, () => got > 0, 1000)).to.equal(false);
    expect(unhandled).to.deep.equal([]);
  });

  it("a PUBLISH while Redis is unreachable answers 0 instead of rejecting", async () => {
    const inner = await throughProxy();
    const pub = steadyPublisher(inner, logger);
    proxy.set("reset");
    await clientEvent(inner, "reconnecting");
    expect(await pub.publish(uniqueName("nobody"), "x")).to.equal(0);
    expect(unhandled).to.deep.equal([]);
  });
});
