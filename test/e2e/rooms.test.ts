// Rooms and moderation in Chromium, as two people use them: a private room made on the page
// and an invitation taken up, a member removed whose open tab shows it at once, and a message
// edited and deleted under another person's eyes.
import { expect } from "chai";
import type { Page } from "playwright-core";
import { manage, registerInChat, useChromium } from "../helpers/browser.js";
import { PASSWORD, uniqueName } from "../helpers/parley.js";

describe("rooms and moderation in Chromium", function () {
  this.timeout(30_000);
  const rig = useChromium();

  async function person(name = uniqueName("p")): Promise<{ name: string; page: Page }> {
    const ctx = await rig.context({ width: 1280, height: 800 });
    return { name, page: await registerInChat(ctx, rig.parley.url, name, PASSWORD) };
  }

  async function send(page: Page, text: string): Promise<void> {
    await page.fill("#text", text);
    await page.press("#text", "Enter");
  }

  it("makes a private room, invites someone who takes it up, and removes them: their tab shows it at once", async () => {
    const owner = await person();
    const guest = await person();
    const room = `priv-${Date.now().toString(36)}`;
    await owner.page.fill("#join-room", room);
    await owner.page.check("#join-private");
    await owner.page.press("#join-room", "Enter");
    await owner.page.waitForSelector(`#room-title:has-text('# ${room}')`);
    await send(owner.page, "welcome, invited ones");
    await manage(owner.page, guest.name, "invite");
    // The guest's list shows the invitation; picking it joins and shows the history.
    const invited = guest.page.locator(`.room-button[data-room="${room}"]`);
    await invited.waitFor();
    expect(await invited.textContent()).to.include("invited");
    await invited.click();
    await guest.page.waitForSelector(`#room-title:has-text('# ${room}')`);
    await guest.page.waitForSelector("#message-list .text:has-text('welcome, invited ones')");
    // Removed by the owner: the guest's open tab drops the room and says why.
    await manage(owner.page, guest.name, "remove");
    await guest.page.waitForSelector(`.room-button[data-room="${room}"]`, { state: "detached" });
    expect(await guest.page.textContent("#send-error")).to.include(`removed from #${room}`);
    expect(await guest.page.textContent("#room-title")).to.not.include(room);
  });

  it("edits and deletes a message, and the other person sees both at once", async () => {
    const author = await person();
    const reader = await person();
    const room = `edit-${Date.now().toString(36)}`;
    for (const p of [author, reader]) {
      await p.page.fill("#join-room", room);
      await p.page.press("#join-room", "Enter");
      await p.page.waitForSelector(`#room-title:has-text('# ${room}')`);
    }
    await send(author.page, "teh first draft");
    await reader.page.waitForSelector("#message-list .text:has-text('teh first draft')");
    // Edit through the message's own button: Enter saves.
    const mine = author.page.locator("#message-list .message", { hasText: "teh first draft" });
    await mine.hover();
    await mine.getByRole("button", { name: /^Edit message/ }).click();
    await author.page.fill(".edit-box", "the final draft");
    await author.page.press(".edit-box", "Enter");
    const seen = reader.page.locator("#message-list .message", { hasText: "the final draft" });
    await seen.waitFor();
    expect(await seen.locator(".edited").count()).to.equal(1);
    expect(await reader.page.locator("#message-list", { hasText: "teh first" }).count()).to.equal(
      0,
    );
    // Delete: the other person sees a tombstone in its place.
    author.page.once("dialog", (d) => void d.accept());
    const edited = author.page.locator("#message-list .message", { hasText: "the final draft" });
    await edited.hover();
    await edited.getByRole("button", { name: /^Delete message/ }).click();
    await reader.page.waitForSelector(
      "#message-list .deleted:has-text('This message was deleted.')",
    );
    expect(
      await reader.page.locator("#message-list", { hasText: "the final draft" }).count(),
    ).to.equal(0);
    // And after a reload the tombstone is still there.
    await reader.page.reload();
    await reader.page.waitForSelector(`#room-title:has-text('# ${room}')`);
    await reader.page.waitForSelector("#message-list .deleted");
  });
});
