import { readFile, realpath, stat } from "node:fs/promises";
import { extname, isAbsolute, relative } from "node:path";
import { OriginError } from "./errors.js";
import { sha256File } from "./fsutil.js";
import { resolveLocalUri } from "./hash.js";
import {
  HASH_TAG,
  manifestKey,
  parsePlaylist,
  type ByteRange,
  type ParsedMediaPlaylist,
} from "./playlist.js";

/** A VOD media playlist prepared for live simulation. */
export interface LiveSource {
  /** Absolute path of the VOD media playlist. */
  playlistPath: string;
  parsed: ParsedMediaPlaylist;
  /** SHA-256 per VOD segment (from its tag, else computed from the file). */
  segmentHashes: string[];
  /** SHA-256 per init segment, keyed by manifest key. */
  mapHashes: Map<string, string>;
  /** Live pace: mean segment duration, milliseconds. */
  segmentMs: number;
  /** Live segment file extension per VOD segment (e.g. ".m4s"). */
  extensions: string[];
  /** Discontinuity sequence offset of VOD segment i inside one loop (VOD's own tags). */
  discBefore: number[];
  /** Discontinuities per loop, the wrap included. */
  discPerLoop: number;
}

/** Where the bytes of one live segment live. */
export interface LiveSegmentFile {
  path: string;
  range: ByteRange | undefined;
}

/** Directory name under a live media playlist that holds its per-sequence segment URIs. */
export const LIVE_SEGMENT_DIR = "seg";

/** Resolves a playlist URI to a file that must lie inside `root` (symlinks resolved). */
async function insideRoot(root: string, playlistPath: string, uri: string): Promise<string> {
  const real = await realpath(resolveLocalUri(playlistPath, uri)).catch(() => undefined);
  const rel = real === undefined ? undefined : relative(root, real);
  if (
    real === undefined ||
    rel === undefined ||
    rel === "" ||
    rel.startsWith("..") ||
    isAbsolute(rel)
  ) {
    throw new OriginError(
      "invalid-playlist",
      `"${uri}" is missing or outside the served directory`,
    );
  }
  return real;
}

