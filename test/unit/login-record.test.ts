// The login record's one owner (domain/login.ts): parsing a stored record, and a login's
// lifetime on a fake clock.
import { expect } from "chai";
import {
  activityDue,
  activityEveryMs,
  isPastDeadline,
  loginDeadline,
  parseLoginRecord,
  ttlSeconds,
} from "../../src/domain/login.js";

const T0 = 1_800_000_000_000;
const lifetime = { idleSeconds: 1800, absoluteSeconds: 43_200 };

describe("the login record (domain/login.ts)", () => {
  describe("parsing a stored record", () => {
    const login = { handle: "h", createdAt: T0, lastActive: T0 + 5, ip: "::1", userAgent: "ua" };
    const cases: [string, unknown, boolean][] = [
      ["a login", { passport: { user: "u" }, login }, true],
      [
        "a login with its generation",
        { passport: { user: "u" }, login: { ...login, gen: 3 } },
        true,
      ],
      ["an anonymous session (a CSRF token only)", { csrfToken: "x" }, false],
      ["passport without login fields", { passport: { user: "u" } }, false],
      ["login fields without an owner", { login }, false],
      ["an owner that is not a string", { passport: { user: 7 }, login }, false],
      [
        "createdAt as a string",
        { passport: { user: "u" }, login: { ...login, createdAt: "1" } },
        false,
      ],
      ["no handle", { passport: { user: "u" }, login: { ...login, handle: undefined } }, false],
      [
        "a generation that is not a number",
        { passport: { user: "u" }, login: { ...login, gen: "1" } },
        false,
      ],
      ["login as null", { passport: { user: "u" }, login: null }, false],
    ];
    for (const [what, value, ok] of cases) {
      it(`${ok ? "accepts" : "refuses"} ${what}`, () => {
        const parsed = parseLoginRecord(JSON.stringify(value));
        if (ok) expect(parsed?.userId).to.equal("u");
        else expect(parsed).to.equal(undefined);
      });
    }
    it("refuses what is not JSON, and nothing at all", () => {
      expect(parseLoginRecord("{")).to.equal(undefined);
      expect(parseLoginRecord("")).to.equal(undefined);
      expect(parseLoginRecord(null)).to.equal(undefined);
    });
    it("fills what older records lack: lastActive is the login time, no generation is 0", () => {
      const parsed = parseLoginRecord(
        JSON.stringify({ passport: { user: "u" }, login: { handle: "h", createdAt: T0 } }),
      );
      expect(parsed).to.deep.equal({
        userId: "u",
        login: { handle: "h", createdAt: T0, lastActive: T0, ip: "", userAgent: "" },
      });
    });
  });

  describe("lifetime", () => {
    const login = { createdAt: T0 };
    it("ends at the absolute deadline, to the millisecond", () => {
      expect(loginDeadline(login, 60)).to.equal(T0 + 60_000);
      expect(isPastDeadline(login, T0 + 59_999, 60)).to.equal(false);
      expect(isPastDeadline(login, T0 + 60_000, 60)).to.equal(true);
    });
    it("gives the record the idle timeout as TTL, cut short by the deadline (rounded up)", () => {
      expect(ttlSeconds(login, T0, lifetime)).to.equal(1800);
      expect(ttlSeconds(login, T0 + 43_200_000 - 1000, lifetime)).to.equal(1);
      expect(ttlSeconds(login, T0 + 43_200_000 - 1, lifetime)).to.equal(1);
      expect(ttlSeconds(login, T0 + 43_200_000, lifetime)).to.equal(0);
      expect(ttlSeconds(login, T0 + 43_300_000, lifetime)).to.be.below(0);
    });
    it("records activity at most every min(idle / 10, 60 s)", () => {
      expect(activityEveryMs(1800)).to.equal(60_000);
      expect(activityEveryMs(300)).to.equal(30_000);
      expect(activityEveryMs(4)).to.equal(400);
      expect(activityDue(T0, T0 + 59_999, 1800)).to.equal(false);
      expect(activityDue(T0, T0 + 60_000, 1800)).to.equal(true);
      expect(activityDue(T0, T0 + 399, 4)).to.equal(false);
      expect(activityDue(T0, T0 + 400, 4)).to.equal(true);
    });
  });
});
