// How a login is shown on the sessions page: the browser and system in words (the raw
// user-agent stays available, but is not the heading) and times relative to now.

const BROWSERS: readonly [RegExp, string][] = [
  [/Edg(e|A|iOS)?\//, "Edge"],
  [/OPR\/|Opera/, "Opera"],
  [/Firefox\/|FxiOS\//, "Firefox"],
  [/Chrome\/|CriOS\/|Chromium\//, "Chrome"],
  [/Version\/[\d.]+.*Safari\//, "Safari"],
  [/curl\//, "curl"],
  [/node|undici/i, "Node.js"],
];

const SYSTEMS: readonly [RegExp, string][] = [
  [/Android/, "Android"],
  [/iPhone|iPad|iPod/, "iOS"],
  [/Windows/, "Windows"],
  [/Mac OS X|Macintosh/, "macOS"],
  [/CrOS/, "ChromeOS"],
  [/Linux/, "Linux"],
];

/** "Chrome on Linux", "Safari on iOS", or "Unknown browser". */
export function describeAgent(userAgent: string): string {
  const browser = BROWSERS.find(([re]) => re.test(userAgent))?.[1];
  const system = SYSTEMS.find(([re]) => re.test(userAgent))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? (system ? `A browser on ${system}` : "Unknown browser");
}

const UNITS: readonly [number, string][] = [
  [24 * 60 * 60 * 1000, "day"],
  [60 * 60 * 1000, "hour"],
  [60 * 1000, "minute"],
];

/** "just now", "5 minutes ago", "2 hours ago", "3 days ago"; ahead: "in 7 days". */
export function relativeTime(then: number, now: number): string {
  // A moment ahead (clocks of different processes) is "just now"; a minute or more ahead is
  // a time to come (an invite's expiry).
  const future = then - now >= 60_000;
  const span = Math.abs(now - then);
  for (const [ms, unit] of UNITS) {
    const n = Math.floor(span / ms);
    if (n >= 1) {
      const amount = `${n} ${unit}${n === 1 ? "" : "s"}`;
      return future ? `in ${amount}` : `${amount} ago`;
    }
  }
  return "just now";
}
