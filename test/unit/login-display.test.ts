import { expect } from "chai";
import { describeAgent, relativeTime } from "../../src/http/login-display.js";

describe("how a login is shown on the sessions page", () => {
  const agents: [string, string][] = [
    [
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
      "Chrome on Linux",
    ],
    [
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
      "Safari on iOS",
    ],
    [
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
      "Edge on Windows",
    ],
    [
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0",
      "Firefox on macOS",
    ],
    [
      "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
      "Chrome on Android",
    ],
    ["curl/8.5.0", "curl"],
    ["Laptop Browser/1.0", "Unknown browser"],
    ["", "Unknown browser"],
  ];
  for (const [ua, shown] of agents) {
    it(`names ${JSON.stringify(ua.slice(0, 40))} as "${shown}"`, () => {
      expect(describeAgent(ua)).to.equal(shown);
    });
  }

  it("tells times relative to now", () => {
    const now = 1_800_000_000_000;
    expect(relativeTime(now - 10_000, now)).to.equal("just now");
    expect(relativeTime(now - 60_000, now)).to.equal("1 minute ago");
    expect(relativeTime(now - 5 * 60_000, now)).to.equal("5 minutes ago");
    expect(relativeTime(now - 3 * 3_600_000, now)).to.equal("3 hours ago");
    expect(relativeTime(now - 2 * 86_400_000, now)).to.equal("2 days ago");
    expect(relativeTime(now + 5_000, now)).to.equal("just now");
    expect(relativeTime(now + 7 * 86_400_000, now)).to.equal("in 7 days");
    expect(relativeTime(now + 90 * 60_000, now)).to.equal("in 1 hour");
  });
});
