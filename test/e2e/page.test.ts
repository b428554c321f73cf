// The chat page as people use it, in Chromium: formatted messages with safe links, the
// new-messages line, the member list, the keyboard (Ctrl+K, Up to edit, Escape), @ mentions,
// and every page checked by axe-core in light and dark mode, with screenshots of both.
import { AxeBuilder } from "@axe-core/playwright";
import { expect } from "chai";
import type { Page } from "playwright-core";
import { registerInChat, SHOTS, useChromium } from "../helpers/browser.js";
import { PASSWORD, uniqueName } from "../helpers/parley.js";

describe("the chat page as people use it, in Chromium", function () {
  this.timeout(40_000);
  const rig = useChromium();

  async function person(
    viewport = { width: 1280, height: 800 },
  ): Promise<{ page: Page; name: string }> {
    const ctx = await rig.context(viewport);
    const name = uniqueName("pg");
    return { page: await registerInChat(ctx, rig.parley.url, name, PASSWORD), name };
  }

  async function joinRoom(page: Page, room: string): Promise<void> {
    await page.fill("#join-room", room);
    await page.press("#join-room", "Enter");
    await page.waitForSelector(`#room-title:has-text('# ${room}')`);
  }

  async function send(page: Page, text: string): Promise<void> {
    await page.fill("#text", text);
    await page.press("#text", "Enter");
  }

  /** Two new people, both in a new room named after `prefix`. */
  async function pair(prefix: string) {
    const a = await person();
    const b = await person();
    const room = `${prefix}-${Date.now().toString(36)}`;
    await joinRoom(a.page, room);
    await joinRoom(b.page, room);
    return { a, b, room };
  }

  // Two people whose pages the tests below share, each test in a room of its own: what they
  // check happens in that room, and nothing in it depends on who they are or what they did
  // before. (Made on first use, so that any of these tests can also run alone.)
  let regulars: Promise<{ a: { page: Page; name: string }; b: { page: Page; name: string } }>;
  function twoRegulars() {
    regulars ??= (async () => ({ a: await person(), b: await person() }))();
    return regulars;
  }

  /** The two shared people, both in a new room named after `prefix`. */
  async function regularPair(prefix: string) {
    const { a, b } = await twoRegulars();
    const room = `${prefix}-${Date.now().toString(36)}`;
    await joinRoom(a.page, room);
    await joinRoom(b.page, room);
    return { a, b, room };
  }

  it("makes links clickable and formats **bold**, _italic_ and `code`, while HTML stays text", async () => {
    const { a, b } = await regularPair("fmt");
    await send(
      a.page,
      "see https://example.com/docs, **bold** _it_ `<b>code</b>` <a href=javascript:alert(1)>x</a>",
    );
    const text = b.page.locator("#message-list .message:last-child .text");
    await text.locator("a").waitFor();
    const link = text.locator("a");
    expect(await link.count()).to.equal(1);
    expect(await link.getAttribute("href")).to.equal("https://example.com/docs");
    expect(await link.getAttribute("rel")).to.equal("noopener noreferrer nofollow");
    expect(await link.getAttribute("target")).to.equal("_blank");
    expect(await text.locator("strong").textContent()).to.equal("bold");
    expect(await text.locator("em").textContent()).to.equal("it");
    expect(await text.locator("code").textContent()).to.equal("<b>code</b>");
    expect(await text.locator("b").count()).to.equal(0);
    expect(await text.textContent()).to.include("<a href=javascript:alert(1)>x</a>");
  });

  it("draws a new-messages line at the first unread message, a date separator, and a jump to the latest", async () => {
    // New people: a sends 15 messages here, most of the send budget (20 in 10 s).
    const { a, b, room } = await pair("new");
    await send(a.page, "read already");
    await b.page.waitForSelector("#message-list .text:has-text('read already')");
    // b looks elsewhere while a writes two more.
    await joinRoom(b.page, `elsewhere-${Date.now().toString(36)}`);
    await send(a.page, "first unread");
    await send(a.page, "second unread");
    await b.page.waitForSelector(`.room-button[data-room="${room}"] .unread:has-text('2')`);
    await b.page.click(`.room-button[data-room="${room}"]`);
    await b.page.waitForSelector("#message-list .new-line");
    const order = await b.page.$$eval("#message-list > li", (items) =>
      items.map((li) =>
        li.classList.contains("new-line")
          ? "NEW"
          : li.classList.contains("day-separator")
            ? `DAY ${li.textContent}`
            : (li.querySelector(".text")?.textContent ?? ""),
      ),
    );
    expect(order).to.deep.equal([
      "DAY Today",
      "read already",
      "NEW",
      "first unread",
      "second unread",
    ]);
    await b.page.screenshot({ path: `${SHOTS}/chat-new-messages.png` });
    // Scrolled up, a button brings the newest back. (Twelve long messages fill more than the
    // view, and with the three above stay within the send budget of 20 in 10 s: more would
    // wait for it.)
    for (let i = 0; i < 12; i++) await send(a.page, `filler ${i} ${"words ".repeat(50)}`);
    await b.page.waitForSelector("#message-list .text:has-text('filler 11')");
    await b.page.$eval("#messages", (el) => {
      el.scrollTop = 0;
    });
    await b.page.waitForSelector("#jump-latest", { state: "visible" });
    await b.page.click("#jump-latest");
    await b.page.waitForSelector("#jump-latest", { state: "hidden" });
  });

  it("lists the room's members with online dots; a name opens a direct message", async () => {
    const { a, b } = await regularPair("mem");
    await a.page.waitForSelector(`#members button.member:has-text('${b.name}')`);
    expect(await a.page.locator("#members .dot.online").count()).to.equal(2);
    await send(
      a.page,
      "**Welcome** — notes are at https://example.com/notes, run `npm test` first",
    );
    await b.page.waitForSelector("#message-list .message a");
    await b.page.screenshot({ path: `${SHOTS}/chat-members.png` });
    await a.page.click(`#members button.member:has-text('${b.name}')`);
    await a.page.waitForSelector(`#room-title:has-text('@ ${b.name}')`);
  });

  it("browses the public room directory, searches it, and joins a room from it", async () => {
    const { a, b } = await twoRegulars();
    const room = `dir-${Date.now().toString(36)}`;
    await joinRoom(a.page, room);
    await b.page.click("#directory summary");
    await b.page.fill("#directory-search", room.slice(0, 10));
    const entry = b.page.locator(`.directory-room:has-text('# ${room}')`);
    await entry.waitFor();
    expect(await entry.textContent()).to.include("1 member");
    await entry.click();
    await b.page.waitForSelector(`#room-title:has-text('# ${room}')`);
    await b.page.fill("#directory-search", "no-such-room-anywhere");
    await b.page.waitForSelector(".directory-list .hint:has-text('No public room starts with')");
  });

  it("switches rooms with Ctrl+K, edits the last message with Up, and cancels with Escape", async () => {
    const { a } = await twoRegulars();
    const room = `keys-${Date.now().toString(36)}`;
    await joinRoom(a.page, room);
    await send(a.page, "typo here");
    await a.page.waitForSelector("#message-list .text:has-text('typo here')");
    // Up in the empty box edits it; Escape leaves it as it was.
    await a.page.focus("#text");
    await a.page.keyboard.press("ArrowUp");
    await a.page.waitForSelector("#message-list .edit-box");
    await a.page.keyboard.press("Escape");
    await a.page.waitForSelector("#message-list .edit-box", { state: "detached" });
    await a.page.focus("#text");
    await a.page.keyboard.press("ArrowUp");
    await a.page.fill("#message-list .edit-box", "no typo");
    await a.page.keyboard.press("Enter");
    await a.page.waitForSelector("#message-list .text:has-text('no typo')");
    // Ctrl+K: type part of a name, Enter.
    await a.page.keyboard.press("Control+k");
    await a.page.waitForSelector("#switcher", { state: "visible" });
    await a.page.keyboard.type("lobb");
    await a.page.keyboard.press("Enter");
    await a.page.waitForSelector("#room-title:has-text('# lobby')");
    expect(await a.page.isHidden("#switcher")).to.equal(true);
    expect(await a.page.evaluate(() => document.activeElement?.id)).to.equal("text");
  });

  it("suggests room members after @ and completes the name with Tab; the named person sees it marked", async () => {
    const { a, b } = await regularPair("at");
    await a.page.focus("#text");
    await a.page.keyboard.type(`hello @${b.name.slice(0, 4)}`);
    await a.page.waitForSelector(`#mention-suggest li:has-text('@${b.name}')`);
    await a.page.keyboard.press("Tab");
    expect(await a.page.inputValue("#text")).to.equal(`hello @${b.name} `);
    await a.page.keyboard.press("Enter");
    // Stored (acked) on the sender's side first, then shown to the named person. (This test
    // failed twice in CI under load with no trace of where: the error now says what each
    // page shows.)
    const where = async (p: typeof a.page) =>
      p.evaluate(() => ({
        title: document.getElementById("room-title")?.textContent,
        status: document.getElementById("status")?.textContent,
        last: Array.from(document.querySelectorAll("#message-list .message"))
          .slice(-3)
          .map((m) => `${m.className}: ${m.textContent}`),
        error: document.getElementById("send-error")?.textContent,
      }));
    try {
      await a.page.waitForSelector(
        `#message-list .message:not(.pending) .text:has-text('@${b.name}')`,
      );
      await b.page.waitForSelector("#message-list .mention-me");
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\nsender: ${JSON.stringify(await where(a.page))}\nnamed: ${JSON.stringify(await where(b.page))}`,
      );
    }
    expect(await b.page.textContent("#message-list .mention-me")).to.equal(`@${b.name}`);
  });

  it("shows mentions as browser notifications while the tab is hidden, only once enabled by a click", async () => {
    const ctx = await rig.context({ width: 1280, height: 800 });
    // A stand-in for the browser's notifications, and a tab that is in the background.
    // Given as text: a function from this file would be compiled with helpers the page lacks.
    await ctx.addInitScript(`
      const shown = [];
      const state = { permission: "default" };
      function FakeNotification(title, o) {
        shown.push(title + " | " + ((o && o.body) || ""));
      }
      FakeNotification.prototype.close = function () {};
      Object.defineProperty(FakeNotification, "permission", { get: () => state.permission });
      FakeNotification.requestPermission = function () {
        state.permission = "granted";
        return Promise.resolve("granted");
      };
      window.Notification = FakeNotification;
      window.__shown = shown;
      Object.defineProperty(document, "visibilityState", { get: () => "hidden" });
    `);
    const bName = uniqueName("note");
    const b = await registerInChat(ctx, rig.parley.url, bName, PASSWORD);
    const { a } = await twoRegulars();
    const room = `note-${Date.now().toString(36)}`;
    await joinRoom(a.page, room);
    await joinRoom(b, room);
    const shown = () => b.evaluate(() => (window as unknown as { __shown: string[] }).__shown);
    await send(a.page, `@${bName} before you asked`);
    await b.waitForSelector("#message-list .mention-me");
    expect(await shown(), "nothing before the person enables them").to.deep.equal([]);
    expect(await b.textContent("#notify")).to.equal("Enable notifications");
    await b.click("#notify");
    await b.waitForSelector("#notify:has-text('Notifications on')");
    await send(a.page, `@${bName} now you know`);
    await b.waitForFunction(() => (window as unknown as { __shown: string[] }).__shown.length > 0);
    expect(await shown()).to.deep.equal([`${a.name} in #${room} | @${bName} now you know`]);
  });

  describe("axe-core: no violations on any page, in light and in dark mode", () => {
    const schemes = ["light", "dark"] as const;
    type Scheme = (typeof schemes)[number];

    /** Every page checked in one colour scheme: the violations found, each with its page. */
    async function everyPage(scheme: Scheme): Promise<string[]> {
      const ctx = await rig.context({ width: 1280, height: 800 });
      const page = await ctx.newPage();
      await page.emulateMedia({ colorScheme: scheme });
      const found: string[] = [];
      const check = async (path: string) => {
        if (path) await page.goto(`${rig.parley.url}${path}`);
        const result = await new AxeBuilder({ page }).analyze();
        for (const v of result.violations) {
          found.push(`${path}: ${v.id} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
        }
      };
      await check("/login");
      await check("/register");
      await check("/no-such-page");
      await page.goto(`${rig.parley.url}/register`);
      await page.fill("#username", uniqueName("axe"));
      await page.fill("#password", PASSWORD);
      await page.click("button[type=submit]");
      await page.waitForURL("**/chat");
      await page.waitForSelector('#status[data-state="connected"]', { state: "attached" });
      await page.fill("#text", "checking **contrast** with a https://example.com link");
      await page.press("#text", "Enter");
      await page.waitForSelector("#message-list .message a");
      await check("");
      await page.screenshot({ path: `${SHOTS}/chat-desktop-${scheme}.png` });
      await page.setViewportSize({ width: 390, height: 844 });
      await check("");
      await page.screenshot({ path: `${SHOTS}/chat-phone-${scheme}.png` });
      await page.setViewportSize({ width: 1280, height: 800 });
      await check("/sessions");
      await check("/account");
      await check("/no-such-page");
      return found;
    }

    // Both schemes are checked at once (each in a page of its own, so in a renderer of its
    // own): axe's work is what takes the time. Each test then answers for its scheme.
    const runs = new Map<Scheme, Promise<string[]>>();
    before(() => {
      for (const scheme of schemes) {
        const run = everyPage(scheme);
        run.catch(() => undefined); // awaited by its test
        runs.set(scheme, run);
      }
    });

    for (const scheme of schemes) {
      it(`every page, ${scheme}`, async () => {
        // A missing page answers 404: the console reports it.
        rig.problems.allow(/status of 404/);
        expect(await runs.get(scheme), `axe violations (${scheme})`).to.deep.equal([]);
      });
    }
  });
});
