import type { Origin, OriginQuery } from "./config.js";
import type { ByteRange } from "./types.js";

/** One place a resource can be fetched from. */
export interface OriginTarget {
  /** Origin base URL (a configured origin, or the URL's own `scheme://host` when not configured). */
  origin: string;
  /** Full URL on that origin. */
  url: string;
}

/** What origin lists may be given as: base URLs, or normalised {@link Origin}s. */
export type OriginList = readonly string[] | readonly Origin[];

function baseOf(o: string | Origin): string {
  return typeof o === "string" ? o : o.url;
}

/** The configured origin `url` lives under, if any (longest match; boundary-checked). */
export function matchOrigin(url: string, origins: OriginList): string | undefined {
  let best: string | undefined;
  for (const entry of origins) {
    const o = baseOf(entry);
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
 * Every place `url` can be fetched from: under a configured origin, its path appended to each
 * origin in config order — with the query on the URL's own origin, and on the others as their
 * {@link OriginQuery} says (default `"drop"`: another CDN's token is never sent to this one;
 * HLS delivery directives `_HLS_*` stay) — otherwise just the URL itself.
 */
export function originTargets(url: string, origins: OriginList): OriginTarget[] {
  const base = matchOrigin(url, origins);
  if (base === undefined) return [{ origin: urlOrigin(url), url }];
  const suffix = url.slice(base.length);
  return origins.map((entry) => {
    const origin = baseOf(entry);
    const query: OriginQuery = typeof entry === "string" ? "keep" : entry.query;
    return {
      origin,
      url: origin + (origin === base || query === "keep" ? suffix : dropQuery(suffix)),
    };
  });
}

/**
 * `pathAndQuery` without its query parameters except HLS delivery directives (`_HLS_msn`,
 * `_HLS_part`, `_HLS_skip`…, which every origin must see); the fragment is kept.
 */
export function dropQuery(pathAndQuery: string): string {
  const hash = pathAndQuery.indexOf("#");
  const beforeHash = hash === -1 ? pathAndQuery : pathAndQuery.slice(0, hash);
  const fragment = hash === -1 ? "" : pathAndQuery.slice(hash);
  const q = beforeHash.indexOf("?");
  if (q === -1) return pathAndQuery;
  const kept = beforeHash
    .slice(q + 1)
    .split("&")
    .filter((p) => p.startsWith("_HLS_"));
  return beforeHash.slice(0, q) + (kept.length > 0 ? `?${kept.join("&")}` : "") + fragment;
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
export function resourceId(url: string, range: ByteRange | undefined, origins: OriginList): string {
  const bare = stripQuery(url);
  const base = matchOrigin(bare, origins);
  const path = base === undefined ? bare : bare.slice(base.length);
  return range ? `${path}@${range.start}-${range.end}` : path;
}
