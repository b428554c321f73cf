// The client address a per-address budget is counted against. An IPv4 address is itself (an
// IPv4-mapped IPv6 address, dotted or in hex, counts as its IPv4 address); an IPv6 address
// counts as its /64, the block one subscriber or host is usually given, so cycling through
// the addresses of one block does not buy more of any budget. A proxy's "address:port" or
// "[address]:port" counts as the address; anything else that is no address at all shares one
// budget ("invalid"), so inventing strings buys nothing either.
import { isIPv4, isIPv6 } from "node:net";

/** The key a per-address budget counts `ip` under. */
export function budgetAddress(raw: string): string {
  const ip = withoutPort(raw.trim());
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return "invalid";
  const groups = ipv6Groups(ip);
  // ::ffff:a.b.c.d (or its hex form ::ffff:a09:809): an IPv4 address.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/** "1.2.3.4:80" -> "1.2.3.4"; "[::1]:80" or "[::1]" -> "::1"; anything else as it is. */
function withoutPort(s: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracketed?.[1]) return bracketed[1];
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(s);
  return v4?.[1] ?? s;
}

/** The eight 16-bit groups of a valid IPv6 address (zone dropped, "::" and a dotted tail expanded). */
function ipv6Groups(ip: string): number[] {
  let s = ip.split("%")[0] ?? ip;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)?.[1];
  if (dotted) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted.split(".").map(Number);
    s = `${s.slice(0, -dotted.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = s.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill("0");
  return [...left, ...fill, ...right].map((g) => Number.parseInt(g, 16) || 0);
}
