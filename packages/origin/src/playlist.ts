import { OriginError } from "./errors.js";

/** Tag carrying a segment's SHA-256, placed on the line right before the segment URI. */
export const HASH_TAG = "#EXT-X-HIVECAST-SHA256:";

/** File name of the sidecar integrity manifest written beside each media playlist. */
export const MANIFEST_NAME = "segments-sha256.json";

/** A byte range inside a resource: `length` bytes starting at `offset`. */
export interface ByteRange {
  offset: number;
  length: number;
}

/** A resource referenced by a playlist (a segment or an init segment). */
export interface ResourceRef {
  /** URI exactly as written in the playlist. */
  uri: string;
  /** Sub-range of the resource (EXT-X-BYTERANGE / MAP BYTERANGE), if any. */
  byteRange: ByteRange | undefined;
}

/** One media segment of a parsed media playlist. */
export interface ParsedSegment extends ResourceRef {
  /** EXTINF duration, seconds. */
  duration: number;
  /** The EXTINF line as written (kept verbatim when re-emitting). */
  extinfLine: string;
  /** An EXT-X-DISCONTINUITY tag precedes this segment. */
  discontinuity: boolean;
  /** The init segment in effect (EXT-X-MAP), if any. */
  map: ResourceRef | undefined;
  /** The EXT-X-MAP line in effect, verbatim. */
  mapLine: string | undefined;
  /** Hash from a `#EXT-X-HIVECAST-SHA256` tag, if present. */
  hash: string | undefined;
  /** Index of the URI line in `lines`. */
  uriLine: number;
}

/** A parsed media playlist. */
export interface ParsedMediaPlaylist {
  kind: "media";
  lines: string[];
  version: number | undefined;
  targetDuration: number;
  independentSegments: boolean;
  segments: ParsedSegment[];
  /** Distinct init segments, in order of appearance. */
  maps: ResourceRef[];
}

/** A parsed multivariant (master) playlist: only what the tools need. */
export interface ParsedMultivariantPlaylist {
  kind: "multivariant";
  /** URIs of the media playlists (EXT-X-STREAM-INF and EXT-X-MEDIA with URI), as written. */
  mediaPlaylists: string[];
}

/** Key of a resource in the sidecar manifest: the URI, plus `#bytes=a-b` (inclusive) if ranged. */
export function manifestKey(ref: ResourceRef): string {
  if (!ref.byteRange) return ref.uri;
  const { offset, length } = ref.byteRange;
  return `${ref.uri}#bytes=${offset}-${offset + length - 1}`;
}

/** Parses the attribute list of a tag like `#EXT-X-MAP:URI="a",BYTERANGE="1@2"`. */
export function parseAttributes(list: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g;
  for (let m = re.exec(list); m !== null; m = re.exec(list)) {
    const key = m[1];
    let value = m[2] ?? "";
    if (value.startsWith('"')) value = value.slice(1, -1);
    if (key !== undefined) out.set(key, value);
  }
  return out;
}

function parseByteRange(spec: string, previousEnd: number | undefined, where: string): ByteRange {
  const m = /^(\d+)(?:@(\d+))?$/.exec(spec.trim());
  if (!m || m[1] === undefined) {
    throw new OriginError("invalid-playlist", `bad byte range "${spec}" (${where})`);
  }
  const length = Number(m[1]);
  const offset = m[2] !== undefined ? Number(m[2]) : previousEnd;
  if (offset === undefined) {
    throw new OriginError("invalid-playlist", `byte range without offset "${spec}" (${where})`);
  }
  return { offset, length };
}

/** Splits playlist text into lines, accepting LF and CRLF. */
export function splitLines(text: string): string[] {
  return text.split(/\r?\n/);
}

