// Debian's Chromium driven by playwright-core (never a downloaded browser), with every
// console error, page error and CSP violation recorded so tests can assert there were none.
import { existsSync, mkdirSync } from "node:fs";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { PASSWORD, type StartOptions, startParley, type TestParley } from "./parley.js";

const CANDIDATES = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];

export function chromiumPath(): string {
  const found = CANDIDATES.find(
    (p): p is string => typeof p === "string" && p !== "" && existsSync(p),
  );
  if (!found) {
    throw new Error(
      "Chromium was not found (looked at CHROMIUM_PATH, /usr/bin/chromium, /usr/bin/chromium-browser). " +
        "Install it (Debian/Ubuntu: apt-get install chromium) or set CHROMIUM_PATH.",
    );
  }
  return found;
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * Problems seen by any page of the contexts made here: console errors, crashes, CSP
 * violations. `checkEachTest()` makes every test of the describe answer for its own: a test
 * that saw one fails (unless it declared it with `allow`), and the list starts empty again.
 */
export class Problems {
  readonly list: string[] = [];
  private allowed: RegExp[] = [];

  /** The current test expects problems like this one (e.g. a deliberately refused login). */
  allow(expected: RegExp): void {
    this.allowed.push(expected);
  }

  /** Registers an afterEach in the enclosing describe that checks the test just run. */
  checkEachTest(): void {
    const problems = this;
    afterEach(function () {
      const seen = problems.list.splice(0);
      const allowed = problems.allowed.splice(0);
      if (this.currentTest?.state !== "passed") return;
      const unexpected = seen.filter((p) => !allowed.some((re) => re.test(p)));
      if (unexpected.length > 0) {
        throw new Error(
          `"${this.currentTest.title}" saw console errors or CSP violations:\n${unexpected.join("\n")}`,
        );
      }
    });
  }

  async context(
    browser: Browser,
    viewport = { width: 1200, height: 760 },
  ): Promise<BrowserContext> {
    const ctx = await browser.newContext({ viewport });
    await ctx.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => {
        // biome-ignore lint/suspicious/noConsole: runs in the page, reporting to the test
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    ctx.on("page", (page) => this.watch(page));
    return ctx;
  }

  private watch(page: Page): void {
    page.on("console", (m) => {
      if (m.type() === "error") this.list.push(`console: ${m.text()} (${m.location().url})`);
    });
    page.on("pageerror", (e) => this.list.push(`page error: ${e.message}`));
  }
}

/** Resolves once the chat page is connected (its status element may be hidden, as on a phone). */
export async function connected(page: Page): Promise<void> {
  await page.waitForSelector('#status[data-state="connected"]', { state: "attached" });
}

/**
 * Resolves once the chat page has started: connected, and a room in view. The room is chosen
 * after the connection, when the server's list of the user's rooms (and the lobby's join)
 * has been answered, and choosing it closes the drawer: a test that opens the drawer before
 * then has it closed under it.
 */
export async function started(page: Page): Promise<void> {
  await connected(page);
  await page.waitForFunction(() =>
    /^[#@] /.test(document.getElementById("room-title")?.textContent ?? ""),
  );
}

/**
 * Registers a new user through the register form in a new page of `ctx` and resolves once
 * the chat page it lands on has started (see started). For tests of the form itself: others
 * use registerInChat, which gets there faster.
 */
export async function registerThroughForm(
  ctx: BrowserContext,
  baseUrl: string,
  username: string,
  password = PASSWORD,
): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(`${baseUrl}/register`);
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("button[type=submit]");
  await page.waitForURL("**/chat");
  await started(page);
  return page;
}

/**
 * Registers a new user by posting the register form with the context's own HTTP client (its
 * cookies are the context's: the login's cookie lands there as the server set it), then opens
 * the chat page in a new page of `ctx`; resolves once it has started (see started). Quicker
 * than loading and filling the form in a page, which registerThroughForm does for the tests
 * of the form itself.
 */
export async function registerInChat(
  ctx: BrowserContext,
  baseUrl: string,
  username: string,
  password = PASSWORD,
): Promise<Page> {
  const form = await ctx.request.get(`${baseUrl}/register`);
  const _csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1];
  if (!_csrf) throw new Error(`no CSRF token on /register (status ${form.status()})`);
  const registered = await ctx.request.post(`${baseUrl}/register`, {
    form: { username, password, _csrf },
    maxRedirects: 0,
  });
  if (registered.status() !== 303) {
    throw new Error(`registering ${username} answered ${registered.status()}`);
  }
  const page = await ctx.newPage();
  await page.goto(`${baseUrl}/chat`);
  await started(page);
  return page;
}

/**
 * Invites, removes, bans or unbans `username` from the room shown, through its "Manage this
 * room" panel, and waits for the panel's note naming them.
 */
export async function manage(page: Page, username: string, action: string): Promise<void> {
  if (!(await page.$eval("#manage", (d) => (d as HTMLDetailsElement).open))) {
    await page.click("#manage summary");
  }
  await page.fill("#manage-user", username);
  await page.click(`#manage-${action}`);
  await page.waitForSelector(`#manage-note:has-text('${username}')`);
}

/** Where Chromium tests leave their screenshots (kept by CI as the run's artefacts). */
export const SHOTS = "test-results";

/** What a Chromium describe works with (see useChromium). */
export interface ChromiumRig {
  readonly parley: TestParley;
  readonly browser: Browser;
  readonly problems: Problems;
  /** A new watched context of the browser (closed after the describe). */
  context(viewport?: { width: number; height: number }): Promise<BrowserContext>;
}

/**
 * Registers the hooks of a Chromium describe: one parley and one browser for it, every test
 * answering for its own console errors, and the contexts it opened closed after.
 */
export function useChromium(opts: StartOptions = {}): ChromiumRig {
  const problems = new Problems();
  problems.checkEachTest();
  const contexts: BrowserContext[] = [];
  let parley: TestParley | undefined;
  let browser: Browser | undefined;
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    parley = await startParley(opts);
    browser = await launch();
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await parley?.close();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error("useChromium: used before its before() hook ran");
    return v;
  };
  return {
    get parley() {
      return started(parley);
    },
    get browser() {
      return started(browser);
    },
    problems,
    async context(viewport) {
      const c = await problems.context(started(browser), viewport);
      contexts.push(c);
      return c;
    },
  };
}
