import { raceAbort } from "./abort.js";
import { backoffDelay } from "./backoff.js";
import { type Clock, sleep } from "./clock.js";
import type { IntegrityPolicy, RetryConfig } from "./config.js";
import { HivecastError, isHivecastError } from "./errors.js";
import type { MediaPlaylist } from "./playlist-parser.js";
import { isSha256Hex } from "./hash-tag.js";
import type { ByteRange } from "./types.js";

/** Largest integrity manifest accepted (bytes). */
export const MANIFEST_MAX_BYTES = 2 * 1024 * 1024;
/** Name of the manifest looked for beside a media playlist when none is configured or announced. */
export const DEFAULT_MANIFEST_NAME = "segments-sha256.json";
/** First back-off after a guessed (implicit) manifest failed to load (5xx, network), ms; doubles. */
const IMPLICIT_RETRY_BASE_MS = 2000;
/** Longest back-off between loads of a guessed manifest that keeps failing, ms. */
const IMPLICIT_RETRY_MAX_MS = 60_000;
/** Playlist-tag hashes kept (a long live stream would otherwise grow the map forever). */
const MAX_TAG_HASHES = 50_000;

/** Dependencies of an {@link IntegrityIndex}. */
export interface IntegrityIndexDeps {
  policy: IntegrityPolicy;
  /** `config.integrityManifestUrl`. */
  manifestUrl: string | undefined;
  /** Bounded refetches of a live manifest that lacks a segment. */
  manifestRetries: number;
  /** Backoff between those refetches. */
  retry: RetryConfig;
  /** Resource id of a URL (+ range): the key of every hash. */
  idOf: (url: string, range?: ByteRange) => string;
  /**
   * Fetches at most `maxBytes` of a manifest (with origin failover); rejects with a HivecastError.
   * `optional`: the manifest is only guessed to exist (`segments-sha256.json`), so a 404 from
   * the first origin asked is the answer — not an origin fault, and not asked of the others.
   */
  fetchManifest: (
    url: string,
    maxBytes: number,
    signal: AbortSignal,
    optional: boolean,
  ) => Promise<Uint8Array>;
  clock: Clock;
  random: () => number;
  /** A manifest was malformed (reported, then treated as absent). */
  onError: (e: HivecastError) => void;
  /**
   * A manifest that was expected (configured, named by the playlist, or one that failed for
   * another reason than not existing) could not be fetched or parsed.
   */
  onUnavailable?: (url: string, why: string) => void;
}

/** Where one manifest stands. */
interface Manifest {
  url: string;
  /** The `segments-sha256.json` guess: its absence is normal and it is not asked for again. */
  implicit: boolean;
  status: "new" | "loaded" | "absent" | "failed";
  pending: Promise<void> | undefined;
  hashes: Map<string, string>;
  /** Loads of a guessed manifest that failed in a row, and when the next one may go out. */
  failures: number;
  retryAt: number;
}

function invalid(url: string, why: string): HivecastError {
  return new HivecastError(
    "INTEGRITY_MANIFEST_INVALID",
    `Integrity manifest ${url} rejected: ${why}`,
    {
      details: { url },
    },
  );
}

/**
 * Validates a sidecar manifest `{ "<uri>": "<sha-256 hex>" }` strictly — any bad entry rejects
 * the whole file, since a half-trusted manifest is not trusted. URIs resolve against the
 * manifest's own URL; a key may end in `#bytes=first-last` (inclusive, as in an HTTP Range
 * header and as `hivecast-origin hash` writes it) for an EXT-X-BYTERANGE resource.
 */