/** Parses an HLS playlist (media or multivariant). */
export function parsePlaylist(text: string): ParsedMediaPlaylist | ParsedMultivariantPlaylist {
  const lines = splitLines(text);
  if (lines[0]?.replace(/^\uFEFF/, "").trim() !== "#EXTM3U") {
    throw new OriginError("invalid-playlist", "missing #EXTM3U header");
  }
  const isMultivariant = lines.some(
    (l) => l.startsWith("#EXT-X-STREAM-INF") || l.startsWith("#EXT-X-MEDIA:"),
  );
  if (isMultivariant) {
    const mediaPlaylists: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] ?? "").trim();
      if (line.startsWith("#EXT-X-STREAM-INF")) {
        for (let j = i + 1; j < lines.length; j++) {
          const next = (lines[j] ?? "").trim();
          if (next === "" || next.startsWith("#")) continue;
          mediaPlaylists.push(next);
          i = j;
          break;
        }
      } else if (line.startsWith("#EXT-X-MEDIA:")) {
        const uri = parseAttributes(line.slice("#EXT-X-MEDIA:".length)).get("URI");
        if (uri) mediaPlaylists.push(uri);
      }
    }
    return { kind: "multivariant", mediaPlaylists: [...new Set(mediaPlaylists)] };
  }

  const segments: ParsedSegment[] = [];
  const maps: ResourceRef[] = [];
  let version: number | undefined;
  let targetDuration = 0;
  let independentSegments = false;
  let pendingDuration: number | undefined;
  let pendingExtinf = "";
  let pendingRange: string | undefined;
  let pendingDisc = false;
  let pendingHash: string | undefined;
  let map: ResourceRef | undefined;
  let mapLine: string | undefined;
  const lastEnd = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      if (line.startsWith("#EXTINF:")) {
        pendingDuration = Number.parseFloat(line.slice(8));
        if (!Number.isFinite(pendingDuration) || pendingDuration < 0) {
          throw new OriginError("invalid-playlist", `bad EXTINF on line ${i + 1}`);
        }
        pendingExtinf = line;
      } else if (line.startsWith("#EXT-X-TARGETDURATION:")) {
        targetDuration = Number(line.slice(22));
      } else if (line.startsWith("#EXT-X-VERSION:")) {
        version = Number(line.slice(15));
      } else if (line === "#EXT-X-INDEPENDENT-SEGMENTS") {
        independentSegments = true;
      } else if (line.startsWith("#EXT-X-BYTERANGE:")) {
        pendingRange = line.slice(17);
      } else if (line === "#EXT-X-DISCONTINUITY") {
        pendingDisc = true;
      } else if (line.startsWith(HASH_TAG)) {
        const hex = line.slice(HASH_TAG.length).trim().toLowerCase();
        pendingHash = /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
      } else if (line.startsWith("#EXT-X-MAP:")) {
        const attrs = parseAttributes(line.slice(11));
        const uri = attrs.get("URI");
        if (!uri) throw new OriginError("invalid-playlist", `EXT-X-MAP without URI, line ${i + 1}`);
        const br = attrs.get("BYTERANGE");
        const current: ResourceRef = {
          uri,
          byteRange: br ? parseByteRange(br, 0, `line ${i + 1}`) : undefined,
        };
        map = current;
        mapLine = line;
        if (!maps.some((m) => manifestKey(m) === manifestKey(current))) maps.push(current);
      }
      continue;
    }
    if (pendingDuration === undefined) {
      throw new OriginError("invalid-playlist", `segment URI without EXTINF on line ${i + 1}`);
    }
    let byteRange: ByteRange | undefined;
    if (pendingRange !== undefined) {
      byteRange = parseByteRange(pendingRange, lastEnd.get(line), `line ${i + 1}`);
      lastEnd.set(line, byteRange.offset + byteRange.length);
    }
    segments.push({
      uri: line,
      byteRange,
      duration: pendingDuration,
      extinfLine: pendingExtinf,
      discontinuity: pendingDisc,
      map,
      mapLine,
      hash: pendingHash,
      uriLine: i,
    });
    pendingDuration = undefined;
    pendingRange = undefined;
    pendingDisc = false;
    pendingHash = undefined;
  }
  return { kind: "media", lines, version, targetDuration, independentSegments, segments, maps };
}
