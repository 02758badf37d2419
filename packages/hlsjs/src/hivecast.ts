import {
  type Config,
  Engine,
  type EngineDeps,
  HivecastError,
  type HivecastEvents,
  type HivecastStats,
  type UserConfig,
} from "@hivecast/core";
import type Hls from "hls.js";
import type { HlsConfig } from "hls.js";
import { createLoaders, type HivecastLoaders } from "./loaders.js";

/** The `maxLiveSyncPlaybackRate` {@link Hivecast.hlsConfig} sets unless yours does: live catch-up. */
export const LIVE_CATCH_UP_RATE = 1.1;

/**
 * Hivecast for hls.js: one engine (origins, integrity, peers) plus the hls.js loaders bound to it.
 *
 * ```ts
 * const hivecast = new Hivecast({ origins: ["https://cdn-a.example/", "https://cdn-b.example/"] });
 * const hls = new Hls(hivecast.hlsConfig({ maxBufferLength: 30 }));
 * hivecast.attach(hls);
 * hls.loadSource(url);
 * hls.attachMedia(video);
 * ```
 *
 * hls.js keeps its own retry policies (`fragLoadPolicy`, `playlistLoadPolicy`…): they apply after
 * the engine has already tried every origin (and peers). Failures reach hls.js as they would from
 * its own loaders — the HTTP status when there was one (4xx: no retry, 5xx: retry), `onTimeout`
 * for timeouts, status 0 otherwise — so its error controller behaves as usual.
 */
export class Hivecast {
  /** The engine: origin pool, integrity index, segment store and P2P. */
  readonly engine: Engine;
  private readonly loaders: HivecastLoaders;
  private hls: Hls | undefined;
  /** Removes the listeners {@link Hivecast.attach} added (hls.js events are read from the
   * instance's own class, so no hls.js code is bundled). */
  private unlisten: (() => void) | undefined;

  /**
   * Validates `config` (throws a fatal `HivecastError` with code `CONFIG_INVALID` naming the bad
   * field) and creates the engine. Production options (`fetch`, `requestSetup`,
   * `p2p.transport`) belong in `config`.
   * @param deps Deprecated outside tests: replaces parts of the environment (fetch, clock, P2P
   * layer) for tests and simulators; `deps.fetch` wins over `config.fetch`.
   */
  constructor(config: UserConfig = {}, deps: Partial<EngineDeps> = {}) {
    this.engine = new Engine(config, deps);
    this.loaders = createLoaders({
      engine: this.engine,
      playback: () => this.hls,
      now: () => globalThis.performance.now(),
    });
  }

  /** The validated configuration in effect. */
  get config(): Readonly<Config> {
    return this.engine.config;
  }

  /** True once {@link Hivecast.destroy} ran. */
  get destroyed(): boolean {
    return this.engine.destroyed;
  }

  /** The hls.js instance attached with {@link Hivecast.attach}, if any. */
  get attached(): Hls | undefined {
    return this.hls;
  }

  /** Cumulative counters: bytes by source and origin, offload ratio, peers, errors. A new object each read. */
  get stats(): HivecastStats {
    return this.engine.stats;
  }

  /**
   * Your hls.js config with Hivecast's `fLoader` (segments, init segments, byte ranges) and
   * `pLoader` (playlists) added. Any `fLoader` / `pLoader` of yours is replaced; your `loader`
   * stays hls.js's loader for everything else (keys, steering manifests…) and the fallback
   * after {@link Hivecast.destroy}.
   *
   * One hls.js default differs unless you set it: `maxLiveSyncPlaybackRate` is
   * {@link LIVE_CATCH_UP_RATE} (hls.js: 1, off). A live viewer that fell behind its target
   * latency (a slow start, a stall, a busy CPU) then plays up to 10 % faster until it is back,
   * instead of staying behind for the rest of the session. hls.js applies it only to live
   * streams, with `lowLatencyMode` on (its default) and more than 1 s buffered. Pass
   * `maxLiveSyncPlaybackRate: 1` to keep hls.js's behaviour.
   */
  hlsConfig(userConfig: Partial<HlsConfig> = {}): Partial<HlsConfig> & HivecastLoaders {
    return {
      maxLiveSyncPlaybackRate: LIVE_CATCH_UP_RATE,
      ...userConfig,
      fLoader: this.loaders.fLoader,
      pLoader: this.loaders.pLoader,
    };
  }

