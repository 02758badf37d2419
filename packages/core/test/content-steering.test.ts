import { afterEach, describe, expect, it, vi } from "vitest";
import { parseSteeringManifest } from "../src/content-steering.js";
import type { HivecastWarning } from "../src/events.js";
import { setup } from "./engine-harness.js";
import { bytes, FAKE_TIMERS, ORIGINS } from "./fake-net.js";

const [A, B, C] = ORIGINS;
const STEER = "http://steer.test/steering.json";

/** A multivariant playlist with one variant per pathway, each on its own origin. */
function multivariant(pathways: Array<[string, string]>, server = STEER): string {
  const lines = [
    "#EXTM3U",
    `#EXT-X-CONTENT-STEERING:SERVER-URI="${server}",PATHWAY-ID="${pathways[0]?.[0]}"`,
  ];
  for (const [id, origin] of pathways)
    lines.push(`#EXT-X-STREAM-INF:BANDWIDTH=100000,PATHWAY-ID="${id}"`, `${origin}v/index.m3u8`);
  return lines.join("\n") + "\n";
}

const steering = (priority: string[], ttl = 10): string =>
  JSON.stringify({ VERSION: 1, TTL: ttl, "PATHWAY-PRIORITY": priority });

/** Lets the steering fetch (a timer at 0 ms, then the fake network) run. */
async function settle(ms = 0): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  for (let i = 0; i < 5; i++) await vi.advanceTimersByTimeAsync(1);
}

describe("content steering", () => {
  afterEach(() => vi.useRealTimers());

  function engineWithSteering(config: Parameters<typeof setup>[0] = {}) {
    const s = setup({ integrity: "off", ...config });
    for (let i = 0; i < 6; i++) s.net.files.set(`v/seg${i}.ts`, bytes(1000, i));
    s.net.files.set(
      "master.m3u8",
      multivariant([
        ["cdn-a", A],
        ["cdn-b", B],
        ["cdn-c", C],
      ]),
    );
    const warnings: HivecastWarning[] = [];
    s.engine.on("warning", (w) => warnings.push(w));
    return { ...s, warnings };
  }

  const load = (engine: ReturnType<typeof setup>["engine"], i: number) =>
    engine.loadSegment({
      url: `${A}v/seg${i}.ts`,
      kind: "segment",
      playlistUrl: `${A}v/index.m3u8`,
    });

  it("the pool follows PATHWAY-PRIORITY (pathways mapped by their variant URLs' origins) and its changes after TTL", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    const { engine, net, warnings } = engineWithSteering();
    net.files.set("steering.json", steering(["cdn-c", "cdn-a", "cdn-b"], 10));
    await engine.loadPlaylist(`${A}master.m3u8`);
    await settle();
    const steerCalls = net.calls.filter((c) => c.url.startsWith("http://steer.test/"));
    expect(steerCalls.map((c) => new URL(c.url).searchParams.get("_HLS_pathway"))).toEqual([
      "cdn-a",
    ]);
    expect((await load(engine, 0)).origin).toBe(C);
    expect((await load(engine, 1)).origin).toBe(C);

    net.files.set("steering.json", steering(["cdn-b", "cdn-c"], 10));
    await settle(10_000);
    expect(net.calls.filter((c) => c.url.startsWith("http://steer.test/"))).toHaveLength(2);
    // The server is told the pathway in use.
    expect(
      new URL(
        net.calls.filter((c) => c.url.startsWith("http://steer.test/"))[1]!.url,
      ).searchParams.get("_HLS_pathway"),
    ).toBe("cdn-c");
    expect((await load(engine, 2)).origin).toBe(B);
    expect(warnings).toEqual([]);
    engine.destroy();
  });

  it("the preferred pathway's origin going down: the same request fails over at once, no error", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    const { engine, net, events } = engineWithSteering();
    net.files.set("steering.json", steering(["cdn-b", "cdn-c", "cdn-a"]));
    await engine.loadPlaylist(`${A}master.m3u8`);
    await settle();
    expect((await load(engine, 0)).origin).toBe(B);
    net.faults.set(B, () => ({ refuse: true }));
    const r = await load(engine, 1);
    expect(r.origin).toBe(C); // next in steering order, not config order (A)
    expect(events.filter((e) => e.name === "error")).toEqual([]);
    engine.destroy();
  });

  it("config pathways map ids to origins; a bad manifest warns steering-unavailable and keeps the order", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    const { engine, net, warnings } = engineWithSteering({ pathways: { "cdn-a": C } });
    net.files.set("steering.json", steering(["cdn-a", "cdn-b"], 5));
    await engine.loadPlaylist(`${A}master.m3u8`);
    await settle();
    expect((await load(engine, 0)).origin).toBe(C); // "cdn-a" is C by config
    net.files.set("steering.json", '{"VERSION":2}');
    await settle(5_000);
    expect(warnings.map((w) => w.kind)).toEqual(["steering-unavailable"]);
    expect((await load(engine, 1)).origin).toBe(C);
    engine.destroy();
  });

  it("without EXT-X-CONTENT-STEERING nothing is fetched and config order stays", async () => {
    vi.useFakeTimers(FAKE_TIMERS);
    const { engine, net } = engineWithSteering();
    net.files.set("master.m3u8", `#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n${C}v/index.m3u8\n`);
    await engine.loadPlaylist(`${A}master.m3u8`);
    await settle(1000);
    expect(net.calls.map((c) => c.path)).toEqual(["master.m3u8"]);
    expect((await load(engine, 0)).origin).toBe(A);
    engine.destroy();
  });

  it("steering manifests are validated", () => {
    const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
    const url = "https://s.example/a/steer.json";
    expect(
      parseSteeringManifest(
        enc({ VERSION: 1, TTL: 30, "RELOAD-URI": "next.json", "PATHWAY-PRIORITY": ["x", "y"] }),
        url,
      ),
    ).toEqual({
      ttlS: 30,
      reloadUri: "https://s.example/a/next.json",
      priority: ["x", "y"],
    });
    expect(
      parseSteeringManifest(enc({ VERSION: 1, TTL: 0, "PATHWAY-PRIORITY": ["x"] }), url),
    ).toMatchObject({ ttlS: 1 });
    for (const bad of [
      "nope",
      [],
      { VERSION: 2, "PATHWAY-PRIORITY": ["x"] },
      { VERSION: 1, "PATHWAY-PRIORITY": [] },
      { VERSION: 1, "PATHWAY-PRIORITY": ["has space"] },
      { VERSION: 1, "PATHWAY-PRIORITY": [1] },
      { VERSION: 1, TTL: "x", "PATHWAY-PRIORITY": ["x"] },
      { VERSION: 1, "RELOAD-URI": "javascript:x", "PATHWAY-PRIORITY": ["x"] },
    ])
      expect(typeof parseSteeringManifest(enc(bad), url)).toBe("string");
    expect(parseSteeringManifest(new Uint8Array([0xff, 0xfe]), url)).toBe("not JSON");
  });
});
