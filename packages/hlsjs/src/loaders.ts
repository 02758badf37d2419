import type { Engine, LoadTiming } from "@hivecast/core";
import type {
  FragmentLoaderConstructor,
  FragmentLoaderContext,
  HlsConfig,
  Loader,
  LoaderCallbacks,
  LoaderConfiguration,
  LoaderContext,
  LoaderStats,
  PlaylistLoaderConstructor,
  PlaylistLoaderContext,
} from "hls.js";
import { classifyFailure } from "./failure.js";
import { type PlaybackView, segmentRequestOf } from "./segment-request.js";

/** The engine calls the loaders make (the real `Engine` satisfies it; tests pass fakes). */
export type EngineView = Pick<Engine, "loadSegment" | "loadPlaylist" | "destroyed">;

/** What the loader classes are bound to: one engine, the attached player, a clock. */
export interface LoaderHost {
  readonly engine: EngineView;
  /** The attached hls.js instance (media, levels), or undefined before `attach()`. */
  playback(): PlaybackView | undefined;
  /** Milliseconds on hls.js's clock (`performance.now()`). */
  now(): number;
}

/** The hls.js loader classes of one Hivecast instance. */
export interface HivecastLoaders {
  fLoader: FragmentLoaderConstructor;
  pLoader: PlaylistLoaderConstructor;
}

/** Playlist context types the engine loads (with origin failover); others go to hls.js's loader. */
const PLAYLIST_TYPES: ReadonlySet<string> = new Set([
  "manifest",
  "level",
  "audioTrack",
  "subtitleTrack",
]);
const FRAGMENT_TYPE = "media-fragment";

type DefaultLoaderClass = HlsConfig["loader"];

/** What an engine load resolves to, in the loader's terms. */
interface EngineResponse {
  url: string;
  data: string | ArrayBuffer;
  length: number;
  timing: LoadTiming;
}

function newStats(): LoaderStats {
  return {
    aborted: false,
    loaded: 0,
    retry: 0,
    total: 0,
    chunkCount: 0,
    bwEstimate: 0,
    loading: { start: 0, first: 0, end: 0 },
    parsing: { start: 0, end: 0 },
    buffering: { start: 0, first: 0, end: 0 },
  };
}

/** Copies a delegate loader's stats into the object hls.js already holds (frag.stats is ours). */
function syncStats(from: LoaderStats, to: LoaderStats): void {
  if (from === to) return;
  to.aborted = from.aborted;
  to.loaded = from.loaded;
  to.total = from.total;
  to.chunkCount = from.chunkCount;
  to.bwEstimate = from.bwEstimate;
  Object.assign(to.loading, from.loading);
  Object.assign(to.parsing, from.parsing);
  Object.assign(to.buffering, from.buffering);
}

