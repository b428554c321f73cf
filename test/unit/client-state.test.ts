// The chat page's state without a browser: message order, unread and mention counts, the
// "new messages" line, typing, the room list and the outbox of unsent messages.
import { expect } from "chai";
import fc from "fast-check";
import { ChatState, compareIds, insertionIndex, MAX_OUTBOX } from "../../client/state.js";
import type { Message, RoomSummary } from "../../src/domain/types.js";

const me = { id: "me", username: "me" };
const ann = { id: "ann", username: "ann" };

function msg(id: string, room = "lobby", user = ann): Message {
  return { id, room, user, text: `m ${id}`, ts: Number(id.split("-")[0]) };
}

function summary(room: string, o: Partial<RoomSummary> = {}): RoomSummary {
  return {
    room,
    label: room,
    kind: "public",
    topic: "",
    role: "member",
    unread: 0,
    mentions: 0,
    ...o,
  };
}

describe("the chat page's state (client/state.ts)", () => {
  it("orders ids as the stream does: by time, then sequence (not as strings)", () => {
    expect(compareIds("9-0", "10-0")).to.be.below(0);
    expect(compareIds("10-2", "10-10")).to.be.below(0);
    expect(compareIds("10-1", "10-1")).to.equal(0);
  });

  it("property: messages added in any order, with repeats, end up once each, in id order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 3 })), {
          maxLength: 60,
        }),
        (pairs) => {
          const s = new ChatState(me);
          const r = s.room("lobby", "lobby", "room");
          for (const [ms, seq] of pairs) s.addMessage(r, msg(`${ms}-${seq}`), { history: true });
          const ids = r.messages.map((m) => m.id);
          const expected = [...new Set(pairs.map(([ms, seq]) => `${ms}-${seq}`))].sort(compareIds);
          expect(ids).to.deep.equal(expected);
        },
      ),
    );
  });

  it("applies presence changes to who is online: left go, joined come in, by name, once each", () => {
    const s = new ChatState(me);
    const bob = { id: "bob", username: "bob" };
    const cat = { id: "cat", username: "cat" };
    const online = s.applyPresence([me, ann], [cat, bob, cat], [ann]);
    expect(online.map((m) => m.username)).to.deep.equal(["bob", "cat", "me"]);
    expect(s.applyPresence(online, [], [bob, { id: "nobody", username: "x" }])).to.deep.equal([
      cat,
      me,
    ]);
  });

  it("finds insertion points by binary search", () => {
    const list = ["1-0", "3-0", "3-1", "7-0"].map((id) => msg(id));
    expect(insertionIndex(list, "0-5")).to.equal(0);
    expect(insertionIndex(list, "3-0")).to.equal(1);
    expect(insertionIndex(list, "3-5")).to.equal(3);
    expect(insertionIndex(list, "8-0")).to.equal(4);
  });

  it("counts unread only for others' new messages in rooms not in view", () => {
    const s = new ChatState(me);
    const lobby = s.room("lobby", "lobby", "room");
    const other = s.room("other", "other", "room");
    s.select("lobby");
    s.addMessage(lobby, msg("1-0"));
    s.addMessage(other, msg("2-0", "other"));
    s.addMessage(other, msg("3-0", "other", me));
    s.addMessage(other, msg("1-5", "other"), { history: true });
    expect([lobby.unread, other.unread]).to.deep.equal([0, 1]);
    expect(s.addMessage(other, msg("2-0", "other")), "a repeat").to.equal(false);
    expect(other.unread).to.equal(1);
  });

  it("puts the new-messages line before the first unread message from others, and clears the counts", () => {
    const s = new ChatState(me);
    const r = s.room("lobby", "lobby", "room");
    for (const id of ["1-0", "2-0", "3-0"]) s.addMessage(r, msg(id), { history: true });
    s.addMessage(r, msg("4-0", "lobby", me), { history: true });
    s.addMessage(r, msg("5-0"), { history: true });
    r.unread = 2;
    r.mentions = 1;
    s.select("lobby");
    expect(r.newFrom).to.equal("3-0");
    expect([r.unread, r.mentions]).to.deep.equal([0, 0]);
  });

  it("shows unread and mention counts in the tab title", () => {
    const s = new ChatState(me);
    s.room("lobby", "lobby", "room").joined = true;
    s.select("lobby");
    expect(s.title()).to.equal("#lobby · parley");
    const o = s.room("other", "other", "room");
    o.unread = 3;
    expect(s.title()).to.equal("(3) #lobby · parley");
    o.mentions = 1;
    expect(s.title()).to.equal("(3 · 1 @) #lobby · parley");
  });

  it("takes the server's room list: drops rooms it does not list, keeps counts of the room in view", () => {
    const s = new ChatState(me);
    s.applyRoomList([summary("lobby"), summary("gone")]);
    s.select("lobby");
    const imported = s.applyRoomList([
      summary("lobby", { unread: 9 }),
      summary("secret", { kind: "private", role: "invited" }),
      summary("dm:a:b", { kind: "dm", label: "" }),
    ]);
    expect(imported).to.deep.equal([]);
    expect([...s.rooms.keys()]).to.deep.equal(["lobby", "secret", "dm:a:b"]);
    expect(s.rooms.get("lobby")?.unread, "the room in view is being read").to.equal(0);
    expect(s.rooms.get("secret")).to.deep.include({ invited: true, joined: false, private: true });
    expect(s.rooms.get("dm:a:b")).to.deep.include({ kind: "dm", label: "deleted user" });
  });

  it("imports rooms kept by this browser only when the server's very first list is empty", () => {
    const s = new ChatState(me);
    s.room("old", "old", "room").joined = true;
    expect(s.applyRoomList([]).map((r) => r.name)).to.deep.equal(["old"]);
    expect(s.applyRoomList([])).to.deep.equal([]);
  });

  it("says who is typing, and forgets them", () => {
    const s = new ChatState(me);
    s.typingStart("lobby", ann);
    s.typingStart("lobby", me);
    expect(s.typingText("lobby")).to.equal("ann is typing…");
    s.typingStart("lobby", { id: "bob", username: "bob" });
    s.typingStart("lobby", { id: "cy", username: "cy" });
    expect(s.typingText("lobby")).to.equal("ann, bob and cy are typing…");
    expect(s.typingStop("lobby", "ann")).to.equal(true);
    expect(s.typingStop("lobby", "ann")).to.equal(false);
    expect(s.typingText("elsewhere")).to.equal("");
  });

  it("keeps unsent messages in writing order, sends one at a time, and forgets them once stored", () => {
    const s = new ChatState(me);
    const r = s.room("lobby", "lobby", "room");
    s.queue("lobby", "one", "c1", 1);
    s.queue("lobby", "two", "c2", 2);
    s.queue("other", "three", "c3", 3);
    const first = s.nextToSend();
    expect(first?.clientId).to.equal("c1");
    if (first) first.sending = true;
    expect(s.nextToSend(), "nothing overtakes a message being sent").to.equal(undefined);
    s.stored("c1", { ...msg("5-0", "lobby", me), text: "one" });
    expect(r.messages.map((m) => m.text)).to.deep.equal(["one"]);
    expect(s.nextToSend()?.clientId).to.equal("c2");
    expect(s.pendingIn("lobby").map((p) => p.text)).to.deep.equal(["two"]);
    // Stored twice (a retry answered with the same message): still one message.
    s.stored("c1", { ...msg("5-0", "lobby", me), text: "one" });
    expect(r.messages).to.have.length(1);
    // Refused for good: kept, marked, skipped; retried in its place.
    s.fail("c2", "join the room first");
    expect(s.nextToSend()?.clientId).to.equal("c3");
    s.retry("c2");
    expect(s.nextToSend()?.clientId).to.equal("c2");
    // A room that goes away takes its unsent messages with it.
    s.drop("lobby");
    expect(s.outbox.map((p) => p.clientId)).to.deep.equal(["c3"]);
  });

  it(`keeps at most ${MAX_OUTBOX} unsent messages`, () => {
    const s = new ChatState(me);
    for (let i = 0; i < MAX_OUTBOX; i++)
      expect(s.queue("lobby", "x", `c${i}`, i)).to.not.equal(undefined);
    expect(s.queue("lobby", "one too many", "cx", 0)).to.equal(undefined);
  });

  it("replaces an edited or deleted message in place, and ignores one it does not have", () => {
    const s = new ChatState(me);
    const r = s.room("lobby", "lobby", "room");
    for (const id of ["1-0", "2-0", "3-0"]) s.addMessage(r, msg(id), { history: true });
    expect(s.replaceMessage({ ...msg("2-0"), text: "edited", edited: 5 })).to.equal(r);
    expect(r.messages.map((m) => m.text)).to.deep.equal(["m 1-0", "edited", "m 3-0"]);
    expect(s.replaceMessage(msg("9-0"))).to.equal(undefined);
    expect(s.replaceMessage(msg("1-0", "elsewhere"))).to.equal(undefined);
  });
});
