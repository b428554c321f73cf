// Accounts and administration: registration modes, the first admin, invites, the admin page
// (deactivate, reactivate, promote, demote), the audit log and deleting one's own account.
// Each block runs on a Redis database of its own, emptied first, so "the first account on an
// empty database" is this test's.
import { expect } from "chai";
import { inviteId } from "../../src/stores/invites.js";
import { keys } from "../../src/stores/keys.js";
import { Browser, type Reply } from "../helpers/http.js";
import {
  PASSWORD,
  startParley,
  type TestParley,
  testRedisUrl,
  uniqueName,
} from "../helpers/parley.js";
import { redisClient, type TestRedis } from "../helpers/redis.js";
import { type ClientSocket, call, connect, once } from "../helpers/socket.js";

/** The test Redis, database `db` (emptied). */
async function emptyDb(db: number): Promise<{ url: string; redis: TestRedis }> {
  const url = `${testRedisUrl()}/${db}`;
  const redis = await redisClient(url);
  await redis.flushDb();
  return { url, redis };
}

/** The invite link shown once on the admin page after creating one. */
async function createInvite(admin: Browser, expires = "604800"): Promise<string> {
  const _csrf = await admin.csrf("/admin");
  const made = await admin.post("/admin/invites", { _csrf, expires });
  expect(made.status).to.equal(303);
  const page = await admin.get("/admin");
  const m = /id="invite-link"[^>]*value="([^"]+)"/.exec(page.body);
  if (!m?.[1]) throw new Error("no invite link on the admin page");
  return m[1];
}

/** Registers through an invite link's form. */
async function registerWith(b: Browser, link: string, username: string): Promise<Reply> {
  const path = new URL(link).pathname + new URL(link).search;
  const form = await b.get(path);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? "";
  const invite = /name="invite" value="([^"]+)"/.exec(form.body)?.[1] ?? "";
  return b.post("/register", { username, password: PASSWORD, _csrf: csrf, invite });
}

/** Posts an admin action on the account named `username` (its form on the admin page). */
async function adminAction(admin: Browser, username: string, action: string): Promise<Reply> {
  const page = await admin.get("/admin");
  // The accounts table (the invites table names makers in the same way).
  const accounts = page.body.slice(page.body.indexOf('scope="col">Username</th>'));
  const row = accounts.split("<tr>").find((r) => r.includes(`<td>${username}`));
  const id = row && new RegExp(`/admin/users/([0-9a-f-]{36})/${action}`).exec(row)?.[1];
  if (!id) throw new Error(`no ${action} form for ${username}`);
  const _csrf = await admin.csrf("/admin");
  return admin.post(`/admin/users/${id}/${action}`, { _csrf });
}

