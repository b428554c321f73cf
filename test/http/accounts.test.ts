import { expect } from "chai";
import { keys } from "../../src/stores/keys.js";
import { useParley } from "../helpers/fixtures.js";
import { Browser, sidFromCookie } from "../helpers/http.js";
import { PASSWORD, type TestParley, uniqueName } from "../helpers/parley.js";
import type { TestRedis } from "../helpers/redis.js";

describe("accounts", () => {
  let parley: TestParley;
  let redis: TestRedis;
  useParley((p, r) => {
    parley = p;
    redis = r;
  });

  describe("POST /register", () => {
    it("logs the new user in with a fresh session id and answers 303 to /chat", async () => {
      const b = new Browser(parley.url);
      await b.csrf("/register");
      const anonSid = sidFromCookie(b.cookies.get("parley.sid"));
      const res = await b.register(uniqueName(), PASSWORD);
      expect(res.status).to.equal(303);
      expect(res.location).to.equal("/chat");
      const sid = sidFromCookie(b.cookies.get("parley.sid"));
      expect(sid).to.be.a("string").and.not.equal(anonSid);
      expect(await redis.exists(keys.session(anonSid ?? ""))).to.equal(0);
      expect(await redis.exists(keys.session(sid ?? ""))).to.equal(1);
      expect((await b.get("/chat")).status).to.equal(200);
    });

    it("answers 400 for an invalid username or password, shows the error and never the password", async () => {
      const b = new Browser(parley.url);
      for (const [username, password] of [
        ["ab", PASSWORD],
        ["has space", PASSWORD],
        ["x".repeat(33), PASSWORD],
        [uniqueName(), "short7!"],
        [uniqueName(), "p".repeat(257)],
      ] as const) {
        const _csrf = await b.csrf("/register");
        const res = await b.post("/register", { username, password, _csrf });
        expect(res.status, username).to.equal(400);
        expect(res.body).to.match(/class="error"/);
        expect(res.body).to.not.include(password);
      }
      expect(b.cookies.has("parley.sid")).to.equal(true);
      expect((await b.get("/chat")).status).to.equal(303);
    });

    it("answers 409 for a name that is taken, whatever its case", async () => {
      const name = uniqueName("Taken");
      expect((await new Browser(parley.url).register(name, PASSWORD)).status).to.equal(303);
      const res = await new Browser(parley.url).register(name.toUpperCase(), PASSWORD);
      expect(res.status).to.equal(409);
      expect(res.body).to.include("taken");
    });

    it("lets exactly one of several concurrent registrations of one name succeed", async () => {
      const name = uniqueName("race");
      const results = await Promise.all(
        Array.from({ length: 5 }, () => new Browser(parley.url).register(name, PASSWORD)),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).to.deep.equal([303, 409, 409, 409, 409]);
    });
  });

  describe("POST /login", () => {
    let name: string;
    before(async () => {
      name = uniqueName("login");
      await new Browser(parley.url).register(name, PASSWORD);
    });

    it("logs in with a fresh session id: the pre-login id is gone from Redis and its cookie no longer works", async () => {
      const b = new Browser(parley.url);
      const _csrf = await b.csrf("/login");
      const before = b.cookies.get("parley.sid");
      const beforeSid = sidFromCookie(before);
      const res = await b.post("/login", { username: name, password: PASSWORD, _csrf });
      expect(res.status).to.equal(303);
      expect(res.location).to.equal("/chat");
      const afterSid = sidFromCookie(b.cookies.get("parley.sid"));
      expect(afterSid).to.not.equal(beforeSid);
      expect(await redis.exists(keys.session(beforeSid ?? ""))).to.equal(0);
      const old = new Browser(parley.url);
      old.cookies.set("parley.sid", before ?? "");
      expect((await old.get("/chat")).status).to.equal(303);
    });

    it("answers 401 with the same text for an unknown user and a wrong password", async () => {
      const alert = (body: string) => /<p class="alert"[^>]*>([^<]*)</.exec(body)?.[1];
      const unknown = await new Browser(parley.url).login(uniqueName("nobody"), PASSWORD);
      const wrong = await new Browser(parley.url).login(name, "wrong password!");
      expect(unknown.status).to.equal(401);
      expect(wrong.status).to.equal(401);
      expect(alert(unknown.body)).to.be.a("string").and.equal(alert(wrong.body));
    });

    it("redirects to a local `next` and refuses anything else", async () => {
      const cases: [string, string][] = [
        ["/sessions", "/sessions"],
        ["//evil.example", "/chat"],
        ["/\\evil.example", "/chat"],
        ["https://evil.example/", "/chat"],
        ["/%2F%2Fevil.example", "/chat"],
        ["/%5Cevil.example", "/chat"],
        ["%2F%2Fevil.example", "/chat"],
      ];
      for (const [next, expected] of cases) {
        const res = await new Browser(parley.url).login(name, PASSWORD, { next });
        expect(res.status, next).to.equal(303);
        expect(res.location, next).to.equal(expected);
      }
    });

    it("sends anonymous visitors of /chat to /login?next=/chat", async () => {
      const res = await new Browser(parley.url).get("/chat");
      expect(res.status).to.equal(303);
      expect(res.location).to.equal("/login?next=/chat");
    });
  });

  describe("POST /logout", () => {
    it("destroys the session in Redis, clears the cookie and answers 303 to /login", async () => {
      const b = new Browser(parley.url);
      await b.register(uniqueName(), PASSWORD);
      const cookie = b.cookies.get("parley.sid") ?? "";
      const sid = sidFromCookie(cookie) ?? "";
      const _csrf = await b.csrf("/chat");
      const res = await b.post("/logout", { _csrf });
      expect(res.status).to.equal(303);
      expect(res.location).to.equal("/login");
      expect(res.headers.getSetCookie().join("\n")).to.match(
        /parley\.sid=;.*Expires=Thu, 01 Jan 1970/,
      );
      expect(await redis.exists(keys.session(sid))).to.equal(0);
      const old = new Browser(parley.url);
      old.cookies.set("parley.sid", cookie);
      expect((await old.get("/chat")).status).to.equal(303);
    });
  });
});
