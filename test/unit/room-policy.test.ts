// Room access, decided from the room's kind and the user's standing (read with the session in
// the event's batch), and the per-event policy table.
import { expect } from "chai";
import { ERROR_CODES } from "../../src/contract/events.js";
import { EVENT_POLICY } from "../../src/realtime/policy.js";
import { admit, ROOM_REFUSALS, roomOf } from "../../src/realtime/room-policy.js";
import { schemas } from "../../src/realtime/schemas.js";

type Kind = "public" | "private" | null;
type Standing = "owner" | "moderator" | "member" | "invited" | "removed" | "banned" | null;

describe("room access (room-policy.ts)", () => {
  // [kind, standing, "member" rule, "reader" rule]
  const table: [Kind, Standing, string, string][] = [
    ["public", "owner", "ok", "ok"],
    ["public", "moderator", "ok", "ok"],
    ["public", "member", "ok", "ok"],
    ["public", "invited", "not_joined", "ok"],
    ["public", null, "not_joined", "ok"],
    ["public", "removed", "forbidden", "ok"],
    ["public", "banned", "forbidden", "forbidden"],
    [null, null, "not_joined", "ok"], // a room not created yet
    ["private", "owner", "ok", "ok"],
    ["private", "member", "ok", "ok"],
    ["private", "invited", "not_found", "not_found"],
    ["private", null, "not_found", "not_found"],
    ["private", "removed", "forbidden", "forbidden"],
    ["private", "banned", "forbidden", "forbidden"],
  ];
  for (const [kind, standing, member, reader] of table) {
    it(`${kind ?? "no"} room, standing ${standing ?? "none"}: member rule ${member}, reader rule ${reader}`, () => {
      expect(admit("member", kind, standing, false) ?? "ok").to.equal(member);
      expect(admit("reader", kind, standing, false) ?? "ok").to.equal(reader);
    });
  }

  it("lets the socket's own join that ran after the batch's read count", () => {
    expect(admit("member", "public", null, true)).to.equal(undefined);
    expect(admit("member", "private", null, true)).to.equal(undefined);
  });

  it("gives every refusal a message", () => {
    for (const [, , member, reader] of table) {
      for (const code of [member, reader]) {
        if (code !== "ok")
          expect(ROOM_REFUSALS[code as keyof typeof ROOM_REFUSALS]).to.be.a("string");
      }
    }
  });

  it("names a room only for well-formed room names (not DMs, not malformed payloads)", () => {
    expect(roomOf({ room: "lobby" })).to.equal("lobby");
    expect(roomOf({ room: "Lobby" })).to.equal(undefined);
    expect(roomOf({ room: "dm:a:b" })).to.equal(undefined);
    expect(roomOf({ room: 5 })).to.equal(undefined);
    expect(roomOf(null)).to.equal(undefined);
    expect(roomOf(undefined)).to.equal(undefined);
    expect(roomOf("lobby")).to.equal(undefined);
  });
});

describe("the per-event policy table (policy.ts)", () => {
  it("has a row for every event of the contract, and no other", () => {
    expect(Object.keys(EVENT_POLICY).sort()).to.deep.equal(Object.keys(schemas).sort());
  });

  it("puts a room rule only on events whose payload names a room", () => {
    for (const [event, policy] of Object.entries(EVENT_POLICY)) {
      if (!policy.room) continue;
      const schema = schemas[event as keyof typeof schemas];
      const parsed = schema.safeParse({ room: "lobby", id: "1-0", text: "x" });
      expect(parsed.success, event).to.equal(true);
      expect((parsed.data as { room?: string }).room, event).to.equal("lobby");
    }
  });

  it("counts only message:send in Redis", () => {
    const redis = Object.entries(EVENT_POLICY)
      .filter(([, p]) => p.budget === "redis")
      .map(([e]) => e);
    expect(redis).to.deep.equal(["message:send"]);
    expect(ERROR_CODES).to.include("rate_limited");
  });
});
