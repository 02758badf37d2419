/**
 * Client IP addresses, for the per-address rules of the tracker: a limit on peers per address
 * and swarm, and offers spread over addresses. The address is the TCP peer's, or — when that is a
 * configured trusted proxy — the nearest untrusted hop of `X-Forwarded-For`. Viewers on one LAN,
 * behind one carrier NAT or on this machine share an address, so private ranges are exempt from
 * the limit unless configured otherwise (same ranges as the SDK's `p2p.defense`).
 */

function ipv4(addr: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

/** Normalises an address for use as a key: lowercase, no brackets, no zone, IPv4-mapped → IPv4. */
export function normalizeIp(addr: string): string {
  let a = addr.trim().toLowerCase();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  return mapped?.[1] ?? a;
}

/**
 * True for addresses many distinct viewers may share: loopback, RFC 1918, CGNAT (100.64/10),
 * link-local, unique-local IPv6, unspecified — and anything unparsable (a rule must never punish
 * what it cannot identify).
 */
export function isPrivateIp(addr: string): boolean {
  const a = normalizeIp(addr);
  if (a === "") return true;
  const v4 = ipv4(a);
  if (v4) {
    const [x = 0, y = 0] = v4;
    return (
      x === 0 ||
      x === 10 ||
      x === 127 ||
      (x === 100 && y >= 64 && y <= 127) ||
      (x === 169 && y === 254) ||
      (x === 172 && y >= 16 && y <= 31) ||
      (x === 192 && y === 168)
    );
  }
  if (!a.includes(":") || !/^[0-9a-f:.]+$/.test(a)) return true;
  if (a === "::1" || a === "::") return true;
  const first = Number.parseInt(a.split(":")[0] || "0", 16);
  return (first & 0xffc0) === 0xfe80 || (first & 0xfe00) === 0xfc00;
}

/**
 * The client's address: the socket's peer, or, when that peer is one of `trustedProxies`, the
 * right-most `X-Forwarded-For` entry that is not a trusted proxy (entries left of it could be
 * forged by the client). Normalised; "" when unknown.
 */
export function clientIp(
  socketAddress: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  trustedProxies: ReadonlySet<string>,
): string {
  let ip = normalizeIp(socketAddress ?? "");
  if (trustedProxies.size === 0 || !trustedProxies.has(ip) || forwardedFor === undefined) return ip;
  const hops = (typeof forwardedFor === "string" ? forwardedFor : forwardedFor.join(","))
    .split(",")
    .map((h) => normalizeIp(h))
    .filter((h) => h.length > 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    ip = hops[i] ?? ip;
    if (!trustedProxies.has(ip)) break;
  }
  return ip;
}
