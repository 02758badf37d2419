import { HivecastError } from "./errors.js";
import { HASH_TAG, hashFromTagValue } from "./hash-tag.js";
import type { ByteRange } from "./types.js";

/** `DATA-ID` of the `EXT-X-SESSION-DATA` entry pointing at the integrity manifest. */
export const SESSION_DATA_ID = "io.hivecast.integrity";

/** One resource listed by a media playlist. */
export interface PlaylistEntry {
  /** Absolute URL. */
  url: string;
  byteRange?: ByteRange;
  kind: "segment" | "init";
  /** Media sequence number (segments only). */
  sn: number;
  /** Seconds (0 for init segments). */
  duration: number;
  /** Lowercase hex from the hash tag, when present and well-formed. */
  hash?: string;
}

/** A parsed media playlist. */
export interface MediaPlaylist {
  type: "media";
  /** No `EXT-X-ENDLIST` (and not `PLAYLIST-TYPE:VOD`). */
  live: boolean;
  targetDuration: number;
  entries: PlaylistEntry[];
}

/** A parsed multivariant playlist (only what Hivecast needs from it). */
export interface MultivariantPlaylist {
  type: "multivariant";
  /** Absolute URL of the integrity manifest from `EXT-X-SESSION-DATA`, if any. */
  integrityManifestUrl?: string;
  /** `EXT-X-CONTENT-STEERING`, if any. */
  steering?: {
    /** Absolute URL of the steering manifest (SERVER-URI). */
    serverUri: string;
    /** PATHWAY-ID to start on, when given. */
    pathwayId?: string;
    /** Each pathway's first variant URL (absolute), by PATHWAY-ID (`"."` when absent). */
    pathways: Map<string, string>;
  };
}

/** Why a playlist was refused. */
export type PlaylistErrorReason =
  "BAD_SEQUENCE" | "BAD_DURATION" | "BAD_TARGET_DURATION" | "BAD_BYTE_RANGE";

/** A media playlist states something impossible (negative or fractional numbers, huge ranges). */
export class PlaylistError extends HivecastError {
  /** Which rule was broken. */
  readonly reason: PlaylistErrorReason;

  constructor(reason: PlaylistErrorReason, message: string) {
    super("PLAYLIST_INVALID", message, { details: { reason } });
    this.reason = reason;
  }
}

const isKeyChar = (c: number): boolean =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d; // A-Z 0-9 -

/**
 * Parses an HLS attribute list (`A=1,B="x,y"`) into a map; quotes are removed. One pass over
 * the text (linear time, whatever the input): an item without `KEY=` is skipped up to the
 * next comma outside quotes.
 */
export function parseAttributes(list: string): Map<string, string> {
  const out = new Map<string, string>();
  const n = list.length;
  let i = 0;
  while (i < n) {
    const keyStart = i;
    while (i < n && isKeyChar(list.charCodeAt(i))) i++;
    const key = list.slice(keyStart, i);
    if (key.length > 0 && list.charCodeAt(i) === 0x3d /* = */) {
      i++;
      if (list.charCodeAt(i) === 0x22 /* " */) {
        const close = list.indexOf('"', i + 1);
        if (close < 0) {
          out.set(key, list.slice(i + 1));
          return out;
        }
        out.set(key, list.slice(i + 1, close));
        i = close + 1;
        // anything after the closing quote up to the next comma is ignored
        const comma = list.indexOf(",", i);
        i = comma < 0 ? n : comma + 1;
        continue;
      }
      const comma = list.indexOf(",", i);
      const end = comma < 0 ? n : comma;
      out.set(key, list.slice(i, end));
      i = end + 1;
      continue;
    }
    // Not `KEY=`: skip this item (quotes may hide commas).
    let quoted = false;
    while (i < n) {
      const c = list.charCodeAt(i);
      if (c === 0x22) quoted = !quoted;
      else if (c === 0x2c && !quoted) break;
      i++;
    }
    i++;
  }
  return out;
}

function resolve(uri: string, base: string): string | undefined {
  try {
    return new URL(uri, base).href;
  } catch {
    return undefined;
  }
}

/**
 * `n[@o]`; a missing offset continues after the previous range of the same resource. Throws
 * {@link PlaylistError} for a range whose end is not a safe integer.
 */
function parseByteRange(v: string, previousEnd: number | undefined): ByteRange | undefined {
  const m = /^(\d{1,20})(?:@(\d{1,20}))?$/.exec(v.trim());
  if (!m) return undefined;
  const length = Number(m[1]);
  const start = m[2] === undefined ? (previousEnd ?? 0) : Number(m[2]);
  const end = start + length;
  if (!Number.isSafeInteger(length) || !Number.isSafeInteger(start) || !Number.isSafeInteger(end))
    throw new PlaylistError("BAD_BYTE_RANGE", `byte range ${v.trim()} is beyond 2^53`);
  return { start, end };
}

/** A non-negative integer tag value (media sequence), or a {@link PlaylistError}. */
function parseSequence(v: string): number {
  const t = v.trim();
  const n = /^\d{1,16}$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new PlaylistError(
      "BAD_SEQUENCE",
      `media sequence ${t.slice(0, 32)} is not an integer ≥ 0`,
    );
  return n;
}

