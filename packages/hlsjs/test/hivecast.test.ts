import { isHivecastError } from "@hivecast/core";
import type {
  FragmentLoaderContext,
  HlsConfig,
  LoaderCallbacks,
  PlaylistLoaderContext,
} from "hls.js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { EngineDeps } from "../src/index.js";
import { DEFAULT_CONFIG, Hivecast, HivecastError, LIVE_CATCH_UP_RATE } from "../src/index.js";
import type { MediaView } from "../src/segment-request.js";
import { FakeHls } from "./fake-hls.js";
import {
  FakeDefaultLoader,
  flush,
  frag,
  fragmentContext,
  loaderConfig,
  playlistContext,
  recorder,
} from "./helpers.js";

const SEG_URL = "https://a.example/live/v0/seg_7.m4s";
const SEG = new Uint8Array(4096).map((_, i) => (i * 7) % 256);

async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = await globalThis.crypto.subtle.digest("SHA-256", new Uint8Array(data));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A fetch serving a fixed table of URLs (others 404), recording every request. */
function tableFetch(table: Record<string, { status: number; body: Uint8Array | string }>): {
  fetch: typeof fetch;
  requests: string[];
} {
  const requests: string[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    requests.push(url);
    if (init?.signal?.aborted) throw init.signal.reason;
    const entry = table[url] ?? { status: 404, body: "not found" };
    const body = typeof entry.body === "string" ? entry.body : entry.body.slice();
    return new Response(body, { status: entry.status });
  };
  return { fetch: fetchFn, requests };
}

/** Waits (real time, bounded) until `cond` holds: the real engine's I/O is promise-based. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 2));
  }
}

function newHlsFor(hivecast: Hivecast, user: Partial<HlsConfig> = {}): FakeHls {
  return new FakeHls(
    hivecast.hlsConfig({ ...user, loader: FakeDefaultLoader as unknown as HlsConfig["loader"] }),
  );
}

const live: Hivecast[] = [];
function make(...args: ConstructorParameters<typeof Hivecast>): Hivecast {
  const h = new Hivecast(...args);
  live.push(h);
  return h;
}

beforeEach(() => {
  FakeDefaultLoader.instances = [];
});

afterEach(() => {
  for (const h of live.splice(0)) h.destroy();
});

describe("Hivecast.hlsConfig", () => {
  it("returns the user's hls.js config plus fLoader and pLoader, without mutating it", () => {
    const hivecast = make();
    const user: Partial<HlsConfig> = { maxBufferLength: 42, enableWorker: false };
    const cfg = hivecast.hlsConfig(user);
    expect(cfg.maxBufferLength).toBe(42);
    expect(cfg.enableWorker).toBe(false);
    expect(cfg.fLoader).toBeTypeOf("function");
    expect(cfg.pLoader).toBeTypeOf("function");
    expect(user).toEqual({ maxBufferLength: 42, enableWorker: false });
    // the same classes every call: one engine behind every hls.js load
    expect(hivecast.hlsConfig().fLoader).toBe(cfg.fLoader);
    expect(hivecast.hlsConfig().pLoader).toBe(cfg.pLoader);
  });

  it("turns on hls.js's live catch-up (maxLiveSyncPlaybackRate 1.1) unless the user sets it", () => {
    const hivecast = make();
    expect(hivecast.hlsConfig().maxLiveSyncPlaybackRate).toBe(LIVE_CATCH_UP_RATE);
    expect(LIVE_CATCH_UP_RATE).toBe(1.1);
    expect(hivecast.hlsConfig({ maxLiveSyncPlaybackRate: 1 }).maxLiveSyncPlaybackRate).toBe(1);
    expect(hivecast.hlsConfig({ maxLiveSyncPlaybackRate: 1.5 }).maxLiveSyncPlaybackRate).toBe(1.5);
  });

  it("replaces a user fLoader/pLoader but keeps the user's default loader", () => {
    const hivecast = make();
    class Mine {}
    const cfg = hivecast.hlsConfig({
      fLoader: Mine as unknown as HlsConfig["fLoader"],
      pLoader: Mine as unknown as HlsConfig["pLoader"],
      loader: Mine as unknown as HlsConfig["loader"],
    });
    expect(cfg.fLoader).not.toBe(Mine);
    expect(cfg.pLoader).not.toBe(Mine);
    expect(cfg.loader).toBe(Mine);
  });

  it("two Hivecast instances get distinct loader classes", () => {
    expect(make().hlsConfig().fLoader).not.toBe(make().hlsConfig().fLoader);
  });
});

/** A media element stand-in that dispatches events (`playing`). */
function fakeMedia(paused: boolean, readyState: number): EventTarget & MediaView {
  return Object.assign(new EventTarget(), { currentTime: 0, playbackRate: 1, paused, readyState });
}

