import type { ByteRange } from "./types.js";

/** One place a resource can be fetched from. */
export interface OriginTarget {
  /** Origin base URL (a configured origin, or the URL's own `scheme://host` when not configured). */
  origin: string;
  /** Full URL on that origin. */
  url: string;
}

/** The configured origin `url` lives under, if any (longest match; boundary-checked). */
export function matchOrigin(url: string, origins: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const o of origins) {
    if (!url.startsWith(o)) continue;
    // "https://a.example" must not claim "https://a.example.evil.net/…".
    const next = url.charAt(o.length);
    const onBoundary =
      o.endsWith("/") || next === "" || next === "/" || next === "?" || next === "#";
    if (onBoundary && (best === undefined || o.length > best.length)) best = o;
  }
  return best;
}

/**
 * Every place `url` can be fetched from: under a configured origin, the suffix (path + query)
 * appended to each origin in config order; otherwise just the URL itself.
 */
export function originTargets(url: string, origins: readonly string[]): OriginTarget[] {
  const base = matchOrigin(url, origins);
  if (base === undefined) return [{ origin: urlOrigin(url), url }];
  const suffix = url.slice(base.length);
  return origins.map((origin) => ({ origin, url: origin + suffix }));
}

/** `scheme://host[:port]` of an absolute URL, or the URL itself when it does not parse. */
export function urlOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** `url` without query string and fragment. */
export function stripQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}

/**
 * Stable id of a resource, the same whichever origin or token it was requested with: the path
 * relative to its configured origin (or the full URL when not under one) without query, plus
 * `@start-end` (end exclusive) for a byte range.
 */
export function resourceId(
  url: string,
  range: ByteRange | undefined,
  origins: readonly string[],
): string {
  const bare = stripQuery(url);
  const base = matchOrigin(bare, origins);
  const path = base === undefined ? bare : bare.slice(base.length);
  return range ? `${path}@${range.start}-${range.end}` : path;
}