describe("registration modes and the first admin", function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let url: string;
  let parley: TestParley | undefined;
  before(async () => {
    ({ url, redis } = await emptyDb(5));
  });
  beforeEach(async () => {
    await redis.flushDb();
  });
  afterEach(async () => {
    await parley?.close();
    parley = undefined;
  });
  after(async () => {
    await redis.flushDb();
    await redis.close();
  });

  it("with invites required, lets only the first account in without one, and makes it the admin; two racing first registrations get one account", async () => {
    parley = await startParley({ env: { REGISTRATION: "invite" }, redisUrl: url });
    expect(parley.logs.some((l) => l.event === "no_accounts")).to.equal(true);
    const form = await new Browser(parley.url).get("/register");
    expect(form.status).to.equal(200);
    expect(form.body).to.include("first account on this server");
    // Two visitors race to be first: one account, the other is told it needs an invite.
    const [a, b] = [new Browser(parley.url), new Browser(parley.url)];
    const [ta, tb] = await Promise.all([a.csrf("/register"), b.csrf("/register")]);
    const names = [uniqueName("first"), uniqueName("first")] as const;
    const results = await Promise.all([
      a.post("/register", { username: names[0], password: PASSWORD, _csrf: ta }),
      b.post("/register", { username: names[1], password: PASSWORD, _csrf: tb }),
    ]);
    expect(results.map((r) => r.status).sort()).to.deep.equal([303, 403]);
    expect(await redis.zCard(keys.users)).to.equal(1);
    expect(await redis.sCard(keys.admins)).to.equal(1);
    const winner = results[0]?.status === 303 ? a : b;
    expect((await winner.get("/admin")).status).to.equal(200);
    // Now the form needs an invite.
    const later = await new Browser(parley.url).get("/register");
    expect(later.status).to.equal(403);
    expect(later.body).to.include("by invitation only");
    const c = new Browser(parley.url);
    const tc = await c.csrf("/login");
    const refused = await c.post("/register", {
      username: uniqueName("late"),
      password: PASSWORD,
      _csrf: tc,
    });
    expect(refused.status).to.equal(403);
    expect(await redis.zCard(keys.users)).to.equal(1);
    // The loser's half-made account was undone: its name is free and no record is left.
    const loser = results[0]?.status === 303 ? names[1] : names[0];
    expect(await redis.exists(keys.username(loser))).to.equal(0);
    expect(await redis.keys("parley:user:*")).to.have.length(1);
    expect(await redis.zCard(keys.pendingUsers)).to.equal(0);
  });

  it("closed: nobody but the first account registers, and an invite does not help", async () => {
    parley = await startParley({ env: { REGISTRATION: "closed" }, redisUrl: url });
    const founder = new Browser(parley.url);
    expect((await founder.register(uniqueName("founder"), PASSWORD)).status).to.equal(303);
    const page = await new Browser(parley.url).get("/register");
    expect(page.status).to.equal(403);
    expect(page.body).to.include("cannot be created");
    // A real invite, made by the admin, is not accepted while registration is closed.
    const link = await createInvite(founder);
    const token = new URL(link).searchParams.get("invite") as string;
    const b = new Browser(parley.url);
    const _csrf = await b.csrf("/login");
    const r = await b.post("/register", {
      username: uniqueName("x"),
      password: PASSWORD,
      _csrf,
      invite: token,
    });
    expect(r.status).to.equal(403);
    expect(await redis.zCard(keys.users)).to.equal(1);
  });

  it("ADMIN_USERNAMES makes existing accounts admins; a listed name nobody has is kept for the first account", async () => {
    const boss = uniqueName("boss");
    const ghost = uniqueName("ghost");
    // Without the setting, boss registers as an ordinary member after the founder.
    parley = await startParley({ env: { REGISTRATION: "open" }, redisUrl: url });
    const founder = new Browser(parley.url);
    await founder.register(uniqueName("founder"), PASSWORD);
    const b = new Browser(parley.url);
    expect((await b.register(boss, PASSWORD)).status).to.equal(303);
    expect((await b.get("/admin")).status).to.equal(403);
    await parley.close();
    parley = await startParley({
      env: { REGISTRATION: "open", ADMIN_USERNAMES: `${boss.toUpperCase()},${ghost}` },
      redisUrl: url,
    });
    const warned = parley.logs.find((l) => l.event === "admin_names_unclaimed");
    expect(warned?.usernames).to.deep.equal([ghost]);
    const again = new Browser(parley.url);
    expect((await again.login(boss, PASSWORD)).status).to.equal(303);
    expect((await again.get("/admin")).status).to.equal(200);
    // Nobody becomes an admin by registering a listed name first, even with sign-up open.
    const squatter = new Browser(parley.url);
    const refused = await squatter.register(ghost, PASSWORD);
    expect(refused.status).to.equal(409);
    expect(await redis.exists(keys.username(ghost))).to.equal(0);
    // Others are refused the page and its actions.
    const other = new Browser(parley.url);
    await other.register(uniqueName("pleb"), PASSWORD);
    expect((await other.get("/admin")).status).to.equal(403);
    const _csrf = await other.csrf("/account");
    expect((await other.post("/admin/invites", { _csrf, expires: "3600" })).status).to.equal(403);
    const page = await again.get("/admin");
    const id = /\/admin\/users\/([0-9a-f-]{36})\/deactivate/.exec(page.body)?.[1] as string;
    for (const action of ["deactivate", "reactivate", "promote", "demote"]) {
      const r = await other.post(`/admin/users/${id}/${action}`, { _csrf });
      expect(r.status, action).to.equal(403);
    }
    // Without a login: to the login page.
    expect((await new Browser(parley.url).get("/admin")).location).to.equal("/login?next=/admin");
  });
});

