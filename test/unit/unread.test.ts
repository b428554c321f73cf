// Unread counts from counters (domain/unread.ts): a subtraction, never a read of messages.
import { expect } from "chai";
import fc from "fast-check";
import { countOf, parseCounts, readAllPosition, unreadSince } from "../../src/domain/unread.js";

describe("unread counts from counters (domain/unread.ts)", () => {
  it("counts the messages after the read position, from the count in each id", () => {
    const c = { n: 12, before: 0, own: 0 };
    expect(unreadSince("1700000000000-9", c)).to.equal(3);
    expect(unreadSince("1700000000000-12", c)).to.equal(0);
    expect(unreadSince("0-0", c)).to.equal(12);
  });

  it("never counts one's own messages: sending marks everything before it as read", () => {
    expect(unreadSince("5-3", { n: 10, before: 0, own: 8 })).to.equal(2);
    expect(unreadSince("5-9", { n: 10, before: 0, own: 8 })).to.equal(1);
    expect(unreadSince("5-3", { n: 10, before: 0, own: 10 })).to.equal(0);
  });

  it("counts ids from before counting began (an older parley's) as 0", () => {
    // The room's last old id had time part 500: "500-3" is old, "501-2" new.
    expect(countOf("500-3", 500)).to.equal(0);
    expect(countOf("501-2", 500)).to.equal(2);
    expect(unreadSince("400-7", { n: 4, before: 500, own: 0 })).to.equal(4);
  });

  it("reads damaged values as nothing, and never answers a negative count", () => {
    expect(countOf("garbage", 0)).to.equal(0);
    expect(parseCounts([null, "x", "-3"])).to.deep.equal({ n: 0, before: 0, own: 0 });
    expect(unreadSince("9-99", { n: 5, before: 0, own: 0 })).to.equal(0);
    expect(readAllPosition([null, null])).to.equal("0-0");
    expect(readAllPosition(["7", "1700000000000"])).to.equal("1700000000000-7");
  });

  it("property: the count is the number of others' messages after the later of the read position and one's own newest", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 80 }), fc.nat(80), (mine, read) => {
        // Message k (1-based) is the user's own when mine[k-1].
        const n = mine.length;
        const at = Math.min(read, n);
        const ownNewest = mine.lastIndexOf(true) + 1;
        const expected = mine.filter((_, i) => i + 1 > Math.max(at, ownNewest)).length;
        expect(unreadSince(`1000-${at}`, { n, before: 0, own: ownNewest })).to.equal(expected);
      }),
    );
  });
});
