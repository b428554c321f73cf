// Files in Chromium, on desktop and phone: pasting a screenshot, the progress bar and Cancel,
// the thumbnail in another person's tab, a file card, why an upload failed, and a removed
// member's open tab that can no longer load the image.
import { expect } from "chai";
import type { BrowserContext, Page, Route } from "playwright-core";
import { manage, registerInChat, SHOTS, useChromium } from "../helpers/browser.js";
import { PASSWORD, uniqueName } from "../helpers/parley.js";

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

describe("files in Chromium", function () {
  this.timeout(60_000);
  const rig = useChromium({ env: { FILE_MAX_BYTES: String(3 * 1024 * 1024) } });

  async function person(viewport = DESKTOP) {
    const ctx = await rig.context(viewport);
    const name = uniqueName("fp");
    return { page: await registerInChat(ctx, rig.parley.url, name, PASSWORD), name, ctx };
  }

  async function joinRoom(page: Page, room: string, opts: { private?: boolean } = {}) {
    // On a phone the room list is a drawer.
    if (await page.isVisible("#drawer-toggle")) {
      await page.click("#drawer-toggle");
      await page.locator("#join-room").waitFor({ state: "visible" });
    }
    if (opts.private) await page.check("#join-private");
    await page.fill("#join-room", room);
    await page.press("#join-room", "Enter");
    await page.waitForSelector(`#room-title:has-text('# ${room}')`);
  }

  /** Pastes a PNG drawn on a canvas (w×h, noisy so it does not compress away) into the box. */
  async function pasteScreenshot(page: Page, w: number, h: number) {
    await page.focus("#text");
    await page.evaluate(
      async ([width, height]) => {
        const canvas = document.createElement("canvas");
        canvas.width = width as number;
        canvas.height = height as number;
        const g = canvas.getContext("2d") as CanvasRenderingContext2D;
        const img = g.createImageData(canvas.width, canvas.height);
        for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 2654435761) >>> 24;
        g.putImageData(img, 0, 0);
        const blob = await new Promise<Blob>((resolve) =>
          canvas.toBlob((b) => resolve(b as Blob), "image/png"),
        );
        const data = new DataTransfer();
        data.items.add(new File([blob], "image.png", { type: "image/png" }));
        const text = document.getElementById("text") as HTMLTextAreaElement;
        text.dispatchEvent(
          new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }),
        );
      },
      [w, h],
    );
  }

  /** Resolves once the conversation shows a thumbnail, loaded. */
  async function imageShown(page: Page) {
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>("#message-list .file-image img");
      return (img?.complete ?? false) && (img?.naturalWidth ?? 0) > 0;
    });
  }

  /** Uploads slowly: the progress bar can be seen (and Cancel clicked). */
  async function slowUploads(ctx: BrowserContext, page: Page) {
    const cdp = await ctx.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 20,
      downloadThroughput: -1,
      uploadThroughput: 200 * 1024,
    });
    return async () => {
      await cdp.send("Network.emulateNetworkConditions", {
        offline: false,
        latency: 0,
        downloadThroughput: -1,
        uploadThroughput: -1,
      });
    };
  }

  for (const [size, viewport] of [
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ] as const) {
    it(`${size}: pastes a screenshot, shows its progress, and another member's tab shows the thumbnail`, async () => {
      const a = await person(viewport);
      const b = await person(viewport);
      const room = `shot-${Date.now().toString(36)}`;
      await joinRoom(a.page, room);
      await joinRoom(b.page, room);
      const fast = await slowUploads(a.ctx, a.page);
      await pasteScreenshot(a.page, 900, 600);
      const bar = a.page.locator("#attachments .attachment.uploading progress");
      await bar.waitFor();
      // Part way: a value between 0 and 1.
      await a.page.waitForFunction(() => {
        const p = document.querySelector<HTMLProgressElement>("#attachments progress");
        return p !== null && p.value > 0 && p.value < 1;
      });
      await a.page.screenshot({ path: `${SHOTS}/files-progress-${size}.png` });
      await a.page.locator("#attachments .attachment.done").waitFor({ timeout: 30_000 });
      await fast();
      expect(await a.page.textContent("#attachments .attachment-name")).to.match(
        /^screenshot-.*\.png$/,
      );
      await a.page.fill("#text", "have a look");
      await a.page.press("#text", "Enter");
      const theirs = b.page.locator("#message-list .message .file-image img");
      await theirs.waitFor();
      await imageShown(b.page);
      // The thumbnail is drawn at its shown size (no layout jump), from the server's webp.
      expect(await theirs.getAttribute("width")).to.equal("320");
      expect(await theirs.getAttribute("src")).to.match(/\/files\/[0-9a-f]{32}\/thumb$/);
      expect(await a.page.isHidden("#attachments")).to.equal(true);
      await b.page.screenshot({ path: `${SHOTS}/files-thumbnail-${size}.png` });
    });
  }

  it("cancels an upload in progress, and says why a file was refused", async () => {
    const a = await person();
    const room = `cancel-${Date.now().toString(36)}`;
    await joinRoom(a.page, room);
    // The upload is held on its way (it never reaches parley) until it is cancelled.
    let held: Route | undefined;
    await a.page.route("**/rooms/*/files", (route) => {
      held = route;
    });
    await a.page.setInputFiles("#attach-input", {
      name: "logs.bin",
      mimeType: "application/octet-stream",
      buffer: Buffer.alloc(2 * 1024 * 1024, 7),
    });
    const uploading = a.page.locator("#attachments .attachment.uploading");
    await uploading.waitFor();
    expect(await uploading.locator("button").textContent()).to.equal("Cancel");
    await a.page.waitForFunction(() => document.querySelector("#attachments progress") !== null);
    expect(held).to.not.equal(undefined);
    await a.page.click("#attachments button[data-remove]");
    expect(await a.page.isHidden("#attachments")).to.equal(true);
    // The held request ends here, never passed on (unroute alone would let it go on).
    await held?.abort().catch(() => undefined);
    await a.page.unroute("**/rooms/*/files");
    // Nothing waits to go with the next message: Enter on an empty box sends nothing.
    await a.page.press("#text", "Enter");
    expect(await a.page.locator("#message-list .message").count()).to.equal(0);
    await a.page.setInputFiles("#attach-input", {
      name: "huge.bin",
      mimeType: "application/octet-stream",
      buffer: Buffer.alloc(3 * 1024 * 1024 + 10, 1),
    });
    rig.problems.allow(/status of 413/);
    const why = a.page.locator("#attachments .attachment.failed .attachment-error");
    await why.waitFor();
    expect(await why.textContent()).to.equal("Files may be at most 3 MB.");
    const stored = await rig.parley.database.query(
      "SELECT name FROM files WHERE room = $1 AND deleted_at IS NULL",
      [room],
    );
    expect(stored.rows).to.deep.equal([]);
  });

  it("on a phone: attaches from the file picker, shows an image and a file card", async () => {
    const a = await person(PHONE);
    const b = await person(PHONE);
    const room = `phone-${Date.now().toString(36)}`;
    await joinRoom(a.page, room);
    await joinRoom(b.page, room);
    const png = await a.page.evaluate(async () => {
      const canvas = document.createElement("canvas");
      canvas.width = 200;
      canvas.height = 150;
      const g = canvas.getContext("2d") as CanvasRenderingContext2D;
      g.fillStyle = "#3654d6";
      g.fillRect(0, 0, 200, 150);
      return canvas.toDataURL("image/png");
    });
    await a.page.setInputFiles("#attach-input", [
      {
        name: "photo.png",
        mimeType: "image/png",
        buffer: Buffer.from(png.split(",")[1] ?? "", "base64"),
      },
      { name: "notes.log", mimeType: "text/plain", buffer: Buffer.from("line 1\nline 2\n") },
    ]);
    await a.page.waitForFunction(
      () => document.querySelectorAll("#attachments .attachment.done").length === 2,
    );
    await a.page.click("#send");
    const card = b.page.locator("#message-list .file-card");
    await card.waitFor();
    expect(await card.locator(".file-name").textContent()).to.equal("notes.log");
    expect(await card.locator(".file-meta").textContent()).to.equal("14 B · LOG file");
    await imageShown(b.page);
    // The image fits the phone's message column.
    const box = await b.page.locator("#message-list .file-image img").boundingBox();
    expect(box?.width ?? 999).to.be.at.most(PHONE.width);
    await b.page.screenshot({ path: `${SHOTS}/files-phone.png` });
  });

  for (const [size, viewport] of [
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ] as const) {
    it(`${size}: a removed member's open tab can no longer load the image`, async () => {
      const owner = await person(viewport);
      const member = await person(viewport);
      const room = `gone-${Date.now().toString(36)}`;
      await joinRoom(owner.page, room, { private: true });
      await manage(owner.page, member.name, "invite");
      const invited = member.page.locator(`.room-button[data-room="${room}"]`);
      await invited.waitFor({ state: "attached" });
      if (await member.page.isVisible("#drawer-toggle")) await member.page.click("#drawer-toggle");
      await invited.click();
      await member.page.waitForSelector(`#room-title:has-text('# ${room}')`);
      await pasteScreenshot(owner.page, 120, 90);
      await owner.page.locator("#attachments .attachment.done").waitFor();
      await owner.page.press("#text", "Enter");
      await imageShown(member.page);
      const src = await member.page.getAttribute("#message-list .file-image img", "src");
      if (!src) throw new Error("no thumbnail");
      expect(await member.page.evaluate(async (url) => (await fetch(url)).status, src)).to.equal(
        200,
      );
      // Removed while the tab stays open: nothing more loads from it.
      await manage(owner.page, member.name, "remove");
      rig.problems.allow(/status of 40[34]/);
      const status = await member.page.evaluate(async (url) => (await fetch(url)).status, src);
      expect(status).to.be.oneOf([403, 404]);
      const loads = await member.page.evaluate(
        (url) =>
          new Promise<boolean>((resolve) => {
            const img = new Image();
            img.onload = () => resolve(true);
            img.onerror = () => resolve(false);
            img.src = url;
          }),
        src,
      );
      expect(loads).to.equal(false);
    });
  }
});
