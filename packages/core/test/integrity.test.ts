import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HivecastError } from "../src/errors.js";
import { MANIFEST_MAX_BYTES, parseIntegrityManifest } from "../src/integrity-index.js";
import { resourceId } from "../src/origin-url.js";
import { parsePlaylist } from "../src/playlist-parser.js";
import { bytes, FAKE_TIMERS, ORIGINS, sameBytes, sha, rejection } from "./fake-net.js";
import { FakePeers, P2P_ON, pick, PLAYLIST, seg, setup } from "./engine-harness.js";

const [A, B, C] = ORIGINS;
const MANIFEST = "v/segments-sha256.json";

/** Segments seg0..seg{n-1} of distinct bytes on every origin, with their true hashes. */
async function segments(
  net: { files: Map<string, Uint8Array | string> },
  n: number,
): Promise<string[]> {
  const hashes: string[] = [];
  for (let i = 0; i < n; i++) {
    const data = bytes(20_000 + i, i + 1);
    net.files.set(`v/seg${i}.ts`, data);
    hashes.push(await sha(data));
  }
  return hashes;
}

function playlist(
  n: number,
  opts: { live?: boolean; hashes?: string[]; first?: number } = {},
): string {
  const lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:4", `#EXT-X-MEDIA-SEQUENCE:${opts.first ?? 0}`];
  for (let i = opts.first ?? 0; i < n; i++) {
    const h = opts.hashes?.[i];
    if (h) lines.push(`#EXT-X-HIVECAST-SHA256:${h}`);
    lines.push("#EXTINF:4.0,", `seg${i}.ts`);
  }
  if (!opts.live) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n");
}

const segReq = (i: number, extra = {}) => ({
  url: seg(i),
  kind: "segment" as const,
  playlistUrl: PLAYLIST,
  sn: i,
  ...extra,
});

