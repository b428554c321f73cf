// Attacks on the engine.io layer, sent as raw bytes: a query read differently by the screen
// and by engine.io, JSONP, transports out of place, and same-site script tags. Each of these
// once reached a victim's connection or opened one without a login.
import { expect } from "chai";
import { Server as EngineServer } from "engine.io";
import fc from "fast-check";
import { createLogger } from "../../src/logger.js";
import { parseEngineQuery } from "../../src/realtime/engine-query.js";
import { engineMiddleware, type ScreenDeps } from "../../src/realtime/handshake.js";
import { keys } from "../../src/stores/keys.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { rawHttp, upgradeStatus } from "../helpers/raw.js";
import { redisClient, type TestRedis } from "../helpers/redis.js";
import { type ClientSocket, call, connect, once } from "../helpers/socket.js";

const BASE = "/socket.io/?EIO=4&transport=polling";

interface EngineClients {
  clients: Record<string, { request: { sessionID?: string } }>;
}

describe("engine.io requests decided on engine.io's own parse", function () {
  this.timeout(30_000);
  let parley: TestParley;
  let victim: Browser;
  let attacker: Browser;
  let victimSocket: ClientSocket;
  let victimEid: string;
  let redis: TestRedis;
  const room = `takeover-${Date.now().toString(36)}`;

  const clients = () => (parley.realtime.io.engine as unknown as EngineClients).clients;
  const clientCount = () => Object.keys(clients()).length;
  const sendAsVictim = (text: string) => `42${JSON.stringify(["message:send", { room, text }])}`;

  /** Texts stored in the room, read through the victim's own (legitimate) socket. */
  async function storedTexts(): Promise<string[]> {
    const r = await call(victimSocket, "message:history", { room, limit: 100 });
    if (!r.ok) throw new Error(`history failed: ${r.error.code}`);
    return r.messages.map((m) => m.text);
  }

  before(async () => {
    parley = await startParley();
    redis = await redisClient();
    victim = new Browser(parley.url);
    attacker = new Browser(parley.url);
    await victim.register(uniqueName("victim"), PASSWORD);
    await attacker.register(uniqueName("mallory"), PASSWORD);
    victimSocket = await connect(parley.url, victim, { transports: ["polling"] });
    victimEid = victimSocket.io.engine.id as string;
    const joined = await call(victimSocket, "room:join", { room });
    expect(joined.ok).to.equal(true);
  });
  after(async () => {
    victimSocket?.close();
    await redis?.close();
    await parley?.close();
  });

  /** Every engine.io connection that exists belongs to a logged-in session in Redis. */
  async function everyConnectionLoggedIn(): Promise<void> {
    for (const [id, c] of Object.entries(clients())) {
      const raw = await redis.get(keys.session(c.request.sessionID ?? "none"));
      const record = raw ? (JSON.parse(raw) as { passport?: { user?: string } }) : undefined;
      expect(record?.passport?.user, `engine connection ${id} has a login`).to.be.a("string");
    }
  }

  afterEach(async () => {
    // Whatever a test sent, the victim's connection is still the victim's and still alive.
    expect(victimSocket.connected, "victim still connected").to.equal(true);
    await everyConnectionLoggedIn();
  });

  describe("over polling, with no cookie", () => {
    it("refuses a repeated sid (400) and stores nothing as the victim", async () => {
      const before = clientCount();
      const r = await rawHttp(parley.url, `${BASE}&sid=zz&sid=${victimEid}`, {
        method: "POST",
        body: sendAsVictim("repeated sid"),
      });
      expect(r.status).to.equal(400);
      expect(clientCount()).to.equal(before);
      expect(await storedTexts()).not.to.include("repeated sid");
    });

    it("refuses a sid followed by a fragment (400)", async () => {
      const r = await rawHttp(parley.url, `${BASE}&sid=${victimEid}#x`, {
        method: "POST",
        body: sendAsVictim("fragment"),
      });
      expect(r.status).to.equal(400);
      expect(await storedTexts()).not.to.include("fragment");
    });

    it("refuses the victim's sid alone (403): the sid is never enough", async () => {
      const r = await rawHttp(parley.url, `${BASE}&sid=${victimEid}`, {
        method: "POST",
        body: sendAsVictim("bare sid"),
      });
      expect(r.status).to.equal(403);
      expect(await storedTexts()).not.to.include("bare sid");
    });

    it("opens no connection for empty or unknown sids (400/401)", async () => {
      const before = clientCount();
      expect((await rawHttp(parley.url, `${BASE}&sid=&sid=`)).status).to.equal(400);
      expect((await rawHttp(parley.url, `${BASE}&sid=`)).status).to.equal(400);
      expect((await rawHttp(parley.url, `${BASE}&sid=zz`)).status).to.equal(401);
      expect((await rawHttp(parley.url, BASE)).status).to.equal(401);
      expect(clientCount()).to.equal(before);
    });
  });

  describe("over polling, logged in as someone else", () => {
    it("refuses every reading of the victim's sid and stores nothing as the victim", async () => {
      const cookie = attacker.cookieHeader();
      for (const target of [
        `${BASE}&sid=zz&sid=${victimEid}`,
        `${BASE}&sid=${victimEid}&sid=zz`,
        `${BASE}&sid=${victimEid}#frag`,
        `${BASE}&sid=${victimEid}`,
        `${BASE}&%73id=${victimEid}`,
      ]) {
        const r = await rawHttp(parley.url, target, {
          method: "POST",
          body: sendAsVictim(`as attacker ${target}`),
          headers: { cookie },
        });
        expect(r.status, target).to.be.oneOf([400, 403]);
      }
      expect((await storedTexts()).filter((t) => t.startsWith("as attacker"))).to.deep.equal([]);
    });
  });

  describe("JSONP and transports out of place", () => {
    it("never serves JSONP polling, even to a logged-in visitor (400)", async () => {
      const before = clientCount();
      const r = await rawHttp(parley.url, `${BASE}&j=0`, {
        headers: { cookie: victim.cookieHeader() },
      });
      expect(r.status).to.equal(400);
      expect(r.body).not.to.match(/"sid"/);
      expect(clientCount()).to.equal(before);
    });

    it("answers (400) a websocket transport that is not an upgrade, instead of holding it", async () => {
      for (const cookie of [undefined, victim.cookieHeader()]) {
        const r = await rawHttp(
          parley.url,
          `/socket.io/?EIO=4&transport=websocket&sid=${victimEid}`,
          {
            headers: cookie ? { cookie } : {},
            ms: 2000,
          },
        );
        expect(r.status).to.equal(400);
      }
    });

    it("refuses unknown transports, other protocol revisions and repeated parameters (400)", async () => {
      const cookie = victim.cookieHeader();
      for (const target of [
        "/socket.io/?EIO=4&transport=webtransport",
        "/socket.io/?EIO=4&transport=flashsocket",
        "/socket.io/?EIO=3&transport=polling",
        "/socket.io/?transport=polling",
        "/socket.io/?EIO=4&EIO=4&transport=polling",
        "/socket.io/?EIO=4&transport=polling&transport=polling",
        "/socket.io/?EIO=4&transport=polling?sid=x",
      ]) {
        expect(
          (await rawHttp(parley.url, target, { headers: { cookie } })).status,
          target,
        ).to.equal(400);
      }
    });
  });

  describe("over WebSocket upgrades", () => {
    it("refuses a repeated sid or a fragment with a real 400 status line", async () => {
      const target = `/socket.io/?EIO=4&transport=websocket&sid=zz&sid=${victimEid}`;
      expect(await upgradeStatus(parley.url, target, {})).to.match(/^HTTP\/1\.1 400 /);
      expect(
        await upgradeStatus(
          parley.url,
          `/socket.io/?EIO=4&transport=websocket&sid=${victimEid}#x`,
          {
            cookie: attacker.cookieHeader(),
          },
        ),
      ).to.match(/^HTTP\/1\.1 400 /);
    });

    it("never swaps the transport of a websocket-only connection, not even for its owner", async () => {
      const ws = await connect(parley.url, victim, { transports: ["websocket"] });
      try {
        const eid = ws.io.engine.id as string;
        const target = `/socket.io/?EIO=4&transport=websocket&sid=${eid}`;
        expect(await upgradeStatus(parley.url, target, {})).to.match(/^HTTP\/1\.1 403 /);
        expect(
          await upgradeStatus(parley.url, target, { cookie: attacker.cookieHeader() }),
        ).to.match(/^HTTP\/1\.1 403 /);
        expect(await upgradeStatus(parley.url, target, { cookie: victim.cookieHeader() })).to.match(
          /^HTTP\/1\.1 400 /,
        );
        // The connection still works: it answers and still receives its room's messages.
        await call(ws, "room:join", { room });
        const got = once<{ text: string }>(ws, "message");
        await call(victimSocket, "message:send", { room, text: "still yours" });
        expect((await got).text).to.equal("still yours");
      } finally {
        ws.close();
      }
    });

    it("refuses a polling transport asked for on an upgrade (400)", async () => {
      expect(
        await upgradeStatus(parley.url, `${BASE}`, { cookie: victim.cookieHeader() }),
      ).to.match(/^HTTP\/1\.1 400 /);
    });
  });

  describe("requests from a sibling site", () => {
    for (const site of ["same-site", "cross-site"]) {
      it(`refuses Sec-Fetch-Site: ${site} without an Origin (403), on polling and upgrades`, async () => {
        const headers = { cookie: victim.cookieHeader(), "sec-fetch-site": site };
        expect((await rawHttp(parley.url, BASE, { headers })).status).to.equal(403);
        expect(
          await upgradeStatus(parley.url, "/socket.io/?EIO=4&transport=websocket", headers),
        ).to.match(/^HTTP\/1\.1 403 /);
      });
    }

    for (const site of ["same-origin", "none"]) {
      it(`accepts Sec-Fetch-Site: ${site} without an Origin`, async () => {
        const r = await rawHttp(parley.url, BASE, {
          headers: { cookie: victim.cookieHeader(), "sec-fetch-site": site },
        });
        expect(r.status).to.equal(200);
        expect(r.body).to.match(/^0\{"sid":/);
      });
    }
  });

  describe("property: no generated URL reaches the victim's connection or opens one without a login", () => {
    // Pieces an attacker can combine: the victim's sid in every spelling engine.io might
    // decode, repeated and empty parameters, fragments, stray separators and case changes.
    const sidKey = fc.constantFrom(
      "sid",
      "%73id",
      "s%69d",
      "SID",
      "Sid",
      "sid%00",
      "sid%20",
      "+sid",
    );
    const sidValue = (eid: string) =>
      fc.constantFrom(eid, "", "zz", encodeURIComponent(eid), `${eid}#x`, `${eid};x`, `${eid}?`);
    const param = (eid: string) =>
      fc.oneof(
        fc.tuple(sidKey, sidValue(eid)).map(([k, v]) => `${k}=${v}`),
        fc.constantFrom(
          "EIO=4",
          "EIO=3",
          "transport=polling",
          "transport=websocket",
          "Transport=polling",
          "t=abc",
          "j=0",
          "",
          "=",
          "sid",
          `sid=${eid}`,
        ),
      );
    const url = (eid: string) =>
      fc
        .tuple(
          // Mostly a well-formed start, so the odd parts are what decides.
          fc.constantFrom("EIO=4&transport=polling", "EIO=4&transport=polling&", "EIO=4", ""),
          fc.array(param(eid), { minLength: 1, maxLength: 5 }),
          fc.constantFrom("&", "&&", "&", ";", "&amp;"),
          fc.constantFrom("", "", "#", "#frag", "?", "&"),
        )
        .map(([start, params, sep, tail]) => {
          const query = [start, ...params].filter((p) => p !== "").join(sep);
          return `/socket.io/?${query}${tail}`;
        });

    it("holds over polling GET and POST, with no cookie or another user's cookie", async () => {
      const attackerSid = /^s%3A([^.]+)\./.exec(attacker.cookies.get("parley.sid") ?? "")?.[1];
      await fc.assert(
        fc.asyncProperty(
          url(victimEid),
          fc.constantFrom("GET", "POST"),
          fc.boolean(),
          async (target, method, withCookie) => {
            const before = new Set(Object.keys(clients()));
            const text = `prop ${target}`;
            const r = await rawHttp(parley.url, target, {
              method,
              headers: withCookie ? { cookie: attacker.cookieHeader() } : {},
              ...(method === "POST" ? { body: sendAsVictim(text) } : {}),
              ms: 2000,
            });
            if (!withCookie || r.status !== 200) {
              expect(r.status, target).to.be.oneOf(withCookie ? [400, 403] : [400, 401, 403]);
            } else {
              // With a login, a 200 can only be that login's own new handshake.
              expect(r.body, target).to.match(/^0\{"sid":"/);
              expect(r.body, target).not.to.include(victimEid);
            }
            // Any connection that now exists and did not before is the attacker's own.
            for (const [id, c] of Object.entries(clients())) {
              if (before.has(id)) continue;
              expect(withCookie, `${target} opened ${id}`).to.equal(true);
              expect(c.request.sessionID, target).to.equal(attackerSid);
            }
            expect(victimSocket.connected, target).to.equal(true);
          },
        ),
        { numRuns: 300 },
      );
      expect((await storedTexts()).filter((t) => t.startsWith("prop "))).to.deep.equal([]);
    });

    it("holds over raw WebSocket upgrades, with no cookie or another user's cookie", async () => {
      const before = () => new Set(Object.keys(clients()));
      await fc.assert(
        fc.asyncProperty(
          url(victimEid).map((t) => t.replace("transport=polling", "transport=websocket")),
          fc.boolean(),
          async (target, withCookie) => {
            const existing = before();
            const line = await upgradeStatus(
              parley.url,
              target,
              withCookie ? { cookie: attacker.cookieHeader() } : {},
            );
            if (!withCookie) expect(line, target).to.match(/^HTTP\/1\.1 (400|401|403) /);
            for (const id of Object.keys(clients())) {
              if (existing.has(id)) continue;
              expect(withCookie, `${target} opened ${id}`).to.equal(true);
            }
            expect(victimSocket.connected, target).to.equal(true);
          },
        ),
        { numRuns: 150 },
      );
      await everyConnectionLoggedIn();
    });

    it("parses every generated URL as engine.io would, or refuses it", () => {
      fc.assert(
        fc.property(url(victimEid), fc.boolean(), (target, upgrade) => {
          const v = parseEngineQuery(target, upgrade);
          if (!v.ok) return;
          // What passes is exactly what engine.io's own prepare() reads from the same target.
          const req = { url: target } as { url: string; _query?: Record<string, string> };
          (EngineServer.prototype as unknown as { prepare(r: unknown): void }).prepare.call(
            {},
            req,
          );
          expect(v.query).to.deep.equal(req._query);
          expect(target).not.to.include("#");
          const keys = [...new URL(target, "https://socket.io").searchParams.keys()];
          expect(new Set(keys).size).to.equal(keys.length);
          expect(v.sid === undefined || v.sid !== "").to.equal(true);
        }),
        { numRuns: 500 },
      );
    });
  });
});

describe("engine.io's own middleware (defence in depth)", () => {
  it("refuses a request whose query the front screen did not produce", async () => {
    const refusals: number[] = [];
    const deps = {
      logger: createLogger("silent"),
      onRefused: (status: number) => refusals.push(status),
    } as unknown as ScreenDeps;
    const mw = engineMiddleware(deps);
    const err = await new Promise<Error | undefined>((resolve) =>
      mw(
        {
          url: "/socket.io/?EIO=4&transport=polling",
          _query: { EIO: "4", transport: "polling" },
        } as never,
        {} as never,
        resolve,
      ),
    );
    expect(err?.message).to.equal("unscreened query");
    expect(refusals).to.deep.equal([400]);
  });
});
