import { randomUUID } from "node:crypto";
import { expect } from "chai";
import pino from "pino";
import type { Redis } from "../../src/redis/client.js";
import { connectRedis } from "../../src/redis/connect.js";
import { AccountStore } from "../../src/stores/accounts.js";
import { keys } from "../../src/stores/keys.js";
import { NotFirstAccountError, UsernameTakenError } from "../../src/stores/registration.js";
import { testRedisUrl, uniqueName } from "../helpers/parley.js";

describe("creating users (record first, then the name)", () => {
  let redis: Redis;
  let users: AccountStore;
  before(async () => {
    redis = await connectRedis(testRedisUrl(), pino({ level: "silent" }));
    users = new AccountStore(redis);
  });
  after(async () => {
    await redis?.close();
  });

  it("refuses a name that leads to a user, and leaves no record behind", async () => {
    const name = uniqueName("taken");
    const first = await users.registrations.create(name, "hash-1", 1);
    const before = await redis.keys("parley:user:*");
    let failure: unknown;
    await users.registrations.create(name.toUpperCase(), "hash-2", 2).catch((err: unknown) => {
      failure = err;
    });
    expect(failure).to.be.instanceOf(UsernameTakenError);
    expect(await redis.keys("parley:user:*")).to.have.length(before.length);
    expect((await users.byUsername(name))?.id).to.equal(first.id);
  });

  it("takes over a name whose user record was lost (a failover on a cluster)", async () => {
    const name = uniqueName("lost");
    await redis.set(keys.username(name), "a-user-whose-record-is-gone");
    const made = await users.registrations.create(name, "hash-3", 3);
    expect((await users.byUsername(name))?.id).to.equal(made.id);
  });
});

