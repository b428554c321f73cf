import { expect } from "chai";
import type { Message } from "../../src/realtime/events.js";
import { Browser } from "../helpers/http.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";
import { type ClientSocket, call, connect, once } from "../helpers/socket.js";

describe("two parley instances on one Redis", () => {
  let one: TestParley;
  let two: TestParley;
  const sockets: ClientSocket[] = [];
  before(async () => {
    one = await startParley();
    two = await startParley();
  });
  after(async () => {
    for (const s of sockets) s.close();
    await one?.close();
    await two?.close();
  });

  it("carries a message from a socket on one to a socket on the other", async () => {
    const a = new Browser(one.url);
    const b = new Browser(two.url);
    await a.register(uniqueName("a"), PASSWORD);
    await b.register(uniqueName("b"), PASSWORD);
    const sa = await connect(one.url, a);
    const sb = await connect(two.url, b);
    sockets.push(sa, sb);
    const room = `x-${Date.now().toString(36)}`;
    await call(sa, "room:join", { room });
    const joined = await call(sb, "room:join", { room });
    expect(joined.ok && joined.members.length).to.equal(2);
    const got = once<Message>(sb, "message");
    await call(sa, "message:send", { room, text: "across processes" });
    expect((await got).text).to.equal("across processes");
  });

  it("disconnects a socket on the other instance within 1 s of a logout", async () => {
    const name = uniqueName();
    const onOne = new Browser(one.url);
    await onOne.register(name, PASSWORD);
    // The same login used against the other instance (same Redis, same secret).
    const onTwo = new Browser(two.url);
    onTwo.cookies.set("parley.sid", onOne.cookies.get("parley.sid") ?? "");
    const socket = await connect(two.url, onTwo);
    sockets.push(socket);
    const told = once<{ reason: string }>(socket, "session:revoked", 1000);
    const gone = once(socket, "disconnect", 1000);
    const _csrf = await onOne.csrf("/chat");
    await onOne.post("/logout", { _csrf });
    expect((await told).reason).to.equal("logout");
    await gone;
  });
});
