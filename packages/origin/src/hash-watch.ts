import { randomBytes } from "node:crypto";
import { copyFile, mkdir, readdir, readFile, rename, rm, unlink } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { OriginError } from "./errors.js";
import { sha256File } from "./fsutil.js";
import { writeAtomic } from "./mirror.js";
import { HASH_TAG, MANIFEST_NAME, parsePlaylist } from "./playlist.js";

/** Options of `watchHls`. */
export interface WatchOptions {
  /** HLS directory written by another packager (e.g. nginx-rtmp `hls_path`). */
  dir: string;
  /** Directory receiving the hashed copy (what origins serve); must differ from `dir`. */
  out: string;
  /** Scan period, ms. @default 200 */
  intervalMs?: number;
  /** How long a segment that left every source playlist stays in `out`, ms. @default 60000 */
  keepMs?: number;
  /** Notable events, one line each. */
  log?: (line: string) => void;
  /** Clock, ms. @default Date.now */
  clock?: () => number;
}

/** A running watcher. */
export interface HlsWatcher {
  /** Runs one scan now (scans never overlap). */
  scan(): Promise<void>;
  /** Number of segments published so far. */
  readonly published: number;
  /** Runs a last scan and stops. Idempotent. */
  stop(): Promise<void>;
}

interface Entry {
  sha256: string;
  /** Last time a source playlist listed it (ms). */
  seen: number;
}

async function listPlaylists(dir: string, depth = 0): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory() && depth < 3) out.push(...(await listPlaylists(p, depth + 1)));
    else if (e.isFile() && e.name.endsWith(".m3u8")) out.push(p);
  }
  return out;
}

/**
 * Follows an HLS directory written by another packager and publishes, in `out`, a copy with
 * hashes: for each media playlist, every newly listed segment is copied (temp + rename) and
 * hashed, then `segments-sha256.json` (temp + rename), then the playlist with one
 * `#EXT-X-HIVECAST-SHA256` tag per segment (temp + rename). A reader of `out` never sees a
 * listed segment whose file or hash is missing, nor a partial file. Multivariant playlists are
 * copied once all their media playlists are published. Segments that left the source
 * playlists are removed from `out` after `keepMs`.
 */
export async function watchHls(opts: WatchOptions): Promise<HlsWatcher> {
  const src = resolve(opts.dir);
  const out = resolve(opts.out);
  if (src === out || out.startsWith(`${src}/`) || src.startsWith(`${out}/`)) {
    throw new OriginError("invalid-option", "--out must not be or contain the watched dir", "out");
  }
  await mkdir(out, { recursive: true }).catch((err: unknown) => {
    throw new OriginError("io", `cannot create ${out}: ${String(err)}`, "out", { cause: err });
  });
  const log = opts.log ?? (() => undefined);
  const clock = opts.clock ?? Date.now;
  const keepMs = opts.keepMs ?? 60_000;
  /** Per media playlist (relative path): published segments by URI. */
  const media = new Map<string, Map<string, Entry>>();
  const published = new Set<string>();
  let count = 0;
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;
  let lastError: string | undefined;

  const publishMedia = async (rel: string, text: string): Promise<void> => {
    const parsed = parsePlaylist(text);
    if (parsed.kind !== "media") return;
    const srcDir = dirname(join(src, rel));
    const outDir = dirname(join(out, rel));
    await mkdir(outDir, { recursive: true });
    let entries = media.get(rel);
    if (!entries) media.set(rel, (entries = new Map()));
    const now = clock();
    const refs = [...parsed.maps, ...parsed.segments];
    const hashes: string[] = [];
    for (const ref of refs) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(ref.uri) || ref.uri.startsWith("/") || ref.byteRange) {
        throw new OriginError("invalid-playlist", `${rel}: cannot follow URI "${ref.uri}"`);
      }
      const have = entries.get(ref.uri);
      if (have) {
        have.seen = now;
        hashes.push(have.sha256);
        continue;
      }
      const from = join(srcDir, ref.uri);
      const to = join(outDir, ref.uri);
      const tmp = join(dirname(to), `.${basename(to)}.${randomBytes(6).toString("hex")}.tmp`);
      await mkdir(dirname(to), { recursive: true });
      try {
        await copyFile(from, tmp);
        const sha256 = await sha256File(tmp);
        await rename(tmp, to);
        entries.set(ref.uri, { sha256, seen: now });
        hashes.push(sha256);
        count++;
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        throw err;
      }
    }
    // Manifest: every entry still kept (listed now or recently), so a reader holding a slightly
    // older playlist still finds its hashes.
    const manifest: Record<string, string> = {};
    for (const [uri, e] of entries) manifest[uri] = e.sha256;
    await writeAtomic(join(outDir, MANIFEST_NAME), `${JSON.stringify(manifest, null, 2)}\n`);
    const segHash = new Map(parsed.segments.map((s) => [s.uriLine, entries.get(s.uri)?.sha256]));
    const lines: string[] = [];
    parsed.lines.forEach((line, i) => {
      if (line.trim().startsWith(HASH_TAG)) return;
      const h = segHash.get(i);
      if (h !== undefined) lines.push(`${HASH_TAG}${h}`);
      lines.push(line);
    });
    await writeAtomic(join(out, rel), `${lines.join("\n")}\n`);
    published.add(rel);
    // Prune what left the listing long ago (playlist first, then manifest, then files).
    const stale = [...entries].filter(([, e]) => now - e.seen > keepMs).map(([u]) => u);
    if (stale.length > 0) {
      for (const u of stale) entries.delete(u);
      const m: Record<string, string> = {};
      for (const [uri, e] of entries) m[uri] = e.sha256;
      await writeAtomic(join(outDir, MANIFEST_NAME), `${JSON.stringify(m, null, 2)}\n`);
      for (const u of stale) await rm(join(outDir, u), { force: true });
    }
  };

  const scanOnce = async (): Promise<void> => {
    const lists = await listPlaylists(src);
    const multis: Array<{ rel: string; text: string; children: string[] }> = [];
    for (const path of lists) {
      const rel = relative(src, path);
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch {
        continue;
      }
      let kind: "media" | "multivariant";
      let children: string[] = [];
      try {
        const p = parsePlaylist(text);
        kind = p.kind;
        if (p.kind === "multivariant") children = p.mediaPlaylists;
      } catch {
        continue; // half-written or not a playlist: next scan
      }
      if (kind === "media") await publishMedia(rel, text);
      else multis.push({ rel, text, children });
    }
    for (const m of multis) {
      const ready = m.children.every((c) => published.has(join(dirname(m.rel), c)));
      if (ready) await writeAtomic(join(out, m.rel), m.text);
    }
  };

  const scan = (): Promise<void> => {
    chain = chain.then(scanOnce).then(
      () => {
        if (lastError !== undefined) log(`hash --watch: recovered`);
        lastError = undefined;
      },
      (err: unknown) => {
        const msg = err instanceof Error ? err.message : String(err);
        if (msg !== lastError) log(`hash --watch: ${msg}; retrying`);
        lastError = msg;
      },
    );
    return chain;
  };

  const timer = setInterval(() => void scan(), opts.intervalMs ?? 200);
  await scan();
  return {
    scan,
    get published() {
      return count;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await scan();
    },
  };
}
