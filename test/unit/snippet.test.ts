// Search snippets are made by parley from the message's own text: the words matching the
// query's lexemes marked, nothing dropped or added, in time linear in the text.
import { expect } from "chai";
import { lexemesOf, snippetOf } from "../../src/archive/store.js";

describe("search snippets", () => {
  it("reads the lexemes of a query tree, quotes and all", () => {
    expect(lexemesOf("'run' & 'fast' <-> 'cat'")).to.deep.equal(["run", "fast", "cat"]);
    expect(lexemesOf("'o''brien' | !'x'")).to.deep.equal(["o'brien", "x"]);
    expect(lexemesOf("T")).to.deep.equal([]);
  });

  it("marks matching words (by their start, ignoring case) and keeps every other character", () => {
    const text = "The transfer was <not> approved; Running late, RUN!";
    const parts = snippetOf(text, ["not", "run"]);
    expect(parts.map((p) => p.text).join("")).to.equal(text);
    expect(parts.filter((p) => p.match).map((p) => p.text)).to.deep.equal([
      "not",
      "Running",
      "RUN",
    ]);
  });

  it("shows a stretch around the first match, cut with an ellipsis", () => {
    const words = Array.from({ length: 100 }, (_, i) => `w${i}`);
    const parts = snippetOf(words.join(" "), ["w50"]);
    const shown = parts.map((p) => p.text).join("");
    expect(shown.startsWith("… w42 ")).to.equal(true);
    expect(shown.endsWith(" …")).to.equal(true);
    expect(parts.filter((p) => p.match).map((p) => p.text)).to.deep.equal(["w50"]);
  });

  it("takes linear time on a repetitive message and a long query", () => {
    const text = "aa ".repeat(666).trim();
    const started = performance.now();
    for (let i = 0; i < 100; i++)
      snippetOf(
        text,
        Array.from({ length: 40 }, () => "aa"),
      );
    // 100 snippets of the worst message the contract allows: far under a second.
    expect(performance.now() - started).to.be.below(1000);
  });
});
