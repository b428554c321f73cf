// Every request's body within its deadline (30 s in parley; 200 ms here): a body that never
// comes closes its connection, a request without a body starts no timer, and an upload's
// route can lift the deadline once it reads the body under its own.
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { expect } from "chai";
import { clearBodyDeadline, startBodyDeadline } from "../../src/http/body-deadline.js";

describe("the body deadline", () => {
  let server: http.Server;
  let url: string;
  before(async () => {
    server = http.createServer((req, res) => {
      startBodyDeadline(req, 200);
      if (req.url === "/lifted") clearBodyDeadline(req);
      if (req.method === "GET") {
        setTimeout(() => res.end("late but whole"), 400);
        return;
      }
      req.resume();
      req.on("end", () => res.end("body read"));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  /** Sends `head` and no more; resolves with what came back and when the connection ended. */
  function trickle(head: string, waitMs: number): Promise<{ closedAfter: number; reply: string }> {
    return new Promise((resolve) => {
      const [host, port] = url.split(":") as [string, string];
      const started = Date.now();
      let reply = "";
      const s = new net.Socket();
      s.connect(Number(port), host, () => s.write(head));
      s.on("data", (d) => {
        reply += d.toString();
      });
      const done = () => resolve({ closedAfter: Date.now() - started, reply });
      s.on("close", done);
      setTimeout(() => {
        s.destroy();
      }, waitMs);
    });
  }

  it("closes a connection whose body never comes", async () => {
    const r = await trickle(`POST / HTTP/1.1\r\nHost: ${url}\r\nContent-Length: 100\r\n\r\n`, 2000);
    expect(r.closedAfter).to.be.within(150, 1000);
    expect(r.reply).to.equal("");
  });

  it("starts no timer for a request without a body, and lets a route lift it", async () => {
    const get = await trickle(`GET / HTTP/1.1\r\nHost: ${url}\r\nConnection: close\r\n\r\n`, 2000);
    expect(get.reply).to.include("late but whole");
    const lifted = await trickle(
      `POST /lifted HTTP/1.1\r\nHost: ${url}\r\nContent-Length: 100\r\n\r\n`,
      600,
    );
    // Still open when the client gave up (600 ms), well past the 200 ms deadline.
    expect(lifted.closedAfter).to.be.at.least(550);
  });
});
