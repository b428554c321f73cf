// Images are rendered a few at a time (half the cores): a crowd of large uploads waits its
// turn instead of taking every thread of libuv's pool, which file reads and password hashing
// share.
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import sharp from "sharp";
import { RENDERS, renderImage, renderLoad } from "../../src/files/inspect.js";

describe("rendering images", () => {
  it(`renders at most ${RENDERS} at once; the others wait their turn and are all done`, async function () {
    this.timeout(30_000);
    const dir = await mkdtemp(path.join(tmpdir(), "parley-render-"));
    try {
      const source = path.join(dir, "big.png");
      await sharp({ create: { width: 3000, height: 2000, channels: 3, background: "#3654d6" } })
        .png()
        .toFile(source);
      const files = await Promise.all(
        Array.from({ length: RENDERS + 3 }, async (_, i) => {
          const p = path.join(dir, `f${i}.png`);
          await copyFile(source, p);
          return p;
        }),
      );
      let most = 0;
      let queued = 0;
      const sampler = setInterval(() => {
        const load = renderLoad();
        most = Math.max(most, load.running);
        queued = Math.max(queued, load.waiting);
      }, 2);
      const done = await Promise.all(files.map((f) => renderImage(f, "image/png", 50_000_000)));
      clearInterval(sampler);
      expect(most).to.equal(RENDERS);
      expect(queued).to.be.at.least(1);
      expect(done.map((d) => d.width)).to.deep.equal(files.map(() => 3000));
      expect(renderLoad()).to.deep.equal({ running: 0, waiting: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
