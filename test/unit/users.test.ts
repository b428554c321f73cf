import { expect } from "chai";
import pino from "pino";
import { connectRedis, type Redis } from "../../src/redis.js";
import { keys } from "../../src/stores/keys.js";
import { UsernameTakenError, UserStore } from "../../src/stores/users.js";
import { testRedisUrl, uniqueName } from "../helpers/parley.js";

describe("creating users (record first, then the name)", () => {
  let redis: Redis;
  let users: UserStore;
  before(async () => {
    redis = await connectRedis(testRedisUrl(), pino({ level: "silent" }));
    users = new UserStore(redis);
  });
  after(async () => {
    await redis?.close();
  });

  it("refuses a name that leads to a user, and leaves no record behind", async () => {
    const name = uniqueName("taken");
    const first = await users.create(name, "hash-1", 1);
    const before = await redis.keys("parley:user:*");
    let failure: unknown;
    await users.create(name.toUpperCase(), "hash-2", 2).catch((err: unknown) => {
      failure = err;
    });
    expect(failure).to.be.instanceOf(UsernameTakenError);
    expect(await redis.keys("parley:user:*")).to.have.length(before.length);
    expect((await users.byUsername(name))?.id).to.equal(first.id);
  });

  it("takes over a name whose user record was lost (a failover on a cluster)", async () => {
    const name = uniqueName("lost");
    await redis.set(keys.username(name), "a-user-whose-record-is-gone");
    const made = await users.create(name, "hash-3", 3);
    expect((await users.byUsername(name))?.id).to.equal(made.id);
  });
});
