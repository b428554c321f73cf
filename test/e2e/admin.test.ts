// The admin page in Chromium, as an operator and a new member use it: the admin makes an
// invite link, the invited person registers with it and lands in the chat; the page works
// at phone width too, with no console error or CSP violation.

import { AxeBuilder } from "@axe-core/playwright";
import { expect } from "chai";
import type { Browser, BrowserContext } from "playwright-core";
import { launch, Problems } from "../helpers/browser.js";
import {
  PASSWORD,
  startParley,
  type TestParley,
  testRedisUrl,
  uniqueName,
} from "../helpers/parley.js";
import { redisClient, type TestRedis } from "../helpers/redis.js";

describe("administration in Chromium", function () {
  this.timeout(40_000);
  let parley: TestParley;
  let browser: Browser;
  let redis: TestRedis;
  const problems = new Problems();
  problems.checkEachTest();
  const contexts: BrowserContext[] = [];
  before(async () => {
    const url = `${testRedisUrl()}/9`;
    redis = await redisClient(url);
    await redis.flushDb();
    parley = await startParley({ env: { REGISTRATION: "invite" }, redisUrl: url });
    browser = await launch();
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await parley?.close();
    await redis?.flushDb();
    await redis?.close();
  });

  it("an admin creates an invite, and the invited person registers with it and chats", async () => {
    // The refusals of /register (403) below are pages it shows, not problems.
    problems.allow(/status of 403 .*\/register/);
    const adminCtx = await problems.context(browser);
    contexts.push(adminCtx);
    const admin = await adminCtx.newPage();
    await admin.goto(`${parley.url}/register`);
    expect(await admin.textContent("main")).to.include("first account on this server");
    await admin.fill("#username", uniqueName("op"));
    await admin.fill("#password", PASSWORD);
    await admin.click("button[type=submit]");
    await admin.waitForURL("**/chat");
    await admin.goto(`${parley.url}/account`);
    await admin.click("a[href='/admin']");
    await admin.waitForURL("**/admin");
    await admin.selectOption("#expires", "86400");
    await admin.click("text=Create invite link");
    const link = await admin.inputValue("#invite-link");
    expect(link).to.match(/\/register\?invite=/);

    // The invited person, on a phone.
    const guestCtx = await problems.context(browser, { width: 390, height: 844 });
    contexts.push(guestCtx);
    const guest = await guestCtx.newPage();
    await guest.goto(`${parley.url}/register`);
    expect(await guest.textContent("main")).to.include("by invitation only");
    await guest.goto(link);
    const name = uniqueName("guest");
    await guest.fill("#username", name);
    await guest.fill("#password", PASSWORD);
    await guest.click("button[type=submit]");
    await guest.waitForURL("**/chat");
    await guest.waitForSelector('#status[data-state="connected"]', { state: "attached" });
    // The link is spent (for someone else who tries it).
    const lateCtx = await problems.context(browser);
    contexts.push(lateCtx);
    const late = await lateCtx.newPage();
    await late.goto(link);
    expect(await late.textContent("main")).to.include("cannot be used");

    // The admin sees the new account and the audit trail; nothing on the page is wider
    // than a phone.
    await admin.reload();
    expect(await admin.textContent("main")).to.include(name);
    expect(await admin.textContent("#audit ~ table")).to.include("invite used");
    await admin.setViewportSize({ width: 390, height: 844 });
    const overflow = await admin.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow, "horizontal overflow at 390 px").to.be.at.most(0);

    // axe-core: the admin page, the closed registration page and the spent-invite page, in
    // light and in dark mode, at both sizes. The three pages are checked at once (each in a
    // context, so a renderer, of its own): axe's work is what takes the time.
    for (const scheme of ["light", "dark"] as const) {
      const found = await Promise.all(
        [admin, guest, late].map(async (page) => {
          await page.emulateMedia({ colorScheme: scheme });
          const result = await new AxeBuilder({ page }).analyze();
          return result.violations.map(
            (v) =>
              `${page.url()} (${scheme}) ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
          );
        }),
      );
      expect(found.flat(), `axe violations (${scheme})`).to.deep.equal([]);
    }
    await guest.goto(`${parley.url}/register`);
    const shut = await new AxeBuilder({ page: guest }).analyze();
    expect(
      shut.violations.map((v) => v.id),
      "the invitation-only page",
    ).to.deep.equal([]);
  });
});
