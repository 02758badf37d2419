import { extname } from "node:path";

/** Outcome of parsing a `Range` header against a resource of a known size. */
export type RangeResult =
  { kind: "full" } | { kind: "partial"; start: number; end: number } | { kind: "unsatisfiable" };

/**
 * Parses a `Range` header (RFC 9110) for one resource of `size` bytes.
 * - absent, another unit than `bytes`, or several ranges → `full` (the whole resource, 200:
 *   multi-range requests are deliberately answered with the full body, never multipart);
 * - `bytes=a-b`, `bytes=a-`, `bytes=-n` → `partial` (end clamped to the last byte);
 * - malformed byte ranges, `b < a`, `a ≥ size`, `-0` → `unsatisfiable` (416).
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: "full" };
  const m = /^\s*([A-Za-z]+)\s*=(.*)$/.exec(header);
  if (!m || m[1] === undefined || m[2] === undefined) return { kind: "full" };
  if (m[1].toLowerCase() !== "bytes") return { kind: "full" };
  const specs = m[2].split(",");
  if (specs.length > 1) return { kind: "full" };
  const r = /^\s*(\d*)\s*-\s*(\d*)\s*$/.exec(specs[0] ?? "");
  if (!r || r[1] === undefined || r[2] === undefined || (r[1] === "" && r[2] === "")) {
    return { kind: "unsatisfiable" };
  }
  if (r[1] === "") {
    const n = Number(r[2]);
    if (n === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(r[1]);
  if (start >= size) return { kind: "unsatisfiable" };
  if (r[2] === "") return { kind: "partial", start, end: size - 1 };
  const last = Number(r[2]);
  if (last < start) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end: Math.min(last, size - 1) };
}

const CONTENT_TYPES: Record<string, string> = {
  ".m3u8": "application/vnd.apple.mpegurl",
  ".m4s": "video/mp4",
  ".mp4": "video/mp4",
  ".m4v": "video/mp4",
  ".m4a": "audio/mp4",
  ".ts": "video/mp2t",
  ".aac": "audio/aac",
  ".vtt": "text/vtt",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/** Content-Type for a file name, `application/octet-stream` if unknown. */
export function contentTypeFor(name: string): string {
  return CONTENT_TYPES[extname(name).toLowerCase()] ?? "application/octet-stream";
}

/** Playlists and manifests change (live): never cache them. */
export function isPlaylistLike(name: string): boolean {
  const ext = extname(name).toLowerCase();
  return ext === ".m3u8" || ext === ".json";
}

/**
 * Splits a raw request target into decoded path segments, or returns `undefined` when the
 * target is not acceptable: not origin-form/absolute-form, empty segments (`//`), `.`/`..`
 * (also percent-encoded), NUL, `/` or `\` inside a segment, bad percent-encoding.
 */
export function parseRequestPath(rawUrl: string): string[] | undefined {
  let target = rawUrl;
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  if (abs) target = target.slice(abs[0].length) || "/";
  if (!target.startsWith("/")) return undefined;
  const path = target.split(/[?#]/, 1)[0] ?? "";
  if (path === "/") return [];
  const raw = path.slice(1).split("/");
  const out: string[] = [];
  for (const [i, seg] of raw.entries()) {
    if (seg === "") {
      // a single trailing slash is tolerated ("/live/"), an empty segment elsewhere is not
      if (i === raw.length - 1) continue;
      return undefined;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      return undefined;
    }
    if (decoded === "." || decoded === ".." || /[/\\\0]/.test(decoded)) return undefined;
    out.push(decoded);
  }
  return out;
}

/** CORS headers sent on every response. */
export const CORS_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges",
  "Timing-Allow-Origin": "*",
});

/** Extra headers of a CORS preflight (OPTIONS) answer. */
export const PREFLIGHT_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS, PUT, DELETE",
  "Access-Control-Allow-Headers": "Range, Content-Type",
  "Access-Control-Max-Age": "600",
});
