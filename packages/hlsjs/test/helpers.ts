import { HivecastError } from "@hivecast/core";
import type {
  LoadOptions,
  LoadTiming,
  PlaylistLoadOptions,
  PlaylistResult,
  SegmentRequest,
  SegmentResult,
} from "@hivecast/core";
import type {
  FragmentLoaderContext,
  HlsConfig,
  LoaderCallbacks,
  LoaderConfiguration,
  LoaderContext,
  LoaderStats,
  PlaylistLoaderContext,
} from "hls.js";
import type { EngineView, LoaderHost } from "../src/loaders.js";
import type { FragmentView, PlaybackView } from "../src/segment-request.js";

/** A promise with its settle functions exposed. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** One call the fake engine received. */
export interface EngineCall<R> {
  req: SegmentRequest | string;
  opts: LoadOptions | PlaylistLoadOptions;
  result: Deferred<R>;
}

/**
 * An engine double: every load returns a deferred the test settles. Like the real engine, an
 * aborted load rejects with ABORTED.
 */
export class FakeEngine implements EngineView {
  destroyed = false;
  readonly segmentCalls: EngineCall<SegmentResult>[] = [];
  readonly playlistCalls: EngineCall<PlaylistResult>[] = [];

  loadSegment(req: SegmentRequest, opts: LoadOptions = {}): Promise<SegmentResult> {
    const result = deferred<SegmentResult>();
    this.segmentCalls.push({ req, opts, result });
    opts.signal?.addEventListener("abort", () => result.reject(abortedError()), { once: true });
    return result.promise;
  }

  loadPlaylist(url: string, opts: PlaylistLoadOptions = {}): Promise<PlaylistResult> {
    const result = deferred<PlaylistResult>();
    this.playlistCalls.push({ req: url, opts, result });
    opts.signal?.addEventListener("abort", () => result.reject(abortedError()), { once: true });
    return result.promise;
  }

  lastSegment(): EngineCall<SegmentResult> {
    const c = this.segmentCalls.at(-1);
    if (!c) throw new Error("no segment call");
    return c;
  }

  lastPlaylist(): EngineCall<PlaylistResult> {
    const c = this.playlistCalls.at(-1);
    if (!c) throw new Error("no playlist call");
    return c;
  }
}

function abortedError(): HivecastError {
  return new HivecastError("ABORTED", "The request was aborted", { fatal: true });
}

/** A host with a hand-driven clock. */
export class FakeHost implements LoaderHost {
  time = 1000;
  view: PlaybackView | undefined = undefined;
  constructor(readonly engine: EngineView) {}
  playback(): PlaybackView | undefined {
    return this.view;
  }
  now(): number {
    return this.time;
  }
}

export function timing(t: Partial<LoadTiming> = {}): LoadTiming {
  return { start: 1000, firstByte: 1000, end: 1000, waitMs: 0, ...t };
}

/** Callback recorder: every call, in order, with the stats snapshot taken at call time. */
export interface Recorded {
  kind: "success" | "error" | "timeout" | "abort" | "progress";
  args: unknown[];
  stats: LoaderStats;
}

export function recorder<T extends LoaderContext>(
  opts: { onProgress?: boolean; onAbort?: boolean } = {},
): { calls: Recorded[]; callbacks: LoaderCallbacks<T> } {
  const calls: Recorded[] = [];
  const snap = (s: LoaderStats): LoaderStats => structuredClone(s);
  const callbacks: LoaderCallbacks<T> = {
    onSuccess: (response, stats, context, details) =>
      calls.push({
        kind: "success",
        args: [response, stats, context, details],
        stats: snap(stats),
      }),
    onError: (error, context, details, stats) =>
      calls.push({ kind: "error", args: [error, context, details, stats], stats: snap(stats) }),
    onTimeout: (stats, context, details) =>
      calls.push({ kind: "timeout", args: [stats, context, details], stats: snap(stats) }),
  };
  if (opts.onAbort !== false)
    callbacks.onAbort = (stats, context, details) =>
      calls.push({ kind: "abort", args: [stats, context, details], stats: snap(stats) });
  if (opts.onProgress)
    callbacks.onProgress = (stats, context, data, details) =>
      calls.push({ kind: "progress", args: [stats, context, data, details], stats: snap(stats) });
  return { calls, callbacks };
}

