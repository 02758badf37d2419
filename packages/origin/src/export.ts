import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { OriginError } from "./errors.js";
import { lastLines, runTool } from "./ffmpeg.js";
import { sha256File } from "./fsutil.js";
import { resolveLocalUri } from "./hash.js";
import {
  MANIFEST_NAME,
  manifestKey,
  parsePlaylist,
  type ParsedMediaPlaylist,
  type ResourceRef,
} from "./playlist.js";

/** Options of `exportRecording`. */
export interface ExportOptions {
  /** A media playlist, or a multivariant one (then `variant` picks the rendition). */
  playlist: string;
  /** Output MP4 path (written atomically; never left behind on failure). */
  out: string;
  /** Index of the variant in a multivariant playlist. @default 0 (the first listed) */
  variant?: number;
  /** ffmpeg executable. @default "ffmpeg" */
  ffmpeg?: string;
}

/** What `exportRecording` produced. */
export interface ExportReport {
  /** The media playlist exported. */
  mediaPlaylist: string;
  /** Segments verified and merged. */
  segments: number;
  /** Sum of the EXTINF durations, seconds. */
  playlistDuration: number;
  /** Bytes of the MP4 written. */
  bytes: number;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    if ((await stat(path)).isDirectory()) {
      throw new OriginError("io", `${what} ${path} is a directory, not a playlist file`);
    }
    return await readFile(path, "utf8");
  } catch (err) {
    if (err instanceof OriginError) throw err;
    throw new OriginError("io", `cannot read ${what} ${path}`, undefined, { cause: err });
  }
}

/**
 * Verifies every segment (and init segment) of a recording against its published SHA-256
 * (the `#EXT-X-HIVECAST-SHA256` tag, else `segments-sha256.json`), then merges them into one
 * MP4 with ffmpeg (stream copy, no re-encode). A missing, unhashed or mismatching segment is an
 * `integrity` error naming it, and no output file is left behind.
 */
export async function exportRecording(opts: ExportOptions): Promise<ExportReport> {
  const top = resolve(opts.playlist);
  const out = resolve(opts.out);
  let path = top;
  let parsed = parsePlaylist(await readText(top, "playlist"));
  if (parsed.kind === "multivariant") {
    const idx = opts.variant ?? 0;
    const uri = parsed.mediaPlaylists[idx];
    if (uri === undefined) {
      throw new OriginError(
        "invalid-option",
        `no variant ${idx} in ${top} (it has ${parsed.mediaPlaylists.length})`,
        "variant",
      );
    }
    path = resolveLocalUri(top, uri);
    parsed = parsePlaylist(await readText(path, "media playlist"));
    if (parsed.kind !== "media") {
      throw new OriginError("invalid-playlist", `${uri} is not a media playlist`);
    }
  }
  const media: ParsedMediaPlaylist = parsed;
  if (media.segments.length === 0) {
    throw new OriginError("invalid-playlist", `${path} lists no segments`);
  }
  if (media.maps.length > 1) {
    throw new OriginError("invalid-playlist", `${path} has several init segments; cannot merge`);
  }
  let manifest: Record<string, unknown> = {};
  try {
    manifest = JSON.parse(
      await readFile(join(dirname(path), MANIFEST_NAME), "utf8"),
    ) as typeof manifest;
  } catch {
    manifest = {};
  }
  const expected = (ref: ResourceRef, tag: string | undefined): string => {
    const v = tag ?? manifest[manifestKey(ref)];
    if (typeof v !== "string" || !/^[0-9a-f]{64}$/i.test(v)) {
      throw new OriginError(
        "integrity",
        `segment ${resolveLocalUri(path, ref.uri)} has no published SHA-256`,
      );
    }
    return v.toLowerCase();
  };
  const parts: ResourceRef[] = [];
  const check = async (ref: ResourceRef, tag: string | undefined) => {
    const want = expected(ref, tag);
    let got: string;
    try {
      got = await sha256File(resolveLocalUri(path, ref.uri), ref.byteRange);
    } catch (err) {
      throw new OriginError(
        "integrity",
        `segment ${resolveLocalUri(path, ref.uri)} is missing or unreadable`,
        undefined,
        {
          cause: err,
        },
      );
    }
    if (got !== want) {
      throw new OriginError(
        "integrity",
        `segment ${resolveLocalUri(path, ref.uri)} does not match its SHA-256 (published ${want}, file ${got})`,
      );
    }
    parts.push(ref);
  };
  const map = media.maps[0];
  if (map) await check(map, undefined);
  for (const seg of media.segments) await check(seg, seg.hash);

  const nonce = randomBytes(6).toString("hex");
  const joined = join(dirname(out), `.${basename(out)}.${nonce}.joined`);
  const tmpOut = join(dirname(out), `.${basename(out)}.${nonce}.tmp.mp4`);
  try {
    const ws = createWriteStream(joined);
    await pipeline(async function* () {
      for (const p of parts) {
        const file = resolveLocalUri(path, p.uri);
        const r = p.byteRange;
        const rs = createReadStream(
          file,
          r ? { start: r.offset, end: r.offset + r.length - 1 } : {},
        );
        for await (const chunk of rs) yield chunk as Buffer;
      }
    }, ws);
    const ff = opts.ffmpeg ?? "ffmpeg";
    const res = await runTool(ff, [
      "-hide_banner",
      "-loglevel",
      "error",
      "-y",
      "-i",
      joined,
      "-map",
      "0",
      "-c",
      "copy",
      "-movflags",
      "+faststart",
      "-f",
      "mp4",
      tmpOut,
    ]);
    if (res.code !== 0) {
      throw new OriginError("ffmpeg-failed", `ffmpeg could not merge: ${lastLines(res.stderr)}`);
    }
    await rename(tmpOut, out);
    const bytes = (await stat(out)).size;
    return {
      mediaPlaylist: path,
      segments: media.segments.length,
      playlistDuration: media.segments.reduce((a, s) => a + s.duration, 0),
      bytes,
    };
  } catch (err) {
    await unlink(tmpOut).catch(() => undefined);
    if (err instanceof OriginError) throw err;
    throw new OriginError("io", `cannot write ${out}: ${String(err)}`, undefined, { cause: err });
  } finally {
    await unlink(joined).catch(() => undefined);
  }
}
