/**
 * Remote addresses of peer connections (from the selected ICE candidate pair), for rules keyed
 * on the address rather than on the peer id a peer picks itself: bans that survive a new
 * peer_id and a cap on peers per address. Viewers on one LAN, behind one carrier NAT or on one
 * machine share an address, so private ranges are exempt by default.
 */

function ipv4(addr: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

/** Normalises an address for use as a key: lowercase, no brackets, no zone, IPv4-mapped → IPv4. */
export function normalizeAddress(addr: string): string {
  let a = addr.trim().toLowerCase();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  return mapped?.[1] ?? a;
}

/**
 * True for addresses that many distinct viewers may share and that address rules therefore skip:
 * loopback (127/8, ::1), RFC 1918 (10/8, 172.16/12, 192.168/16), CGNAT (100.64/10), link-local
 * (169.254/16, fe80::/10), unique local (fc00::/7), unspecified, and mDNS `.local` host names
 * (browsers hide host candidates behind those). Anything unparsable counts as private too:
 * a rule must never punish what it cannot identify.
 */
export function isPrivateAddress(addr: string): boolean {
  const a = normalizeAddress(addr);
  if (a === "" || a.endsWith(".local")) return true;
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
 * The key address rules use for `addr`, or undefined when no rule applies: no address known, or
 * a private one while `exemptPrivate` is on.
 */
export function addressKey(addr: string | undefined, exemptPrivate: boolean): string | undefined {
  if (addr === undefined || addr === "") return undefined;
  if (exemptPrivate && isPrivateAddress(addr)) return undefined;
  return normalizeAddress(addr);
}
