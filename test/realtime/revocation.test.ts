import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "chai";
import { io } from "socket.io-client";
import type { Message } from "../../src/contract/events.js";
import { keys } from "../../src/stores/keys.js";
import { Browser, sidFromCookie } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { pollingHandshake } from "../helpers/raw.js";
import { redisClient, type TestRedis } from "../helpers/redis.js";
import { barrier, type ClientSocket, call, connect, once } from "../helpers/socket.js";

describe("ending a login reaches its sockets", () => {
  let parley: TestParley;
  let redis: TestRedis;
  const sockets: ClientSocket[] = [];
  before(async () => {
    parley = await startParley({ sweepIntervalMs: 300 });
    redis = await redisClient();
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  after(async () => {
    await redis?.close();
    await parley?.close();
  });

  async function open(b: Browser): Promise<ClientSocket> {
    const s = await connect(parley.url, b);
    sockets.push(s);
    return s;
  }

  /** Resolves with the time the socket saw session:revoked and then disconnect. */
  function revokedWithin(s: ClientSocket, ms: number) {
    return Promise.all([
      once<{ reason: string }>(s, "session:revoked", ms),
      once(s, "disconnect", ms),
    ]);
  }

  it("logout in one tab disconnects the same login's socket in another tab within 1 s", async () => {
    const tab = new Browser(parley.url);
    await tab.register(uniqueName(), PASSWORD);
    const socket = await open(tab);
    const gone = revokedWithin(socket, 1000);
    const _csrf = await tab.csrf("/chat");
    await tab.post("/logout", { _csrf });
    const [revoked] = await gone;
    expect(revoked.reason).to.equal("logout");
  });

  it("tells every socket that connected around a logout why it ended (attack: connect during the logout)", async () => {
    // Sockets opened a few milliseconds apart while the logout runs: one whose namespace
    // check passed just before the session was deleted completes its connect on the next
    // tick, and must find its connection closed then, not be admitted silently after the
    // notice went out.
    const name = uniqueName("race");
    const first = new Browser(parley.url);
    await first.register(name, PASSWORD);
    for (let round = 0; round < 4; round++) {
      const tab = new Browser(parley.url);
      expect((await tab.login(name, PASSWORD)).status).to.equal(303);
      const _csrf = await tab.csrf("/chat");
      const seen: { connected: boolean; reason: string; ended: Promise<void> }[] = [];
      let logout: Promise<unknown> | undefined;
      for (let i = 0; i < 24; i++) {
        const s: ClientSocket = io(parley.url, {
          path: "/socket.io/",
          transports: [i % 3 === 0 ? "polling" : "websocket"],
          extraHeaders: { cookie: tab.cookieHeader() },
          reconnection: false,
          forceNew: true,
          timeout: 5000,
        });
        sockets.push(s);
        const x = { connected: false, reason: "", ended: Promise.resolve() };
        x.ended = new Promise<void>((resolve) => {
          s.on("connect", () => {
            x.connected = true;
          });
          s.on("session:revoked", (r: { reason: string }) => {
            x.reason = r.reason;
          });
          s.on("disconnect", () => resolve());
          s.on("connect_error", () => resolve());
        });
        seen.push(x);
        if (i === 8 + 2 * round) logout = tab.post("/logout", { _csrf });
        await sleep(2); // a fixed pace, deliberately: connections keep opening across the logout
      }
      await logout;
      // Every socket ends (disconnected, or refused at its handshake) within a second or so.
      await Promise.race([
        Promise.all(seen.map((x) => x.ended)),
        sleep(3000).then(() => {
          throw new Error("a socket of the ended login is still open");
        }),
      ]);
      for (const [i, x] of seen.entries()) {
        if (x.connected) expect(x.reason, `round ${round}, socket ${i}`).to.equal("logout");
      }
    }
  });

  it("never delivers a message sent right after logout", async () => {
    const a = new Browser(parley.url);
    const b = new Browser(parley.url);
    await a.register(uniqueName("a"), PASSWORD);
    await b.register(uniqueName("b"), PASSWORD);
    const room = `r-${Date.now().toString(36)}`;
    const sa = await open(a);
    const sb = await open(b);
    await call(sa, "room:join", { room });
    await call(sb, "room:join", { room });
    const received: Message[] = [];
    sb.on("message", (m) => received.push(m));
    const _csrf = await a.csrf("/chat");
    await a.post("/logout", { _csrf });
    const late = call(sa, "message:send", { room, text: "after logout" }, 1000).catch(
      () => undefined,
    );
    const ack = await late;
    // Refused, or never answered because the socket was already disconnected.
    if (ack === undefined) expect(sa.connected).to.equal(false);
    else expect(!ack.ok && ack.error.code).to.equal("unauthorized");
    await barrier(sb); // anything wrongly delivered to sb would have arrived by now
    expect(received.map((m) => m.text)).to.not.include("after logout");
    const history = await call(sb, "message:history", { room });
    expect(history.ok && history.messages.map((m) => m.text)).to.not.include("after logout");
  });

  it("refuses a login's events from the moment its logout starts, before its record is gone", async () => {
    // The race held open: the logout has begun (its note is written) but its record is still
    // in Redis, so the per-event read alone would pass the event.
    const a = new Browser(parley.url);
    await a.register(uniqueName("a"), PASSWORD);
    const sid = sidFromCookie(a.cookies.get("parley.sid")) as string;
    const sa = await open(a);
    const room = `r-${Date.now().toString(36)}`;
    expect((await call(sa, "room:join", { room })).ok).to.equal(true);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let destroying = () => {};
    const destroyStarted = new Promise<void>((resolve) => {
      destroying = resolve;
    });
    const logout = parley.revocation.end([sid], "logout", async () => {
      destroying();
      await held;
      await redis.del(keys.session(sid));
    });
    await destroyStarted;
    expect(await redis.exists(keys.session(sid))).to.equal(1);
    const ack = await call(sa, "message:send", { room, text: "during logout" });
    expect(!ack.ok && ack.error.code).to.equal("unauthorized");
    release();
    await logout;
    const history = await redis.xRange(keys.roomMessages(room), "-", "+");
    expect(history.map((m) => m.message.text)).to.not.include("during logout");
  });

  it("a revoke from /sessions disconnects that login's sockets", async () => {
    const name = uniqueName();
    const laptop = new Browser(parley.url, { "user-agent": "Laptop" });
    const phone = new Browser(parley.url, { "user-agent": "Phone" });
    await laptop.register(name, PASSWORD);
    await phone.login(name, PASSWORD);
    const phoneSocket = await open(phone);
    const laptopSocket = await open(laptop);
    const gone = revokedWithin(phoneSocket, 1000);
    const page = await laptop.get("/sessions");
    const handle = (/action="\/sessions\/([^/"]+)\/revoke"/.exec(page.body) ?? [])[1];
    const _csrf = (/name="_csrf" value="([^"]+)"/.exec(page.body) ?? [])[1] ?? "";
    expect((await laptop.post(`/sessions/${handle}/revoke`, { _csrf })).status).to.equal(303);
    const [revoked] = await gone;
    expect(revoked.reason).to.equal("revoked");
    expect(laptopSocket.connected).to.equal(true);
    expect((await call(laptopSocket, "ping", {})).ok).to.equal(true);
  });

  it("a password change disconnects the other logins' sockets and keeps this one's", async () => {
    const name = uniqueName();
    const laptop = new Browser(parley.url);
    const phone = new Browser(parley.url);
    await laptop.register(name, PASSWORD);
    await phone.login(name, PASSWORD);
    const phoneSocket = await open(phone);
    const laptopSocket = await open(laptop);
    const gone = revokedWithin(phoneSocket, 1000);
    const _csrf = await laptop.csrf("/account");
    const res = await laptop.post("/account/password", {
      current: PASSWORD,
      password: "a new password",
      _csrf,
    });
    expect(res.status).to.equal(303);
    const [revoked] = await gone;
    expect(revoked.reason).to.equal("password_changed");
    expect((await call(laptopSocket, "ping", {})).ok).to.equal(true);
  });

  it("checks every event: a session deleted in Redis is refused, told and disconnected, and nothing is stored", async () => {
    const b = new Browser(parley.url);
    await b.register(uniqueName(), PASSWORD);
    const socket = await open(b);
    const room = `g-${Date.now().toString(36)}`;
    await call(socket, "room:join", { room });
    await redis.del(keys.session(sidFromCookie(b.cookies.get("parley.sid")) ?? ""));
    const told = once<{ reason: string }>(socket, "session:revoked", 1000);
    const gone = once(socket, "disconnect", 1000);
    const ack = await call(socket, "message:send", { room, text: "should not be stored" });
    expect(ack).to.deep.equal({
      ok: false,
      error: { code: "unauthorized", message: "your session has ended: log in again" },
    });
    await told;
    await gone;
    expect(await redis.xLen(keys.roomMessages(room))).to.equal(0);
  });

  it("disconnects an idle socket whose session expired in Redis", async () => {
    const b = new Browser(parley.url);
    await b.register(uniqueName(), PASSWORD);
    const socket = await open(b);
    const gone = revokedWithin(socket, 2000);
    await redis.pExpire(keys.session(sidFromCookie(b.cookies.get("parley.sid")) ?? ""), 100);
    const [revoked] = await gone;
    expect(revoked.reason).to.equal("expired");
  });
});