  /**
   * Lets the loaders read playback state from `hls` (current time and rate for segment deadlines,
   * live flag of each level). Detaches by itself when `hls` is destroyed. Throws `CONFIG_INVALID`
   * when `hls` was not created with {@link Hivecast.hlsConfig} of this instance.
   */
  attach(hls: Hls): this {
    if (this.hls === hls || this.destroyed) return this;
    const cfg: Partial<HlsConfig> | undefined = hls.config;
    if (cfg?.fLoader !== this.loaders.fLoader && cfg?.pLoader !== this.loaders.pLoader)
      throw new HivecastError(
        "CONFIG_INVALID",
        'Invalid config "hls": create it with new Hls(hivecast.hlsConfig({...})) before attach()',
        { fatal: true, details: { field: "hls" } },
      );
    this.detach();
    this.hls = hls;
    const events = (hls.constructor as typeof Hls).Events;
    const onDestroying = (): void => {
      if (this.hls === hls) this.detach();
    };
    // Start-up ends at the first frame (the media's `playing` after the first buffered
    // fragment): peer set-up may begin then (Engine.playbackStarted), not while the fragments
    // the first frame needs still load.
    let media: EventTarget | undefined;
    // After start-up, a `waiting` while playing (not seeking) is a stall: the engine pauses
    // uploads to peers for a while (`p2p.uploadPauseAfterStallMs`). Not when every segment the
    // live playlist lists is buffered: the stream itself is late (an encoder or packager
    // hiccup stalls every viewer at once), and pausing the whole swarm's uploads would send it
    // to the CDN together.
    let watched: EventTarget | undefined;
    let liveEdge: number | undefined;
    const onLevelLoaded = (_e: unknown, data: unknown): void => {
      liveEdge = liveEdgeOf(data);
    };
    const onWaiting = (): void => {
      const m: unknown = hls.media;
      if (this.hls !== hls || isSeekingOrPaused(m)) return;
      if (liveEdge !== undefined && bufferedEnd(m) >= liveEdge - STREAM_STARVED_SLACK_S) return;
      this.engine.playbackStalled();
    };
    const watch = (): void => {
      watched?.removeEventListener("waiting", onWaiting);
      watched = undefined;
      const m: unknown = hls.media;
      if (!isEventTarget(m)) return;
      watched = m;
      m.addEventListener("waiting", onWaiting);
    };
    let started = false;
    const onAttached = (): void => {
      if (started) watch();
    };
    const onPlaying = (): void => {
      media?.removeEventListener("playing", onPlaying);
      media = undefined;
      if (this.hls !== hls) return;
      started = true;
      watch();
      this.engine.playbackStarted();
    };
    const onBuffered = (): void => {
      hls.off(events.FRAG_BUFFERED, onBuffered);
      if (this.hls !== hls) return;
      const m: unknown = hls.media;
      if (isPlayingMedia(m) || !isEventTarget(m)) return onPlaying();
      media = m;
      m.addEventListener("playing", onPlaying);
    };
    this.unlisten = () => {
      hls.off(events.DESTROYING, onDestroying);
      hls.off(events.FRAG_BUFFERED, onBuffered);
      hls.off(events.MEDIA_ATTACHED, onAttached);
      hls.off(events.LEVEL_LOADED, onLevelLoaded);
      media?.removeEventListener("playing", onPlaying);
      media = undefined;
      watched?.removeEventListener("waiting", onWaiting);
      watched = undefined;
    };
    hls.on(events.DESTROYING, onDestroying);
    hls.on(events.FRAG_BUFFERED, onBuffered);
    hls.on(events.MEDIA_ATTACHED, onAttached);
    hls.on(events.LEVEL_LOADED, onLevelLoaded);
    return this;
  }

