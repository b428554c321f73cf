import { expect } from "chai";
import type { Message } from "../../src/contract/events.js";
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

  it("tells each process's members who came and went on the other, and whether they are online", async () => {
    const a = new Browser(one.url);
    const b = new Browser(two.url);
    await a.register(uniqueName("pa"), PASSWORD);
    const bName = uniqueName("pb");
    await b.register(bName, PASSWORD);
    const sa = await connect(one.url, a);
    const sb = await connect(two.url, b);
    sockets.push(sa, sb);
    const room = `p-${Date.now().toString(36)}`;
    await call(sa, "room:join", { room });
    type Presence = {
      room: string;
      members?: { username: string }[];
      joined?: { username: string }[];
      left?: { username: string }[];
    };
    const came = once<Presence>(sa, "presence");
    await call(sb, "room:join", { room });
    const p = await came;
    expect(p.joined?.map((m) => m.username)).to.deep.equal([bName]);
    expect(p.members).to.have.length(2);
    const listed = await call(sa, "room:members", { room });
    expect(listed.ok && listed.members.find((m) => m.username === bName)?.online).to.equal(true);
    // B's socket goes away on the other process: A hears it, from the other process's
    // presence query, and B is shown offline.
    const went = once<Presence>(sa, "presence");
    sb.close();
    const q = await went;
    expect(q.left?.map((m) => m.username)).to.deep.equal([bName]);
    expect(q.members).to.have.length(1);
    const again = await call(sa, "room:members", { room });
    expect(again.ok && again.members.find((m) => m.username === bName)?.online).to.equal(false);
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