describe("Hivecast.attach / detach / destroy", () => {
  it("attach registers for DESTROYING and detaches when hls.js is destroyed", () => {
    const hivecast = make();
    const hls = newHlsFor(hivecast);
    expect(hivecast.attach(hls.asHls())).toBe(hivecast);
    expect(hivecast.attached).toBe(hls);
    expect(hls.listenerCount("hlsDestroying")).toBe(1);
    hls.destroy();
    expect(hivecast.attached).toBeUndefined();
    expect(hls.listenerCount("hlsDestroying")).toBe(0);
    expect(hivecast.destroyed).toBe(false);
  });

  it("without a media element, the first buffered fragment tells the engine playback started (once); detach stops listening", () => {
    const hivecast = make();
    const started = vi.spyOn(hivecast.engine, "playbackStarted");
    const hls = newHlsFor(hivecast);
    hivecast.attach(hls.asHls());
    expect(hls.listenerCount("hlsFragBuffered")).toBe(1);
    hls.trigger("hlsFragBuffered");
    hls.trigger("hlsFragBuffered");
    expect(started).toHaveBeenCalledTimes(1);
    expect(hls.listenerCount("hlsFragBuffered")).toBe(0);
    // A new attachment listens again; detaching removes every listener.
    const other = newHlsFor(hivecast);
    hivecast.attach(other.asHls());
    expect(other.listenerCount("hlsFragBuffered")).toBe(1);
    hivecast.detach();
    expect(other.listenerCount("hlsFragBuffered")).toBe(0);
    expect(other.listenerCount("hlsDestroying")).toBe(0);
    other.trigger("hlsFragBuffered");
    expect(started).toHaveBeenCalledTimes(1);
  });

  it("with a media element, start-up ends at its first 'playing' after the first buffered fragment, not at the fragment", () => {
    const hivecast = make();
    const started = vi.spyOn(hivecast.engine, "playbackStarted");
    const hls = newHlsFor(hivecast);
    const media = fakeMedia(true, 1);
    hls.media = media;
    hivecast.attach(hls.asHls());
    // A 'playing' before any fragment is buffered is not the start (hls.js has nothing yet).
    media.dispatchEvent(new Event("playing"));
    expect(started).not.toHaveBeenCalled();
    hls.trigger("hlsFragBuffered");
    expect(started).not.toHaveBeenCalled(); // the first frame still needs more fragments
    media.dispatchEvent(new Event("playing"));
    media.dispatchEvent(new Event("playing"));
    expect(started).toHaveBeenCalledTimes(1);
    // Already playing when the first fragment is buffered (a re-attach): at once.
    const other = newHlsFor(hivecast);
    started.mockClear();
    other.media = fakeMedia(false, 4);
    hivecast.attach(other.asHls());
    other.trigger("hlsFragBuffered");
    expect(started).toHaveBeenCalledTimes(1);
  });

  it("after the first frame, a 'waiting' while playing tells the engine playback stalled; not while seeking or paused, not before start, not after detach", () => {
    const hivecast = make();
    const stalled = vi.spyOn(hivecast.engine, "playbackStalled");
    const hls = newHlsFor(hivecast);
    const media = Object.assign(fakeMedia(true, 1), { seeking: false });
    hls.media = media;
    hivecast.attach(hls.asHls());
    // Start-up: hls.js waits for its first fragments; that is not a stall.
    media.paused = false;
    media.dispatchEvent(new Event("waiting"));
    hls.trigger("hlsFragBuffered");
    media.dispatchEvent(new Event("waiting"));
    expect(stalled).not.toHaveBeenCalled();
    media.dispatchEvent(new Event("playing"));
    media.dispatchEvent(new Event("waiting"));
    expect(stalled).toHaveBeenCalledTimes(1);
    media.seeking = true;
    media.dispatchEvent(new Event("waiting"));
    media.seeking = false;
    media.paused = true;
    media.dispatchEvent(new Event("waiting"));
    expect(stalled).toHaveBeenCalledTimes(1);
    // A media element attached later is watched instead.
    const next = Object.assign(fakeMedia(false, 4), { seeking: false });
    hls.media = next;
    hls.trigger("hlsMediaAttached");
    media.paused = false;
    media.dispatchEvent(new Event("waiting"));
    next.dispatchEvent(new Event("waiting"));
    expect(stalled).toHaveBeenCalledTimes(2);
    hivecast.detach();
    next.dispatchEvent(new Event("waiting"));
    expect(stalled).toHaveBeenCalledTimes(2);
  });

  it("a stall with every segment of the live playlist buffered is the stream's lateness: uploads are not paused for it", () => {
    const hivecast = make();
    const stalled = vi.spyOn(hivecast.engine, "playbackStalled");
    const hls = newHlsFor(hivecast);
    let end = 10;
    const buffered = { length: 1, start: () => 0, end: () => end };
    const media = Object.assign(fakeMedia(false, 4), { seeking: false, buffered });
    hls.media = media;
    hivecast.attach(hls.asHls());
    hls.trigger("hlsFragBuffered");
    hls.trigger("hlsLevelLoaded", { details: { live: true, edge: 10.2 } });
    media.dispatchEvent(new Event("waiting")); // the next segment is not listed yet
    expect(stalled).not.toHaveBeenCalled();
    end = 6; // segments up to 10.2 are listed but not buffered: this viewer is behind
    media.dispatchEvent(new Event("waiting"));
    expect(stalled).toHaveBeenCalledTimes(1);
    // VOD (or a playlist that ended): every stall counts.
    end = 10;
    hls.trigger("hlsLevelLoaded", { details: { live: false, edge: 10.2 } });
    media.dispatchEvent(new Event("waiting"));
    expect(stalled).toHaveBeenCalledTimes(2);
    // A malformed event is ignored like VOD.
    hls.trigger("hlsLevelLoaded", { details: { live: true, edge: "x" } });
    media.dispatchEvent(new Event("waiting"));
    expect(stalled).toHaveBeenCalledTimes(3);
  });

  it("detaching before the first 'playing' stops listening to the media element", () => {
    const hivecast = make();
    const started = vi.spyOn(hivecast.engine, "playbackStarted");
    const hls = newHlsFor(hivecast);
    const media = fakeMedia(true, 1);
    const removed = vi.spyOn(media, "removeEventListener");
    hls.media = media;
    hivecast.attach(hls.asHls());
    hls.trigger("hlsFragBuffered");
    hivecast.detach();
    expect(removed).toHaveBeenCalledWith("playing", expect.any(Function));
    media.dispatchEvent(new Event("playing"));
    expect(started).not.toHaveBeenCalled();
  });

  it("attach is idempotent; attaching another instance detaches the first", () => {
    const hivecast = make();
    const a = newHlsFor(hivecast);
    const b = newHlsFor(hivecast);
    hivecast.attach(a.asHls()).attach(a.asHls());
    expect(a.listenerCount("hlsDestroying")).toBe(1);
    hivecast.attach(b.asHls());
    expect(a.listenerCount("hlsDestroying")).toBe(0);
    expect(b.listenerCount("hlsDestroying")).toBe(1);
    a.destroy(); // the old one going away does not detach the new one
    expect(hivecast.attached).toBe(b);
  });

  it("attach rejects an hls.js instance not created with this instance's hlsConfig()", () => {
    const hivecast = make();
    const other = make();
    const foreign = new FakeHls({ maxBufferLength: 10 });
    const e = (() => {
      try {
        hivecast.attach(foreign.asHls());
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(isHivecastError(e) && e.code).toBe("CONFIG_INVALID");
    expect(() => hivecast.attach(newHlsFor(other).asHls())).toThrow(HivecastError);
  });

  it("destroy detaches, destroys the engine, and is idempotent", () => {
    const hivecast = make();
    const hls = newHlsFor(hivecast);
    hivecast.attach(hls.asHls());
    hivecast.on("error", () => {});
    hivecast.destroy();
    hivecast.destroy();
    expect(hivecast.destroyed).toBe(true);
    expect(hivecast.engine.destroyed).toBe(true);
    expect(hivecast.attached).toBeUndefined();
    expect(hls.listenerCount("hlsDestroying")).toBe(0);
    expect(hivecast.engine.listenerCount()).toBe(0);
    // attaching after destroy does nothing
    hivecast.attach(newHlsFor(hivecast).asHls());
    expect(hivecast.attached).toBeUndefined();
  });

  it("after destroy, hls.js keeps loading through its own default loader", () => {
    const hivecast = make();
    const cfg = hivecast.hlsConfig({ loader: FakeDefaultLoader as unknown as HlsConfig["loader"] });
    hivecast.destroy();
    const F = cfg.fLoader;
    const loader = new F(cfg as HlsConfig);
    loader.load(fragmentContext(), loaderConfig(), recorder<FragmentLoaderContext>().callbacks);
    expect(FakeDefaultLoader.instances).toHaveLength(1);
  });

  it("exposes config, stats, P2P switch and the engine", () => {
    const hivecast = make({ origins: ["https://a.example/"], integrity: "optional" });
    expect(hivecast.config.origins.map((o) => o.url)).toEqual(["https://a.example/"]);
    expect(hivecast.config.integrity).toBe("optional");
    expect(hivecast.config.http).toEqual(DEFAULT_CONFIG.http);
    expect(hivecast.stats.bytes).toEqual({ http: 0, p2p: 0, cache: 0 });
    hivecast.setP2PEnabled(false);
    expect(hivecast.engine.config.p2p.enabled).toBe(false);
  });

  it("rejects an invalid config naming the field", () => {
    expect(() => make({ origins: ["not a url"] })).toThrow(/origins\[0\]/);
  });
});

describe("Hivecast with the real engine (fake fetch)", () => {
  it("fLoader serves verified bytes; segmentLoaded fires; on/off forward to the engine", async () => {
    const hash = await sha256Hex(SEG);
    const { fetch } = tableFetch({ [SEG_URL]: { status: 200, body: SEG } });
    const hivecast = make({ origins: ["https://a.example/"] }, { fetch });
    const events: unknown[] = [];
    const onLoaded = (e: unknown): void => void events.push(e);
    expect(hivecast.on("segmentLoaded", onLoaded)).toBe(hivecast);
    const hls = newHlsFor(hivecast);
    hivecast.attach(hls.asHls());
    const F = hls.config.fLoader!;
    const loader = new F(hls.config as HlsConfig);
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    loader.load(
      fragmentContext(frag({ tagList: [["EXT-X-HIVECAST-SHA256", hash]] }), { url: SEG_URL }),
      loaderConfig(),
      callbacks,
    );
    await until(() => calls.length > 0);
    expect(calls.map((c) => c.kind)).toEqual(["success"]);
    const data = (calls[0]!.args[0] as { data: ArrayBuffer }).data;
    expect(new Uint8Array(data)).toEqual(SEG);
    const s = calls[0]!.stats;
    expect(s.loaded).toBe(SEG.length);
    expect(s.loading.start).toBeLessThanOrEqual(s.loading.first);
    expect(s.loading.first).toBeLessThanOrEqual(s.loading.end);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ url: SEG_URL, source: "http", bytes: SEG.length });
    expect(hivecast.stats.bytes.http).toBe(SEG.length);

    hivecast.off("segmentLoaded", onLoaded);
    const again = new F(hls.config as HlsConfig);
    const second = recorder<FragmentLoaderContext>();
    again.load(
      fragmentContext(frag({ tagList: [["EXT-X-HIVECAST-SHA256", hash]] }), { url: SEG_URL }),
      loaderConfig(),
      second.callbacks,
    );
    await until(() => second.calls.length > 0);
    expect(second.calls[0]!.kind).toBe("success");
    expect(events).toHaveLength(1);
  });

  it("bytes that do not match the tag's hash never reach hls.js: onError", async () => {
    const { fetch } = tableFetch({ [SEG_URL]: { status: 200, body: SEG } });
    const hivecast = make(
      {
        origins: ["https://a.example/"],
        http: { segmentRetry: { ...DEFAULT_CONFIG.http.segmentRetry, maxNumRetry: 0 } },
      },
      { fetch },
    );
    const integrity: unknown[] = [];
    hivecast.on("integrityFailure", (e) => void integrity.push(e));
    const cfg = hivecast.hlsConfig();
    const loader = new cfg.fLoader(cfg as HlsConfig);
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    loader.load(
      fragmentContext(frag({ tagList: [["EXT-X-HIVECAST-SHA256", "0".repeat(64)]] }), {
        url: SEG_URL,
      }),
      loaderConfig(),
      callbacks,
    );
    await until(() => calls.length > 0);
    expect(calls.map((c) => c.kind)).toEqual(["error"]);
    expect(calls[0]!.args[0]).toMatchObject({ code: 0 });
    expect(integrity.length).toBeGreaterThan(0);
  });

  it("404 on every origin → onError code 404, tried on both origins", async () => {
    const { fetch, requests } = tableFetch({});
    const hivecast = make({ origins: ["https://a.example/", "https://b.example/"] }, { fetch });
    const cfg = hivecast.hlsConfig();
    const loader = new cfg.fLoader(cfg as HlsConfig);
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    loader.load(fragmentContext(frag(), { url: SEG_URL }), loaderConfig(), callbacks);
    await until(() => calls.length > 0);
    expect(calls[0]!.kind).toBe("error");
    expect(calls[0]!.args[0]).toMatchObject({ code: 404 });
    expect(requests).toContain(SEG_URL);
    expect(requests).toContain("https://b.example/live/v0/seg_7.m4s");
  });

  it("pLoader fails over to the second origin for a playlist", async () => {
    const text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg_7.m4s\n#EXT-X-ENDLIST\n";
    const { fetch } = tableFetch({
      "https://a.example/live/v0/index.m3u8": { status: 503, body: "down" },
      "https://b.example/live/v0/index.m3u8": { status: 200, body: text },
    });
    const hivecast = make({ origins: ["https://a.example/", "https://b.example/"] }, { fetch });
    const cfg = hivecast.hlsConfig();
    const loader = new cfg.pLoader(cfg as HlsConfig);
    const { calls, callbacks } = recorder<PlaylistLoaderContext>();
    loader.load(
      playlistContext("level", "https://a.example/live/v0/index.m3u8"),
      loaderConfig(20_000),
      callbacks,
    );
    await until(() => calls.length > 0, 5000);
    expect(calls.map((c) => c.kind)).toEqual(["success"]);
    expect(calls[0]!.args[0]).toEqual({
      url: "https://b.example/live/v0/index.m3u8",
      data: text,
      code: 200,
    });
  });

  it("hls.js aborting a load aborts the engine's fetch and reports only onAbort", async () => {
    let seenSignal: AbortSignal | undefined;
    const fetchFn: typeof fetch = (input, init) =>
      new Promise((_resolve, reject) => {
        if (String(input) === SEG_URL) seenSignal = init?.signal ?? undefined;
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      });
    const hivecast = make({ origins: ["https://a.example/"] }, { fetch: fetchFn });
    const cfg = hivecast.hlsConfig();
    const loader = new cfg.fLoader(cfg as HlsConfig);
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    const tagged = frag({ tagList: [["EXT-X-HIVECAST-SHA256", "1".repeat(64)]] });
    loader.load(fragmentContext(tagged, { url: SEG_URL }), loaderConfig(), callbacks);
    await until(() => seenSignal !== undefined);
    loader.abort();
    await flush();
    expect(seenSignal?.aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls.map((c) => c.kind)).toEqual(["abort"]);
  });
});

describe("Hivecast with the real engine and a P2P layer that makes it wait", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("the engine's deliberate peer wait is excluded from LoaderStats (ABR sees only the transfer)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] });
    const PEER_WAIT_MS = 400;
    const hash = await sha256Hex(SEG);
    const { fetch } = tableFetch({ [SEG_URL]: { status: 200, body: SEG } });
    // Peers "might get it soon": the P2P layer waits, then gives up, and the engine goes to HTTP.
    const peerSourceFactory: NonNullable<EngineDeps["peerSourceFactory"]> = ({ clock }) => ({
      download: (_key, { signal, giveUpAt }) =>
        new Promise((resolve, reject) => {
          const wait = Math.min(PEER_WAIT_MS, giveUpAt - clock.now());
          const h = clock.setTimeout(() => resolve(null), wait);
          signal.addEventListener("abort", () => {
            clock.clearTimeout(h);
            reject(signal.reason);
          });
        }),
      reportBad: () => {},
      announce: () => {},
      forget: () => {},
      updatePlaylist: () => {},
      peerCount: () => 1, // a connected peer that might have it: the engine asks
      destroy: () => {},
    });
    const hivecast = make(
      { origins: ["https://a.example/"], p2p: { enabled: true, trackers: ["ws://127.0.0.1:9/"] } },
      { fetch, peerSourceFactory },
    );
    const cfg = hivecast.hlsConfig();
    const loader = new cfg.fLoader(cfg as HlsConfig);
    const { calls, callbacks } = recorder<FragmentLoaderContext>();
    const t0 = performance.now();
    loader.load(
      fragmentContext(frag({ tagList: [["EXT-X-HIVECAST-SHA256", hash]] }), { url: SEG_URL }),
      loaderConfig(),
      callbacks,
    );
    expect(loader.stats.loading.start).toBe(t0);
    await vi.advanceTimersByTimeAsync(PEER_WAIT_MS);
    // HTTP takes no fake time; the hash check runs on WebCrypto, which takes real time. Wait
    // for it without moving the fake clock (so the transfer's own time stays exact).
    const deadline = process.hrtime.bigint() + 10_000_000_000n;
    while (calls.length === 0 && process.hrtime.bigint() < deadline) {
      await vi.advanceTimersByTimeAsync(0);
      await new Promise((r) => setImmediate(r));
    }
    expect(calls.map((c) => c.kind)).toEqual(["success"]);
    const s = calls[0]!.stats;
    // load() was at t0, the engine waited ≥ 400 ms for peers, then HTTP took (fake) no time
    expect(s.loading.end - t0).toBeGreaterThanOrEqual(PEER_WAIT_MS);
    expect(s.loading.start - t0).toBeGreaterThanOrEqual(PEER_WAIT_MS);
    expect(s.loading.end - s.loading.start).toBe(0);
    expect(s.loading.start).toBeLessThanOrEqual(s.loading.first);
    expect(s.loading.first).toBeLessThanOrEqual(s.loading.end);
    expect(s.loaded).toBe(SEG.length);
  });
});

