import net from "node:net";
import { expect } from "chai";
import { eventually } from "../helpers/eventually.js";
import { startParley } from "../helpers/parley.js";
import { redisClient, type TestRedis } from "../helpers/redis.js";

describe("a start-up that fails half-way", () => {
  let redis: TestRedis;
  let blocker: net.Server;
  before(async () => {
    redis = await redisClient();
    blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  });
  after(async () => {
    await redis?.close();
    blocker?.close();
  });

  const clients = async () =>
    String(await redis.sendCommand(["CLIENT", "LIST"]))
      .trim()
      .split("\n").length;

  it("closes every Redis connection it had opened (here: the port is taken)", async () => {
    const before = await clients();
    const port = (blocker.address() as net.AddressInfo).port;
    let failure: NodeJS.ErrnoException | undefined;
    await startParley({ env: { PORT: String(port) } }).then(
      (p) => p.close(),
      (err: NodeJS.ErrnoException) => {
        failure = err;
      },
    );
    expect(failure?.code).to.equal("EADDRINUSE");
    await eventually(async () => expect(await clients()).to.equal(before), {
      what: "the Redis connections it opened to be closed",
      within: 1000,
    });
  });
});
