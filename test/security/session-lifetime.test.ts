// What keeps a login alive, and how its sockets learn that it ended: only what the user does
// is activity (never long-polls or heartbeats), an expired login's sockets go quiet within
// 5 s, and `session:revoked` carries the real reason on every transport.
import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "chai";
import { keys } from "../../src/stores/keys.js";
import { eventually } from "../helpers/eventually.js";
import { Browser, sidFromCookie } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { redisClient, type TestRedis } from "../helpers/redis.js";
import { type ClientSocket, call, connect, once } from "../helpers/socket.js";

describe("session lifetime on sockets", function () {
  this.timeout(30_000);
  let redis: TestRedis;
  const sockets: ClientSocket[] = [];
  const parleys: TestParley[] = [];
  before(async () => {
    redis = await redisClient();
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    for (const p of parleys.splice(0)) await p.close();
  });
  after(async () => {
    await redis?.close();
  });

  async function start(env: Record<string, string> = {}, sweepIntervalMs?: number) {
    const p = await startParley({ env, ...(sweepIntervalMs ? { sweepIntervalMs } : {}) });
    parleys.push(p);
    return p;
  }

  async function user(p: TestParley): Promise<{ b: Browser; sid: string; userId: string }> {
    const b = new Browser(p.url);
    const name = uniqueName();
    await b.register(name, PASSWORD);
    const sid = sidFromCookie(b.cookies.get("parley.sid")) as string;
    const userId = (await redis.get(keys.username(name))) as string;
    return { b, sid, userId };
  }

  async function open(p: TestParley, b: Browser, transports: ("polling" | "websocket")[]) {
    const s = await connect(p.url, b, { transports });
    sockets.push(s);
    return s;
  }

  /** Another user who keeps sending into `room`, so a polling reader keeps polling. */
  async function chatter(p: TestParley, room: string): Promise<() => void> {
    const { b } = await user(p);
    const s = await open(p, b, ["websocket"]);
    await call(s, "room:join", { room });
    let on = true;
    void (async () => {
      for (let i = 0; on && i < 200; i++) {
        await call(s, "message:send", { room, text: `tick ${i}` }).catch(() => undefined);
        await sleep(200); // a steady pace of chatter, deliberately (five messages a second)
      }
    })();
    return () => {
      on = false;
    };
  }

  it("never extends a login for long-polling traffic: the idle timeout still ends it", async () => {
    const p = await start({ SESSION_IDLE_SECONDS: "3" }, 300);
    const { b, sid } = await user(p);
    const room = `poll-${Date.now().toString(36)}`;
    const reader = await open(p, b, ["polling"]);
    await call(reader, "room:join", { room });
    let delivered = 0;
    reader.on("message", () => {
      delivered++;
    });
    const revoked = once<{ reason: string }>(reader, "session:revoked", 12_000);
    const stop = await chatter(p, room);
    try {
      const ttlBefore = await redis.pTTL(keys.session(sid));
      // Over a second passes with polls answered, and the TTL only runs down meanwhile
      // (polls that counted as activity would renew it every 0.3 s: it would never get there).
      await eventually(
        async () => {
          expect(delivered, "polls were answered meanwhile").to.be.greaterThan(3);
          expect(await redis.pTTL(keys.session(sid))).to.be.below(ttlBefore - 1000);
        },
        { what: "the idle TTL to run down while polls are answered" },
      );
      expect((await revoked).reason).to.equal("expired");
    } finally {
      stop();
    }
  });

  it("never extends a login for handshakes or reconnects: connecting is not activity", async () => {
    const p = await start({ SESSION_IDLE_SECONDS: "20" });
    const { b, sid } = await user(p);
    // Past idle/10, so an activity write would be due: a fixed wait, deliberately (real time,
    // not an injected clock, so that whatever clock a handshake consults has moved on).
    await sleep(2100);
    const before = await redis.pTTL(keys.session(sid));
    for (let i = 0; i < 3; i++) {
      // A bare engine.io handshake, then a whole Socket.IO connection.
      const hs = await fetch(`${p.url}/socket.io/?EIO=4&transport=polling`, {
        headers: { cookie: b.cookieHeader() },
      });
      expect(hs.status).to.equal(200);
      await hs.text();
      (await open(p, b, ["websocket"])).close();
    }
    expect(await redis.pTTL(keys.session(sid))).to.be.below(before);
  });

  it("counts the page's activity event (and any event the user sends) as activity", async () => {
    const p = await start({ SESSION_IDLE_SECONDS: "20" });
    const { b, sid } = await user(p);
    const s = await open(p, b, ["websocket"]);
    // Past idle/10, so the next event refreshes the TTL: a fixed wait, deliberately (the TTL
    // must have run down by more than the renewal margin checked below).
    await sleep(2100);
    const before = await redis.pTTL(keys.session(sid));
    expect(await call(s, "activity", {})).to.deep.equal({ ok: true });
    // The activity write goes out with the event's check, unawaited: the ack of an event
    // that makes no Redis call of its own may arrive before Redis has run it.
    await eventually(
      async () => expect(await redis.pTTL(keys.session(sid))).to.be.above(before + 1000),
      { what: "the idle TTL to be renewed" },
    );
  });

  it("records chat activity as a page request does: /sessions shows it; read positions do not count", async () => {
    let clock = Date.now();
    const p = await startParley({ now: () => clock });
    parleys.push(p);
    const { b, sid } = await user(p);
    const s = await open(p, b, ["websocket"]);
    const room = uniqueName("act").replace("_", "-");
    await call(s, "room:join", { room });
    const posted = await call(s, "message:send", { room, text: "hello" });
    if (!posted.ok) throw new Error(posted.error.code);
    const lastActive = async () =>
      (
        JSON.parse((await redis.get(keys.session(sid))) ?? "{}") as {
          login?: { lastActive?: number };
        }
      ).login?.lastActive;
    const before = await lastActive();
    // Ten minutes on: the page reporting a read position is not the person doing anything.
    // (An activity write is sent with the event's check, before its handler's own commands on
    // the same connection: once the ack is here, it has run.)
    clock += 600_000;
    expect(await call(s, "room:read", { room, id: posted.message.id })).to.deep.equal({ ok: true });
    expect(await lastActive()).to.equal(before);
    // Typing is: one write sets lastActive and renews the idle TTL.
    expect((await call(s, "typing", { room })).ok).to.equal(true);
    expect(await lastActive()).to.equal(Math.trunc(clock));
    expect(await redis.ttl(keys.session(sid))).to.be.within(1700, 1800);
    // /sessions shows it.
    const page = await b.get("/sessions");
    expect(page.status).to.equal(200);
    expect(page.body).to.match(/just now|seconds? ago|0 min/i);
  });

  it("silences and disconnects an expired login's sockets within 5 s of the expiry", async () => {
    const p = await start({ SESSION_IDLE_SECONDS: "2" }); // the default sweep
    const { b, sid } = await user(p);
    const room = `exp-${Date.now().toString(36)}`;
    const idle = await open(p, b, ["websocket"]);
    await call(idle, "room:join", { room });
    let lastMessageAt = 0;
    idle.on("message", () => {
      lastMessageAt = Date.now();
    });
    const gone = once(idle, "disconnect", 15_000);
    const stop = await chatter(p, room);
    try {
      await eventually(async () => (await redis.exists(keys.session(sid))) === 0, {
        what: "the login to expire",
        within: 15_000,
      });
      const expiredAt = Date.now();
      await gone;
      const disconnectedAt = Date.now();
      expect(disconnectedAt - expiredAt).to.be.below(5000);
      expect(lastMessageAt - expiredAt).to.be.below(5000);
    } finally {
      stop();
    }
  });

  describe("session:revoked says why, when the per-event check notices first", () => {
    const cases: [string, (sid: string, userId: string) => Promise<unknown>, string][] = [
      [
        "a password change elsewhere (credentials generation moved on)",
        async (_sid, userId) => {
          await redis.hSet(keys.user(userId), "generationReason", "password_changed");
          await redis.incr(keys.userGeneration(userId));
        },
        "password_changed",
      ],
      [
        "a revoke whose broadcast has not arrived",
        async (sid) => {
          await redis.set(keys.endedSession(sid), "revoked", { EX: 60 });
          await redis.del(keys.session(sid));
        },
        "revoked",
      ],
      ["an expiry", (sid) => redis.del(keys.session(sid)), "expired"],
    ];
    for (const transport of ["websocket", "polling"] as const) {
      for (const [what, end, reason] of cases) {
        it(`over ${transport}: ${what} → "${reason}"`, async () => {
          const p = await start();
          const { b, sid, userId } = await user(p);
          const s = await open(p, b, [transport]);
          const told = once<{ reason: string }>(s, "session:revoked", 3000);
          await end(sid, userId);
          const ack = await call(s, "ping", {});
          expect(ack).to.deep.include({ ok: false });
          expect((await told).reason).to.equal(reason);
        });
      }
    }
  });

  it("delivers a revoke from /sessions to a busy polling socket before refusing it", async () => {
    const p = await start();
    const name = uniqueName();
    const phone = new Browser(p.url);
    await phone.register(name, PASSWORD);
    const laptop = new Browser(p.url);
    await laptop.login(name, PASSWORD);
    const s = await open(p, phone, ["polling"]);
    const told = once<{ reason: string }>(s, "session:revoked", 3000);
    let busy = true;
    void (async () => {
      while (busy && s.connected) {
        await call(s, "ping", {}).catch(() => undefined);
      }
    })();
    try {
      const page = await laptop.get("/sessions");
      const handle = /\/sessions\/([A-Za-z0-9_-]{22})\/revoke/.exec(page.body)?.[1] as string;
      const _csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] as string;
      expect((await laptop.post(`/sessions/${handle}/revoke`, { _csrf })).status).to.equal(303);
      expect((await told).reason).to.equal("revoked");
    } finally {
      busy = false;
    }
  });
});