// Type-level check that the returned config is directly usable with hls.js's loader types.
export type _LoadersAreHlsLoaders = LoaderCallbacks<FragmentLoaderContext>;

describe("Hivecast production options in the config", () => {
  it("fetch and requestSetup in the config sign each hls.js fragment request for its origin; updateConfig changes origins at runtime", async () => {
    const hash = await sha256Hex(SEG);
    const B_URL = "https://b.example/live/v0/seg_8.m4s";
    const { fetch, requests } = tableFetch({
      [`${SEG_URL}?sig=a`]: { status: 200, body: SEG },
      [`${B_URL}?sig=b`]: { status: 200, body: SEG },
    });
    const hivecast = make({
      origins: ["https://a.example/"],
      fetch,
      requestSetup: (ctx) => ({
        url: `${ctx.url}?sig=${ctx.origin.includes("a.example") ? "a" : "b"}`,
      }),
    });
    const hls = newHlsFor(hivecast);
    hivecast.attach(hls.asHls());
    const F = hls.config.fLoader!;
    const load = async (url = SEG_URL): Promise<string> => {
      const { calls, callbacks } = recorder<FragmentLoaderContext>();
      new F(hls.config as HlsConfig).load(
        fragmentContext(frag({ tagList: [["EXT-X-HIVECAST-SHA256", hash]] }), { url }),
        loaderConfig(),
        callbacks,
      );
      await until(() => calls.length > 0);
      return calls[0]!.kind;
    };
    expect(await load()).toBe("success");
    expect(requests).toEqual([`${SEG_URL}?sig=a`]);

    expect(() =>
      hivecast.updateConfig({ origins: [{ url: "https://b.example/", weight: -1 }] }),
    ).toThrow(/origins\[0\]\.weight/);
    expect(hivecast.config.origins.map((o) => o.url)).toEqual(["https://a.example/"]);
    expect(hivecast.updateConfig({ origins: ["https://b.example/", "https://a.example/"] })).toBe(
      hivecast,
    );
    // seg_8 exists only on B: A's 404 fails over to B, signed for B.
    expect(await load("https://a.example/live/v0/seg_8.m4s")).toBe("success");
    expect(requests.at(-1)).toBe(`${B_URL}?sig=b`);
  });
});
