import { expect } from "chai";
import { useParley } from "../helpers/fixtures.js";
import { Browser } from "../helpers/http.js";
import { type TestParley, uniqueName } from "../helpers/parley.js";
import { type ClientSocket, call, connect, once } from "../helpers/socket.js";

describe("realtime smoke", () => {
  let parley: TestParley;
  const sockets: ClientSocket[] = [];
  useParley((p) => {
    parley = p;
  });
  after(async () => {
    for (const s of sockets) s.close();
  });

  it("two users chat in a room and logout disconnects", async () => {
    const a = new Browser(parley.url);
    const b = new Browser(parley.url);
    await a.register(uniqueName("a"), "password-a-123");
    await b.register(uniqueName("b"), "password-b-123");
    const sa = await connect(parley.url, a);
    const sb = await connect(parley.url, b, { transports: ["polling", "websocket"] });
    sockets.push(sa, sb);
    const ja = await call(sa, "room:join", { room: "lobby" });
    expect(ja.ok).to.equal(true);
    await call(sb, "room:join", { room: "lobby" });
    const got = once(sb, "message");
    const sent = await call(sa, "message:send", { room: "lobby", text: " hello " });
    expect(sent).to.have.property("ok", true);
    const m = (await got) as { text: string };
    expect(m.text).to.equal("hello");
    const revoked = once(sa, "session:revoked");
    const gone = once(sa, "disconnect");
    await a.logout();
    expect(await revoked).to.deep.equal({ reason: "logout" });
    await gone;
    const refused = await connect(parley.url, a, { transports: ["polling"] }).then(
      () => undefined,
      (e: Error & { description?: unknown }) => e,
    );
    expect(refused?.description, "the handshake is refused 401").to.equal(401);
  });
});
