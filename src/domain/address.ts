// The client address a per-address budget is counted against. An IPv4 address is itself (an
// IPv4-mapped IPv6 address counts as its IPv4 address); an IPv6 address counts as its /64, the
// block one subscriber or host is usually given, so cycling through the addresses of one
// block does not buy more of any budget.
import { isIPv4, isIPv6 } from "node:net";

/** The key a per-address budget counts `ip` under. */
export function budgetAddress(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return mapped[1];
  if (isIPv4(ip) || !isIPv6(ip)) return ip;
  const bare = ip.split("%")[0] ?? ip;
  const [head = "", tail = ""] = bare.split("::");
  const left = head ? head.split(":") : [];
  const right = bare.includes("::") && tail ? tail.split(":") : [];
  // An embedded IPv4 tail (a:b::1.2.3.4) is two groups; only the first four groups count.
  const groups = bare.includes("::")
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right]
    : left;
  const prefix = groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(":");
  return `${prefix}::/64`;
}