/** hls.js's loader configuration for fragments (its defaults). */
export function loaderConfig(maxLoadTimeMs = 120_000): LoaderConfiguration {
  return {
    loadPolicy: {
      maxTimeToFirstByteMs: 10_000,
      maxLoadTimeMs,
      timeoutRetry: null,
      errorRetry: null,
    },
    timeout: maxLoadTimeMs,
    maxRetry: 0,
    retryDelay: 0,
    maxRetryDelay: 0,
  };
}

export function frag(over: Partial<FragmentView> = {}): FragmentView {
  return {
    sn: 7,
    start: 14,
    duration: 2,
    type: "main",
    level: 0,
    baseurl: "https://a.example/live/v0/index.m3u8",
    tagList: [["INF", "2"]],
    ...over,
  };
}

/** A FragmentLoaderContext as hls.js builds it (createLoaderContext), around a fragment view. */
export function fragmentContext(
  f: FragmentView = frag(),
  over: Partial<FragmentLoaderContext> = {},
): FragmentLoaderContext {
  const ctx = {
    type: "media-fragment",
    frag: f,
    part: null,
    responseType: "arraybuffer",
    url: `https://a.example/live/v0/seg_${String(f.sn)}.m4s`,
    headers: {},
    rangeStart: 0,
    rangeEnd: 0,
    ...over,
  };
  // Test double: hls.js's Fragment is a class; the loader only reads the FragmentView fields.
  return ctx as unknown as FragmentLoaderContext;
}

export function playlistContext(
  type: string,
  url = "https://a.example/live/master.m3u8",
): PlaylistLoaderContext {
  const ctx = {
    type,
    url,
    responseType: "text",
    level: null,
    id: null,
    deliveryDirectives: null,
    levelOrTrack: null,
  };
  // Test double: the enum-typed `type` is a plain string at run time.
  return ctx as unknown as PlaylistLoaderContext;
}

/** A stand-in for hls.js's default loader (`config.loader`), recording what it was asked. */
export class FakeDefaultLoader {
  static instances: FakeDefaultLoader[] = [];
  context: LoaderContext | null = null;
  stats: LoaderStats = {
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
  callbacks: LoaderCallbacks<LoaderContext> | null = null;
  aborted = false;
  destroyed = false;
  constructor(readonly config: HlsConfig) {
    FakeDefaultLoader.instances.push(this);
  }
  load(
    context: LoaderContext,
    _config: LoaderConfiguration,
    callbacks: LoaderCallbacks<LoaderContext>,
  ): void {
    this.context = context;
    this.callbacks = callbacks;
    this.stats.loading.start = 5;
  }
  /** Finishes the load like hls.js's XhrLoader would. */
  succeed(data: string | ArrayBuffer): void {
    const len = typeof data === "string" ? data.length : data.byteLength;
    Object.assign(this.stats, { loaded: len, total: len });
    Object.assign(this.stats.loading, { first: 6, end: 9 });
    const ctx = this.context;
    if (ctx) this.callbacks?.onSuccess({ url: ctx.url, data, code: 200 }, this.stats, ctx, null);
  }
  abort(): void {
    this.aborted = true;
    const ctx = this.context;
    if (ctx) this.callbacks?.onAbort?.(this.stats, ctx, null);
  }
  destroy(): void {
    this.destroyed = true;
    this.callbacks = null;
  }
}

/** An HlsConfig carrying only the default loader (all the loaders read from it). */
export function hlsConfigWithDefaultLoader(): HlsConfig {
  // Test double: the loaders read only `config.loader` from the full HlsConfig.
  return { loader: FakeDefaultLoader } as unknown as HlsConfig;
}

/** Lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

export function bytes(n: number, fill = 1): Uint8Array {
  return new Uint8Array(n).fill(fill);
}
