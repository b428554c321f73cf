// The same-site page chain, in Chromium: a page on another port of the same host (same site,
// so the browser sends parley's SameSite=Lax cookie with its subresource requests) once read
// a logged-in visitor's engine.io handshake through a JSONP script tag and took the socket
// over. Every way such a page can reach /socket.io/ must now be refused, and open nothing.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import type { Browser, BrowserContext } from "playwright-core";
import { launch, Problems, registerInChat } from "../helpers/browser.js";
import { eventually } from "../helpers/eventually.js";
import { PASSWORD, startParley, type TestParley, uniqueName } from "../helpers/parley.js";

describe("a same-site page against a logged-in visitor, in Chromium", function () {
  this.timeout(30_000);
  let parley: TestParley;
  let browser: Browser;
  let context: BrowserContext;
  let sibling: http.Server;
  let siblingUrl: string;

  before(async () => {
    parley = await startParley();
    browser = await launch();
    context = await new Problems().context(browser);
    const base = parley.url;
    // The sibling site's page: script tags, an image and a credentialed fetch at parley.
    sibling = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><title>sibling</title>
<script src="${base}/socket.io/?EIO=4&transport=polling&j=0"></script>
<script src="${base}/socket.io/?EIO=4&transport=polling&j=1&t=x"></script>
<script src="${base}/socket.io/?EIO=4&transport=polling"></script>
<img src="${base}/socket.io/?EIO=4&transport=polling&t=img">
<script>
  fetch("${base}/socket.io/?EIO=4&transport=polling&t=fetch", { credentials: "include", mode: "no-cors" })
    .finally(() => { document.title = "done"; });
</script>`);
    });
    await new Promise<void>((resolve) => sibling.listen(0, "127.0.0.1", resolve));
    siblingUrl = `http://127.0.0.1:${(sibling.address() as AddressInfo).port}/`;
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await new Promise((resolve) => sibling?.close(resolve));
    await parley?.close();
  });

  it("refuses every request the page makes to /socket.io/ and opens no connection", async () => {
    const page = await registerInChat(context, parley.url, uniqueName("visitor"), PASSWORD);
    await page.close(); // the chat page's own socket closes with it
    await eventually(() => expect(parley.realtime.io.engine.clientsCount).to.equal(0), {
      what: "the closed chat page's connection to end",
    });
    const before = parley.realtime.io.engine.clientsCount;
    const statuses: Record<string, number> = {};
    const attack = await context.newPage();
    attack.on("response", (r) => {
      if (r.url().includes("/socket.io/")) statuses[new URL(r.url()).search] = r.status();
    });
    await attack.goto(siblingUrl);
    await attack.waitForFunction(() => document.title === "done");
    await attack.waitForLoadState("load");

    expect(Object.keys(statuses)).to.have.length(5);
    expect(statuses["?EIO=4&transport=polling&j=0"]).to.equal(400);
    expect(statuses["?EIO=4&transport=polling&j=1&t=x"]).to.equal(400);
    // No Origin on a script or image load, but Sec-Fetch-Site: same-site.
    expect(statuses["?EIO=4&transport=polling"]).to.equal(403);
    expect(statuses["?EIO=4&transport=polling&t=img"]).to.equal(403);
    // A credentialed fetch carries the sibling's Origin, which is not allowed.
    expect(statuses["?EIO=4&transport=polling&t=fetch"]).to.equal(403);
    expect(parley.realtime.io.engine.clientsCount).to.equal(before);
  });
});
