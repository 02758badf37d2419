import { HivecastError } from "@hivecast/core";
import type { FragmentLoaderContext, PlaylistLoaderContext } from "hls.js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLoaders } from "../src/loaders.js";
import {
  bytes,
  FakeDefaultLoader,
  FakeEngine,
  FakeHost,
  flush,
  frag,
  fragmentContext,
  hlsConfigWithDefaultLoader,
  loaderConfig,
  playlistContext,
  recorder,
  timing,
} from "./helpers.js";

const HEX = "e73a361322a35d50da77506804219dc36d893fc28c4296911beadcd8a573eafc";

function setup(): {
  engine: FakeEngine;
  host: FakeHost;
  fLoader: InstanceType<ReturnType<typeof createLoaders>["fLoader"]>;
  pLoader: InstanceType<ReturnType<typeof createLoaders>["pLoader"]>;
} {
  const engine = new FakeEngine();
  const host = new FakeHost(engine);
  const { fLoader, pLoader } = createLoaders(host);
  const config = hlsConfigWithDefaultLoader();
  return { engine, host, fLoader: new fLoader(config), pLoader: new pLoader(config) };
}

beforeEach(() => {
  FakeDefaultLoader.instances = [];
});

afterEach(() => {
  vi.useRealTimers();
});

describe("fragment loader: stats", () => {
  it("fills LoaderStats truthfully: start ≤ first ≤ end, loaded = total = bytes, bwEstimate", async () => {
    const { engine, host, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>({ onProgress: true });
    const ctx = fragmentContext();
    host.time = 1000;
    fLoader.load(ctx, loaderConfig(), callbacks);
    expect(fLoader.stats.loading.start).toBe(1000);
    expect(fLoader.context).toBe(ctx);

    host.time = 1400;
    engine.lastSegment().result.resolve({
      data: bytes(50_000),
      source: "http",
      origin: "https://a.example/",
      verified: true,
      timing: timing({ start: 1000, firstByte: 1150, end: 1400, waitMs: 0 }),
    });
    await flush();

    expect(calls.map((c) => c.kind)).toEqual(["progress", "success"]);
    const s = calls[1]!.stats;
    expect(s.loading).toEqual({ start: 1000, first: 1150, end: 1400 });
    expect(s.loaded).toBe(50_000);
    expect(s.total).toBe(50_000);
    expect(s.bwEstimate).toBeCloseTo((50_000 * 8000) / 250);
    expect(s.aborted).toBe(false);
    const [response, stats, context, details] = calls[1]!.args;
    expect(stats).toBe(fLoader.stats); // hls.js keeps this object as frag.stats
    expect(context).toBe(ctx);
    expect(details).toBeNull();
    expect(response).toMatchObject({ url: ctx.url, code: 200 });
    const data = (response as { data: unknown }).data;
    expect(data).toBeInstanceOf(ArrayBuffer);
    expect((data as ArrayBuffer).byteLength).toBe(50_000);
    // the payload given to onProgress is the same bytes hls.js gets in onSuccess
    expect(calls[0]!.args[2]).toBe(data);
  });

  it("excludes the engine's deliberate peer wait (waitMs) so ABR sees the real transfer time", async () => {
    const { engine, host, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    host.time = 1000;
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    host.time = 2000;
    // waited 600 ms for peers, then HTTP: first byte 100 ms later, done 300 ms after that
    engine.lastSegment().result.resolve({
      data: bytes(100_000),
      source: "http",
      verified: true,
      timing: timing({ start: 1000, firstByte: 1700, end: 2000, waitMs: 600 }),
    });
    await flush();
    const s = calls[0]!.stats;
    expect(s.loading).toEqual({ start: 1600, first: 1700, end: 2000 });
    // what hls.js's ABR computes from these: ttfb 100 ms, transfer 300 ms — the wait is gone
    expect(s.loading.first - s.loading.start).toBe(100);
    expect(s.loading.end - s.loading.first).toBe(300);
  });

  it("keeps start ≤ first ≤ end even with inconsistent engine timings", async () => {
    const { engine, host, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    host.time = 1000;
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    host.time = 1100;
    engine.lastSegment().result.resolve({
      data: bytes(10),
      source: "cache",
      verified: true,
      // firstByte before start, waitMs longer than the whole load
      timing: timing({ start: 1000, firstByte: 900, end: 1100, waitMs: 5000 }),
    });
    await flush();
    const { start, first, end } = calls[0]!.stats.loading;
    expect(start).toBeLessThanOrEqual(first);
    expect(first).toBeLessThanOrEqual(end);
    expect(start).toBeGreaterThanOrEqual(1000);
    expect(end).toBe(1100);
  });

  it("progress from the engine updates loaded/total and first while loading (hls.js abandon rules)", async () => {
    const { engine, host, fLoader } = setup();
    const { callbacks } = recorder<FragmentLoaderContext>();
    host.time = 1000;
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    const onProgress = engine.lastSegment().opts.onProgress;
    expect(onProgress).toBeTypeOf("function");
    host.time = 1200;
    onProgress?.(0, undefined);
    expect(fLoader.stats.loading.first).toBe(0);
    onProgress?.(4000, 20_000);
    expect(fLoader.stats.loading.first).toBe(1200);
    expect(fLoader.stats.loaded).toBe(4000);
    expect(fLoader.stats.total).toBe(20_000);
    host.time = 1300;
    onProgress?.(3000, 20_000); // a retry on another origin restarts its count: stays monotonic
    expect(fLoader.stats.loaded).toBe(4000);
    expect(fLoader.stats.loading.first).toBe(1200);
    onProgress?.(26_000, 20_000); // two hedged attempts counted together: capped at the size
    expect(fLoader.stats.loaded).toBe(20_000);
  });

  it("hands hls.js a buffer it may transfer, even when the engine returns a view", async () => {
    const { engine, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    const big = new Uint8Array(100).map((_, i) => i);
    engine.lastSegment().result.resolve({
      data: big.subarray(10, 20),
      source: "p2p",
      peerId: "p",
      verified: true,
      timing: timing(),
    });
    await flush();
    const data = (calls[0]!.args[0] as { data: ArrayBuffer }).data;
    expect(data.byteLength).toBe(10);
    expect([...new Uint8Array(data)]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it("keeps the retry count hls.js set on the stats before load()", async () => {
    const { engine, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    fLoader.stats.retry = 2;
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    engine
      .lastSegment()
      .result.resolve({ data: bytes(1), source: "http", verified: true, timing: timing() });
    await flush();
    expect(calls[0]!.stats.retry).toBe(2);
  });
});

describe("fragment loader: request mapping", () => {
  it("passes the tagList hash, sn, kind and playlist url to engine.loadSegment", () => {
    const { engine, fLoader } = setup();
    const f = frag({
      tagList: [
        ["INF", "2"],
        ["EXT-X-HIVECAST-SHA256", HEX],
      ],
    });
    fLoader.load(fragmentContext(f), loaderConfig(), recorder<FragmentLoaderContext>().callbacks);
    expect(engine.lastSegment().req).toEqual({
      url: "https://a.example/live/v0/seg_7.m4s",
      kind: "segment",
      playlistUrl: "https://a.example/live/v0/index.m3u8",
      sn: 7,
      duration: 2,
      hash: HEX,
    });
    expect(engine.lastSegment().opts.signal).toBeInstanceOf(AbortSignal);
  });

  it("maps init segments and byte ranges", () => {
    const { engine, fLoader } = setup();
    const init = frag({ sn: "initSegment", byteRangeStartOffset: 0, byteRangeEndOffset: 800 });
    fLoader.load(
      fragmentContext(init, { url: "https://a.example/v/main.mp4", rangeStart: 0, rangeEnd: 800 }),
      loaderConfig(),
      recorder<FragmentLoaderContext>().callbacks,
    );
    expect(engine.lastSegment().req).toMatchObject({
      kind: "init",
      url: "https://a.example/v/main.mp4",
      byteRange: { start: 0, end: 800 },
    });
  });

  it("computes the deadline from the attached media", () => {
    const { engine, host, fLoader } = setup();
    host.view = {
      media: { currentTime: 12, playbackRate: 1, paused: false },
      levels: [{ details: { live: true, url: "https://a.example/live/v0/index.m3u8" } }],
      audioTracks: [],
      subtitleTracks: [],
    };
    fLoader.load(
      fragmentContext(frag({ start: 15 })),
      loaderConfig(),
      recorder<FragmentLoaderContext>().callbacks,
    );
    expect(engine.lastSegment().req).toMatchObject({ deadlineMs: 3000, live: true });
  });

  it("still loads when reading the hls.js instance throws (half-destroyed player)", () => {
    const { engine, host, fLoader } = setup();
    host.playback = () => {
      throw new Error("levelController is null");
    };
    fLoader.load(fragmentContext(), loaderConfig(), recorder<FragmentLoaderContext>().callbacks);
    return flush().then(() => {
      expect(engine.segmentCalls).toHaveLength(1);
      expect(engine.lastSegment().req).not.toHaveProperty("deadlineMs");
    });
  });
});

describe("fragment loader: abort", () => {
  it("abort() calls onAbort once, aborts the engine load, and nothing follows", async () => {
    const { engine, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>({ onProgress: true });
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    const call = engine.lastSegment();
    fLoader.abort();
    expect(call.opts.signal?.aborted).toBe(true);
    expect(calls.map((c) => c.kind)).toEqual(["abort"]);
    expect(calls[0]!.stats.aborted).toBe(true);
    // even if the engine resolved anyway, nothing more reaches hls.js
    call.result.resolve({ data: bytes(5), source: "http", verified: true, timing: timing() });
    call.opts.onProgress?.(5, 5);
    await flush();
    fLoader.abort();
    expect(calls.map((c) => c.kind)).toEqual(["abort"]);
  });

  it("abort() without onAbort is silent and still stops later callbacks", async () => {
    const { engine, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>({ onAbort: false });
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    fLoader.abort();
    engine
      .lastSegment()
      .result.reject(new HivecastError("HTTP_STATUS", "404", { details: { status: 404 } }));
    await flush();
    expect(calls).toEqual([]);
  });

  it("abort() after success is a no-op", async () => {
    const { engine, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    engine
      .lastSegment()
      .result.resolve({ data: bytes(1), source: "http", verified: true, timing: timing() });
    await flush();
    fLoader.abort();
    expect(calls.map((c) => c.kind)).toEqual(["success"]);
    expect(calls[0]!.stats.aborted).toBe(false);
  });

  it("destroy() aborts the engine load and reports nothing", async () => {
    const { engine, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    const call = engine.lastSegment();
    fLoader.destroy();
    expect(call.opts.signal?.aborted).toBe(true);
    expect(fLoader.context).toBeNull();
    call.result.resolve({ data: bytes(1), source: "http", verified: true, timing: timing() });
    await flush();
    expect(calls).toEqual([]);
  });

  it("hls.js destroying the loader inside onSuccess (resetLoader) is safe", async () => {
    const { engine, fLoader } = setup();
    const seen: string[] = [];
    fLoader.load(fragmentContext(), loaderConfig(), {
      onSuccess: () => {
        seen.push("success");
        fLoader.destroy();
      },
      onError: () => seen.push("error"),
      onTimeout: () => seen.push("timeout"),
      onAbort: () => seen.push("abort"),
    });
    engine
      .lastSegment()
      .result.resolve({ data: bytes(1), source: "http", verified: true, timing: timing() });
    await flush();
    expect(seen).toEqual(["success"]);
  });

  it("an abort from inside onProgress reports onAbort and stops onSuccess", async () => {
    const { engine, fLoader } = setup();
    const seen: string[] = [];
    fLoader.load(fragmentContext(), loaderConfig(), {
      onProgress: () => {
        seen.push("progress");
        fLoader.abort();
      },
      onSuccess: () => seen.push("success"),
      onError: () => seen.push("error"),
      onTimeout: () => seen.push("timeout"),
      onAbort: () => seen.push("abort"),
    });
    engine
      .lastSegment()
      .result.resolve({ data: bytes(1), source: "http", verified: true, timing: timing() });
    await flush();
    expect(seen).toEqual(["progress", "abort"]);
    expect(fLoader.stats.aborted).toBe(true);
  });
});

describe("fragment loader: errors", () => {
  it("404 from every origin → onError({ code: 404 })", async () => {
    const { engine, host, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    host.time = 1000;
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    host.time = 1300;
    engine.lastSegment().result.reject(
      new HivecastError("ALL_ORIGINS_FAILED", "Every origin failed", {
        fatal: true,
        details: { status: 404, origin: "https://b.example/" },
      }),
    );
    await flush();
    expect(calls.map((c) => c.kind)).toEqual(["error"]);
    const [error, context, details, stats] = calls[0]!.args;
    expect(error).toMatchObject({ code: 404 });
    expect((error as { text: string }).text).toContain("ALL_ORIGINS_FAILED");
    expect(context).toBe(fLoader.context);
    expect(details).toBeNull();
    expect(stats).toBe(fLoader.stats);
    expect(calls[0]!.stats.loading.end).toBe(1300);
  });

  it("engine timeout → onTimeout", async () => {
    const { engine, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    engine
      .lastSegment()
      .result.reject(new HivecastError("HTTP_TIMEOUT", "no first byte", { fatal: true }));
    await flush();
    expect(calls.map((c) => c.kind)).toEqual(["timeout"]);
    expect(calls[0]!.args[0]).toBe(fLoader.stats);
  });

  it("integrity failure after every source → onError code 0 (like a network error)", async () => {
    const { engine, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    fLoader.load(fragmentContext(), loaderConfig(), callbacks);
    engine
      .lastSegment()
      .result.reject(new HivecastError("INTEGRITY_MISMATCH", "bad", { fatal: true }));
    await flush();
    expect(calls[0]!.kind).toBe("error");
    expect(calls[0]!.args[0]).toMatchObject({ code: 0 });
  });

  it("hls.js's maxLoadTimeMs bounds the load: onTimeout, engine load aborted, no late success", async () => {
    vi.useFakeTimers();
    const { engine, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    fLoader.load(fragmentContext(), loaderConfig(5000), callbacks);
    const call = engine.lastSegment();
    await vi.advanceTimersByTimeAsync(4999);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((c) => c.kind)).toEqual(["timeout"]);
    expect(call.opts.signal?.aborted).toBe(true);
    call.result.resolve({ data: bytes(1), source: "http", verified: true, timing: timing() });
    await flush();
    expect(calls.map((c) => c.kind)).toEqual(["timeout"]);
  });

  it("a settled load clears its timer", async () => {
    vi.useFakeTimers();
    const { engine, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    fLoader.load(fragmentContext(), loaderConfig(5000), callbacks);
    engine
      .lastSegment()
      .result.resolve({ data: bytes(1), source: "http", verified: true, timing: timing() });
    await flush();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls.map((c) => c.kind)).toEqual(["success"]);
  });

  it("a load that throws synchronously is reported, not thrown at hls.js", async () => {
    const { engine, fLoader } = setup();
    engine.loadSegment = () => {
      throw new HivecastError("HTTP_NETWORK", "sync");
    };
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    expect(() => fLoader.load(fragmentContext(), loaderConfig(), callbacks)).not.toThrow();
    await flush();
    expect(calls.map((c) => c.kind)).toEqual(["error"]);
  });
});

describe("playlist loader", () => {
  it.each(["manifest", "level", "audioTrack", "subtitleTrack"])(
    "loads %s playlists through engine.loadPlaylist",
    async (type) => {
      const { engine, host, pLoader } = setup();
      const { calls, callbacks } = recorder<PlaylistLoaderContext>();
      const ctx = playlistContext(type, "https://a.example/live/v0/index.m3u8");
      host.time = 500;
      pLoader.load(ctx, loaderConfig(20_000), callbacks);
      expect(engine.lastPlaylist().req).toBe("https://a.example/live/v0/index.m3u8");
      expect(FakeDefaultLoader.instances).toHaveLength(0);
      host.time = 580;
      const text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n";
      engine.lastPlaylist().result.resolve({
        text,
        url: "https://b.example/live/v0/index.m3u8",
        origin: "https://b.example/",
        timing: timing({ start: 500, firstByte: 560, end: 580 }),
      });
      await flush();
      expect(calls.map((c) => c.kind)).toEqual(["success"]);
      // the URL the playlist really came from: hls.js resolves segment URIs against it
      expect(calls[0]!.args[0]).toEqual({
        url: "https://b.example/live/v0/index.m3u8",
        data: text,
        code: 200,
      });
      expect(calls[0]!.stats.loading).toEqual({ start: 500, first: 560, end: 580 });
      expect(calls[0]!.stats.loaded).toBe(text.length);
    },
  );

  it("hands hls.js's time-to-first-byte bound to the engine as the hold bound of a blocking reload", async () => {
    const { engine, pLoader } = setup();
    const { callbacks } = recorder<PlaylistLoaderContext>();
    const url = "https://a.example/live/v0/index.m3u8?_HLS_msn=42&_HLS_part=1";
    // hls.js lowers maxTimeToFirstByteMs for LL-HLS reloads to max(3 × part, 0.8 × target).
    const config = loaderConfig(3000);
    config.loadPolicy.maxTimeToFirstByteMs = 3000;
    pLoader.load(playlistContext("level", url), config, callbacks);
    expect(engine.lastPlaylist().req).toBe(url);
    expect(engine.lastPlaylist().opts).toMatchObject({ blockingHoldMs: 3000 });
  });

  it("maps playlist errors the same way (404 → onError 404)", async () => {
    const { engine, pLoader } = setup();
    const { calls, callbacks } = recorder<PlaylistLoaderContext>();
    pLoader.load(playlistContext("manifest"), loaderConfig(20_000), callbacks);
    engine
      .lastPlaylist()
      .result.reject(
        new HivecastError("HTTP_STATUS", "404", { fatal: true, details: { status: 404 } }),
      );
    await flush();
    expect(calls[0]!.kind).toBe("error");
    expect(calls[0]!.args[0]).toMatchObject({ code: 404 });
  });

  it("delegates unknown context types to hls.js's default loader, reporting through its own stats", async () => {
    const { engine, pLoader } = setup();
    const { calls, callbacks } = recorder<PlaylistLoaderContext>();
    const ctx = playlistContext("steering-manifest", "https://a.example/steer.json");
    pLoader.load(ctx, loaderConfig(), callbacks);
    expect(engine.playlistCalls).toHaveLength(0);
    expect(FakeDefaultLoader.instances).toHaveLength(1);
    const delegate = FakeDefaultLoader.instances[0]!;
    expect(delegate.context).toBe(ctx);
    delegate.succeed('{"VERSION":1}');
    expect(calls.map((c) => c.kind)).toEqual(["success"]);
    expect(calls[0]!.args[1]).toBe(pLoader.stats);
    expect(calls[0]!.args[2]).toBe(ctx);
    expect(pLoader.stats.loaded).toBe(13);
    expect(pLoader.stats.loading).toEqual({ start: 5, first: 6, end: 9 });
  });

  it("abort and destroy reach the delegate", () => {
    const { pLoader } = setup();
    const { calls, callbacks } = recorder<PlaylistLoaderContext>();
    pLoader.load(playlistContext("key"), loaderConfig(), callbacks);
    const delegate = FakeDefaultLoader.instances[0]!;
    pLoader.abort();
    expect(delegate.aborted).toBe(true);
    expect(calls.map((c) => c.kind)).toEqual(["abort"]);
    pLoader.destroy();
    expect(delegate.destroyed).toBe(true);
  });
});

describe("after the engine is destroyed", () => {
  it("new loads go to hls.js's default loader", () => {
    const { engine, fLoader } = setup();
    engine.destroyed = true;
    fLoader.load(fragmentContext(), loaderConfig(), recorder<FragmentLoaderContext>().callbacks);
    expect(engine.segmentCalls).toHaveLength(0);
    expect(FakeDefaultLoader.instances).toHaveLength(1);
  });

  it("a load cut by engine.destroy() is restarted on the default loader and completes there", async () => {
    const { engine, fLoader } = setup();
    const { calls, callbacks } = recorder<FragmentLoaderContext>({ onProgress: true });
    const ctx = fragmentContext();
    fLoader.load(ctx, loaderConfig(), callbacks);
    engine
      .lastSegment()
      .result.reject(new HivecastError("DESTROYED", "The engine was destroyed", { fatal: true }));
    await flush();
    expect(calls).toEqual([]);
    const delegate = FakeDefaultLoader.instances[0]!;
    expect(delegate.context).toBe(ctx);
    delegate.succeed(new ArrayBuffer(3));
    expect(calls.map((c) => c.kind)).toEqual(["success"]);
    expect(fLoader.stats.loaded).toBe(3);
  });
});