async function buildSource(
  root: string,
  playlistPath: string,
  text: string,
): Promise<LiveSource | undefined> {
  const parsed = parsePlaylist(text);
  if (parsed.kind !== "media" || parsed.segments.length === 0) return undefined;
  const segmentHashes: string[] = [];
  for (const seg of parsed.segments) {
    const path = await insideRoot(root, playlistPath, seg.uri);
    segmentHashes.push(seg.hash ?? (await sha256File(path, seg.byteRange)));
  }
  const mapHashes = new Map<string, string>();
  for (const map of parsed.maps) {
    const path = await insideRoot(root, playlistPath, map.uri);
    mapHashes.set(manifestKey(map), await sha256File(path, map.byteRange));
  }
  const total = parsed.segments.reduce((a, s) => a + s.duration, 0);
  const segmentMs = Math.max(1, Math.round((total * 1000) / parsed.segments.length));
  const extensions = parsed.segments.map(
    (s) => extname(s.uri.split(/[?#]/, 1)[0] ?? "").toLowerCase() || ".m4s",
  );
  const discBefore: number[] = [];
  let d = 0;
  parsed.segments.forEach((s, i) => {
    if (i > 0 && s.discontinuity) d++;
    discBefore.push(d);
  });
  return {
    playlistPath,
    parsed,
    segmentHashes,
    mapHashes,
    segmentMs,
    extensions,
    discBefore,
    discPerLoop: d + 1,
  };
}

/**
 * Simulated live streams over the VOD media playlists of a directory: a sliding window of
 * `windowSize` segments that advances with `clock`, looping over the VOD segments forever.
 *
 * Media sequence of the window's first segment = floor((now − start) / segmentMs). Live
 * segment `msn` is served at `seg/<msn><ext>` (unique per sequence) with the bytes of VOD
 * segment `msn mod count`; an EXT-X-DISCONTINUITY marks each wrap of the loop.
 */
export class LiveCatalog {
  private readonly cache = new Map<
    string,
    { key: string; source: Promise<LiveSource | undefined> }
  >();

  /**
   * @param root - real path of the served directory; every referenced file must be inside it
   * @param clock - milliseconds, shared by all origins of a cluster
   * @param start - clock value at which media sequence 0 starts the window
   * @param windowSize - segments per live playlist
   */
  constructor(
    private readonly root: string,
    private readonly clock: () => number,
    private readonly start: number,
    private readonly windowSize: number,
  ) {}

  /** Loads (cached by mtime and size) the VOD media playlist at an absolute path. */
  async source(playlistPath: string): Promise<LiveSource | undefined> {
    const st = await stat(playlistPath);
    const key = `${st.mtimeMs}:${st.size}`;
    const hit = this.cache.get(playlistPath);
    if (hit && hit.key === key) return hit.source;
    const source = readFile(playlistPath, "utf8").then((t) =>
      buildSource(this.root, playlistPath, t),
    );
    this.cache.set(playlistPath, { key, source });
    source.catch(() => this.cache.delete(playlistPath));
    return source;
  }

  /** Media sequence number of the first segment of the current window. */
  firstSequence(src: LiveSource, now = this.clock()): number {
    return Math.max(0, Math.floor((now - this.start) / src.segmentMs));
  }

  /** Media sequence number of the newest (live edge) segment. */
  lastSequence(src: LiveSource, now = this.clock()): number {
    return this.firstSequence(src, now) + this.windowSize - 1;
  }

  private vodIndex(src: LiveSource, msn: number): number {
    return msn % src.parsed.segments.length;
  }

  /** Discontinuity sequence number of live segment `msn`. */
  discontinuitySequence(src: LiveSource, msn: number): number {
    const count = src.parsed.segments.length;
    return Math.floor(msn / count) * src.discPerLoop + (src.discBefore[msn % count] ?? 0);
  }

  private hasDiscontinuity(src: LiveSource, msn: number): boolean {
    const i = this.vodIndex(src, msn);
    return msn > 0 && (i === 0 || (src.parsed.segments[i]?.discontinuity ?? false));
  }

  /** URI of live segment `msn`, relative to the live media playlist. */
  segmentUri(src: LiveSource, msn: number): string {
    return `${LIVE_SEGMENT_DIR}/${msn}${src.extensions[this.vodIndex(src, msn)] ?? ".m4s"}`;
  }

  /** The live media playlist text for the current window. */
  playlist(src: LiveSource, now = this.clock()): string {
    const first = this.firstSequence(src, now);
    const p = src.parsed;
    const target = p.targetDuration > 0 ? p.targetDuration : Math.ceil(src.segmentMs / 1000);
    const out = ["#EXTM3U"];
    if (p.version !== undefined) out.push(`#EXT-X-VERSION:${p.version}`);
    out.push(`#EXT-X-TARGETDURATION:${target}`);
    out.push(`#EXT-X-MEDIA-SEQUENCE:${first}`);
    out.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${this.discontinuitySequence(src, first)}`);
    if (p.independentSegments) out.push("#EXT-X-INDEPENDENT-SEGMENTS");
    // The stream "began" windowSize segments before the cluster started, so the window's
    // newest segment is always complete at `now`.
    const epoch = this.start - this.windowSize * src.segmentMs;
    let lastMap: string | undefined;
    for (let msn = first; msn < first + this.windowSize; msn++) {
      const i = this.vodIndex(src, msn);
      const seg = p.segments[i];
      if (!seg) continue;
      const disc = msn !== first && this.hasDiscontinuity(src, msn);
      if (disc) out.push("#EXT-X-DISCONTINUITY");
      if (seg.mapLine !== undefined && (seg.mapLine !== lastMap || disc)) {
        out.push(seg.mapLine);
        lastMap = seg.mapLine;
      }
      out.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(epoch + msn * src.segmentMs).toISOString()}`);
      out.push(seg.extinfLine);
      out.push(`${HASH_TAG}${src.segmentHashes[i] ?? ""}`);
      out.push(this.segmentUri(src, msn));
    }
    return `${out.join("\n")}\n`;
  }

  /** The live integrity manifest: current window + init segment(s), keys relative to the playlist. */
  manifest(src: LiveSource, now = this.clock()): string {
    const first = this.firstSequence(src, now);
    const entries: Record<string, string> = {};
    for (const [key, hash] of src.mapHashes) entries[key] = hash;
    for (let msn = first; msn < first + this.windowSize; msn++) {
      entries[this.segmentUri(src, msn)] = src.segmentHashes[this.vodIndex(src, msn)] ?? "";
    }
    return `${JSON.stringify(entries, null, 2)}\n`;
  }

  /**
   * The VOD bytes behind live segment `msn`, or undefined when `msn` is newer than the live
   * edge (not published yet). Past segments stay available.
   */
  segmentFile(src: LiveSource, msn: number, now = this.clock()): LiveSegmentFile | undefined {
    if (!Number.isSafeInteger(msn) || msn < 0 || msn > this.lastSequence(src, now)) {
      return undefined;
    }
    const seg = src.parsed.segments[this.vodIndex(src, msn)];
    if (!seg) return undefined;
    return { path: resolveLocalUri(src.playlistPath, seg.uri), range: seg.byteRange };
  }
}