describe("invites, the admin page and the audit log", function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let parley: TestParley;
  let other: TestParley;
  let admin: Browser;
  let adminName: string;
  const sockets: ClientSocket[] = [];
  before(async () => {
    const db = await emptyDb(6);
    redis = db.redis;
    parley = await startParley({ env: { REGISTRATION: "invite" }, redisUrl: db.url });
    other = await startParley({ env: { REGISTRATION: "invite" }, redisUrl: db.url });
    admin = new Browser(parley.url);
    adminName = uniqueName("admin");
    expect((await admin.register(adminName, PASSWORD)).status).to.equal(303);
  });
  after(async () => {
    for (const s of sockets) s.close();
    await parley?.close();
    await other?.close();
    await redis.flushDb();
    await redis.close();
  });

  it("an invite link creates exactly one account, even used twice at once; a taken name gives it back", async () => {
    const link = await createInvite(admin);
    expect(link).to.match(/\/register\?invite=[A-Za-z0-9_-]{43}$/);
    // Only its digest is stored.
    const token = new URL(link).searchParams.get("invite") as string;
    expect(JSON.stringify(await redis.keys("parley:invite*"))).to.not.include(token);
    // A taken name: refused 409, and the invite still works.
    const taken = await registerWith(new Browser(parley.url), link, adminName);
    expect(taken.status).to.equal(409);
    const [a, b] = [new Browser(parley.url), new Browser(parley.url)];
    const results = await Promise.all([
      registerWith(a, link, uniqueName("inv")),
      registerWith(b, link, uniqueName("inv")),
    ]);
    expect(results.map((r) => r.status).sort()).to.deep.equal([303, 403]);
    const again = await new Browser(parley.url).get(new URL(link).pathname + new URL(link).search);
    expect(again.status).to.equal(403);
    expect(again.body).to.include("cannot be used");
    expect(await redis.zCard(keys.users)).to.equal(2);
    const audit = await admin.get("/admin");
    expect(audit.body).to.include("invite used");
    expect(audit.body).to.include("invite created");
  });

  it("an expired or withdrawn invite is refused", async () => {
    const link = await createInvite(admin);
    const token = new URL(link).searchParams.get("invite") as string;
    // Withdraw it from the admin page.
    const page = await admin.get("/admin");
    const id = /\/admin\/invites\/([0-9a-f]{64})\/revoke/.exec(page.body)?.[1] as string;
    const _csrf = await admin.csrf("/admin");
    expect((await admin.post(`/admin/invites/${id}/revoke`, { _csrf })).status).to.equal(303);
    expect((await new Browser(parley.url).get(`/register?invite=${token}`)).status).to.equal(403);
    // Expired: its record outlived by its deadline (Redis expires it too).
    const link2 = await createInvite(admin, "3600");
    const token2 = new URL(link2).searchParams.get("invite") as string;
    await redis.hSet(keys.invite(inviteId(token2)), "expiresAt", String(Date.now() - 1));
    const expired = await registerWith(new Browser(parley.url), link2, uniqueName("late"));
    expect(expired.status).to.equal(403);
    // Bad ids and a forged token are refused without a crash.
    const t = await admin.csrf("/admin");
    expect((await admin.post("/admin/invites/zzz/revoke", { _csrf: t })).status).to.equal(404);
    expect((await admin.post("/admin/invites", { _csrf: t, expires: "5" })).status).to.equal(400);
    expect((await new Browser(parley.url).get("/register?invite=%00')")).status).to.equal(403);
  });

  it("deactivating ends the account's open sockets at once and its logins; reactivating lets it log in again but revives none", async () => {
    const link = await createInvite(admin);
    const name = uniqueName("deact");
    const user = new Browser(parley.url);
    expect((await registerWith(user, link, name)).status).to.equal(303);
    const socket = await connect(parley.url, user);
    sockets.push(socket);
    const room = `adm-${Date.now().toString(36)}`;
    await call(socket, "room:join", { room });
    const told = once<{ reason: string }>(socket, "session:revoked", 1000);
    const started = Date.now();
    expect((await adminAction(admin, name, "deactivate")).status).to.equal(303);
    expect((await told).reason).to.equal("deactivated");
    expect(Date.now() - started).to.be.below(1500);
    // The old login is over; a new one is refused, with the right password only.
    expect((await user.get("/chat")).status).to.equal(303);
    const again = new Browser(parley.url);
    const refused = await again.login(name, PASSWORD);
    expect(refused.status).to.equal(403);
    expect(refused.body).to.include("deactivated");
    expect((await again.login(name, "wrong password!")).status).to.equal(401);
    // Reactivated: a fresh login works, the old cookie stays dead.
    expect((await adminAction(admin, name, "reactivate")).status).to.equal(303);
    expect((await again.login(name, PASSWORD)).status).to.equal(303);
    expect((await user.get("/chat")).status).to.equal(303);
    const revived = await connect(parley.url, user).then(
      (s) => {
        sockets.push(s);
        return "connected";
      },
      () => "refused",
    );
    expect(revived).to.equal("refused");
    // An admin cannot deactivate themselves (the page offers no such form; posted anyway),
    // and the only admin is never demoted.
    const own = /\/admin\/users\/([0-9a-f-]{36})\/demote/.exec((await admin.get("/admin")).body);
    const t = await admin.csrf("/admin");
    const self = await admin.post(`/admin/users/${own?.[1]}/deactivate`, { _csrf: t });
    expect(self.status).to.equal(400);
    expect((await adminAction(admin, adminName, "demote")).status).to.equal(400);
    expect((await admin.get("/admin")).status).to.equal(200);
    const entries = await redis.xRange(keys.audit, "-", "+");
    expect(entries.map((e) => e.message.action)).to.include.members([
      "user_deactivated",
      "user_reactivated",
    ]);
    const entry = entries.find((e) => e.message.action === "user_deactivated");
    expect(entry?.message).to.include({ actor: adminName, target: name });
    expect(entry?.message.ip).to.match(/127\.0\.0\.1/);
    expect(
      parley.logs.some((l) => l.event === "audit" && l.action === "user_deactivated"),
    ).to.equal(true);
  });

  it("a deactivation made on one process ends the account's sockets on the other within a second", async () => {
    const link = await createInvite(admin);
    const name = uniqueName("far");
    const user = new Browser(parley.url);
    await registerWith(user, link, name);
    const there = new Browser(other.url);
    there.cookies.set("parley.sid", user.cookies.get("parley.sid") ?? "");
    const socket = await connect(other.url, there);
    sockets.push(socket);
    const room = `far-${Date.now().toString(36)}`;
    expect((await call(socket, "room:join", { room })).ok).to.equal(true);
    const told = once<{ reason: string }>(socket, "session:revoked", 1000);
    const gone = once(socket, "disconnect", 1000);
    expect((await adminAction(admin, name, "deactivate")).status).to.equal(303);
    expect((await told).reason).to.equal("deactivated");
    await gone;
  });

  it("promotes and demotes an admin; a demoted admin loses the page at once", async () => {
    const link = await createInvite(admin);
    const name = uniqueName("mod");
    const user = new Browser(parley.url);
    await registerWith(user, link, name);
    expect((await user.get("/admin")).status).to.equal(403);
    expect((await adminAction(admin, name, "promote")).status).to.equal(303);
    const invitesBefore = await redis.zCard(keys.invites);
    expect((await user.get("/admin")).status).to.equal(200);
    const _csrf = await user.csrf("/account");
    expect((await adminAction(admin, name, "demote")).status).to.equal(303);
    expect((await user.get("/admin")).status).to.equal(403);
    // Its forms, loaded while it was an admin, are refused too.
    expect((await user.post("/admin/invites", { _csrf, expires: "3600" })).status).to.equal(403);
    expect(await redis.zCard(keys.invites)).to.equal(invitesBefore);
  });

  it("an invite dies with its maker's admin role", async () => {
    const link = await createInvite(admin);
    const name = uniqueName("mkr");
    const maker = new Browser(parley.url);
    expect((await registerWith(maker, link, name)).status).to.equal(303);
    expect((await adminAction(admin, name, "promote")).status).to.equal(303);
    const theirs = await createInvite(maker);
    const spare = await createInvite(maker);
    // Works while its maker is an admin.
    expect((await registerWith(new Browser(parley.url), theirs, uniqueName("ok"))).status).to.equal(
      303,
    );
    expect((await adminAction(admin, name, "demote")).status).to.equal(303);
    const page = await new Browser(parley.url).get(new URL(spare).pathname + new URL(spare).search);
    expect(page.status).to.equal(403);
    expect(page.body).to.include("no longer one");
    const users = await redis.zCard(keys.users);
    expect((await registerWith(new Browser(parley.url), spare, uniqueName("no"))).status).to.equal(
      403,
    );
    expect(await redis.zCard(keys.users)).to.equal(users);
  });

  it("every admin form needs its CSRF token", async () => {
    const page = await admin.get("/admin");
    const id = /\/admin\/users\/([0-9a-f-]{36})\/promote/.exec(page.body)?.[1] as string;
    expect((await admin.post(`/admin/users/${id}/promote`, {})).status).to.equal(403);
    expect((await admin.post("/admin/invites", { expires: "3600" })).status).to.equal(403);
  });
});

