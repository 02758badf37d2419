import { afterEach, describe, expect, it, vi } from "vitest";
import { parseDemoConfig, DemoConfigError } from "../src/config.js";
import { applyFault, describeFaults, FaultControlError, FAULT_PRESETS } from "../src/faults.js";
import { formatBytes, niceStep } from "../src/charts.js";
import { readP2PConsent, readStreamKind } from "../src/prefs.js";

const good = {
  origins: ["http://127.0.0.1:8081/", "http://127.0.0.1:8082"],
  tracker: "ws://127.0.0.1:8090",
  live: "http://127.0.0.1:8081/live/master.m3u8",
  vod: "http://127.0.0.1:8081/master.m3u8",
};

describe("parseDemoConfig", () => {
  it("accepts the launcher's shape and normalises origins to end with a slash", () => {
    expect(parseDemoConfig(good).origins).toEqual([
      "http://127.0.0.1:8081/",
      "http://127.0.0.1:8082/",
    ]);
  });

  it.each([
    ["not an object", [], /expected an object/],
    ["no origins", { ...good, origins: [] }, /origins/],
    ["origin not a string", { ...good, origins: [42] }, /origins\[0\]/],
    ["origin not http", { ...good, origins: ["javascript:alert(1)"] }, /origins\[0\]/],
    ["tracker not ws", { ...good, tracker: "http://x" }, /tracker/],
    ["live missing", { ...good, live: undefined }, /live/],
    ["vod not a URL", { ...good, vod: "::" }, /vod/],
  ])("rejects %s", (_name, json, message) => {
    expect(() => parseDemoConfig(json)).toThrow(DemoConfigError);
    expect(() => parseDemoConfig(json)).toThrow(message);
  });
});

describe("describeFaults", () => {
  it("lists active faults from the bare or the wrapped answer", () => {
    const f = {
      down: true,
      statusRate: 0.5,
      status: 503,
      latencyMs: 1500,
      bandwidthBps: 102400,
      corruptRate: 0.5,
      truncateRate: 0.25,
      seed: 1,
    };
    const expected = ["down", "50% 503", "+1500 ms", "100 KB/s", "corrupt 50%", "truncate 25%"];
    expect(describeFaults(f)).toEqual(expected);
    expect(describeFaults({ status: "ok", origin: 0, faults: f })).toEqual(expected);
  });

  it("reports nothing for defaults and ignores junk", () => {
    expect(describeFaults({ down: false, statusRate: 0, status: 503, latencyMs: 0 })).toEqual([]);
    expect(describeFaults(null)).toEqual([]);
    expect(describeFaults("down")).toEqual([]);
    expect(describeFaults({ down: "yes", latencyMs: "9", statusRate: Number.NaN })).toEqual([]);
  });
});

describe("applyFault", () => {
  afterEach(() => vi.unstubAllGlobals());
  const origins = ["http://o0/", "http://o1/", "http://o2/"];

  it("PUTs the preset to the target origin's own /__faults/<i>", async () => {
    const fetch = vi.fn(async () => new Response("{}", { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    const kill = FAULT_PRESETS.find((p) => p.id === "kill");
    await applyFault(origins, 1, kill?.faults ?? null);
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0] as unknown as [URL, RequestInit];
    expect(String(url)).toBe("http://o1/__faults/1");
    expect(init.method).toBe("PUT");
    expect(JSON.parse(String(init.body))).toEqual({ down: true });
  });

  it("goes through another origin when the target does not answer, and DELETEs for reset", async () => {
    const fetch = vi.fn(async (url: URL) => {
      if (url.host === "o2") throw new TypeError("connection reset");
      return new Response("{}", { status: 200 });
    });
    vi.stubGlobal("fetch", fetch);
    await applyFault(origins, 2, null);
    const calls = fetch.mock.calls.map((c) => String(c[0]));
    expect(calls).toEqual(["http://o2/__faults/2", "http://o0/__faults/2"]);
    expect((fetch.mock.calls[1] as unknown as [URL, RequestInit])[1].method).toBe("DELETE");
  });

  it("fails with a typed error when no origin accepts the change", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => new Response("", { status: 400 })),
    );
    await expect(applyFault(origins, 0, { latencyMs: 1500 })).rejects.toThrow(FaultControlError);
  });
});

describe("chart helpers", () => {
  it("niceStep gives round steps at least as large as asked", () => {
    expect(niceStep(0.9)).toBe(1);
    expect(niceStep(1.1)).toBe(2);
    expect(niceStep(2.2)).toBe(2.5);
    expect(niceStep(3)).toBe(5);
    expect(niceStep(730_000)).toBe(1_000_000);
    for (const v of [0.003, 7, 42, 123_456, 9.9e8]) {
      const s = niceStep(v);
      expect(s).toBeGreaterThanOrEqual(v);
      expect(s).toBeLessThan(v * 2.5);
    }
    expect(niceStep(0)).toBeGreaterThan(0);
  });

  it("formatBytes is compact", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(850)).toBe("850 B");
    expect(formatBytes(1250)).toBe("1.3 KB");
    expect(formatBytes(2_600_000)).toBe("2.6 MB");
    expect(formatBytes(Number.NaN)).toBe("0 B");
  });
});

describe("prefs", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("stream defaults to live", () => {
    expect(readStreamKind("")).toBe("live");
    expect(readStreamKind("?stream=vod")).toBe("vod");
    expect(readStreamKind("?stream=<x>")).toBe("live");
  });

  it("P2P consent: query wins, then the stored choice, then on", () => {
    const store = new Map<string, string>();
    vi.stubGlobal("localStorage", {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => store.set(k, v),
    });
    expect(readP2PConsent("")).toBe(true);
    store.set("hivecast-demo-p2p", "0");
    expect(readP2PConsent("")).toBe(false);
    expect(readP2PConsent("?p2p=1")).toBe(true);
    store.set("hivecast-demo-p2p", "1");
    expect(readP2PConsent("?p2p=0")).toBe(false);
  });
});
