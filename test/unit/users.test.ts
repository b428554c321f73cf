import { randomUUID } from "node:crypto";
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

describe("the list of accounts: abandoned registrations and the last active admin", () => {
  let redis: Redis;
  const adminNames = new Set<string>();
  let users: UserStore;
  beforeEach(async () => {
    redis = await connectRedis(`${testRedisUrl()}/10`, pino({ level: "silent" }));
    await redis.flushDb();
    adminNames.clear();
    users = new UserStore(redis, adminNames);
  });
  afterEach(async () => {
    await redis.flushDb();
    await redis.close();
  });

  /** What a registration cut off after enrolling leaves behind, its deadline long past. */
  async function abandonedRegistration(name: string, asAdmin: boolean): Promise<string> {
    const id = randomUUID();
    const past = Date.now() - 120_000;
    await redis.hSet(keys.user(id), {
      id,
      username: name,
      hash: "h",
      createdAt: String(past),
      pending: "1",
      pendingUntil: String(past + 60_000),
    });
    await redis.set(keys.username(name), id);
    await redis.zAdd(keys.users, { score: past, value: id });
    await redis.zAdd(keys.pendingUsers, { score: past + 60_000, value: id });
    if (asAdmin) await redis.sAdd(keys.admins, id);
    return id;
  }

  it("does not let a first registration cut off half-way block the first account for good", async () => {
    const stale = await abandonedRegistration("halfmade", true);
    expect(await users.count(Date.now())).to.equal(0);
    const first = await users.create("founder", "h", Date.now(), true);
    expect(first.admin).to.equal(true);
    // The abandoned one was swept: unlisted, not an admin, its record and name gone.
    expect(await redis.zRange(keys.users, 0, -1)).to.deep.equal([first.id]);
    expect(await redis.sMembers(keys.admins)).to.deep.equal([first.id]);
    expect(await redis.exists(keys.user(stale))).to.equal(0);
    expect(await redis.exists(keys.username("halfmade"))).to.equal(0);
    expect(await redis.zCard(keys.pendingUsers)).to.equal(0);
    expect((await users.list(0, 10)).accounts.map((a) => a.username)).to.deep.equal(["founder"]);
  });

  it("takes back the name of an abandoned registration, and never the name of one in flight", async () => {
    await abandonedRegistration("reused", false);
    const made = await users.create("reused", "h", Date.now());
    expect((await users.byUsername("reused"))?.id).to.equal(made.id);
    // A registration still within its deadline keeps its name.
    const id = randomUUID();
    await redis.hSet(keys.user(id), {
      id,
      username: "inflight",
      hash: "h",
      createdAt: String(Date.now()),
      pending: "1",
      pendingUntil: String(Date.now() + 60_000),
    });
    await redis.set(keys.username("inflight"), id);
    const refused = await users.create("inflight", "h", Date.now()).catch((e: unknown) => e);
    expect(refused).to.be.instanceOf(UsernameTakenError);
    expect(await redis.get(keys.username("inflight"))).to.equal(id);
  });

  it("settles a registration whose last step failed instead of undoing it", async () => {
    const id = await abandonedRegistration("complete", false);
    await redis.hDel(keys.user(id), ["pending", "pendingUntil"]); // step 4 was done
    await users.create("someone", "h", Date.now());
    expect(await redis.zScore(keys.users, id)).to.not.equal(null);
    expect(await redis.zScore(keys.pendingUsers, id)).to.equal(null);
    expect((await users.byUsername("complete"))?.id).to.equal(id);
  });

  it("never leaves no active admin: two admins deactivating or deleting each other at once", async () => {
    const a = await users.create("alpha", "h", Date.now());
    const b = await users.create("beta", "h", Date.now());
    await users.create("gamma", "h", Date.now());
    expect(await users.setAdmin(b.id, true)).to.equal("done");
    const crossed = await Promise.all([users.markDeactivated(a.id), users.markDeactivated(b.id)]);
    expect(crossed.sort()).to.deep.equal(["done", "last"]);
    // A deactivated admin does not count: the other can be neither demoted nor deleted.
    const active = crossed[0] === "done" ? b : a;
    expect(await users.setAdmin(active.id, false)).to.equal("last");
    expect(await users.delist(active.id)).to.equal("last");
    // Deleting at once: with both active again, one of the two deletions is refused.
    await users.reactivate(a.id);
    await users.reactivate(b.id);
    const deleted = await Promise.all([users.delist(a.id), users.delist(b.id)]);
    expect(deleted.sort()).to.deep.equal(["done", "last"]);
  });

  it("counts an ADMIN_USERNAMES name as an admin only while its account exists and is active", async () => {
    const a = await users.create("alpha", "h", Date.now());
    await users.create("member", "h", Date.now());
    adminNames.add("boss");
    // "boss" has no account: alpha is still the last active admin.
    expect(await users.delist(a.id)).to.equal("last");
    const boss = await users.create("boss", "h", Date.now());
    expect(await users.isAdmin(boss)).to.equal(true);
    expect(await users.markDeactivated(a.id)).to.equal("done");
    // Now boss is the last active admin (named in the configuration, not in the admins set).
    expect(await users.markDeactivated(boss.id)).to.equal("last");
    expect(await users.unclaimedAdminNames()).to.deep.equal([]);
  });
});