describe("playlist and manifest parsing", () => {
  it("parses hash tags, byte ranges, init segments, live flag and the SESSION-DATA manifest", () => {
    const h = "ab".repeat(32);
    const text = [
      "#EXTM3U",
      "#EXT-X-TARGETDURATION:6",
      "#EXT-X-MEDIA-SEQUENCE:7",
      `#EXT-X-HIVECAST-SHA256:${h.toUpperCase()}`,
      '#EXT-X-MAP:URI="init.mp4",BYTERANGE="100@0"',
      "#EXT-X-HIVECAST-SHA256:not-a-hash",
      "#EXTINF:6.0,",
      "#EXT-X-BYTERANGE:1000@100",
      "all.mp4",
      "#EXTINF:5.5,",
      "#EXT-X-BYTERANGE:500",
      "all.mp4",
    ].join("\r\n");
    const p = parsePlaylist(text, "https://cdn.test/a/b/index.m3u8?t=1");
    expect(p?.type).toBe("media");
    if (p?.type !== "media") return;
    expect(p.live).toBe(true);
    expect(p.targetDuration).toBe(6);
    expect(p.entries).toEqual([
      {
        url: "https://cdn.test/a/b/init.mp4",
        byteRange: { start: 0, end: 100 },
        kind: "init",
        sn: 0,
        duration: 0,
        hash: h,
      },
      {
        url: "https://cdn.test/a/b/all.mp4",
        byteRange: { start: 100, end: 1100 },
        kind: "segment",
        sn: 7,
        duration: 6,
        hash: undefined,
      },
      {
        url: "https://cdn.test/a/b/all.mp4",
        byteRange: { start: 1100, end: 1600 },
        kind: "segment",
        sn: 8,
        duration: 5.5,
        hash: undefined,
      },
    ]);
    const mv = parsePlaylist(
      '#EXTM3U\n#EXT-X-SESSION-DATA:DATA-ID="io.hivecast.integrity",URI="hashes/all.json"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n',
      "https://cdn.test/live/master.m3u8",
    );
    expect(mv).toEqual({
      type: "multivariant",
      integrityManifestUrl: "https://cdn.test/live/hashes/all.json",
    });
    expect(parsePlaylist("<html>", "https://x.test/")).toBeUndefined();
  });

  it("validates manifests strictly and keys them by origin-relative path (+ range)", () => {
    const idOf = (url: string, range?: { start: number; end: number }) =>
      resourceId(url, range, [...ORIGINS]);
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const h = "0f".repeat(32);
    const ok = parseIntegrityManifest(
      enc({ "seg1.ts": h.toUpperCase(), "x/all.mp4#bytes=0-99": h }),
      `${B}v/m.json`,
      idOf,
    );
    expect([...ok.entries()]).toEqual([
      ["v/seg1.ts", h],
      ["v/x/all.mp4@0-100", h],
    ]);
    const bad: Array<[Uint8Array, string]> = [
      [enc(["seg1.ts", h]), "object"],
      [enc(null), "object"],
      [enc({ "seg1.ts": "abc" }), "64 hex"],
      [enc({ "seg1.ts": h, "seg2.ts": 5 }), "seg2.ts"],
      [enc({ "": h }), "empty key"],
      [enc({ "a.ts#bytes=5-4": h }), "empty range"],
      [new TextEncoder().encode("{not json"), "JSON"],
      [new Uint8Array([0x7b, 0xff, 0x7d]), "UTF-8"],
      [new Uint8Array(MANIFEST_MAX_BYTES + 1), "larger than"],
    ];
    for (const [input, why] of bad) {
      let caught: unknown;
      try {
        parseIntegrityManifest(input, `${A}v/m.json`, idOf);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(HivecastError);
      expect((caught as HivecastError).code).toBe("INTEGRITY_MANIFEST_INVALID");
      expect((caught as HivecastError).message).toContain(why);
    }
  });
});

describe("integrity in the engine", () => {
  it("verifies against playlist tags, serves repeats from the store, and shares verified segments", async () => {
    const peers = new FakePeers();
    const { engine, net, events } = setup({ p2p: P2P_ON }, { peers });
    const hashes = await segments(net, 2);
    net.files.set("v/index.m3u8", playlist(2, { hashes }));
    await engine.loadPlaylist(PLAYLIST);
    const r = await engine.loadSegment(segReq(0));
    expect([r.source, r.verified]).toEqual(["http", true]);
    expect(ORIGINS).toContain(r.origin);
    expect(sameBytes(r.data, bytes(20_000, 1))).toBe(true);
    expect(peers.announced).toEqual([
      { key: { swarmId: "v/index.m3u8", segmentId: "v/seg0.ts" }, size: 20_000 },
    ]);
    const again = await engine.loadSegment(segReq(0));
    expect([again.source, again.verified]).toEqual(["cache", true]);
    expect(net.callsTo(MANIFEST)).toHaveLength(0); // every segment had a tag
    expect(pick(events, "error")).toEqual([]);
    expect(peers.host?.shareable({ swarmId: "v/index.m3u8", segmentId: "v/seg1.ts" })).toBe(true);
  });

  it("r03 manifest unavailable: policy required fails closed for P2P, HTTP playback continues, one error per playlist", async () => {
    const peers = new FakePeers();
    const { engine, net, events } = setup({ p2p: P2P_ON }, { peers });
    await segments(net, 3);
    net.files.set("v/index.m3u8", playlist(3));
    await engine.loadPlaylist(PLAYLIST);
    for (let i = 0; i < 3; i++) {
      const r = await engine.loadSegment(segReq(i, { deadlineMs: 10_000 }));
      expect([r.source, r.verified]).toEqual(["http", false]);
      expect(sameBytes(r.data, bytes(20_000 + i, i + 1))).toBe(true);
    }
    expect(peers.downloads).toEqual([]); // never asked peers
    expect(peers.announced).toEqual([]); // never offered to peers
    const key = { swarmId: "v/index.m3u8", segmentId: "v/seg0.ts" };
    expect(peers.host?.shareable(key)).toBe(false);
    expect(peers.store?.getShareable(key)).toBeUndefined();
    const errors = pick(events, "error");
    expect(errors.map((e) => [e.code, e.fatal])).toEqual([["INTEGRITY_UNAVAILABLE", false]]);
    expect(errors[0]?.message).toContain("segments-sha256.json: absent");
    // The 404 manifest was looked for once (one origin: a 404 is its answer), not per segment.
    expect(net.callsTo(MANIFEST).map((c) => c.origin)).toEqual([A]);
  });

  it("r03 malformed manifest: reported as INTEGRITY_MANIFEST_INVALID, P2P off for its segments, HTTP continues", async () => {
    const peers = new FakePeers();
    const { engine, net, events } = setup({ p2p: P2P_ON }, { peers });
    await segments(net, 1);
    net.files.set("v/index.m3u8", playlist(1));
    net.files.set(MANIFEST, '{"seg0.ts": "not-a-hash"}');
    await engine.loadPlaylist(PLAYLIST);
    const r = await engine.loadSegment(segReq(0));
    expect([r.source, r.verified]).toEqual(["http", false]);
    expect(peers.downloads).toEqual([]);
    const codes = pick(events, "error").map((e) => e.code);
    expect(codes).toEqual(["INTEGRITY_MANIFEST_INVALID", "INTEGRITY_UNAVAILABLE"]);
  });

  it("r03 wrong hash for one entry: HTTP retried on each origin, then a fatal INTEGRITY_MISMATCH; never accepted", async () => {
    const peers = new FakePeers();
    const { engine, net, events } = setup({ p2p: P2P_ON }, { peers });
    const hashes = await segments(net, 2);
    const wrong = "00".repeat(32);
    net.files.set("v/index.m3u8", playlist(2));
    net.files.set(MANIFEST, JSON.stringify({ "seg0.ts": hashes[0], "seg1.ts": wrong }));
    await engine.loadPlaylist(PLAYLIST);
    expect((await engine.loadSegment(segReq(0))).verified).toBe(true);
    const e = await rejection(engine.loadSegment(segReq(1)));
    expect([e.code, e.fatal, e.details["expected"]]).toEqual(["INTEGRITY_MISMATCH", true, wrong]);
    const failures = pick(events, "integrityFailure");
    expect(failures.map((f) => f.origin).sort()).toEqual([A, B, C]);
    expect(
      failures.every((f) => "source" in f && f.source === "http" && f.expected === wrong),
    ).toBe(true);
    expect(
      net
        .callsTo("v/seg1.ts")
        .map((c) => c.origin)
        .sort(),
    ).toEqual([A, B, C]);
    expect(engine.stats.segments.failed).toBe(1);
    expect(engine.stats.integrityFailures).toBe(3);
    // Peers were tried first (hash known) — and nothing was stored or announced for seg1.
    expect(peers.announced.map((a) => a.key.segmentId)).toEqual(["v/seg0.ts"]);
  });

  it("bytes corrupted by one origin are discarded, that origin penalised, and the segment refetched elsewhere", async () => {
    const { engine, net, events } = setup();
    const hashes = await segments(net, 1);
    net.files.set("v/index.m3u8", playlist(1, { hashes }));
    net.faults.set(A, (c) => (c.path.endsWith(".ts") ? { corrupt: true } : undefined));
    await engine.loadPlaylist(PLAYLIST);
    const r = await engine.loadSegment(segReq(0));
    expect([r.origin, r.verified]).toEqual([B, true]);
    expect(sameBytes(r.data, bytes(20_000, 1))).toBe(true);
    const failure = pick(events, "integrityFailure")[0];
    expect(failure).toMatchObject({ source: "http", origin: A, expected: hashes[0] });
    expect(engine.stats.byOrigin[A]?.failures).toBe(1);
  });

  it("uses the manifest named by EXT-X-SESSION-DATA, and a configured manifest URL over it", async () => {
    const { engine, net } = setup();
    const hashes = await segments(net, 1);
    net.files.set(
      "master.m3u8",
      '#EXTM3U\n#EXT-X-SESSION-DATA:DATA-ID="io.hivecast.integrity",URI="hashes.json"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n',
    );
    net.files.set("hashes.json", JSON.stringify({ "v/seg0.ts": hashes[0] }));
    net.files.set("v/index.m3u8", playlist(1));
    await engine.loadPlaylist(`${A}master.m3u8`);
    await engine.loadPlaylist(PLAYLIST);
    expect((await engine.loadSegment(segReq(0))).verified).toBe(true);
    expect(net.callsTo("hashes.json")).toHaveLength(1);
    expect(net.callsTo(MANIFEST)).toHaveLength(0);

    const configured = setup({ integrityManifestUrl: `${A}other.json` });
    await segments(configured.net, 1);
    configured.net.files.set("other.json", JSON.stringify({ "v/seg0.ts": hashes[0] }));
    configured.net.files.set("v/index.m3u8", playlist(1));
    const r = await configured.engine.loadSegment(segReq(0)); // even without loadPlaylist
    expect(r.verified).toBe(true);
    expect(configured.net.callsTo("other.json")).toHaveLength(1);
  });

  it("takes the adapter's req.hash (hls.js tagList) and rejects bytes that do not match it", async () => {
    const { engine, net } = setup({ integrity: "optional" });
    await segments(net, 1);
    const e = await rejection(engine.loadSegment(segReq(0, { hash: "11".repeat(32) })));
    expect(e.code).toBe("INTEGRITY_MISMATCH");
    const ok = await engine.loadSegment(segReq(0, { hash: await sha(bytes(20_000, 1)) }));
    expect(ok.verified).toBe(true);
  });

  it("policy off never verifies and lets peers serve anything; optional plays unhashed segments quietly", async () => {
    const peers = new FakePeers();
    peers.serve = async () => ({
      data: bytes(5, 9),
      peerId: "p1",
      firstByteAt: Date.now(),
      waitMs: 0,
    });
    const off = setup({ integrity: "off", p2p: P2P_ON }, { peers });
    const r = await off.engine.loadSegment(segReq(0));
    expect([r.source, r.verified, r.peerId]).toEqual(["p2p", false, "p1"]);
    expect(off.net.calls).toHaveLength(0);

    const optional = setup({ integrity: "optional" });
    await segments(optional.net, 1);
    const o = await optional.engine.loadSegment(segReq(0));
    expect([o.source, o.verified]).toEqual(["http", false]);
    expect(pick(optional.events, "error")).toEqual([]);
  });
  it("unverified bytes cached before a hash existed are not replayed once the hash is known", async () => {
    const { engine, net } = setup();
    const hashes = await segments(net, 1);
    net.files.set("v/index.m3u8", playlist(1));
    await engine.loadPlaylist(PLAYLIST);
    expect((await engine.loadSegment(segReq(0))).verified).toBe(false);
    expect((await engine.loadSegment(segReq(0))).source).toBe("cache"); // still no hash: fine
    net.faults.set(A, () => ({ corrupt: true })); // A now serves bad bytes
    const r = await engine.loadSegment(segReq(0, { hash: hashes[0] }));
    expect([r.source, r.verified, r.origin]).toEqual(["http", true, B]);
    expect((await engine.loadSegment(segReq(0))).source).toBe("cache");
  });
});

describe("start-up: the origins do not wait for a manifest still loading", () => {
  beforeEach(() => vi.useFakeTimers(FAKE_TIMERS));
  afterEach(() => vi.useRealTimers());

  it("start-up with no peer connected: the segment is fetched while its manifest still loads, then checked against it (a corrupt copy is still refused)", async () => {
    const peers = new FakePeers();
    peers.connected = 0;
    const { engine, net, events } = setup({ p2p: P2P_ON }, { peers });
    const hashes = await segments(net, 1);
    net.files.set("v/index.m3u8", playlist(1));
    net.files.set(MANIFEST, JSON.stringify({ "seg0.ts": hashes[0] }));
    for (const o of ORIGINS)
      net.faults.set(o, (c) =>
        c.path === MANIFEST
          ? { headerDelayMs: 500 }
          : o === A && c.path.endsWith(".ts")
            ? { corrupt: true }
            : undefined,
      );
    await engine.loadPlaylist(PLAYLIST);
    const p = engine.loadSegment(segReq(0));
    await vi.advanceTimersByTimeAsync(50);
    // The origin was asked at once, the manifest is still on its way.
    expect(net.callsTo("v/seg0.ts")).toHaveLength(1);
    expect(net.callsTo(MANIFEST).every((c) => !c.finished)).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    const r = await p;
    expect([r.source, r.origin, r.verified]).toEqual(["http", B, true]);
    expect(sameBytes(r.data, bytes(20_000, 1))).toBe(true);
    expect(pick(events, "integrityFailure")[0]).toMatchObject({ origin: A, expected: hashes[0] });
    expect(peers.downloads).toEqual([]);
  });

  it("with a peer connected, or once playing, a load still waits for the hash and asks peers first", async () => {
    const peers = new FakePeers();
    const { engine, net } = setup({ p2p: P2P_ON }, { peers });
    const hashes = await segments(net, 2);
    net.files.set("v/index.m3u8", playlist(2));
    net.files.set(MANIFEST, JSON.stringify({ "seg0.ts": hashes[0], "seg1.ts": hashes[1] }));
    for (const o of ORIGINS)
      net.faults.set(o, (c) => (c.path === MANIFEST ? { headerDelayMs: 500 } : undefined));
    await engine.loadPlaylist(PLAYLIST);
    const startUp = engine.loadSegment(segReq(0));
    peers.connected = 0;
    const playing = engine.loadSegment(segReq(1, { deadlineMs: 10_000 }));
    await vi.advanceTimersByTimeAsync(50);
    expect(net.callsTo("v/seg0.ts")).toEqual([]);
    expect(net.callsTo("v/seg1.ts")).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect((await startUp).verified).toBe(true);
    expect((await playing).verified).toBe(true);
    expect(peers.downloads.map((d) => d.key.segmentId)).toEqual(["v/seg0.ts", "v/seg1.ts"]);
  });
});

describe("r04 live: a new segment appears before its hash", () => {
  beforeEach(() => vi.useFakeTimers(FAKE_TIMERS));
  afterEach(() => vi.useRealTimers());

  it("r04 refetches the manifest with bounded retries; no P2P until the hash is known", async () => {
    const peers = new FakePeers();
    const { engine, net } = setup({ p2p: P2P_ON, integrityManifestRetries: 3 }, { peers });
    const hashes = await segments(net, 5);
    const manifest = (n: number) =>
      JSON.stringify(Object.fromEntries(hashes.slice(0, n).map((h, i) => [`seg${i}.ts`, h])));
    net.files.set(MANIFEST, manifest(3));
    net.files.set("v/index.m3u8", playlist(3, { live: true }));
    await engine.loadPlaylist(PLAYLIST);
    await vi.advanceTimersByTimeAsync(0);
    expect(net.callsTo(MANIFEST)).toHaveLength(1);

    // seg3 enters the playlist; its hash reaches the manifest only on the second refetch.
    net.files.set("v/index.m3u8", playlist(4, { live: true }));
    await engine.loadPlaylist(PLAYLIST);
    let fetches = 0;
    net.faults.set(A, (c) => {
      if (c.path !== MANIFEST) return undefined;
      if (++fetches === 2) net.files.set(MANIFEST, manifest(4));
      return undefined;
    });
    const p3 = engine.loadSegment(segReq(3, { deadlineMs: 20_000 }));
    await vi.advanceTimersByTimeAsync(5000);
    const r3 = await p3;
    expect(r3.verified).toBe(true);
    expect(net.callsTo(MANIFEST)).toHaveLength(3);
    expect(peers.downloads.map((d) => d.key.segmentId)).toEqual(["v/seg3.ts"]); // only once the hash was known

    // seg4's hash never comes: exactly integrityManifestRetries refetches, then HTTP without P2P.
    net.files.set("v/index.m3u8", playlist(5, { live: true }));
    await engine.loadPlaylist(PLAYLIST);
    const before = net.callsTo(MANIFEST).length;
    const p4 = engine.loadSegment(segReq(4, { deadlineMs: 20_000 }));
    await vi.advanceTimersByTimeAsync(10_000);
    const r4 = await p4;
    expect([r4.source, r4.verified]).toEqual(["http", false]);
    expect(net.callsTo(MANIFEST).length - before).toBe(3);
    expect(peers.downloads.map((d) => d.key.segmentId)).toEqual(["v/seg3.ts"]);
    engine.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });
});
