// What keeps a login alive in the browser: a person using the page does; an open tab that
// nobody touches does not, however its socket keeps polling or answering heartbeats.
import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "chai";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launch, Problems, registerInChat } from "../helpers/browser.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";

const IDLE_SECONDS = 6;

describe("idle timeout in Chromium", function () {
  this.timeout(40_000);
  let parley: TestParley;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  /** A tab nobody touches, opened first: it idles out while the other test runs. */
  let unused: { page: Page; started: number; signedOutAt: Promise<number> };
  before(async () => {
    parley = await startParley({
      env: { SESSION_IDLE_SECONDS: String(IDLE_SECONDS) },
      sweepIntervalMs: 500,
    });
    browser = await launch();
    const page = await chatPage();
    const started = Date.now();
    const signedOutAt = page
      .waitForSelector("#signed-out:not([hidden])", { timeout: (IDLE_SECONDS + 8) * 1000 })
      .then(() => Date.now());
    signedOutAt.catch(() => undefined); // awaited by its test
    unused = { page, started, signedOutAt };
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await parley?.close();
  });

  async function chatPage(): Promise<Page> {
    const ctx = await new Problems().context(browser);
    contexts.push(ctx);
    return registerInChat(ctx, parley.url, uniqueName("idle"), PASSWORD);
  }

  it("keeps a login alive while the person reads and moves the pointer, without typing", async () => {
    const page = await chatPage();
    for (let i = 0; i < IDLE_SECONDS * 2; i++) {
      await page.mouse.move(100 + i * 10, 200);
      await page.mouse.down();
      await page.mouse.up();
      await sleep(1000); // a person's pace, deliberately: time passing is what is tested
    }
    expect(await page.isHidden("#signed-out")).to.equal(true);
    // The login itself is still there for the pages, too.
    const status = await page.evaluate(async () => {
      const r = await fetch("/chat", { redirect: "manual" });
      return r.type === "opaqueredirect" ? 303 : r.status;
    });
    expect(status).to.equal(200);
  });

  // Runs after the test above, while the tab it waits for has been idling since before it.
  it("signs out a tab nobody uses, though its socket stays connected meanwhile", async () => {
    const { page, started, signedOutAt } = unused;
    expect((await signedOutAt) - started).to.be.above((IDLE_SECONDS - 2) * 1000);
    expect(await page.textContent("#signed-out-reason")).to.match(/expired/);
  });
});
