import { expect } from "chai";
import { useParley } from "../helpers/fixtures.js";
import { Browser } from "../helpers/http.js";
import { type TestParley, uniqueName } from "../helpers/parley.js";
import { call, connect } from "../helpers/socket.js";

describe("GET /metrics", () => {
  let parley: TestParley;
  useParley(
    (p) => {
      parley = p;
    },
    { env: { METRICS_PORT: "0" } },
  );

  it("is served on the admin listener only, never on the public port", async () => {
    expect(parley.metricsUrl).to.be.a("string");
    expect(parley.metricsUrl).to.not.equal(parley.url);
    expect((await fetch(`${parley.url}/metrics`)).status).to.equal(404);
  });

  it("counts sockets, events by outcome, guard round trips, logins and refused handshakes", async () => {
    const b = new Browser(parley.url);
    await b.register(uniqueName("m"), "correct horse battery");
    await new Browser(parley.url).login(uniqueName("nobody"), "wrong password");
    const s = await connect(parley.url, b);
    try {
      for (let i = 0; i < 3; i++) await call(s, "ping", {});
      await call(s, "message:send", { room: "not-joined", text: "x" });
      await fetch(`${parley.url}/socket.io/?EIO=4&transport=polling`);
      const res = await fetch(`${parley.metricsUrl}/metrics`);
      expect(res.status).to.equal(200);
      expect(res.headers.get("content-type")).to.match(/^text\/plain/);
      const text = await res.text();
      const value = (re: RegExp) => Number(re.exec(text)?.[1]);
      expect(value(/^parley_connected_sockets (\d+)/m)).to.equal(1);
      expect(value(/^parley_socket_events_total\{outcome="ok"\} (\d+)/m)).to.equal(3);
      expect(value(/^parley_socket_events_total\{outcome="not_joined"\} (\d+)/m)).to.equal(1);
      expect(value(/^parley_guard_checks_total (\d+)/m)).to.be.at.least(4);
      expect(value(/^parley_guard_redis_round_trips_total (\d+)/m)).to.be.at.least(1);
      expect(value(/^parley_guard_seconds_count (\d+)/m)).to.equal(4);
      expect(value(/^parley_logins_total\{outcome="failure"\} (\d+)/m)).to.equal(1);
      expect(value(/^parley_handshakes_refused_total\{status="401"\} (\d+)/m)).to.equal(1);
      expect(text).to.include("parley_redis_errors_total");
      expect(text).to.include("process_cpu_user_seconds_total");
    } finally {
      s.close();
    }
  });

  it("counts HTTP requests by route template, messages sent, Redis connections up, and says which parley", async () => {
    const b = new Browser(parley.url);
    await b.register(uniqueName("m"), "correct horse battery");
    const s = await connect(parley.url, b);
    try {
      await call(s, "room:join", { room: "metrics-room" });
      const scrape = async () => {
        const text = await (await fetch(`${parley.metricsUrl}/metrics`)).text();
        return (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
      };
      const then = await scrape();
      const sent = then(/^parley_messages_sent_total (\d+)/m);
      await call(s, "message:send", { room: "metrics-room", text: "counted" });
      await call(s, "message:send", { room: "metrics-room", text: "counted too" });
      await b.get("/chat");
      await b.get(`/rooms/metrics-room/files/${"0".repeat(32)}`);
      await fetch(`${parley.url}/no/such/${uniqueName("path")}`);
      const now = await scrape();
      expect(now(/^parley_messages_sent_total (\d+)/m)).to.equal(sent + 2);
      expect(
        now(
          /^parley_http_request_duration_seconds_count\{method="GET",route="\/chat",status="2xx"\} (\d+)/m,
        ),
      ).to.be.at.least(1);
      expect(
        now(
          /^parley_http_request_duration_seconds_count\{method="GET",route="\/rooms\/:room\/files\/:id",status="4xx"\} (\d+)/m,
        ),
      ).to.be.at.least(1);
      // A path no route matched is "other": no path ever becomes a label.
      expect(
        now(
          /^parley_http_request_duration_seconds_count\{method="GET",route="other",status="4xx"\} (\d+)/m,
        ),
      ).to.be.at.least(1);
      expect(now(/^parley_redis_up\{connection="main"\} (\d+)/m)).to.equal(1);
      expect(now(/^parley_build_info\{version="[^"]+",node="v\d+[^"]*"\} (\d+)/m)).to.equal(1);
    } finally {
      s.close();
    }
  });
});
