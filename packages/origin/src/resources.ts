import { createReadStream } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import { Readable } from "node:stream";
import { isPlaylistLike } from "./http-util.js";
import { LIVE_SEGMENT_DIR, type LiveCatalog, type LiveSource } from "./live.js";
import { MANIFEST_NAME, parsePlaylist, type ByteRange } from "./playlist.js";

const MAX_PLAYLIST_BYTES = 8 * 1024 * 1024;

export /** A body the origin can send, in whole or by range. */
interface Resource {
  /** Name used for the content type and cache policy. */
  name: string;
  size: number;
  /** Media bytes (eligible for corruption), as opposed to playlists/manifests. */
  segment: boolean;
  /** Bytes `start..end` inclusive. */
  open(start: number, end: number): Readable;
}

function fileResource(path: string, size: number, name: string, range?: ByteRange): Resource {
  const base = range?.offset ?? 0;
  return {
    name,
    size: range?.length ?? size,
    segment: !isPlaylistLike(name),
    open: (start, end) => createReadStream(path, { start: base + start, end: base + end }),
  };
}

function bufferResource(name: string, data: Buffer): Resource {
  return {
    name,
    size: data.length,
    segment: false,
    open: (start, end) => Readable.from([data.subarray(start, end + 1)]),
  };
}

/** Maps request paths of one origin to the files of its directory and its simulated live. */
export class ResourceResolver {
  /**
   * @param root - real path of the served directory
   * @param live - the simulated live catalog over `root`
   */
  constructor(
    private readonly root: string,
    private readonly live: LiveCatalog,
  ) {}

  /** Resolves a path inside the this.root to a regular file, refusing anything (incl. symlinks) outside. */
  private async safeFile(path: string): Promise<{ path: string; size: number } | undefined> {
    try {
      const real = await realpath(path);
      const rel = relative(this.root, real);
      if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return undefined;
      const st = await stat(real);
      return st.isFile() ? { path: real, size: st.size } : undefined;
    } catch {
      return undefined;
    }
  }
  private async vodFile(segs: string[]): Promise<Resource | undefined> {
    if (segs.length === 0) return undefined;
    const f = await this.safeFile(join(this.root, ...segs));
    return f ? fileResource(f.path, f.size, segs[segs.length - 1] ?? "", undefined) : undefined;
  }
  private async liveSource(dirSegs: string[]): Promise<LiveSource | undefined> {
    const f = await this.safeFile(join(this.root, ...dirSegs, "index.m3u8"));
    return f ? this.live.source(f.path).catch(() => undefined) : undefined;
  }

  private async resolveLive(rest: string[]): Promise<Resource | undefined> {
    const last = rest[rest.length - 1];
    if (last === undefined) return undefined;
    const dirSegs = rest.slice(0, -1);
    if (last.toLowerCase().endsWith(".m3u8")) {
      const f = await this.safeFile(join(this.root, ...rest));
      if (!f || f.size > MAX_PLAYLIST_BYTES) return undefined;
      const text = await readFile(f.path, "utf8");
      let kind: "media" | "multivariant";
      try {
        kind = parsePlaylist(text).kind;
      } catch {
        return undefined;
      }
      // Variant URIs are relative, so the multivariant playlist works unchanged under /live/.
      if (kind === "multivariant") return bufferResource(last, Buffer.from(text));
      if (last !== "index.m3u8") return undefined;
      const src = await this.live.source(f.path).catch(() => undefined);
      return src ? bufferResource(last, Buffer.from(this.live.playlist(src))) : undefined;
    }
    if (last === MANIFEST_NAME) {
      const src = await this.liveSource(dirSegs);
      return src ? bufferResource(last, Buffer.from(this.live.manifest(src))) : undefined;
    }
    const m = /^(0|[1-9]\d{0,15})\.[A-Za-z0-9]+$/.exec(last);
    if (m?.[1] !== undefined && dirSegs[dirSegs.length - 1] === LIVE_SEGMENT_DIR) {
      const src = await this.liveSource(dirSegs.slice(0, -1));
      if (!src) return undefined;
      const msn = Number(m[1]);
      if (this.live.segmentUri(src, msn) !== `${LIVE_SEGMENT_DIR}/${last}`) return undefined;
      const seg = this.live.segmentFile(src, msn);
      const f = seg ? await this.safeFile(seg.path) : undefined;
      if (!seg || !f) return undefined;
      if (seg.range && seg.range.offset + seg.range.length > f.size) return undefined;
      return fileResource(f.path, f.size, last, seg.range);
    }
    return this.vodFile(rest);
  }

  /** The resource for a parsed request path (`live/…` = simulated live), or undefined (404). */
  resolve(segs: string[]): Promise<Resource | undefined> {
    return segs[0] === "live" ? this.resolveLive(segs.slice(1)) : this.vodFile(segs);
  }
}
