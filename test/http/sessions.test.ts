import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "chai";
import { keys } from "../../src/stores/keys.js";
import { useParley } from "../helpers/fixtures.js";
import { Browser, sidFromCookie } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { redisClient, type TestRedis } from "../helpers/redis.js";

/** The revoke-form handles on a /sessions page, in page order. */
function handles(body: string): string[] {
  return [...body.matchAll(/action="\/sessions\/([^/"]+)\/revoke"/g)].map((m) => m[1] ?? "");
}

describe("sessions and account", () => {
  let parley: TestParley;
  let redis: TestRedis;
  useParley((p, r) => {
    parley = p;
    redis = r;
  });

  async function twoLogins() {
    const name = uniqueName("dev");
    const laptop = new Browser(parley.url, { "user-agent": "Laptop Browser/1.0" });
    await laptop.register(name, PASSWORD);
    const phone = new Browser(parley.url, { "user-agent": "Phone Browser/2.0" });
    expect((await phone.login(name, PASSWORD)).status).to.equal(303);
    return { name, laptop, phone };
  }

  describe("GET /sessions", () => {
    it("lists every login with agent, address and times, marking this device, with opaque handles", async () => {
      const { laptop, phone } = await twoLogins();
      const page = await laptop.get("/sessions");
      expect(page.status).to.equal(200);
      expect(page.body).to.include("Laptop Browser/1.0");
      expect(page.body).to.include("Phone Browser/2.0");
      expect(page.body).to.include("127.0.0.1");
      expect(page.body.match(/this device/g)).to.have.length(1);
      // This device comes first, whichever login is newer.
      expect(page.body.indexOf("this device")).to.be.below(page.body.indexOf("Phone Browser/2.0"));
      const [handle] = handles(page.body);
      expect(handles(page.body)).to.have.length(1);
      const phoneSid = sidFromCookie(phone.cookies.get("parley.sid")) ?? "";
      expect(handle).to.match(/^[A-Za-z0-9_-]{22}$/);
      expect(handle).to.not.equal(phoneSid);
      expect(page.body).to.not.include(phoneSid);
    });

    it("drops logins whose session expired in Redis", async () => {
      const { laptop, phone } = await twoLogins();
      await redis.del(keys.session(sidFromCookie(phone.cookies.get("parley.sid")) ?? ""));
      const page = await laptop.get("/sessions");
      expect(page.body).to.not.include("Phone Browser/2.0");
      expect(handles(page.body)).to.have.length(0);
    });
  });

  describe("POST /sessions/:handle/revoke", () => {
    it("ends that login in Redis and answers 303 to /sessions", async () => {
      const { laptop, phone } = await twoLogins();
      const phoneSid = sidFromCookie(phone.cookies.get("parley.sid")) ?? "";
      const page = await laptop.get("/sessions");
      const _csrf = (/name="_csrf" value="([^"]+)"/.exec(page.body) ?? [])[1] ?? "";
      const res = await laptop.post(`/sessions/${handles(page.body)[0]}/revoke`, { _csrf });
      expect(res.status).to.equal(303);
      expect(res.location).to.equal("/sessions");
      expect(await redis.exists(keys.session(phoneSid))).to.equal(0);
      expect((await phone.get("/chat")).status).to.equal(303);
      expect((await laptop.get("/chat")).status).to.equal(200);
    });

    it("answers 404 for an unknown handle and for another user's handle", async () => {
      const a = await twoLogins();
      const b = await twoLogins();
      const bHandle = handles((await b.laptop.get("/sessions")).body)[0] ?? "";
      const _csrf = await a.laptop.csrf("/sessions");
      expect(
        (await a.laptop.post("/sessions/AAAAAAAAAAAAAAAAAAAAAA/revoke", { _csrf })).status,
      ).to.equal(404);
      expect((await a.laptop.post(`/sessions/${bHandle}/revoke`, { _csrf })).status).to.equal(404);
      expect((await b.phone.get("/chat")).status).to.equal(200);
    });
  });

  describe("POST /sessions/revoke-others", () => {
    it("ends every other login and keeps this one", async () => {
      const { name, laptop, phone } = await twoLogins();
      const tablet = new Browser(parley.url);
      await tablet.login(name, PASSWORD);
      const _csrf = await laptop.csrf("/sessions");
      const res = await laptop.post("/sessions/revoke-others", { _csrf });
      expect(res.status).to.equal(303);
      expect((await phone.get("/chat")).status).to.equal(303);
      expect((await tablet.get("/chat")).status).to.equal(303);
      expect((await laptop.get("/chat")).status).to.equal(200);
    });
  });

  describe("POST /account/password", () => {
    it("answers 400 for a wrong current password and changes nothing", async () => {
      const { name, laptop, phone } = await twoLogins();
      const _csrf = await laptop.csrf("/account");
      const res = await laptop.post("/account/password", {
        current: "not my password",
        password: "brand new password",
        _csrf,
      });
      expect(res.status).to.equal(400);
      expect(res.body).to.include("not your current password");
      expect((await phone.get("/chat")).status).to.equal(200);
      expect((await new Browser(parley.url).login(name, PASSWORD)).status).to.equal(303);
    });

    it("changes the password, ends every other login and keeps this one", async () => {
      const { name, laptop, phone } = await twoLogins();
      const _csrf = await laptop.csrf("/account");
      const res = await laptop.post("/account/password", {
        current: PASSWORD,
        password: "brand new password",
        _csrf,
      });
      expect(res.status).to.equal(303);
      expect(res.location).to.equal("/account");
      expect((await laptop.get("/account")).body).to.include("password was changed");
      expect((await phone.get("/chat")).status).to.equal(303);
      expect((await laptop.get("/chat")).status).to.equal(200);
      expect((await new Browser(parley.url).login(name, PASSWORD)).status).to.equal(401);
      expect((await new Browser(parley.url).login(name, "brand new password")).status).to.equal(
        303,
      );
    });

    it("answers 400 for a new password that is too short", async () => {
      const { laptop } = await twoLogins();
      const _csrf = await laptop.csrf("/account");
      const res = await laptop.post("/account/password", {
        current: PASSWORD,
        password: "short",
        _csrf,
      });
      expect(res.status).to.equal(400);
    });
  });
});

