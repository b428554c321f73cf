import { expect } from "chai";
import { keys } from "../../src/stores/keys.js";
import { Browser, sidFromCookie } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { poll, pollingHandshake, rawWebSocket, upgradeStatusLine } from "../helpers/raw.js";
import { redisClient } from "../helpers/redis.js";
import { call, connect, upgraded } from "../helpers/socket.js";

describe("opening a socket", () => {
  let parley: TestParley;
  let alice: Browser;
  let bob: Browser;
  before(async () => {
    parley = await startParley();
    alice = new Browser(parley.url);
    bob = new Browser(parley.url);
    await alice.register(uniqueName("alice"), PASSWORD);
    await bob.register(uniqueName("bob"), PASSWORD);
  });
  after(async () => {
    await parley?.close();
  });

  const engineClients = () => parley.realtime.io.engine.clientsCount;

  describe("without a login", () => {
    it("refuses the polling handshake with 401 before any engine.io session exists", async () => {
      const before = engineClients();
      const res = await poll(parley.url, "");
      expect(res.status).to.equal(401);
      expect(engineClients()).to.equal(before);
    });

    it("refuses a direct WebSocket upgrade with a real 401 status line", async () => {
      expect(await upgradeStatusLine(parley.url, "", {})).to.match(/^HTTP\/1\.1 401 /);
    });

    it("refuses an anonymous (CSRF-only) session with 401", async () => {
      const anon = new Browser(parley.url);
      await anon.csrf("/login");
      expect(
        (await poll(parley.url, "", { headers: { cookie: anon.cookieHeader() } })).status,
      ).to.equal(401);
    });

    it("reaches socket.io-client as a refused connection, with the 401", async () => {
      const err = await connect(parley.url, undefined, { transports: ["polling"] }).then(
        () => undefined,
        (e: Error & { description?: unknown }) => e,
      );
      expect(err?.message).to.equal("xhr poll error");
      expect(err?.description).to.equal(401);
    });
  });

  describe("Origin", () => {
    for (const [what, headers] of [
      ["a foreign Origin", { origin: "https://evil.example" }],
      ["Origin: null", { origin: "null" }],
      ["Sec-Fetch-Site: cross-site", { "sec-fetch-site": "cross-site" }],
    ] as const) {
      it(`refuses ${what} with 403 on polling and on the upgrade, even when logged in`, async () => {
        const h = { cookie: alice.cookieHeader(), ...headers };
        expect((await poll(parley.url, "", { headers: h })).status).to.equal(403);
        expect(await upgradeStatusLine(parley.url, "", h)).to.match(/^HTTP\/1\.1 403 /);
      });
    }

    it("accepts the server's own origin", async () => {
      const socket = await connect(parley.url, alice, { headers: { origin: parley.url } });
      expect((await call(socket, "ping", {})).ok).to.equal(true);
      socket.close();
    });
  });

  describe("binding a connection to its session", () => {
    it("refuses a later polling request with another user's cookie or none (403)", async () => {
      const sid = await pollingHandshake(parley.url, { cookie: alice.cookieHeader() });
      const q = `&sid=${sid}`;
      expect(
        (await poll(parley.url, q, { headers: { cookie: bob.cookieHeader() } })).status,
      ).to.equal(403);
      expect((await poll(parley.url, q, {})).status).to.equal(403);
      expect(
        (
          await poll(parley.url, q, {
            method: "POST",
            body: "40",
            headers: { cookie: bob.cookieHeader() },
          })
        ).status,
      ).to.equal(403);
      // The rightful owner still can.
      const ok = await poll(parley.url, q, {
        method: "POST",
        body: "40",
        headers: { cookie: alice.cookieHeader() },
      });
      expect(ok.status).to.equal(200);
    });

    it("refuses the upgrade of that connection with another user's cookie (403 status line)", async () => {
      const sid = await pollingHandshake(parley.url, { cookie: alice.cookieHeader() });
      expect(
        await upgradeStatusLine(parley.url, `&sid=${sid}`, { cookie: bob.cookieHeader() }),
      ).to.match(/^HTTP\/1\.1 403 /);
      expect(await upgradeStatusLine(parley.url, `&sid=${sid}`, {})).to.match(/^HTTP\/1\.1 403 /);
    });

    it("lets the owner upgrade from polling to WebSocket", async () => {
      const socket = await connect(parley.url, alice, { transports: ["polling", "websocket"] });
      await upgraded(socket);
      expect((await call(socket, "ping", {})).ok).to.equal(true);
      socket.close();
    });
  });
});

describe("connecting to the namespace", () => {
  it("re-checks the login: a session ended after the upgrade gets connect_error `unauthorized`", async () => {
    const parley = await startParley();
    const redis = await redisClient();
    try {
      const b = new Browser(parley.url);
      await b.register(uniqueName(), PASSWORD);
      const ws = await rawWebSocket(parley.url, { cookie: b.cookieHeader() });
      const frames: string[] = [];
      const refused = new Promise<string>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no refusal; got ${frames.join(" | ")}`)),
          3000,
        );
        ws.on("message", (data) => {
          const f = String(data);
          frames.push(f);
          if (f.startsWith("44")) {
            clearTimeout(t);
            resolve(f);
          }
        });
      });
      await redis.del(keys.session(sidFromCookie(b.cookies.get("parley.sid")) ?? ""));
      ws.send("40");
      expect(JSON.parse((await refused).slice(2))).to.deep.equal({ message: "unauthorized" });
      ws.close();
    } finally {
      await redis.close();
      await parley.close();
    }
  });
});