describe("the list of accounts: abandoned registrations and the last active admin", () => {
  let redis: Redis;
  const adminNames = new Set<string>();
  let users: AccountStore;
  beforeEach(async () => {
    redis = await connectRedis(`${testRedisUrl()}/10`, pino({ level: "silent" }));
    await redis.flushDb();
    adminNames.clear();
    users = new AccountStore(redis, adminNames);
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
    // The sweep in count() undoes it: the database counts as empty again.
    expect(await users.registrations.count(Date.now())).to.equal(0);
    const first = await users.registrations.create("founder", "h", Date.now(), true);
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
    const made = await users.registrations.create("reused", "h", Date.now());
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
    const refused = await users.registrations
      .create("inflight", "h", Date.now())
      .catch((e: unknown) => e);
    expect(refused).to.be.instanceOf(UsernameTakenError);
    expect(await redis.get(keys.username("inflight"))).to.equal(id);
  });

  it("settles a registration whose last step failed instead of undoing it, so a first admin stays the first", async () => {
    const id = await abandonedRegistration("complete", true);
    await redis.hDel(keys.user(id), ["pending", "pendingUntil"]); // step 4 was done
    expect(await users.registrations.count(Date.now())).to.equal(1);
    const someone = await users.registrations
      .create("someone", "h", Date.now(), true)
      .catch((e: unknown) => e);
    expect(someone).to.be.instanceOf(NotFirstAccountError);
    await users.registrations.create("someone", "h", Date.now());
    expect(await users.isAdmin({ id, username: "complete" })).to.equal(true);
    expect(await redis.zScore(keys.users, id)).to.not.equal(null);
    expect(await redis.zScore(keys.pendingUsers, id)).to.equal(null);
    expect((await users.byUsername("complete"))?.id).to.equal(id);
  });

  it("never leaves no active admin: two admins deactivating or deleting each other at once", async () => {
    const a = await users.registrations.create("alpha", "h", Date.now());
    const b = await users.registrations.create("beta", "h", Date.now());
    await users.registrations.create("gamma", "h", Date.now());
    expect(await users.setAdmin(a.id, b.id, true)).to.equal("done");
    const crossed = await Promise.all([
      users.setStatus(b.id, a.id, false),
      users.setStatus(a.id, b.id, false),
    ]);
    const outcomes = crossed.map((c) => c.outcome);
    expect([...outcomes].sort()).to.deep.equal(["done", "forbidden"]);
    // The one left active can neither be demoted nor deleted: a deactivated admin does not count.
    const active = outcomes[0] === "done" ? b : a;
    const other = active === a ? b : a;
    expect(await users.setAdmin(active.id, active.id, false)).to.equal("last");
    expect(await users.delist(active.id)).to.equal("last");
    // The deactivated admin can no longer act, not even to reactivate itself.
    expect((await users.setStatus(other.id, other.id, true)).outcome).to.equal("forbidden");
    expect(await users.setAdmin(other.id, active.id, false)).to.equal("forbidden");
    // Deleting at once: with both active again, one of the two deletions is refused.
    expect((await users.setStatus(active.id, other.id, true)).outcome).to.equal("done");
    const deleted = await Promise.all([users.delist(a.id), users.delist(b.id)]);
    expect(deleted.filter((d) => d === "last")).to.have.length(1);
  });

  it("ends a crossed deactivation and reactivation as the list decided last", async () => {
    const a = await users.registrations.create("alpha", "h", Date.now());
    const b = await users.registrations.create("beta", "h", Date.now());
    // Deactivate (list), reactivate (list, then record), and only then the deactivation's
    // record step: the record stays active, as the list says.
    const off = await users.setStatus(a.id, b.id, false);
    const on = await users.setStatus(a.id, b.id, true);
    expect(await users.credentials.reactivateRecord(b.id, on.epoch)).to.equal(true);
    await users.credentials.changeCredentials(b.id, {
      reason: "deactivated",
      status: "deactivated",
      epoch: off.epoch,
    });
    expect((await users.byId(b.id))?.deactivated).to.equal(false);
    expect((await users.list(0, 10)).accounts.find((x) => x.id === b.id)?.deactivated).to.equal(
      false,
    );
    // The other order: the record follows the later deactivation.
    const on2 = await users.setStatus(a.id, b.id, true);
    const off2 = await users.setStatus(a.id, b.id, false);
    await users.credentials.changeCredentials(b.id, {
      reason: "x",
      status: "deactivated",
      epoch: off2.epoch,
    });
    await users.credentials.reactivateRecord(b.id, on2.epoch);
    expect((await users.byId(b.id))?.deactivated).to.equal(true);
  });

  it("puts an account back as it was when its deletion cannot finish", async () => {
    const a = await users.registrations.create("alpha", "h", Date.now());
    const b = await users.registrations.create("beta", "h", Date.now());
    await users.setAdmin(a.id, b.id, true);
    await users.setStatus(a.id, b.id, false);
    const taken = await users.delist(b.id);
    if (taken === "last") throw new Error("refused");
    expect(await redis.sIsMember(keys.deletedUsers, b.id)).to.equal(1);
    await users.relist(taken);
    expect(await redis.sIsMember(keys.deletedUsers, b.id)).to.equal(0);
    expect(await redis.sIsMember(keys.admins, b.id)).to.equal(1);
    expect(await redis.sIsMember(keys.deactivatedUsers, b.id)).to.equal(1);
    expect(await redis.zScore(keys.users, b.id)).to.not.equal(null);
  });

  it("counts an ADMIN_USERNAMES name as an admin only while its account exists and is active", async () => {
    const a = await users.registrations.create("alpha", "h", Date.now());
    await users.registrations.create("member", "h", Date.now());
    adminNames.add("boss");
    // "boss" has no account: alpha is still the last active admin.
    expect(await users.delist(a.id)).to.equal("last");
    expect(await users.unclaimedAdminNames()).to.deep.equal(["boss"]);
    const boss = await users.registrations.create("boss", "h", Date.now());
    // Boss acts as an admin though it is not in the admins set.
    expect(await redis.sIsMember(keys.admins, boss.id)).to.equal(0);
    expect((await users.setStatus(boss.id, a.id, false)).outcome).to.equal("done");
    // Now boss is the last active admin: nobody may deactivate it (not even itself).
    expect((await users.setStatus(boss.id, boss.id, false)).outcome).to.equal("last");
    expect(await users.unclaimedAdminNames()).to.deep.equal([]);
  });
});