  /** Forgets the attached hls.js instance (loads then get no deadlines). Idempotent. */
  detach(): this {
    const unlisten = this.unlisten;
    this.hls = undefined;
    this.unlisten = undefined;
    unlisten?.();
    return this;
  }

  /** Adds a listener for an engine event (`segmentLoaded`, `peerConnected`, `error`…). */
  on<K extends keyof HivecastEvents>(event: K, fn: HivecastEvents[K]): this {
    this.engine.on(event, fn);
    return this;
  }

  /** Removes a listener added with {@link Hivecast.on}. */
  off<K extends keyof HivecastEvents>(event: K, fn: HivecastEvents[K]): this {
    this.engine.off(event, fn);
    return this;
  }

  /**
   * Changes the configuration while playing (origins, `requestSetup`, `pathways`, the `p2p`
   * slice: limits, upload cap, download-only…), validated like the constructor: an invalid
   * change throws `CONFIG_INVALID` and the config in effect stays. See `Engine.updateConfig`.
   */
  updateConfig(partial: UserConfig): this {
    this.engine.updateConfig(partial);
    return this;
  }

  /**
   * Consent switch for P2P: off closes every peer connection and tracker socket; on (also while
   * playing) offers peers the verified segments already held.
   */
  setP2PEnabled(enabled: boolean): void {
    this.engine.setP2PEnabled(enabled);
  }

  /**
   * Detaches from hls.js and destroys the engine (every load, timer, peer and listener). An hls.js
   * instance that keeps running afterwards loads through its own default loader.
   */
  destroy(): void {
    this.detach();
    this.engine.destroy();
  }
}

/** `HTMLMediaElement.HAVE_FUTURE_DATA`: playing, not waiting for data. */
const HAVE_FUTURE_DATA = 3;

/** Whether `m` is a media element already playing (a frame is up and time advances). */
function isPlayingMedia(m: unknown): boolean {
  if (typeof m !== "object" || m === null) return false;
  const v = m as { paused?: unknown; readyState?: unknown };
  return v.paused === false && typeof v.readyState === "number" && v.readyState >= HAVE_FUTURE_DATA;
}

/**
 * A stall with the buffer this close to the end of the live playlist's last segment, seconds,
 * is the stream's lateness, not this viewer's.
 */
const STREAM_STARVED_SLACK_S = 0.5;

/** The end of the last segment of a live playlist (`LEVEL_LOADED`), or undefined (VOD, unknown). */
function liveEdgeOf(data: unknown): number | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const details: unknown = Reflect.get(data, "details");
  if (typeof details !== "object" || details === null) return undefined;
  if (Reflect.get(details, "live") !== true) return undefined;
  const edge: unknown = Reflect.get(details, "edge");
  return typeof edge === "number" && Number.isFinite(edge) ? edge : undefined;
}

/** The end of the media's last buffered range (0 when nothing is buffered). */
function bufferedEnd(m: unknown): number {
  if (typeof m !== "object" || m === null) return 0;
  const b: unknown = Reflect.get(m, "buffered");
  if (typeof b !== "object" || b === null) return 0;
  const length: unknown = Reflect.get(b, "length");
  const end: unknown = Reflect.get(b, "end");
  if (typeof length !== "number" || length < 1 || typeof end !== "function") return 0;
  const v: unknown = Reflect.apply(end, b, [length - 1]);
  return typeof v === "number" ? v : 0;
}

function isSeekingOrPaused(m: unknown): boolean {
  if (typeof m !== "object" || m === null) return true;
  const v = m as { paused?: unknown; seeking?: unknown; ended?: unknown };
  return v.seeking === true || v.paused === true || v.ended === true;
}

function isEventTarget(m: unknown): m is EventTarget {
  return (
    typeof m === "object" &&
    m !== null &&
    typeof (m as EventTarget).addEventListener === "function" &&
    typeof (m as EventTarget).removeEventListener === "function"
  );
}
