// The chat page on phones (390×844 and 320 wide) and the focus a person expects on load:
// the message box stays on screen at the bottom and has focus, the room list is a drawer,
// and nothing is cut off.
import { expect } from "chai";
import type { Page } from "playwright-core";
import { freePort } from "../../src/redis/server.js";
import { keys } from "../../src/stores/keys.js";
import { registerInChat, SHOTS, started, useChromium } from "../helpers/browser.js";
import { PASSWORD, startParley, uniqueName } from "../helpers/parley.js";
import { redisClient } from "../helpers/redis.js";

describe("the chat page on a phone, in Chromium", function () {
  this.timeout(30_000);
  const rig = useChromium();

  async function chatAt(width: number, height: number): Promise<Page> {
    const ctx = await rig.context({ width, height });
    return registerInChat(ctx, rig.parley.url, uniqueName("phone"), PASSWORD);
  }

  /** Whether an element is entirely inside the viewport. */
  function onScreen(page: Page, selector: string): Promise<boolean> {
    return page.$eval(selector, (e) => {
      const r = e.getBoundingClientRect();
      return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
    });
  }

  /** Opens the drawer and waits until it has slid fully in. */
  async function openDrawer(page: Page): Promise<void> {
    await page.click("#drawer-toggle");
    await page.waitForFunction(() => {
      const r = document.getElementById("sidebar")?.getBoundingClientRect();
      return (
        r !== undefined &&
        r.left === 0 &&
        getComputedStyle(document.getElementById("sidebar") as Element).visibility === "visible"
      );
    });
  }

  const noHorizontalOverflow = (page: Page) =>
    page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

  it("focuses the message box on load, on a desktop too", async () => {
    const page = await chatAt(1280, 800);
    await page.waitForFunction(() => document.activeElement?.id === "text");
  });

  for (const [width, height] of [
    [390, 844],
    [320, 640],
  ] as const) {
    it(`at ${width}×${height}: the message box stays at the bottom, focused, after sending`, async () => {
      const page = await chatAt(width, height);
      await page.waitForFunction(() => document.activeElement?.id === "text");
      expect(await page.isVisible("#sidebar")).to.equal(false);
      for (let i = 0; i < 15; i++) {
        await page.fill("#text", `message ${i} from ${width} wide`);
        await page.press("#text", "Enter");
      }
      // Typed while the previous one was still being sent: none is lost (each is shown as
      // waiting until its send is answered; until then its broadcast may show it twice).
      await page.waitForFunction(
        (last) =>
          document.querySelectorAll("#message-list .pending").length === 0 &&
          Array.from(document.querySelectorAll("#message-list .text")).some(
            (e) => e.textContent === last,
          ),
        `message 14 from ${width} wide`,
      );
      const texts = await page.$$eval("#message-list .text", (els) =>
        els.map((e) => e.textContent ?? ""),
      );
      const mine = texts.filter((t) => t.endsWith(` from ${width} wide`));
      expect(mine).to.deep.equal(
        Array.from({ length: 15 }, (_, i) => `message ${i} from ${width} wide`),
      );
      expect(await onScreen(page, "#text")).to.equal(true);
      expect(await onScreen(page, "#room-title")).to.equal(true);
      expect(await page.evaluate(() => document.activeElement?.id)).to.equal("text");
      expect(await page.evaluate(() => document.scrollingElement?.scrollTop ?? 0)).to.equal(0);
      expect(await noHorizontalOverflow(page)).to.be.at.most(0);
      await page.screenshot({ path: `${SHOTS}/chat-phone-${width}.png` });
    });
  }

  it("opens the room list as a drawer, and closes it on choosing a room or Escape", async () => {
    const page = await chatAt(390, 844);
    await openDrawer(page);
    expect(await page.getAttribute("#drawer-toggle", "aria-expanded")).to.equal("true");
    expect(await onScreen(page, "#dm-user")).to.equal(true);
    await page.screenshot({ path: `${SHOTS}/chat-phone-drawer.png` });
    // A room name with capitals is taken as its lower-case form, not refused by the browser.
    await page.fill("#join-room", "Design");
    await page.press("#join-room", "Enter");
    await page.waitForFunction(
      () => document.getElementById("room-title")?.textContent === "# design",
    );
    await page.waitForSelector("#sidebar", { state: "hidden" });
    expect(await page.getAttribute("#drawer-toggle", "aria-expanded")).to.equal("false");
    await openDrawer(page);
    await page.keyboard.press("Escape");
    await page.waitForSelector("#sidebar", { state: "hidden" });
    expect(await page.evaluate(() => document.activeElement?.id)).to.equal("drawer-toggle");
  });

  it("keeps a 32-character room name inside the room list", async () => {
    const page = await chatAt(390, 844);
    const long = "a".repeat(32);
    await openDrawer(page);
    await page.fill("#join-room", long);
    await page.press("#join-room", "Enter");
    await page.waitForFunction(
      (n) => document.getElementById("room-title")?.textContent === `# ${n}`,
      long,
    );
    await openDrawer(page);
    const fits = await page.$eval("#sidebar", (side) => {
      const s = side.getBoundingClientRect();
      return Array.from(side.querySelectorAll(".room-button, .room-name")).every(
        (b) => b.getBoundingClientRect().right <= s.right,
      );
    });
    await page.screenshot({ path: `${SHOTS}/chat-phone-long-room.png` });
    expect(fits).to.equal(true);
  });

  it("says near the message box when the server is gone, keeps what is written, and sends it once after a restart", async function () {
    this.timeout(60_000);
    // While the server is away the browser reports its failed reconnects: expected here.
    rig.problems.allow(/ERR_CONNECTION_REFUSED|WebSocket connection to .* failed|status of 50\d/);
    // parley on a port of its own, so that it can come back at the same address.
    const port = await freePort();
    let own = await startParley({ env: { PORT: String(port) } });
    const ctx = await rig.context({ width: 390, height: 844 });
    let page: Page;
    const room = `offline-${Date.now().toString(36)}`;
    try {
      page = await registerInChat(ctx, own.url, uniqueName("offline"), PASSWORD);
      expect(await page.isHidden("#conn-banner")).to.equal(true);
      await openDrawer(page);
      await page.fill("#join-room", room);
      await page.press("#join-room", "Enter");
      await page.waitForSelector(`#room-title:has-text('# ${room}')`);
    } finally {
      await own.close();
    }
    await page.waitForSelector("#conn-banner", { state: "visible", timeout: 10_000 });
    expect(await page.textContent("#conn-banner")).to.match(/reconnecting/i);
    expect(await onScreen(page, "#conn-banner")).to.equal(true);
    // Writing goes on: each message waits, shown as not sent yet, in order.
    for (const text of ["written offline 1", "written offline 2"]) {
      await page.fill("#text", text);
      await page.press("#text", "Enter");
    }
    await page.waitForSelector("#message-list .pending >> nth=1");
    expect(await page.locator("#message-list .pending .text").allTextContents()).to.deep.equal([
      "written offline 1",
      "written offline 2",
    ]);
    expect(await page.textContent("#conn-banner")).to.match(/2 messages will be sent/);
    expect(await onScreen(page, "#text")).to.equal(true);
    await page.screenshot({ path: `${SHOTS}/chat-phone-offline.png` });
    // Back at the same address: the page reconnects by itself and sends them, once each.
    own = await startParley({ env: { PORT: String(port) } });
    try {
      await page.waitForSelector("#conn-banner", { state: "hidden", timeout: 15_000 });
      await page.waitForFunction(
        () => document.querySelectorAll("#message-list .pending").length === 0,
        undefined,
        { timeout: 15_000 },
      );
      const redis = await redisClient();
      try {
        const stored = await redis.xRange(keys.roomMessages(room), "-", "+");
        expect(stored.map((e) => e.message.t)).to.deep.equal([
          "written offline 1",
          "written offline 2",
        ]);
      } finally {
        await redis.close();
      }
      const shown = await page
        .locator("#message-list .message:not(.pending) .text")
        .allTextContents();
      expect(shown).to.deep.equal(["written offline 1", "written offline 2"]);
    } finally {
      // The page goes first: left open, it would keep reconnecting to a server that is gone.
      await ctx.close();
      await own.close();
    }
  });

  it("shows the same rooms and unread counts on a phone as on the desktop, and Leave on one leaves on both", async () => {
    const name = uniqueName("both");
    const deskCtx = await rig.context({ width: 1280, height: 800 });
    const desk = await registerInChat(deskCtx, rig.parley.url, name, PASSWORD);
    const room = `both-${Date.now().toString(36)}`;
    await desk.fill("#join-room", room);
    await desk.press("#join-room", "Enter");
    await desk.waitForSelector(`#room-title:has-text('# ${room}')`);
    // Someone else writes in the room while this person looks at lobby (so it stays unread).
    const other = await chatAt(1280, 800);
    await other.fill("#join-room", room);
    await other.press("#join-room", "Enter");
    await other.waitForSelector(`#room-title:has-text('# ${room}')`);
    await desk.click(".room-button[data-room=lobby]");
    await other.fill("#text", "news in the room");
    await other.press("#text", "Enter");
    await desk.waitForSelector(`.room-button[data-room="${room}"] .unread`);
    // The phone, a new login of the same person, lists both rooms, with the same unread count.
    const phoneCtx = await rig.context({ width: 390, height: 844 });
    const phone = await phoneCtx.newPage();
    await phone.goto(`${rig.parley.url}/login`);
    await phone.fill("#username", name);
    await phone.fill("#password", PASSWORD);
    await phone.click("button[type=submit]");
    await phone.waitForURL("**/chat");
    await started(phone);
    const badge = phone.locator(`.room-button[data-room="${room}"] .unread`);
    await badge.waitFor({ state: "attached" });
    expect(await badge.textContent()).to.equal("1");
    expect(await phone.locator(".room-button[data-room=lobby]").count()).to.equal(1);
    // Leave the room on the phone: the desktop drops it too.
    await openDrawer(phone);
    await phone.click(`.room-button[data-room="${room}"]`);
    await phone.waitForSelector(`#room-title:has-text('# ${room}')`);
    phone.once("dialog", (d) => void d.accept());
    await phone.click("#leave-room");
    await phone.waitForSelector(`.room-button[data-room="${room}"]`, { state: "detached" });
    await desk.waitForSelector(`.room-button[data-room="${room}"]`, { state: "detached" });
    expect(await desk.textContent("#room-title")).to.not.include(room);
  });
});
