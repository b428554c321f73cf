// History that lasts and can be found, in Chromium: searching messages (Ctrl+Shift+F) and
// opening a result in context, links to messages (copied, opened by a member and by an
// outsider), and scrolling back past the Redis window into PostgreSQL.
import { expect } from "chai";
import type { Page } from "playwright-core";
import { MessageStore } from "../../src/stores/messages.js";
import { registerInChat, SHOTS, useChromium } from "../helpers/browser.js";
import { PASSWORD, uniqueName } from "../helpers/parley.js";

describe("history, search and links in Chromium", function () {
  this.timeout(60_000);
  const rig = useChromium({ env: { ROOM_WINDOW: "100" } });

  async function person(viewport = { width: 1280, height: 800 }) {
    const ctx = await rig.context(viewport);
    await ctx.grantPermissions(["clipboard-read", "clipboard-write"]);
    const name = uniqueName("hs");
    return { page: await registerInChat(ctx, rig.parley.url, name, PASSWORD), name, ctx };
  }

  async function joinRoom(page: Page, room: string, opts: { private?: boolean } = {}) {
    if (opts.private) await page.check("#join-private");
    await page.fill("#join-room", room);
    await page.press("#join-room", "Enter");
    await page.waitForSelector(`#room-title:has-text('# ${room}')`);
  }

  async function send(page: Page, text: string) {
    await page.fill("#text", text);
    await page.press("#text", "Enter");
    await page.waitForSelector(`#message-list .message:not(.pending) .text:has-text('${text}')`);
  }

  it("finds a message with Ctrl+Shift+F and opens it in its room, marked", async () => {
    const a = await person();
    const word = `kiwi${Date.now().toString(36)}`;
    const room = `find-${Date.now().toString(36)}`;
    await joinRoom(a.page, room);
    await send(a.page, `the ${word} is ripe`);
    await send(a.page, "something else");
    await rig.parley.archiver.drain();
    await joinRoom(a.page, `away-${Date.now().toString(36)}`);
    await a.page.keyboard.press("Control+Shift+F");
    await a.page.waitForSelector("#search", { state: "visible" });
    expect(await a.page.evaluate(() => document.activeElement?.id)).to.equal("search-input");
    await a.page.keyboard.type(word);
    await a.page.keyboard.press("Enter");
    const hit = a.page.locator("#search-results button").first();
    await hit.waitFor();
    expect(await hit.locator("mark").textContent()).to.equal(word);
    expect(await hit.locator(".where").textContent()).to.contain(`# ${room}`);
    await a.page.screenshot({ path: `${SHOTS}/chat-search.png` });
    await hit.click();
    await a.page.waitForSelector(`#room-title:has-text('# ${room}')`);
    const linked = a.page.locator("#message-list .message.linked .text");
    await linked.waitFor();
    expect(await linked.textContent()).to.contain(word);
    expect(await a.page.isHidden("#search")).to.equal(true);
  });

  it("copies a link to a message, which opens it for a member and is unavailable to an outsider", async () => {
    const a = await person();
    const outsider = await person();
    const room = `link-${Date.now().toString(36)}`;
    await joinRoom(a.page, room, { private: true });
    await send(a.page, "the linked one");
    await send(a.page, "after it");
    const message = a.page.locator("#message-list .message", { hasText: "the linked one" });
    await message.hover();
    await message.locator("button[data-link]").click();
    const link = await a.page.evaluate(() => navigator.clipboard.readText());
    expect(link).to.match(new RegExp(`/chat\\?room=${room}&message=\\d+-\\d+$`));
    // The member, in another tab: the room opens at the message.
    const tab = await a.ctx.newPage();
    await tab.goto(link);
    await tab.waitForSelector(`#room-title:has-text('# ${room}')`);
    expect(await tab.locator("#message-list .message.linked .text").textContent()).to.equal(
      "the linked one",
    );
    // The outsider: the same answer as a message in a room that does not exist.
    await outsider.page.goto(link);
    const error = outsider.page.locator("#send-error");
    await error.waitFor();
    const refused = await error.textContent();
    await outsider.page.goto(
      link.replace(`room=${room}`, `room=${room}-none`).replace(/message=[\d-]+/, "message=1-1"),
    );
    await error.waitFor();
    expect(await error.textContent()).to.equal(refused);
    expect(await outsider.page.locator(`#rooms [data-room="${room}"]`).count()).to.equal(0);
    expect(await outsider.page.locator("#message-list .message").count()).to.equal(0);
  });

  it("scrolls back past the window of recent messages to the first one", async () => {
    const a = await person();
    const room = `long-${Date.now().toString(36)}`;
    await joinRoom(a.page, room);
    const store = new MessageStore(
      rig.parley.redis,
      100_000,
      undefined,
      rig.parley.archiver,
      rig.parley.archive,
    );
    const total = 2000;
    for (let i = 0; i < total; i++) {
      await store.append(room, { id: "writer", username: "writer" }, `old ${i}`, Date.now());
    }
    await rig.parley.archiver.drain();
    await a.page.reload();
    await a.page.waitForSelector(`#room-title:has-text('# ${room}')`);
    await a.page.waitForSelector(`#message-list .text:has-text('old ${total - 1}')`);
    // Scrolling to the top loads the next older page, until the first message is there: the
    // person keeps scrolling up.
    await a.page.waitForFunction(
      () => {
        const scroller = document.getElementById("messages") as HTMLElement;
        scroller.scrollTop = 0;
        scroller.dispatchEvent(new Event("scroll"));
        return Array.from(document.querySelectorAll("#message-list .text")).some(
          (t) => t.textContent === "old 0",
        );
      },
      undefined,
      { polling: 250, timeout: 50_000 },
    );
    expect(await a.page.locator("#message-list .message").count()).to.equal(total);
    expect(await a.page.isHidden("#load-older")).to.equal(true);
  });
});
