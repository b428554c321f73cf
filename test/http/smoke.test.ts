import { expect } from "chai";
import { useParley } from "../helpers/fixtures.js";
import { Browser } from "../helpers/http.js";
import { type TestParley, uniqueName } from "../helpers/parley.js";

describe("GET /healthz", () => {
  let parley: TestParley;
  useParley((p) => {
    parley = p;
  });

  it("answers 200 while the process runs", async () => {
    const res = await new Browser(parley.url).get("/healthz");
    expect(res.status).to.equal(200);
  });

  it("lets a new user register and land in chat", async () => {
    const b = new Browser(parley.url);
    const res = await b.register(uniqueName(), "correct horse battery");
    expect(res.status).to.equal(303);
    expect(res.location).to.equal("/chat");
    expect((await b.get("/chat")).status).to.equal(200);
  });
});
