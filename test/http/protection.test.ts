import { expect } from "chai";
import { keys } from "../../src/stores/keys.js";
import { useParley } from "../helpers/fixtures.js";
import { Browser, sidFromCookie } from "../helpers/http.js";
import { PASSWORD, type TestParley, uniqueName } from "../helpers/parley.js";
import type { TestRedis } from "../helpers/redis.js";

describe("HTTP protections", () => {
  let parley: TestParley;
  let redis: TestRedis;
  useParley((p, r) => {
    parley = p;
    redis = r;
  });

  describe("CSRF tokens", () => {
    it("refuses POST /register without a valid _csrf with 403 and creates no user", async () => {
      const name = uniqueName("csrf");
      const forms: Record<string, string>[] = [
        { username: name, password: PASSWORD },
        { username: name, password: PASSWORD, _csrf: "forged" },
      ];
      for (const form of forms) {
        const b = new Browser(parley.url);
        await b.csrf("/register");
        const res = await b.post("/register", form);
        expect(res.status).to.equal(403);
      }
      expect(await redis.exists(keys.username(name))).to.equal(0);
    });

    it("refuses POST /login without a token, even with the right password", async () => {
      const name = uniqueName();
      await new Browser(parley.url).register(name, PASSWORD);
      const b = new Browser(parley.url);
      await b.csrf("/login");
      const res = await b.post("/login", { username: name, password: PASSWORD });
      expect(res.status).to.equal(403);
      expect((await b.get("/chat")).status).to.equal(303);
    });

    it("answers a stale login or registration form with a fresh form: still 403, username kept, never the password", async () => {
      for (const path of ["/login", "/register"]) {
        const b = new Browser(parley.url);
        // A token that no longer matches (the anonymous session it belonged to expired).
        const res = await b.post(path, { username: "kept_name", password: PASSWORD, _csrf: "old" });
        expect(res.status, path).to.equal(403);
        expect(res.body).to.include("open too long, so nothing was sent");
        expect(res.body).to.match(/name="username"[^>]*value="kept_name"/);
        expect(res.body).to.not.include(PASSWORD);
        // The fresh form works.
        const token = /name="_csrf" value="([^"]+)"/.exec(res.body)?.[1] ?? "";
        const name = uniqueName("again");
        const again =
          path === "/register"
            ? await b.post(path, { username: name, password: PASSWORD, _csrf: token })
            : await b.post(path, { username: "kept_name", password: PASSWORD, _csrf: token });
        expect(again.status, path).to.equal(path === "/register" ? 303 : 401);
      }
    });

    it("says on the login page, once, that the person has been logged out", async () => {
      const b = new Browser(parley.url);
      await b.register(uniqueName("bye"), PASSWORD);
      const out = await b.logout();
      expect(out.status).to.equal(303);
      expect(out.location).to.equal("/login");
      expect((await b.get("/login")).body).to.include("You have been logged out.");
      expect((await b.get("/login")).body).to.not.include("You have been logged out.");
      expect((await new Browser(parley.url).get("/login")).body).to.not.include("logged out");
    });

    it("refuses a token from another session", async () => {
      const other = new Browser(parley.url);
      const foreign = await other.csrf("/login");
      const b = new Browser(parley.url);
      await b.csrf("/login");
      const res = await b.post("/login", { username: "x", password: "y", _csrf: foreign });
      expect(res.status).to.equal(403);
    });

    it("refuses logout, revoke-others and password change without a token, changing nothing", async () => {
      const b = new Browser(parley.url);
      await b.register(uniqueName(), PASSWORD);
      const sid = sidFromCookie(b.cookies.get("parley.sid")) ?? "";
      for (const path of ["/logout", "/sessions/revoke-others", "/account/password"]) {
        const res = await b.post(path, { current: PASSWORD, password: "another password" });
        expect(res.status, path).to.equal(403);
      }
      expect(await redis.exists(keys.session(sid))).to.equal(1);
      expect((await b.get("/chat")).status).to.equal(200);
      const again = await new Browser(parley.url).login(
        (/Signed in as <strong>([^<]+)</.exec((await b.get("/chat")).body) ?? [])[1] ?? "",
        PASSWORD,
      );
      expect(again.status).to.equal(303);
    });
  });

  describe("Origin check", () => {
    it("refuses a POST from a foreign Origin with 403 even with a valid token", async () => {
      const b = new Browser(parley.url);
      const _csrf = await b.csrf("/register");
      const name = uniqueName();
      const res = await b.post(
        "/register",
        { username: name, password: PASSWORD, _csrf },
        { origin: "https://evil.example" },
      );
      expect(res.status).to.equal(403);
      expect(await redis.exists(keys.username(name))).to.equal(0);
      const nul = await b.post(
        "/register",
        { username: name, password: PASSWORD, _csrf },
        { origin: "null" },
      );
      expect(nul.status).to.equal(403);
    });

    it("accepts a POST from the server's own origin", async () => {
      const b = new Browser(parley.url);
      const _csrf = await b.csrf("/register");
      const res = await b.post(
        "/register",
        { username: uniqueName(), password: PASSWORD, _csrf },
        { origin: parley.url },
      );
      expect(res.status).to.equal(303);
    });
  });

  describe("brute-force limits", () => {
    it("answers 429 with Retry-After of about 15 minutes after 5 failures, even for the right password", async () => {
      const name = uniqueName("bf");
      await new Browser(parley.url).register(name, PASSWORD);
      const b = new Browser(parley.url);
      for (let i = 0; i < 5; i++) {
        expect((await b.login(name, "wrong password")).status).to.equal(401);
      }
      const locked = await b.login(name, PASSWORD);
      expect(locked.status).to.equal(429);
      const retry = Number(locked.headers.get("retry-after"));
      expect(retry).to.be.within(890, 900);
      expect((await b.get("/chat")).status).to.equal(303);
    });

    it("resets the count after a success", async () => {
      const name = uniqueName("bf");
      await new Browser(parley.url).register(name, PASSWORD);
      const b = new Browser(parley.url);
      for (let i = 0; i < 4; i++) expect((await b.login(name, "wrong!!!")).status).to.equal(401);
      expect((await b.login(name, PASSWORD)).status).to.equal(303);
      const c = new Browser(parley.url);
      for (let i = 0; i < 4; i++) expect((await c.login(name, "wrong!!!")).status).to.equal(401);
      expect((await c.login(name, PASSWORD)).status).to.equal(303);
    });
  });

  describe("cookies and anonymous sessions", () => {
    it("sets parley.sid signed, HttpOnly, SameSite=Lax, Path=/ and without Domain", async () => {
      const b = new Browser(parley.url);
      const page = await b.request("GET", "/login");
      const cookie = page.headers.getSetCookie().find((c) => c.startsWith("parley.sid="));
      expect(cookie).to.be.a("string");
      expect(cookie).to.match(/^parley\.sid=s%3A/);
      expect(cookie).to.match(/HttpOnly/i);
      expect(cookie).to.match(/SameSite=Lax/i);
      expect(cookie).to.match(/Path=\//);
      expect(cookie).to.not.match(/Domain=/i);
      expect(cookie).to.not.match(/Secure/i);
    });

    it("gives anonymous visitors a session id only for a form, lasting at most 15 minutes, and stores nothing in Redis", async () => {
      const b = new Browser(parley.url);
      expect((await b.get("/")).headers.getSetCookie()).to.deep.equal([]);
      expect((await b.get("/healthz")).headers.getSetCookie()).to.deep.equal([]);
      expect((await b.get("/chat")).headers.getSetCookie()).to.deep.equal([]);
      const page = await b.request("GET", "/login");
      const cookie = page.headers.getSetCookie().find((c) => c.startsWith("parley.sid=")) ?? "";
      const maxAge = Number(/Max-Age=(\d+)/i.exec(cookie)?.[1]);
      expect(maxAge).to.be.within(1, 900);
      const sid = sidFromCookie(b.cookies.get("parley.sid")) ?? "";
      expect(sid).to.have.length.above(20);
      expect(await redis.exists(keys.session(sid))).to.equal(0);
    });

    it("stores nothing for a thousand cookie-less visits of the forms", async () => {
      const sessions = async () => (await redis.keys(`${keys.sessionPrefix}*`)).length;
      const [keysBefore, sessionsBefore] = [await redis.dbSize(), await sessions()];
      const statuses = await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          fetch(`${parley.url}${i % 2 ? "/login" : "/register"}`).then((r) => r.status),
        ),
      );
      expect(statuses.every((st) => st === 200)).to.equal(true);
      expect(await sessions()).to.equal(sessionsBefore);
      // Not one key more (one may have expired meanwhile).
      expect(await redis.dbSize()).to.be.at.most(keysBefore);
    });

    it("still refuses a form posted with the token but without its cookies, or with another visitor's", async () => {
      const a = new Browser(parley.url);
      const token = await a.csrf("/login");
      const form = { username: "nobody", password: PASSWORD, _csrf: token };
      const bare = await fetch(`${parley.url}/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(form).toString(),
        redirect: "manual",
      });
      expect(bare.status).to.equal(403);
      const b = new Browser(parley.url);
      await b.csrf("/login");
      // b's own token cookie, but a's token and a's session id: each pair is bound to its id.
      b.cookies.set("parley.csrf", a.cookies.get("parley.csrf") ?? "");
      expect((await b.post("/login", form)).status).to.equal(403);
      expect((await a.post("/login", form)).status).to.equal(401);
    });
  });

  describe("security headers", () => {
    it("sends the documented CSP, nosniff and no X-Powered-By", async () => {
      const res = await new Browser(parley.url).get("/login");
      const csp = res.headers.get("content-security-policy") ?? "";
      for (const d of [
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
      ]) {
        expect(csp).to.include(d);
      }
      expect(csp).to.not.include("unsafe-inline");
      expect(csp).to.not.include("unsafe-eval");
      expect(res.headers.get("x-content-type-options")).to.equal("nosniff");
      expect(res.headers.get("x-powered-by")).to.equal(null);
      expect(res.headers.get("strict-transport-security")).to.equal(null);
    });

    it("marks pages for a logged-in user Cache-Control: no-store", async () => {
      const b = new Browser(parley.url);
      await b.register(uniqueName(), PASSWORD);
      for (const path of ["/chat", "/sessions", "/account"]) {
        expect((await b.get(path)).headers.get("cache-control"), path).to.equal("no-store");
      }
    });

    it("has no inline script or inline style in any page", async () => {
      const anon = new Browser(parley.url);
      const user = new Browser(parley.url);
      await user.register(uniqueName(), PASSWORD);
      const pages = [
        await anon.get("/login"),
        await anon.get("/register"),
        await anon.get("/no-such-page"),
        await user.get("/chat"),
        await user.get("/sessions"),
        await user.get("/account"),
      ];
      for (const p of pages) {
        expect(p.body).to.match(/<html/);
        expect(p.body).to.not.match(/<script(?![^>]*\bsrc=)[^>]*>/i);
        expect(p.body).to.not.match(/<style/i);
        expect(p.body).to.not.match(/\sstyle=/i);
        expect(p.body).to.not.match(/\son[a-z]+=/i);
      }
    });
  });

  describe("errors and probes", () => {
    it("renders 404 as a page, and as JSON for JSON clients", async () => {
      const b = new Browser(parley.url);
      const page = await b.get("/nope");
      expect(page.status).to.equal(404);
      expect(page.body).to.include("Not found");
      const json = await b.get("/nope", { accept: "application/json" });
      expect(json.status).to.equal(404);
      expect(JSON.parse(json.body)).to.deep.equal({
        ok: false,
        error: { code: "not_found", message: "There is nothing at this address." },
      });
    });

    it("shows a logged-in user their own header on a 404, not the login links", async () => {
      const b = new Browser(parley.url);
      const name = uniqueName("lost");
      await b.register(name, PASSWORD);
      const page = await b.get("/nope");
      expect(page.status).to.equal(404);
      expect(page.body).to.include(`Signed in as <strong>${name}</strong>`);
      expect(page.body).to.include('action="/logout"');
      expect(page.body).not.to.include('href="/register"');
    });

    it("answers GET /readyz 200 while Redis answers", async () => {
      expect((await new Browser(parley.url).get("/readyz")).status).to.equal(200);
    });

    it("answers a too-large form with 413, not a stack trace", async () => {
      const b = new Browser(parley.url);
      const _csrf = await b.csrf("/login");
      const res = await b.post("/login", { username: "x".repeat(20_000), password: "y", _csrf });
      expect(res.status).to.equal(413);
      expect(res.body).to.not.match(/at .*\.js:\d+/);
    });
  });
});
