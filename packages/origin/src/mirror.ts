import { randomBytes } from "node:crypto";
import { copyFile, mkdir, rename, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { HASH_TAG } from "./playlist.js";

/** One completed segment of a rendition, as published. */
export interface PublishedSegment {
  /** File name (URI relative to the media playlist). */
  uri: string;
  /** EXTINF duration, seconds. */
  duration: number;
  /** EXT-X-PROGRAM-DATE-TIME value as ffmpeg wrote it, if any. */
  programDateTime: string | undefined;
  /** Lowercase hex SHA-256 of the file. */
  sha256: string;
  /** Size in bytes. */
  bytes: number;
}

/** A rendition's state in the work directory. */
export interface RenditionSnapshot {
  /** Directory name, e.g. `v0`. */
  name: string;
  /** Init segment (EXT-X-MAP) file name and hash, once ffmpeg wrote it. */
  init: { uri: string; sha256: string; bytes: number } | undefined;
  /** Completed segments in order. */
  segments: PublishedSegment[];
  /** ffmpeg wrote EXT-X-ENDLIST (or the session ended). */
  ended: boolean;
}

/** Copies `src` to `dst` atomically (copy to a temp name in `dst`'s directory, then rename). */
export async function copyAtomic(src: string, dst: string): Promise<void> {
  const tmp = join(dirname(dst), `.${basename(dst)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await copyFile(src, tmp);
    await rename(tmp, dst);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Writes `data` to `dst` atomically (temp file + rename), creating the directory. */
export async function writeAtomic(dst: string, data: string): Promise<void> {
  await mkdir(dirname(dst), { recursive: true });
  const tmp = join(dirname(dst), `.${basename(dst)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, dst);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Media playlist text for `segments` (all of them when `vod`, else the last `window`), with one
 * `#EXT-X-HIVECAST-SHA256` tag right before each segment URI.
 */
export function mediaPlaylistText(
  r: RenditionSnapshot,
  segments: PublishedSegment[],
  window: number,
  vod: boolean,
): string {
  const first = vod ? 0 : Math.max(0, segments.length - window);
  const shown = segments.slice(first);
  const target = Math.max(1, ...shown.map((s) => Math.ceil(s.duration)));
  const out = ["#EXTM3U", "#EXT-X-VERSION:7", `#EXT-X-TARGETDURATION:${target}`];
  out.push(`#EXT-X-MEDIA-SEQUENCE:${first}`);
  if (vod) out.push("#EXT-X-PLAYLIST-TYPE:VOD");
  out.push("#EXT-X-INDEPENDENT-SEGMENTS");
  if (r.init) out.push(`#EXT-X-MAP:URI="${r.init.uri}"`);
  for (const s of shown) {
    if (s.programDateTime) out.push(`#EXT-X-PROGRAM-DATE-TIME:${s.programDateTime}`);
    out.push(`#EXTINF:${s.duration.toFixed(6)},`);
    out.push(`${HASH_TAG}${s.sha256}`);
    out.push(s.uri);
  }
  if (vod) out.push("#EXT-X-ENDLIST");
  return `${out.join("\n")}\n`;
}

/** Sidecar manifest text: every published segment of the recording plus the init segment. */
export function manifestText(r: RenditionSnapshot, segments: PublishedSegment[]): string {
  const m: Record<string, string> = {};
  if (r.init) m[r.init.uri] = r.init.sha256;
  for (const s of segments) m[s.uri] = s.sha256;
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Parsed view of an ffmpeg-written media playlist (only what the publisher needs). */
export interface FfmpegPlaylist {
  init: string | undefined;
  segments: Array<{ uri: string; duration: number; programDateTime: string | undefined }>;
  ended: boolean;
}

/** Parses the media playlist ffmpeg's hls muxer writes (EXTINF, PROGRAM-DATE-TIME, MAP, URIs). */
export function parseFfmpegPlaylist(text: string): FfmpegPlaylist {
  const out: FfmpegPlaylist = { init: undefined, segments: [], ended: false };
  let duration: number | undefined;
  let pdt: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    if (line.startsWith("#EXTINF:")) {
      duration = Number.parseFloat(line.slice(8));
    } else if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) {
      pdt = line.slice(25);
    } else if (line.startsWith("#EXT-X-MAP:")) {
      const m = /URI="([^"]+)"/.exec(line);
      out.init = m?.[1];
    } else if (line === "#EXT-X-ENDLIST") {
      out.ended = true;
    } else if (!line.startsWith("#")) {
      if (duration !== undefined && Number.isFinite(duration) && !line.includes("/")) {
        out.segments.push({ uri: line, duration, programDateTime: pdt });
      }
      duration = undefined;
      pdt = undefined;
    }
  }
  return out;
}