describe("open registration", function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let url: string;
  let parley: TestParley | undefined;
  before(async () => {
    ({ url, redis } = await emptyDb(7));
  });
  afterEach(async () => {
    await parley?.close();
    parley = undefined;
    await redis.flushDb();
  });
  after(async () => {
    await redis.close();
  });

  it("uses an admin's invite link up, as its page says", async () => {
    parley = await startParley({ env: { REGISTRATION: "open" }, redisUrl: url });
    const admin = new Browser(parley.url);
    expect((await admin.register(uniqueName("admin"), PASSWORD)).status).to.equal(303);
    const link = await createInvite(admin);
    expect((await registerWith(new Browser(parley.url), link, uniqueName("a"))).status).to.equal(
      303,
    );
    expect(await redis.zCard(keys.invites)).to.equal(0);
    // The used link no longer opens the form as an invitation (open registration still does).
    const again = await new Browser(parley.url).get(new URL(link).pathname + new URL(link).search);
    expect(again.status).to.equal(200);
    expect(again.body).to.not.include('name="invite"');
  });

  it("gives each address a budget of accounts, whatever their parallelism, and a taken name costs none of it", async () => {
    const p = await startParley({
      env: { REGISTRATION: "open", REGISTRATIONS_PER_ADDRESS: "5" },
      redisUrl: url,
    });
    parley = p;
    const first = new Browser(p.url);
    const firstName = uniqueName("first");
    expect((await first.register(firstName, PASSWORD)).status).to.equal(303);
    // A taken name is given back.
    expect((await new Browser(p.url).register(firstName, PASSWORD)).status).to.equal(409);
    const statuses = await Promise.all(
      Array.from({ length: 12 }, () =>
        new Browser(p.url).register(uniqueName("bulk"), PASSWORD).then((r) => r.status),
      ),
    );
    // The first account of an empty database is not counted: 5 more.
    expect(statuses.filter((st) => st === 303)).to.have.length(5);
    expect(statuses.filter((st) => st === 429)).to.have.length(7);
    expect(await redis.zCard(keys.users)).to.equal(6);
    const refused = await new Browser(p.url).register(uniqueName("late"), PASSWORD);
    expect(refused.status).to.equal(429);
    expect(Number(refused.headers.get("retry-after"))).to.be.within(1, 3600);
    expect(refused.body).to.include("Too many accounts");
  });
});

