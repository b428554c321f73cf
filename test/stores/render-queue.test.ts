// Images are rendered a few at a time (half the cores): a crowd of large uploads waits its
// turn instead of taking every thread of libuv's pool, which file reads and password hashing
// share.
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import sharp from "sharp";
import {
  MAX_FRAMES,
  RENDERS,
  RenderBusy,
  renderImage,
  renderLoad,
} from "../../src/files/inspect.js";

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
      const done = await Promise.all(
        files.map((f, i) => renderImage(f, "image/png", 50_000_000, `owner-${i}`)),
      );
      clearInterval(sampler);
      expect(most).to.equal(RENDERS);
      expect(queued).to.be.at.least(1);
      expect(done.map((d) => d.width)).to.deep.equal(files.map(() => 3000));
      expect(renderLoad()).to.deep.equal({ running: 0, waiting: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("gives each uploader two renders at a time (a third is refused as busy), and refuses an animation of more frames than it may decode", async function () {
    this.timeout(30_000);
    const dir = await mkdtemp(path.join(tmpdir(), "parley-render-"));
    try {
      const source = path.join(dir, "a.png");
      await sharp({ create: { width: 2000, height: 2000, channels: 3, background: "#fff" } })
        .png()
        .toFile(source);
      const copies = await Promise.all(
        [0, 1, 2].map(async (i) => {
          const p = path.join(dir, `c${i}.png`);
          await copyFile(source, p);
          return p;
        }),
      );
      const outcomes = await Promise.allSettled(
        copies.map((f) => renderImage(f, "image/png", 50_000_000, "one-uploader")),
      );
      expect(outcomes.map((o) => o.status)).to.deep.equal(["fulfilled", "fulfilled", "rejected"]);
      expect((outcomes[2] as PromiseRejectedResult).reason).to.be.instanceOf(RenderBusy);
      // Frames of 1×1 pass any pixel cap; their number is capped on its own (each frame is
      // decoded and encoded again: thousands of them took minutes).
      const n = MAX_FRAMES + 1;
      const raw = Buffer.alloc(n * 3);
      for (let i = 0; i < n; i++) raw[i * 3] = i % 2 ? 255 : 0;
      const gif = path.join(dir, "frames.gif");
      await sharp(raw, { raw: { width: 1, height: n, channels: 3, pageHeight: 1 } })
        .gif()
        .toFile(gif);
      const refused = await renderImage(gif, "image/gif", 50_000_000, "x").then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      expect(refused?.message).to.match(/more than 1,000 frames/);
      expect(renderLoad()).to.deep.equal({ running: 0, waiting: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
