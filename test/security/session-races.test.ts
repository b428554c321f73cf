// Requests of a login that are in flight while that login ends or changes its password. Each
// such request loaded the session before and saves it after (express-session writes the
// whole record at the end of a request that changed it), which once brought revoked logins
// back, and could undo the carry-over of the login that changed the password.
import { expect } from "chai";
import { keys } from "../../src/stores/keys.js";
import { Browser, type Reply, sidFromCookie } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { redisClient, type TestRedis } from "../helpers/redis.js";
import { connect } from "../helpers/socket.js";

describe("requests in flight while a login ends", function () {
  this.timeout(60_000);
  let parley: TestParley;
  let redis: TestRedis;
  // A clock the test moves: a minute later every request refreshes `lastActive`, so every
  // request in flight saves its copy of the session when it ends.
  let clock = Date.now();
  before(async () => {
    parley = await startParley({ now: () => clock });
    redis = await redisClient();
  });
  after(async () => {
    await redis?.close();
    await parley?.close();
  });

  /** Slow requests (each waits on argon2) of this login, all loaded before `then` runs. */
  async function inFlight(b: Browser, then: () => Promise<unknown>): Promise<Reply[]> {
    const _csrf = await b.csrf("/account");
    clock += 61_000;
    const slow = Array.from({ length: 30 }, () =>
      b.post("/account/password", { current: "not the password", password: "x".repeat(12), _csrf }),
    );
    // A fixed head start, deliberately: the requests are to have loaded the session and be
    // waiting on argon2 (nothing outside the process shows that moment) when `then` runs.
    await new Promise((resolve) => setTimeout(resolve, 60));
    await then();
    return Promise.all(slow);
  }

  async function loggedIn(b: Browser): Promise<boolean> {
    const page = await b.get("/chat");
    const socket = await connect(parley.url, b).catch(() => undefined);
    socket?.close();
    return page.status === 200 || socket !== undefined;
  }

  it("a login revoked from /sessions stays revoked", async () => {
    const name = uniqueName("rv");
    const owner = new Browser(parley.url);
    await owner.register(name, PASSWORD);
    const thief = new Browser(parley.url);
    await thief.login(name, PASSWORD);
    const thiefSid = sidFromCookie(thief.cookies.get("parley.sid")) as string;
    const replies = await inFlight(thief, async () => {
      const page = await owner.get("/sessions");
      const handle = /\/sessions\/([A-Za-z0-9_-]{22})\/revoke/.exec(page.body)?.[1] as string;
      const _csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] as string;
      expect((await owner.post(`/sessions/${handle}/revoke`, { _csrf })).status).to.equal(303);
    });
    expect(replies.some((r) => r.status === 400)).to.equal(true);
    expect(await redis.exists(keys.session(thiefSid))).to.equal(0);
    expect(await loggedIn(thief)).to.equal(false);
  });

  it("a login that logged out stays logged out", async () => {
    const b = new Browser(parley.url);
    await b.register(uniqueName("lo"), PASSWORD);
    const sid = sidFromCookie(b.cookies.get("parley.sid")) as string;
    const cookie = b.cookieHeader();
    await inFlight(b, async () => {
      const _csrf = await b.csrf("/account");
      expect((await b.post("/logout", { _csrf })).status).to.equal(303);
    });
    expect(await redis.exists(keys.session(sid))).to.equal(0);
    // The old cookie, replayed, is no login.
    const replay = new Browser(parley.url, { cookie });
    expect((await replay.get("/chat")).status).to.equal(303);
  });

  it("the login that changed the password keeps working, whatever its other requests save", async () => {
    const name = uniqueName("cg");
    const changer = new Browser(parley.url);
    await changer.register(name, PASSWORD);
    const socket = await connect(parley.url, changer);
    try {
      // The change starts first; slow requests of the same login load the session while it
      // runs and, queued behind it on argon2, save their older copy after it.
      const _csrf = await changer.csrf("/account");
      clock += 61_000;
      const change = changer.post("/account/password", {
        current: PASSWORD,
        password: "a brand new passphrase",
        _csrf,
      });
      // A fixed head start, deliberately: the change is to be under way when they arrive.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const slow = Array.from({ length: 20 }, () =>
        changer.post("/account/password", {
          current: "not the password",
          password: "x".repeat(12),
          _csrf,
        }),
      );
      expect((await change).status).to.equal(303);
      await Promise.all(slow);
      expect(await loggedIn(changer)).to.equal(true);
      expect(socket.connected).to.equal(true);
    } finally {
      socket.close();
    }
  });
});