export function parseIntegrityManifest(
  bytes: Uint8Array,
  manifestUrl: string,
  idOf: (url: string, range?: ByteRange) => string,
): Map<string, string> {
  if (bytes.length > MANIFEST_MAX_BYTES)
    throw invalid(manifestUrl, `larger than ${MANIFEST_MAX_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw invalid(manifestUrl, "not UTF-8 JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw invalid(manifestUrl, "expected a JSON object of uri → hash");
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(json)) {
    if (key.length === 0) throw invalid(manifestUrl, "empty key");
    if (!isSha256Hex(value))
      throw invalid(manifestUrl, `entry "${key.slice(0, 200)}" is not 64 hex digits`);
    const m = /^(.*)#bytes=(\d+)-(\d+)$/.exec(key);
    const uri = m?.[1] ?? key;
    const range = m ? { start: Number(m[2]), end: Number(m[3]) + 1 } : undefined;
    if (range && (range.end <= range.start || !Number.isSafeInteger(range.end)))
      throw invalid(manifestUrl, `entry "${key.slice(0, 200)}" has an empty range`);
    let url: string;
    try {
      url = new URL(uri, manifestUrl).href;
    } catch {
      throw invalid(manifestUrl, `entry "${key.slice(0, 200)}" is not a URI`);
    }
    out.set(idOf(url, range), value.toLowerCase());
  }
  return out;
}

/**
 * Trusted SHA-256 hashes by resource id, from playlist tags and sidecar manifests. Looks a
 * manifest up once per playlist; for live streams refetches it (bounded) when a new segment is
 * not in it yet.
 */
export class IntegrityIndex {
  private readonly tags = new Map<string, string>();
  private readonly manifests = new Map<string, Manifest>();
  /** Playlist id → manifest URL chosen for it. */
  private readonly playlistManifest = new Map<string, string>();
  private sessionManifestUrl: string | undefined;
  private readonly lifetime = new AbortController();

  constructor(private readonly deps: IntegrityIndexDeps) {}

  /** Records the hash tags of a media playlist; starts the manifest lookup if some are missing. */
  addPlaylist(playlistUrl: string, playlist: MediaPlaylist): void {
    let missing = false;
    for (const e of playlist.entries) {
      const id = this.deps.idOf(e.url, e.byteRange);
      if (e.hash) this.remember(id, e.hash);
      else if (!this.get(id)) missing = true;
    }
    while (this.tags.size > MAX_TAG_HASHES) this.tags.delete(this.tags.keys().next().value ?? "");
    if (missing && this.deps.policy !== "off") this.manifestFor(playlistUrl);
  }

  /** A hash the adapter read from the playlist itself (hls.js `frag.tagList`). */
  remember(id: string, hash: string): void {
    this.tags.delete(id);
    this.tags.set(id, hash);
  }

  /** Manifest URL announced by a multivariant playlist (`EXT-X-SESSION-DATA`). */
  setSessionManifest(url: string): void {
    this.sessionManifestUrl = url;
  }

  /** The trusted hash of `id`, if known now. A playlist tag wins over a manifest. */
  get(id: string): string | undefined {
    const tagged = this.tags.get(id);
    if (tagged) return tagged;
    for (const m of this.manifests.values()) {
      const h = m.hashes.get(id);
      if (h) return h;
    }
    return undefined;
  }

  /**
   * The hash of `id`, waiting for the playlist's manifest if it is still loading; for a live
   * playlist whose manifest lacks `id`, refetches it up to `manifestRetries` times with backoff.
   */
  async resolve(
    id: string,
    playlistUrl: string,
    live: boolean,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const known = this.get(id);
    if (known || this.deps.policy === "off") return known;
    const m = this.manifestFor(playlistUrl);
    if (m.pending) await raceAbort(m.pending, signal);
    const loaded = this.get(id);
    if (loaded || !live || (m.implicit && m.status === "absent")) return loaded;
    for (let i = 0; i < this.deps.manifestRetries; i++) {
      await sleep(this.deps.clock, backoffDelay(this.deps.retry, i, this.deps.random), signal);
      await raceAbort(this.load(m), signal);
      const h = this.get(id);
      if (h) return h;
    }
    return undefined;
  }

  /** How the manifest for a playlist stands, for error messages. */
  manifestStatus(playlistUrl: string): string {
    const url = this.playlistManifest.get(this.deps.idOf(playlistUrl));
    const m = url === undefined ? undefined : this.manifests.get(url);
    return m ? `${m.url}: ${m.status}` : "no manifest";
  }

  /** Stops manifest loads. */
  destroy(): void {
    this.lifetime.abort();
  }

  private manifestFor(playlistUrl: string): Manifest {
    const pid = this.deps.idOf(playlistUrl);
    let url = this.playlistManifest.get(pid);
    const explicit = this.deps.manifestUrl ?? this.sessionManifestUrl;
    if (url === undefined) {
      url = explicit ?? new URL(DEFAULT_MANIFEST_NAME, playlistUrl).href;
      this.playlistManifest.set(pid, url);
    }
    let m = this.manifests.get(url);
    if (!m) {
      m = {
        url,
        implicit: explicit === undefined,
        status: "new",
        pending: undefined,
        hashes: new Map(),
        failures: 0,
        retryAt: 0,
      };
      this.manifests.set(url, m);
      void this.load(m);
    }
    return m;
  }

  /** (Re)loads a manifest; concurrent callers share one request. Never rejects. */
  private load(m: Manifest): Promise<void> {
    if (m.pending) return m.pending;
    // A guessed manifest that failed (not a 404: an origin problem) is asked again only after a
    // back-off, not once per new live segment.
    if (m.implicit && m.status === "failed" && this.deps.clock.now() < m.retryAt)
      return Promise.resolve();
    const run = async (): Promise<void> => {
      try {
        const bytes = await this.deps.fetchManifest(
          m.url,
          MANIFEST_MAX_BYTES + 1,
          this.lifetime.signal,
          m.implicit,
        );
        if (this.lifetime.signal.aborted) return;
        m.hashes = parseIntegrityManifest(bytes, m.url, this.deps.idOf);
        m.status = "loaded";
        m.failures = 0;
      } catch (e) {
        if (this.lifetime.signal.aborted) return;
        const status = isHivecastError(e) ? e.details["status"] : undefined;
        // A missing manifest is a state, not an error; earlier good entries stay trusted.
        m.status = status === 404 || status === 410 || status === 403 ? "absent" : "failed";
        if (m.status === "failed") {
          m.failures++;
          m.retryAt =
            this.deps.clock.now() +
            Math.min(IMPLICIT_RETRY_MAX_MS, IMPLICIT_RETRY_BASE_MS * 2 ** (m.failures - 1));
        }
        if (isHivecastError(e) && e.code === "INTEGRITY_MANIFEST_INVALID") this.deps.onError(e);
        if (!m.implicit || m.status === "failed")
          this.deps.onUnavailable?.(m.url, isHivecastError(e) ? e.code : String(e));
      } finally {
        m.pending = undefined;
      }
    };
    m.pending = run();
    return m.pending;
  }
}
