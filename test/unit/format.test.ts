// The chat page's message formatter: links, `code`, **bold**, _italic_ and @mentions, as a
// tree the page renders with textContent only. What users type is never HTML.
import { expect } from "chai";
import { formatMessage, type Node, plainText } from "../../client/format.js";

function links(nodes: readonly Node[]): string[] {
  return nodes.flatMap((n) => (n.t === "link" ? [n.href] : "c" in n ? links(n.c) : []));
}

describe("the message formatter (client/format.ts)", () => {
  it("keeps plain text as one text node", () => {
    expect(formatMessage("hello there")).to.deep.equal([{ t: "text", v: "hello there" }]);
  });

  it("links http and https URLs, without trailing punctuation or an unopened bracket", () => {
    expect(formatMessage("see https://example.com/a?b=1.")).to.deep.equal([
      { t: "text", v: "see " },
      { t: "link", v: "https://example.com/a?b=1", href: "https://example.com/a?b=1" },
      { t: "text", v: "." },
    ]);
    expect(links(formatMessage("(http://x.org/wiki/A_(b))"))).to.deep.equal([
      "http://x.org/wiki/A_(b)",
    ]);
    expect(links(formatMessage("HTTPS://EXAMPLE.COM, and more"))).to.deep.equal([
      "HTTPS://EXAMPLE.COM",
    ]);
  });

  it("formats `code` (nothing inside it), **bold** and _italic_, nested", () => {
    expect(formatMessage("run `npm **test**` now")).to.deep.equal([
      { t: "text", v: "run " },
      { t: "code", v: "npm **test**" },
      { t: "text", v: " now" },
    ]);
    expect(formatMessage("**very _much_ so**")).to.deep.equal([
      {
        t: "bold",
        c: [
          { t: "text", v: "very " },
          { t: "italic", c: [{ t: "text", v: "much" }] },
          { t: "text", v: " so" },
        ],
      },
    ]);
  });

  it("leaves snake_case, 2**10, lone markers and markers across lines as typed", () => {
    for (const text of ["snake_case_name", "2**10 is 1024", "a * b", "_ not", "**a\nb**", "`"]) {
      expect(plainText(formatMessage(text)), text).to.equal(text);
      expect(
        formatMessage(text).some((n) => n.t === "bold" || n.t === "italic"),
        text,
      ).to.equal(false);
    }
  });

  it("marks @mentions, and the reader's own", () => {
    expect(formatMessage("hi @Alice and @bob_2", "alice")).to.deep.equal([
      { t: "text", v: "hi " },
      { t: "mention", v: "@Alice", me: true },
      { t: "text", v: " and " },
      { t: "mention", v: "@bob_2", me: false },
    ]);
    expect(formatMessage("mail me@example.com")).to.deep.equal([
      { t: "text", v: "mail me@example.com" },
    ]);
  });

  it("ends a link inside bold where the bold ends", () => {
    expect(formatMessage("**https://example.com**")).to.deep.equal([
      {
        t: "bold",
        c: [{ t: "link", v: "https://example.com", href: "https://example.com" }],
      },
    ]);
  });

  // Linear work: each of these took seconds with a trim that recounted brackets per character
  // (the test's 5 s limit is the only clock here; speed is the benchmark's business).
  it("formats hostile 2000-character messages as text (no backtracking, no quadratic trims)", () => {
    const hostile = [
      "http:///".repeat(125) + ")".repeat(1000),
      "http://?".repeat(125) + ")".repeat(1000),
      `**${"http:///".repeat(124)}${")".repeat(996)}**`,
      "_a ".repeat(666),
      "*".repeat(2000),
      "`".repeat(2000),
      "@".repeat(2000),
      "http://".repeat(285),
      `https://example.com/${"(".repeat(990)}${")".repeat(990)}`,
    ];
    for (const text of hostile.slice(0, 3)) {
      expect(links(formatMessage(text, "me")), text.slice(0, 20)).to.deep.equal([]);
    }
    for (const text of hostile.slice(3)) {
      const stripped = (t: string) => t.replace(/\*\*|_|`/g, "");
      expect(stripped(plainText(formatMessage(text, "me")))).to.equal(stripped(text));
    }
  });

  it("keeps backslashes and invisible format characters out of links", () => {
    expect(links(formatMessage("https://example.com\\@evil.example/"))).to.deep.equal([
      "https://example.com",
    ]);
    expect(links(formatMessage("https://exa\u200Bmple.com/x"))).to.deep.equal(["https://exa"]);
  });

  describe("the XSS catalogue: nothing but http(s) links, and every character stays text", () => {
    const catalogue = [
      "<script>alert(1)</script>",
      '<img src=x onerror="alert(1)">',
      "javascript:alert(1)",
      "JaVaScRiPt:alert(1)",
      "[click](javascript:alert(1))",
      "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
      'https://example.com/"><script>alert(1)</script>',
      "https://example.com/<img src=x onerror=alert(1)>",
      "http://x.org/'onmouseover='alert(1)",
      "https:alert(1)",
      "http://",
      "`<b>` **<i>x</i>** _<svg/onload=alert(1)>_",
      "&lt;script&gt; &#x3C;script&#x3E;",
      "vbscript:msgbox(1) file:///etc/passwd //evil.example",
      "\u202Ehttps://example.com\u202C",
    ];
    for (const text of catalogue) {
      it(JSON.stringify(text), () => {
        const nodes = formatMessage(text);
        for (const href of links(nodes)) {
          expect(href).to.match(/^https?:\/\/[^\s<>"'`]+$/i);
        }
        // Only markdown markers may be consumed: every other character is still there, as text.
        const stripped = (s: string) => s.replace(/\*\*|_|`/g, "");
        expect(stripped(plainText(nodes))).to.equal(stripped(text));
      });
    }
  });
});
