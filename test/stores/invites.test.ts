import { expect } from "chai";
import pino from "pino";
import type { Redis } from "../../src/redis/client.js";
import { connectRedis } from "../../src/redis/connect.js";
import { InviteStore } from "../../src/stores/invites.js";
import { keys } from "../../src/stores/keys.js";
import { testRedisUrl } from "../helpers/parley.js";

describe("invites: taken once, given back only when still offered", () => {
  let redis: Redis;
  let invites: InviteStore;
  const admin = { id: "00000000-0000-4000-8000-000000000000", username: "root" };
  before(async () => {
    redis = await connectRedis(testRedisUrl(), pino({ level: "silent" }));
    invites = new InviteStore(redis);
  });
  after(async () => {
    await redis?.close();
  });

  it("is taken by one registration at a time, and given back after a refusal", async () => {
    const { token, invite } = await invites.create(admin, 3600, Date.now());
    const [a, b] = await Promise.all([
      invites.take(token, Date.now()),
      invites.take(token, Date.now()),
    ]);
    expect([a, b].filter(Boolean)).to.have.length(1);
    // While taken it is offered to nobody, and not listed as open.
    expect(await invites.peek(token, Date.now())).to.equal(undefined);
    expect((await invites.list(Date.now())).map((i) => i.id)).to.not.include(invite.id);
    await invites.giveBack(invite);
    expect((await invites.peek(token, Date.now()))?.id).to.equal(invite.id);
    // Used: gone for good.
    const taken = await invites.take(token, Date.now());
    await invites.used(taken as NonNullable<typeof taken>);
    expect(await redis.exists(keys.invite(invite.id))).to.equal(0);
    expect(await invites.take(token, Date.now())).to.equal(undefined);
  });

  it("is not reported withdrawn while a registration holds it, and stays withdrawn once it is", async () => {
    const { token, invite } = await invites.create(admin, 3600, Date.now());
    expect(await invites.take(token, Date.now())).to.not.equal(undefined);
    // The registration may still succeed: the admin is told so, and nothing changes.
    expect(await invites.revoke(invite.id)).to.equal("in_use");
    // It is refused (say the name was taken) and gives the invite back; now it is withdrawn.
    await invites.giveBack(invite);
    expect(await invites.revoke(invite.id)).to.equal("done");
    await invites.giveBack(invite); // a late give-back does not bring it back
    expect(await invites.peek(token, Date.now())).to.equal(undefined);
    expect(await invites.take(token, Date.now())).to.equal(undefined);
    expect(await redis.exists(keys.invite(invite.id))).to.equal(0);
    expect(await invites.revoke(invite.id)).to.equal("gone");
  });
});