describe("session lifetime", () => {
  it("ends a login after the idle timeout", async () => {
    const parley = await startParley({
      env: { SESSION_IDLE_SECONDS: "1", SESSION_ABSOLUTE_SECONDS: "60" },
    });
    try {
      const b = new Browser(parley.url);
      await b.register(uniqueName(), PASSWORD);
      expect((await b.get("/chat")).status).to.equal(200);
      await sleep(2100); // the subject of this test is the passing of time
      expect((await b.get("/chat")).status).to.equal(303);
    } finally {
      await parley.close();
    }
  });

  it("never extends a login past its absolute lifetime, however active", async () => {
    const parley = await startParley({
      env: { SESSION_IDLE_SECONDS: "2", SESSION_ABSOLUTE_SECONDS: "3" },
    });
    const redis = await redisClient();
    try {
      const b = new Browser(parley.url);
      const started = Date.now();
      await b.register(uniqueName(), PASSWORD);
      const sid = sidFromCookie(b.cookies.get("parley.sid")) ?? "";
      while (Date.now() - started < 2500) {
        expect((await b.get("/chat")).status).to.equal(200);
        const ttl = await redis.pTTL(keys.session(sid));
        // Redis TTLs are whole seconds, rounded up; the exact deadline is enforced in-process.
        expect(Date.now() + ttl).to.be.at.most(started + 3000 + 1250);
        await sleep(400); // a request every 400 ms, deliberately: active all along
      }
      // Past the absolute lifetime (3 s): a fixed wait, deliberately (time is the subject).
      await sleep(Math.max(0, started + 3300 - Date.now()));
      expect((await b.get("/chat")).status).to.equal(303);
    } finally {
      await redis.close();
      await parley.close();
    }
  });
});

describe("SESSION_SECRET rotation", () => {
  it("verifies cookies signed by any listed secret and signs with the first", async () => {
    const oldSecret = "o".repeat(40);
    const newSecret = "n".repeat(40);
    const b = new Browser("http://placeholder");
    const first = await startParley({ env: { SESSION_SECRET: oldSecret } });
    try {
      b.baseUrl = first.url;
      await b.register(uniqueName("rot"), PASSWORD);
    } finally {
      await first.close();
    }
    const signedByOld = b.cookies.get("parley.sid");
    const rotated = await startParley({ env: { SESSION_SECRET: `${newSecret},${oldSecret}` } });
    try {
      b.baseUrl = rotated.url;
      expect((await b.get("/chat")).status).to.equal(200);
      expect(b.cookies.get("parley.sid")).to.not.equal(signedByOld);
    } finally {
      await rotated.close();
    }
    const onlyOther = await startParley({ env: { SESSION_SECRET: "x".repeat(40) } });
    try {
      b.baseUrl = onlyOther.url;
      expect((await b.get("/chat")).status).to.equal(303);
    } finally {
      await onlyOther.close();
    }
  });
});
