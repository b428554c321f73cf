// Where a login may send the browser afterwards: only a path on this site.
import { expect } from "chai";
import { safeNext } from "../../src/auth/validation.js";

describe("safeNext: the post-login redirect (table)", () => {
  const kept = ["/", "/chat", "/sessions?x=1", "/chat#room", "/a/b/c", "/%7Euser", "/ü"];
  const refused: [string, string][] = [
    ["", "empty"],
    ["chat", "relative"],
    ["//evil.example", "protocol-relative"],
    ["/\\evil.example", "backslash after the slash"],
    ["\\\\evil.example", "backslashes"],
    ["https://evil.example/", "absolute"],
    ["javascript:alert(1)", "a script URL"],
    ["/%2F%2Fevil.example", "an encoded second slash"],
    ["/%5Cevil.example", "an encoded backslash"],
    ["/%252F%252Fevil.example", "a doubly encoded second slash"],
    ["/chat%0d%0aSet-Cookie:x=1", "encoded CR LF"],
    ["/chat\r\nx", "raw CR LF"],
    ["/chat\tx", "a tab"],
    ["/%E0%A4%A", "malformed percent-encoding"],
  ];
  for (const next of kept) {
    it(`keeps ${JSON.stringify(next)}`, () => expect(safeNext(next)).to.equal(next));
  }
  for (const [next, what] of refused) {
    it(`refuses ${what}: ${JSON.stringify(next)}`, () =>
      expect(safeNext(next)).to.equal(undefined));
  }
  it("has nothing to keep when there is no next", () =>
    expect(safeNext(undefined)).to.equal(undefined));
});
