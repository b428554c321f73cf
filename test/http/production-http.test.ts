// NODE_ENV=production makes cookies Secure. parley speaks no TLS itself, so reached over
// plain HTTP (no HTTPS proxy in front) a browser never sends its cookies back and every form
// fails its CSRF check: parley says so at start-up, and the form's error names the cause
// instead of "the form had been open too long".
import { expect } from "chai";
import { Browser } from "../helpers/http.js";
import { startParley, TEST_SECRET, type TestParley, testRedisUrl } from "../helpers/parley.js";

describe("production reached over plain HTTP", () => {
  let parley: TestParley;
  before(async () => {
    parley = await startParley({
      env: { NODE_ENV: "production", REDIS_URL: testRedisUrl(), SESSION_SECRET: TEST_SECRET },
    });
  });
  after(async () => {
    await parley?.close();
  });

  it("warns at start-up in one line, and a form's refusal says it came over plain HTTP", async () => {
    const warned = parley.logs.filter((l) => l.event === "production_without_proxy");
    expect(warned).to.have.length(1);
    expect(String(warned[0]?.msg)).to.match(/^NODE_ENV=production with TRUST_PROXY unset/);
    // A browser over plain HTTP: it gets the form, and never sends the Secure cookies back.
    const b = new Browser(parley.url);
    const _csrf = await b.csrf("/login");
    b.cookies.clear();
    const refused = await b.post("/login", { username: "someone", password: "whatever pw", _csrf });
    expect(refused.status).to.equal(403);
    expect(refused.body).to.include("came over plain HTTP, where browsers do not send its cookies");
    expect(refused.body).to.not.include("open too long");
    const reason = parley.logs.filter((l) => l.event === "csrf_failed").map((l) => l.reason);
    expect(reason).to.deep.equal(["plain_http"]);
  });
});