/** A finite, non-negative decimal-seconds value (`#EXTINF`, target duration). */
function parseSeconds(v: string, reason: PlaylistErrorReason, what: string): number {
  const t = v.trim();
  if (t === "") return 0;
  const n = Number.parseFloat(t);
  if (Number.isNaN(n)) return 0; // malformed: skipped like before (the player reports those)
  if (!Number.isFinite(n) || n < 0)
    throw new PlaylistError(reason, `${what} ${t.slice(0, 32)} is negative or not finite`);
  return n;
}

/**
 * Parses playlist text fetched from `baseUrl`. Returns undefined for text that is not an HLS
 * playlist; unknown tags and malformed lines are skipped (the player reports those itself).
 * Throws {@link PlaylistError} for impossible values: a negative or fractional media sequence,
 * a negative duration, a byte range beyond 2^53. Linear in the text's length.
 */
export function parsePlaylist(
  text: string,
  baseUrl: string,
): MediaPlaylist | MultivariantPlaylist | undefined {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== "#EXTM3U") return undefined;
  if (lines.some((l) => l.startsWith("#EXT-X-STREAM-INF")))
    return parseMultivariant(lines, baseUrl);
  return parseMedia(lines, baseUrl);
}

const STEERING_TAG = "#EXT-X-CONTENT-STEERING:";
const STREAM_INF_TAG = "#EXT-X-STREAM-INF:";

function parseMultivariant(lines: string[], baseUrl: string): MultivariantPlaylist {
  const out: MultivariantPlaylist = { type: "multivariant" };
  let pathway: string | undefined;
  const pathways = new Map<string, string>();
  for (const line of lines) {
    if (line.startsWith("#EXT-X-SESSION-DATA:")) {
      const attrs = parseAttributes(line.slice("#EXT-X-SESSION-DATA:".length));
      const uri = attrs.get("URI");
      if (attrs.get("DATA-ID") === SESSION_DATA_ID && uri && !out.integrityManifestUrl) {
        const url = resolve(uri, baseUrl);
        if (url) out.integrityManifestUrl = url;
      }
    } else if (line.startsWith(STEERING_TAG) && !out.steering) {
      const attrs = parseAttributes(line.slice(STEERING_TAG.length));
      const server = resolve(attrs.get("SERVER-URI") ?? "", baseUrl);
      if (server && /^https?:/.test(server))
        out.steering = { serverUri: server, pathwayId: attrs.get("PATHWAY-ID"), pathways };
    } else if (line.startsWith(STREAM_INF_TAG)) {
      pathway = parseAttributes(line.slice(STREAM_INF_TAG.length)).get("PATHWAY-ID") ?? ".";
    } else if (pathway !== undefined && line !== "" && !line.startsWith("#")) {
      const url = resolve(line, baseUrl);
      if (url && !pathways.has(pathway)) pathways.set(pathway, url);
      pathway = undefined;
    }
  }
  return out;
}

function parseMedia(lines: string[], baseUrl: string): MediaPlaylist {
  const entries: PlaylistEntry[] = [];
  let live = true;
  let targetDuration = 0;
  let sn = 0;
  let duration = 0;
  let hash: string | undefined;
  let range: string | undefined;
  const lastEnd = new Map<string, number>();
  for (const line of lines) {
    if (line.startsWith(HASH_TAG)) {
      hash = hashFromTagValue(line.slice(HASH_TAG.length));
    } else if (line.startsWith("#EXT-X-TARGETDURATION:")) {
      targetDuration = parseSeconds(
        line.slice("#EXT-X-TARGETDURATION:".length),
        "BAD_TARGET_DURATION",
        "target duration",
      );
    } else if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) {
      sn = parseSequence(line.slice("#EXT-X-MEDIA-SEQUENCE:".length));
    } else if (line === "#EXT-X-ENDLIST" || line === "#EXT-X-PLAYLIST-TYPE:VOD") {
      live = false;
    } else if (line.startsWith("#EXTINF:")) {
      const v = line.slice("#EXTINF:".length);
      const comma = v.indexOf(",");
      duration = parseSeconds(comma < 0 ? v : v.slice(0, comma), "BAD_DURATION", "duration");
    } else if (line.startsWith("#EXT-X-BYTERANGE:")) {
      range = line.slice("#EXT-X-BYTERANGE:".length);
    } else if (line.startsWith("#EXT-X-MAP:")) {
      const attrs = parseAttributes(line.slice("#EXT-X-MAP:".length));
      const url = resolve(attrs.get("URI") ?? "", baseUrl);
      const br = attrs.get("BYTERANGE");
      const byteRange = br === undefined ? undefined : parseByteRange(br, 0);
      if (url) entries.push({ url, byteRange, kind: "init", sn: 0, duration: 0, hash });
      hash = undefined;
    } else if (line !== "" && !line.startsWith("#")) {
      const url = resolve(line, baseUrl);
      const byteRange =
        range === undefined
          ? undefined
          : parseByteRange(range, url === undefined ? undefined : lastEnd.get(url));
      if (url) {
        if (byteRange) lastEnd.set(url, byteRange.end);
        entries.push({ url, byteRange, kind: "segment", sn, duration, hash });
      }
      sn++;
      duration = 0;
      hash = undefined;
      range = undefined;
    }
  }
  return { type: "media", live, targetDuration, entries };
}
