/**
 * What the engine learns from each playlist it fetched, and the ids it derives from URLs:
 * a media playlist's hash tags, segments, live flag and target duration go to the
 * IntegrityIndex and the P2P layer; a multivariant playlist's integrity manifest and content
 * steering are started. Also the one owner of resource ids, swarm ids and segment keys.
 */
import type { Config } from "./config.js";
import type { ContentSteering } from "./content-steering.js";
import { HivecastError } from "./errors.js";
import type { IntegrityIndex } from "./integrity-index.js";
import type { OriginPool } from "./origin-pool.js";
import { matchOrigin, resourceId } from "./origin-url.js";
import type { PeerSegmentSource, PlaylistInfo, SegmentKey } from "./p2p/contract.js";
import { parsePlaylist } from "./playlist-parser.js";
import type { Clock } from "./clock.js";
import type { ByteRange, SegmentRequest } from "./types.js";
import type { WarningLimiter } from "./warning-limiter.js";

/** What the intake takes from the engine. */
export interface PlaylistIntakeDeps {
  config: () => Readonly<Config>;
  clock: Clock;
  index: IntegrityIndex;
  pool: OriginPool;
  peers: () => PeerSegmentSource | undefined;
  warnings: WarningLimiter;
  /** Emits an `error` event (nothing after destroy). */
  onError: (e: HivecastError) => void;
  /** Whether the engine was destroyed. */
  destroyed: () => boolean;
}

/** Playlist facts per swarm, segment keys, and the content steering controller. */
export class PlaylistIntake {
  /** Latest playlist facts per swarm, replayed to a P2P layer created later. */
  private readonly playlists = new Map<string, PlaylistInfo>();
  /** Live flag per media playlist id. */
  private readonly live = new Map<string, boolean>();
  /** Playlists already warned about missing hashes (one error event each). */
  private readonly warned = new Set<string>();
  /** Content steering, loaded (own chunk) with the first multivariant playlist that uses it. */
  private steering: Promise<ContentSteering> | undefined;

  constructor(private readonly deps: PlaylistIntakeDeps) {}

  /** Takes in a fetched playlist's text. Unparseable text is left to the player to judge. */
  ingest(text: string, url: string): void {
    let p: ReturnType<typeof parsePlaylist>;
    try {
      p = parsePlaylist(text, url);
    } catch {
      return; // impossible values (PlaylistError): no hashes, no P2P; the player judges the text
    }
    if (!p) return;
    if (p.type === "multivariant") {
      if (p.integrityManifestUrl) this.deps.index.setSessionManifest(p.integrityManifestUrl);
      const st = p.steering;
      if (st)
        void this.contentSteering().then(
          (c) => c.start(st.serverUri, st.pathwayId, st.pathways),
          () =>
            this.deps.warnings.warn("steering-unavailable", "Content steering could not be loaded"),
        );
      return;
    }
    this.deps.index.addPlaylist(url, p);
    this.live.set(this.idOf(url), p.live);
    const info: PlaylistInfo = {
      swarmId: this.swarmIdOf(url),
      live: p.live,
      targetDuration: p.targetDuration,
      segments: p.entries
        .filter((e) => e.kind === "segment")
        .map((e) => ({ segmentId: this.idOf(e.url, e.byteRange), sn: e.sn, duration: e.duration })),
    };
    this.playlists.set(info.swarmId, info);
    this.deps.peers()?.updatePlaylist(info);
  }

  /** Every swarm's latest playlist facts (for a P2P layer started later). */
  known(): Iterable<PlaylistInfo> {
    return this.playlists.values();
  }

  /** The live flag of a media playlist as last parsed (undefined: not seen yet). */
  isLive(playlistUrl: string): boolean | undefined {
    return this.live.get(this.idOf(playlistUrl));
  }

  /** One `INTEGRITY_UNAVAILABLE` error per playlist whose segments have no trusted hash. */
  warnNoHash(playlistUrl: string): void {
    const id = this.idOf(playlistUrl);
    if (this.warned.has(id)) return;
    this.warned.add(id);
    this.deps.onError(
      new HivecastError(
        "INTEGRITY_UNAVAILABLE",
        `No trusted SHA-256 for segments of ${playlistUrl} (${this.deps.index.manifestStatus(playlistUrl)}): they play from HTTP only and are never shared with peers`,
        { details: { url: playlistUrl } },
      ),
    );
  }

  /** Origin-relative resource id (the same on every origin), with `@start-end` for a range. */
  idOf(url: string, range?: ByteRange): string {
    return resourceId(url, range, this.deps.config().origins);
  }

  /** The swarm of a media playlist: `p2p.swarmId` or the playlist's resource id. */
  swarmIdOf(playlistUrl: string): string {
    return this.deps.config().p2p.swarmId ?? this.idOf(playlistUrl);
  }

  /** The store and swarm key of a segment request. */
  keyOf(req: SegmentRequest): SegmentKey {
    return {
      swarmId: this.swarmIdOf(req.playlistUrl),
      segmentId: this.idOf(req.url, req.byteRange),
    };
  }

  /** Stops content steering, if it was started. */
  destroy(): void {
    void this.steering?.then(
      (c) => c.destroy(),
      () => undefined,
    );
  }

  /**
   * The content steering controller, loaded by a dynamic import on first use: bundlers put it
   * in its own chunk, so pages without steering never download it.
   */
  private contentSteering(): Promise<ContentSteering> {
    const { deps } = this;
    this.steering ??= import("./content-steering.js").then((m) => {
      const c = new m.ContentSteering({
        clock: deps.clock,
        origins: () => deps.config().origins,
        pathways: () => deps.config().pathways,
        originUnder: (url) => matchOrigin(url, deps.config().origins),
        fetch: async (url, maxBytes, signal) =>
          (
            await deps.pool.fetch({
              url,
              kind: "playlist",
              resource: "manifest",
              signal,
              maxBytes,
            })
          ).data,
        onOrder: (order) => deps.pool.setPreference(order),
        onUnavailable: (url, why) =>
          deps.warnings.warn(
            "steering-unavailable",
            `Content steering manifest ${url} unavailable (${why}); keeping the current order`,
            { url, cause: why },
          ),
      });
      if (deps.destroyed()) c.destroy();
      return c;
    });
    return this.steering;
  }
}