describe("deleting one's own account", function () {
  this.timeout(30_000);
  let parley: TestParley;
  before(async () => {
    parley = await startParley();
    // Whoever is the first account here (if this database is empty) is not the one deleted.
    await new Browser(parley.url).register(uniqueName("founder"), PASSWORD);
  });
  after(async () => {
    await parley?.close();
  });

  it("refuses to delete the only admin while others have accounts", async () => {
    const { url, redis } = await emptyDb(7);
    const lone = await startParley({ redisUrl: url });
    try {
      const first = new Browser(lone.url);
      await first.register(uniqueName("only"), PASSWORD);
      await new Browser(lone.url).register(uniqueName("member"), PASSWORD);
      const _csrf = await first.csrf("/account");
      const refused = await first.post("/account/delete", { _csrf, current: PASSWORD });
      expect(refused.status).to.equal(400);
      expect(refused.body).to.include("only admin");
      expect((await first.get("/chat")).status).to.equal(200);
    } finally {
      await lone.close();
      await redis.flushDb();
      await redis.close();
    }
  });

  it("ends every login and socket, frees the name, and leaves the messages under 'deleted user'", async () => {
    const name = uniqueName("gone");
    const b = new Browser(parley.url);
    await b.register(name, PASSWORD);
    const other = new Browser(parley.url);
    await other.login(name, PASSWORD);
    const reader = new Browser(parley.url);
    await reader.register(uniqueName("reader"), PASSWORD);
    const socket = await connect(parley.url, other);
    const watcher = await connect(parley.url, reader);
    try {
      const room = `del-${Date.now().toString(36)}`;
      await call(socket, "room:join", { room });
      await call(watcher, "room:join", { room });
      expect((await call(socket, "message:send", { room, text: "my last words" })).ok).to.equal(
        true,
      );
      // A wrong password changes nothing.
      const t = await b.csrf("/account");
      const wrong = await b.post("/account/delete", { _csrf: t, current: "not it at all" });
      expect(wrong.status).to.equal(400);
      expect((await b.get("/chat")).status).to.equal(200);
      const told = once<{ reason: string }>(socket, "session:revoked", 1000);
      const _csrf = await b.csrf("/account");
      const done = await b.post("/account/delete", { _csrf, current: PASSWORD });
      expect(done.status).to.equal(303);
      expect(done.location).to.equal("/login?account=deleted");
      expect((await told).reason).to.equal("account_deleted");
      expect((await b.get("/login?account=deleted")).body).to.include("Your account was deleted.");
      expect((await other.get("/chat")).status).to.equal(303);
      expect((await new Browser(parley.url).login(name, PASSWORD)).status).to.equal(401);
      const history = await call(watcher, "message:history", { room, limit: 10 });
      expect(history.ok && history.messages.map((m) => [m.user.username, m.text])).to.deep.equal([
        ["deleted user", "my last words"],
      ]);
      // The name is free again, and its new owner does not inherit the old messages.
      const heir = new Browser(parley.url);
      expect((await heir.register(name, PASSWORD)).status).to.equal(303);
      const after = await call(watcher, "message:history", { room, limit: 10 });
      expect(after.ok && after.messages[0]?.user.username).to.equal("deleted user");
    } finally {
      socket.close();
      watcher.close();
    }
  });
});
