import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { OriginError } from "./errors.js";
import { sha256File, writeFileAtomic } from "./fsutil.js";
import {
  HASH_TAG,
  MANIFEST_NAME,
  manifestKey,
  parsePlaylist,
  type ParsedMediaPlaylist,
  type ResourceRef,
} from "./playlist.js";

/** Result of hashing one media playlist. */
export interface HashedMediaPlaylist {
  /** Path of the media playlist (tags refreshed in place). */
  playlist: string;
  /** Path of the sidecar manifest written beside it (`segments-sha256.json`). */
  manifest: string;
  /** Number of media segments hashed. */
  segments: number;
  /** Number of init segments (EXT-X-MAP) hashed. */
  initSegments: number;
  /**
   * This playlist's entries: key = URI as written in the playlist (plus `#bytes=a-b`,
   * inclusive, for EXT-X-BYTERANGE resources), value = lowercase hex SHA-256.
   */
  hashes: Record<string, string>;
  /** Whether the playlist file content changed (false on a re-run). */
  playlistChanged: boolean;
  /** Whether the manifest file content changed (false on a re-run). */
  manifestChanged: boolean;
}

/** What `hashPlaylist` did. */
export interface HashReport {
  /** One entry per media playlist, in playlist order. */
  playlists: HashedMediaPlaylist[];
}

/** Resolves a playlist URI to a local file path, refusing remote or absolute URIs. */
export function resolveLocalUri(playlistPath: string, uri: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri) || uri.startsWith("/")) {
    throw new OriginError("invalid-playlist", `cannot hash non-relative URI "${uri}"`);
  }
  const pathPart = uri.split(/[?#]/, 1)[0] ?? "";
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathPart);
  } catch {
    throw new OriginError("invalid-playlist", `bad percent-encoding in URI "${uri}"`);
  }
  return resolve(dirname(playlistPath), decoded);
}

async function hashRef(playlistPath: string, ref: ResourceRef): Promise<string> {
  return sha256File(resolveLocalUri(playlistPath, ref.uri), ref.byteRange);
}

/** Returns `lines` with exactly one fresh hash tag right before each segment URI line. */
function retagLines(parsed: ParsedMediaPlaylist, hashes: string[]): string[] {
  const tagAt = new Map<number, string>();
  parsed.segments.forEach((s, i) => tagAt.set(s.uriLine, hashes[i] ?? ""));
  const out: string[] = [];
  parsed.lines.forEach((line, i) => {
    if (line.trim().startsWith(HASH_TAG)) return;
    const h = tagAt.get(i);
    if (h !== undefined) out.push(`${HASH_TAG}${h}`);
    out.push(line);
  });
  return out;
}

async function hashMedia(
  path: string,
  text: string,
  parsed: ParsedMediaPlaylist,
): Promise<Omit<HashedMediaPlaylist, "manifestChanged">> {
  const hashes: Record<string, string> = {};
  for (const map of parsed.maps) hashes[manifestKey(map)] = await hashRef(path, map);
  const segHashes: string[] = [];
  for (const seg of parsed.segments) {
    const h = await hashRef(path, seg);
    segHashes.push(h);
    hashes[manifestKey(seg)] = h;
  }
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const newText = retagLines(parsed, segHashes).join(eol);
  const playlistChanged = await writeFileAtomic(path, newText);
  return {
    playlist: path,
    manifest: join(dirname(path), MANIFEST_NAME),
    segments: parsed.segments.length,
    initSegments: parsed.maps.length,
    hashes,
    playlistChanged,
  };
}

/**
 * Hashes every segment and init segment of a media playlist, or of every media playlist of a
 * multivariant playlist, then (atomically, idempotently):
 * - refreshes one `#EXT-X-HIVECAST-SHA256:<hex>` tag right before each segment URI line;
 * - writes `segments-sha256.json` beside each media playlist
 *   (`{ "<uri as written>": "<hex>" }`, init segments included; when several media playlists
 *   share a directory their entries are merged into that one file).
 */
export async function hashPlaylist(playlistPath: string): Promise<HashReport> {
  const top = resolve(playlistPath);
  let text: string;
  try {
    text = await readFile(top, "utf8");
  } catch (err) {
    throw new OriginError("io", `cannot read playlist ${top}`, undefined, { cause: err });
  }
  const parsed = parsePlaylist(text);
  const media: Array<{ path: string; text: string; parsed: ParsedMediaPlaylist }> = [];
  if (parsed.kind === "media") {
    media.push({ path: top, text, parsed });
  } else {
    for (const uri of parsed.mediaPlaylists) {
      const path = resolveLocalUri(top, uri);
      if (media.some((m) => m.path === path)) continue;
      const t = await readFile(path, "utf8").catch((err: unknown) => {
        throw new OriginError("io", `cannot read media playlist ${path}`, undefined, {
          cause: err,
        });
      });
      const p = parsePlaylist(t);
      if (p.kind !== "media") {
        throw new OriginError("invalid-playlist", `${uri} is not a media playlist`);
      }
      media.push({ path, text: t, parsed: p });
    }
  }

  const entries: Array<Omit<HashedMediaPlaylist, "manifestChanged">> = [];
  for (const m of media) entries.push(await hashMedia(m.path, m.text, m.parsed));

  const byManifest = new Map<string, Record<string, string>>();
  for (const e of entries) {
    byManifest.set(e.manifest, { ...(byManifest.get(e.manifest) ?? {}), ...e.hashes });
  }
  const changed = new Map<string, boolean>();
  for (const [manifest, hashes] of byManifest) {
    changed.set(manifest, await writeFileAtomic(manifest, `${JSON.stringify(hashes, null, 2)}\n`));
  }
  return {
    playlists: entries.map((e) => ({ ...e, manifestChanged: changed.get(e.manifest) ?? false })),
  };
}
