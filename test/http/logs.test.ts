import { expect } from "chai";
import { Browser, sidFromCookie } from "../helpers/http.js";
import { startParley, uniqueName } from "../helpers/parley.js";
import { call, connect } from "../helpers/socket.js";

describe("logs", () => {
  it("never contain a password, cookie, session id or CSRF token", async () => {
    const parley = await startParley();
    try {
      const password = "secret-password-for-log-test";
      const name = uniqueName("log");
      const b = new Browser(parley.url);
      const secrets: string[] = [password];
      const reg = await b.register(name, password);
      expect(reg.status).to.equal(303);
      const cookie = b.cookies.get("parley.sid") ?? "";
      secrets.push(cookie, decodeURIComponent(cookie), sidFromCookie(cookie) ?? "");
      secrets.push(await b.csrf("/chat"));
      const socket = await connect(parley.url, b);
      expect((await call(socket, "ping", {})).ok).to.equal(true);
      socket.close();
      const other = new Browser(parley.url);
      secrets.push(await other.csrf("/login"));
      expect((await other.login(name, "wrong-password-also-secret")).status).to.equal(401);
      secrets.push("wrong-password-also-secret");
      await b.post("/logout", { _csrf: await b.csrf("/chat") });
      expect((await connect(parley.url, b).catch((e: Error) => e)) instanceof Error).to.equal(true);
      expect(parley.rawLogs.some((l) => l.includes('"login_failed"'))).to.equal(true);
      expect(parley.rawLogs.some((l) => l.includes('"handshake_refused"'))).to.equal(true);
      expect((await b.post("/logout", { _csrf: "forged" })).status).to.equal(403);
      expect(parley.rawLogs.some((l) => l.includes('"csrf_failed"'))).to.equal(true);
      // Request lines and route events carry the request id.
      const failed = parley.logs.find((l) => l.event === "login_failed");
      expect(failed?.req).to.have.property("id").that.is.a("string");
      const requestLine = parley.logs.find(
        (l) => (l.req as { path?: string } | undefined)?.path === "/login",
      );
      expect(requestLine?.res).to.have.property("statusCode");
      for (const line of parley.rawLogs) {
        for (const s of secrets) {
          if (s.length >= 8) expect(line, `a log line leaks ${s.slice(0, 6)}…`).to.not.include(s);
        }
      }
    } finally {
      await parley.close();
    }
  });
});
