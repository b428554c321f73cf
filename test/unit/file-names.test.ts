// File names as shown and as Content-Disposition carries them: cleaned, never a path, never
// able to break the header.
import { expect } from "chai";
import { cleanName } from "../../src/files/files.js";
import { byteRange, disposition } from "../../src/http/file-routes.js";

describe("file names", () => {
  it("keeps the last path segment only, without control, bidi or zero-width characters", () => {
    expect(cleanName("../../etc/passwd")).to.equal("passwd");
    expect(cleanName("C:\\Users\\ann\\report.pdf")).to.equal("report.pdf");
    expect(cleanName("invoice\u202Efdp.exe")).to.equal("invoicefdp.exe");
    expect(cleanName("a\u200Bb\u0000c\nd.txt")).to.equal("abcd.txt");
    expect(cleanName("  spaced   out .txt ")).to.equal("spaced out .txt");
    expect(cleanName('what?"<>|*.txt')).to.equal("what______.txt");
    expect(cleanName("...hidden")).to.equal("hidden");
    expect(cleanName("")).to.equal("file");
    expect(cleanName("../")).to.equal("file");
  });

  it("cuts a long name to 200 characters, keeping its extension", () => {
    const long = cleanName(`${"é".repeat(10_000)}.tar.gz`);
    expect([...long].length).to.equal(200);
    expect(long.endsWith(".gz")).to.equal(true);
    expect([...cleanName("😀".repeat(300))].length).to.equal(200);
  });

  it("puts names in Content-Disposition as ASCII and as RFC 5987 UTF-8, neither able to end the header", () => {
    expect(disposition("attachment", "résumé.pdf")).to.equal(
      `attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`,
    );
    const hostile = disposition("inline", 'a"; filename=evil.html\\x');
    expect(hostile).to.match(/^inline; filename="a_; filename=evil.html_x"; filename\*=UTF-8''/);
    expect(hostile).to.not.match(/[\r\n]/);
  });
});

describe("byte ranges", () => {
  it("reads one range, a suffix or an open end; whole for none, several or nonsense; 416 past the end", () => {
    expect(byteRange("bytes=0-9", 100)).to.deep.equal({ start: 0, end: 9 });
    expect(byteRange("bytes=90-", 100)).to.deep.equal({ start: 90, end: 99 });
    expect(byteRange("bytes=90-500", 100)).to.deep.equal({ start: 90, end: 99 });
    expect(byteRange("bytes=-10", 100)).to.deep.equal({ start: 90, end: 99 });
    expect(byteRange("bytes=-500", 100)).to.deep.equal({ start: 0, end: 99 });
    expect(byteRange(undefined, 100)).to.equal(undefined);
    expect(byteRange("bytes=0-1,5-6", 100)).to.equal(undefined);
    expect(byteRange("bytes=9-0", 100)).to.equal(undefined);
    expect(byteRange("items=0-1", 100)).to.equal(undefined);
    expect(byteRange("bytes=-", 100)).to.equal(undefined);
    expect(byteRange("bytes=100-", 100)).to.equal("unsatisfiable");
    expect(byteRange("bytes=-0", 100)).to.equal("unsatisfiable");
    expect(byteRange(`bytes=${"9".repeat(20)}-`, 100)).to.equal(undefined);
  });
});