/** A buffer hls.js may own (and transfer to its worker): the engine hands out its own copy. */
function ownedBuffer(data: Uint8Array): ArrayBuffer {
  const buffer = data.buffer;
  if (
    buffer instanceof ArrayBuffer &&
    data.byteOffset === 0 &&
    data.byteLength === buffer.byteLength
  )
    return buffer;
  return data.slice().buffer;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/**
 * An hls.js `Loader` backed by the engine. Contract with hls.js:
 * - `stats` is one object for the loader's life (hls.js keeps it as `frag.stats`), mutated in place;
 * - exactly one of onSuccess / onError / onTimeout / onAbort per `load()`, never after `abort()`
 *   or `destroy()`;
 * - `loadPolicy.maxLoadTimeMs` bounds the whole load (→ onTimeout). hls.js's time-to-first-byte
 *   limit is not applied as such: the engine has its own per-origin timeouts, and a deliberate
 *   wait for a peer is not a slow server. For playlists it is passed on as the hold bound of a
 *   blocking LL-HLS reload.
 */
abstract class EngineLoader<T extends LoaderContext> implements Loader<T> {
  context: T | null = null;
  readonly stats: LoaderStats = newStats();
  private callbacks: LoaderCallbacks<T> | null = null;
  private controller: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight = false;
  private delegate: Loader<LoaderContext> | null = null;
  private readonly defaultLoader: DefaultLoaderClass | undefined;

  constructor(
    private readonly hlsConfig: HlsConfig,
    protected readonly host: LoaderHost,
  ) {
    this.defaultLoader = hlsConfig?.loader;
  }

  /** Whether the engine serves this context (others go to hls.js's default loader). */
  protected abstract handles(context: T): boolean;

  /** Starts the engine load. */
  protected abstract request(
    engine: EngineView,
    context: T,
    signal: AbortSignal,
    onProgress: (loaded: number, total: number | undefined) => void,
    config: LoaderConfiguration | undefined,
  ): Promise<EngineResponse>;

  /** Whether to hand the payload to `callbacks.onProgress` before `onSuccess` (as hls.js's loaders do). */
  protected abstract readonly reportsPayloadProgress: boolean;

  load(context: T, config: LoaderConfiguration, callbacks: LoaderCallbacks<T>): void {
    this.stopEngineLoad();
    this.delegate?.destroy();
    this.delegate = null;
    this.context = context;
    this.callbacks = callbacks;
    const engine = this.host.engine;
    if (engine.destroyed || !this.handles(context)) {
      this.loadWithDefault(context, config, callbacks);
      return;
    }
    const stats = this.stats;
    const t0 = this.host.now();
    stats.aborted = false;
    stats.loaded = 0;
    stats.total = 0;
    stats.chunkCount = 0;
    stats.bwEstimate = 0;
    stats.loading.start = t0;
    stats.loading.first = 0;
    stats.loading.end = 0;

    const controller = new AbortController();
    this.controller = controller;
    this.inFlight = true;
    const current = (): boolean => this.inFlight && this.controller === controller;

    const timeoutMs = config?.loadPolicy?.maxLoadTimeMs ?? config?.timeout;
    if (typeof timeoutMs === "number" && timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      this.timer = setTimeout(() => {
        if (!current()) return;
        this.stopEngineLoad();
        stats.loading.end = Math.max(this.host.now(), stats.loading.first, stats.loading.start);
        this.callbacks?.onTimeout(stats, context, null);
      }, timeoutMs);
    }

    const onProgress = (loaded: number, total: number | undefined): void => {
      if (!current() || !(loaded >= 0)) return;
      // Lets hls.js's abandon rules see a transfer in progress.
      if (stats.loading.first === 0 && loaded > 0)
        stats.loading.first = Math.max(this.host.now(), t0);
      if (total !== undefined && total > 0) stats.total = total;
      // Monotonic, and never past the size (parallel hedged attempts may both count).
      const grown = Math.max(stats.loaded, loaded);
      stats.loaded = stats.total > 0 ? Math.min(grown, stats.total) : grown;
    };

    let pending: Promise<EngineResponse>;
    try {
      pending = this.request(engine, context, controller.signal, onProgress, config);
    } catch (e) {
      pending = Promise.reject(e);
    }
    // Two-argument then: an exception thrown by hls.js inside onSuccess is not turned into onError.
    pending.then(
      (res) => {
        if (!current()) return;
        this.succeed(context, res, t0, current);
      },
      (e: unknown) => {
        if (!current()) return;
        this.settle();
        this.fail(context, config, e, t0);
      },
    );
  }

  abort(): void {
    if (this.delegate) {
      this.delegate.abort();
      return;
    }
    if (!this.inFlight) return;
    this.stopEngineLoad();
    this.stats.aborted = true;
    const { callbacks, context } = this;
    if (callbacks?.onAbort && context) callbacks.onAbort(this.stats, context, null);
  }

  destroy(): void {
    this.callbacks = null;
    if (this.inFlight) this.stats.aborted = true;
    this.stopEngineLoad();
    this.delegate?.destroy();
    this.delegate = null;
    this.context = null;
  }

  getCacheAge(): number | null {
    return this.delegate?.getCacheAge?.() ?? null;
  }

  getResponseHeader(name: string): string | null {
    return this.delegate?.getResponseHeader?.(name) ?? null;
  }

  /** Marks the current engine load finished (result about to be reported). */
  private settle(): void {
    this.inFlight = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Cancels the current engine load, if any, without reporting anything. */
  private stopEngineLoad(): void {
    const controller = this.controller;
    this.settle();
    this.controller = null;
    controller?.abort();
  }

  private succeed(context: T, res: EngineResponse, t0: number, current: () => boolean): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const stats = this.stats;
    const end = Math.max(this.host.now(), t0);
    // Time the engine deliberately waited for peers is not transfer time: the load "starts" when
    // it stopped waiting, so hls.js's ABR measures the transfer it actually got.
    const waitMs = clamp(Number.isFinite(res.timing.waitMs) ? res.timing.waitMs : 0, 0, end - t0);
    const start = t0 + waitMs;
    const sinceStart = res.timing.firstByte - res.timing.start;
    const first = clamp(t0 + (Number.isFinite(sinceStart) ? sinceStart : 0), start, end);
    stats.loading.start = start;
    stats.loading.first = first;
    stats.loading.end = end;
    stats.loaded = res.length;
    stats.total = res.length;
    stats.chunkCount = Math.max(stats.chunkCount, 1);
    stats.bwEstimate = (res.length * 8000) / Math.max(1, end - first);
    const onProgress = this.reportsPayloadProgress ? this.callbacks?.onProgress : undefined;
    // Still in flight during onProgress: hls.js may abort or destroy us from inside it.
    if (onProgress) onProgress(stats, context, res.data, null);
    if (!current()) return;
    this.settle();
    this.callbacks?.onSuccess({ url: res.url, data: res.data, code: 200 }, stats, context, null);
  }

  private fail(context: T, config: LoaderConfiguration, e: unknown, t0: number): void {
    const stats = this.stats;
    const failure = classifyFailure(e);
    if (failure.kind === "aborted") return;
    if (failure.kind === "destroyed") {
      // The Hivecast instance was destroyed while hls.js lives on: hls.js's own loader takes over.
      const callbacks = this.callbacks;
      if (callbacks) this.loadWithDefault(context, config, callbacks);
      return;
    }
    stats.loading.end = Math.max(this.host.now(), t0, stats.loading.first);
    const callbacks = this.callbacks;
    if (!callbacks) return;
    if (failure.kind === "timeout") callbacks.onTimeout(stats, context, null);
    else callbacks.onError({ code: failure.code, text: failure.text }, context, null, stats);
  }

  /** Hands the load to hls.js's default loader (`config.loader`), reporting through our stats. */
  private loadWithDefault(
    context: T,
    config: LoaderConfiguration,
    callbacks: LoaderCallbacks<T>,
  ): void {
    const Default = this.defaultLoader;
    if (!Default) {
      callbacks.onError(
        { code: 0, text: "Hivecast: no hls.js default loader to delegate to" },
        context,
        null,
        this.stats,
      );
      return;
    }
    const own = this.stats;
    const delegate = new Default(this.hlsConfig);
    this.delegate = delegate;
    const active = (): boolean => this.delegate === delegate;
    const wrapped: LoaderCallbacks<LoaderContext> = {
      onSuccess: (response, stats, _ctx, details) => {
        if (!active()) return;
        syncStats(stats, own);
        callbacks.onSuccess(response, own, context, details);
      },
      onError: (error, _ctx, details, stats) => {
        if (!active()) return;
        syncStats(stats, own);
        callbacks.onError(error, context, details, own);
      },
      onTimeout: (stats, _ctx, details) => {
        if (!active()) return;
        syncStats(stats, own);
        callbacks.onTimeout(own, context, details);
      },
    };
    const { onAbort, onProgress } = callbacks;
    if (onAbort)
      wrapped.onAbort = (stats, _ctx, details) => {
        if (!active()) return;
        syncStats(stats, own);
        onAbort(own, context, details);
      };
    if (onProgress)
      wrapped.onProgress = (stats, _ctx, data, details) => {
        if (!active()) return;
        syncStats(stats, own);
        onProgress(own, context, data, details);
      };
    delegate.load(context, config, wrapped);
  }
}

/** Fragment loader (`fLoader`): media segments, init segments, byte ranges, LL-HLS parts. */
class FragmentEngineLoader extends EngineLoader<FragmentLoaderContext> {
  protected readonly reportsPayloadProgress = true;

  protected handles(context: FragmentLoaderContext): boolean {
    const type: string = context.type;
    return type === FRAGMENT_TYPE && typeof context.url === "string" && context.url.length > 0;
  }

  protected async request(
    engine: EngineView,
    context: FragmentLoaderContext,
    signal: AbortSignal,
    onProgress: (loaded: number, total: number | undefined) => void,
  ): Promise<EngineResponse> {
    let view: PlaybackView | undefined;
    try {
      view = this.host.playback();
    } catch {
      view = undefined; // a half-destroyed hls.js instance must not break loading
    }
    const req = segmentRequestOf(context, view);
    const res = await engine.loadSegment(req, { signal, onProgress });
    return {
      url: context.url,
      data: ownedBuffer(res.data),
      length: res.data.byteLength,
      timing: res.timing,
    };
  }
}

/** Playlist loader (`pLoader`): multivariant, level, audio and subtitle playlists, with origin failover. */
class PlaylistEngineLoader extends EngineLoader<PlaylistLoaderContext> {
  protected readonly reportsPayloadProgress = false;

  protected handles(context: PlaylistLoaderContext): boolean {
    const type: string = context.type;
    return PLAYLIST_TYPES.has(type) && typeof context.url === "string" && context.url.length > 0;
  }

  protected async request(
    engine: EngineView,
    context: PlaylistLoaderContext,
    signal: AbortSignal,
    onProgress: (loaded: number, total: number | undefined) => void,
    config: LoaderConfiguration | undefined,
  ): Promise<EngineResponse> {
    // For a blocking LL-HLS reload hls.js lowers this to what the playlist's part and target
    // durations allow the origin to hold the request; the engine uses it as the hold bound.
    const blockingHoldMs = config?.loadPolicy?.maxTimeToFirstByteMs;
    const res = await engine.loadPlaylist(context.url, { signal, onProgress, blockingHoldMs });
    return { url: res.url, data: res.text, length: res.text.length, timing: res.timing };
  }
}

/** Builds the `fLoader` / `pLoader` classes bound to `host` (hls.js instantiates them itself). */
export function createLoaders(host: LoaderHost): HivecastLoaders {
  class HivecastFragmentLoader extends FragmentEngineLoader {
    constructor(config: HlsConfig) {
      super(config, host);
    }
  }
  class HivecastPlaylistLoader extends PlaylistEngineLoader {
    constructor(config: HlsConfig) {
      super(config, host);
    }
  }
  return { fLoader: HivecastFragmentLoader, pLoader: HivecastPlaylistLoader };
}