describe("socket activity and the idle timeout", () => {
  it("keeps an active socket's session alive past the idle timeout, never past the absolute lifetime", async () => {
    const parley = await startParley({
      env: { SESSION_IDLE_SECONDS: "2", SESSION_ABSOLUTE_SECONDS: "5" },
      sweepIntervalMs: 300,
    });
    const b = new Browser(parley.url);
    const socket = await connect(parley.url, b).catch(() => undefined);
    expect(socket).to.equal(undefined);
    try {
      await b.register(uniqueName(), PASSWORD);
      const s = await connect(parley.url, b);
      const started = Date.now();
      const gone = once<{ reason: string }>(s, "session:revoked", 8000);
      // Ping through the idle timeout (2 s) for 3.5 s: activity must keep the login alive.
      while (Date.now() - started < 3500) {
        expect((await call(s, "ping", {})).ok, `at ${Date.now() - started} ms`).to.equal(true);
        await sleep(150);
      }
      await gone; // ... but not past the absolute lifetime (5 s)
      expect(Date.now() - started).to.be.within(4000, 7000);
      s.close();
    } finally {
      await parley.close();
    }
  });
});

describe("the per-event check under load", () => {
  it("shares one Redis read among events that arrive together, still checking each one", async () => {
    const parley = await startParley();
    const sockets: ClientSocket[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const b = new Browser(parley.url);
        await b.register(uniqueName("load"), PASSWORD);
        sockets.push(await connect(parley.url, b));
      }
      const guard = parley.realtime.guard;
      const [checks, trips] = [guard.checks, guard.roundTrips];
      const acks = await Promise.all(
        sockets.flatMap((s) => Array.from({ length: 40 }, () => call(s, "ping", {}))),
      );
      expect(acks.every((a) => a.ok)).to.equal(true);
      const madeChecks = guard.checks - checks;
      const madeTrips = guard.roundTrips - trips;
      expect(madeChecks).to.equal(200);
      expect(madeTrips)
        .to.be.greaterThan(0)
        .and.below(madeChecks / 4);
    } finally {
      for (const s of sockets) s.close();
      await parley.close();
    }
  });
});

describe("shutting down after a login ended on a connection that stopped polling", () => {
  it("leaves no engine.io connection behind (engine.io would hold one for 30 s)", async () => {
    const parley = await startParley();
    try {
      const b = new Browser(parley.url);
      await b.register(uniqueName("poll"), PASSWORD);
      // A long-polling connection whose client never polls again (as a page does once told
      // its session ended): asked to close, it has no poll to answer the close on.
      await pollingHandshake(parley.url, { cookie: b.cookieHeader() });
      expect(parley.realtime.io.engine.clientsCount).to.equal(1);
      await b.post("/logout", { _csrf: await b.csrf("/chat") });
      await parley.close();
      expect(parley.realtime.io.engine.clientsCount).to.equal(0);
    } finally {
      await parley.close();
    }
  });
});
