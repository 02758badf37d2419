/**
 * Client IP addresses, for the per-address rules of the tracker: a limit on peers per address
 * and swarm, and offers spread over addresses. The address is the TCP peer's, or — when that is a
 * configured trusted proxy — the nearest untrusted hop of `X-Forwarded-For`. Viewers on one LAN,
 * behind one carrier NAT or on this machine share an address, so private ranges are exempt from
 * the limit unless configured otherwise (the SDK's `p2p.defense` ranges, from `@hivecast/core`).
 */

import { isPrivateAddress, normalizeAddress } from "@hivecast/core/address";

/** Normalises an address for use as a key: lowercase, no brackets, no zone, IPv4-mapped → IPv4. */
export const normalizeIp: (addr: string) => string = normalizeAddress;

/**
 * True for addresses many distinct viewers may share: loopback, RFC 1918, CGNAT (100.64/10),
 * link-local, unique-local IPv6, unspecified — and anything unparsable (a rule must never punish
 * what it cannot identify). The SDK's own address rules, so both sides exempt the same ranges.
 */
export const isPrivateIp: (addr: string) => boolean = isPrivateAddress;

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
