/// <reference types="node" />
/**
 * The observability contract: segment lifecycle events (start, loaded with kind and bytes by
 * source, aborted, error), uploads, the warnings caused in the engine, and every declared
 * error code being raised somewhere.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ErrorCodes } from "../src/errors.js";
import type { HivecastEvents } from "../src/events.js";
import { FakePeers, pick, PLAYLIST, seg, setup } from "./engine-harness.js";
import { bytes, ORIGINS, sha } from "./fake-net.js";

type Payload<K extends keyof HivecastEvents> = Parameters<HivecastEvents[K]>[0];

function record<K extends keyof HivecastEvents>(
  on: (k: K, fn: HivecastEvents[K]) => unknown,
  name: K,
): Array<Payload<K>> {
  const out: Array<Payload<K>> = [];
  on(name, ((e: Payload<K>) => out.push(e)) as HivecastEvents[K]);
  return out;
}

describe("segment events", () => {
  it("segmentStart then segmentLoaded with kind, range and bytes by source (http, cache, p2p)", async () => {
    const peers = new FakePeers();
    const { engine, net } = setup(
      { integrity: "off", p2p: { enabled: true, trackers: ["ws://t.test"] } },
      { peers },
    );
    net.files.set("v/init.mp4", bytes(300));
    net.files.set("v/seg0.ts", bytes(1000));
    const on = engine.on.bind(engine);
    const started = record(on, "segmentStart");
    const loaded = record(on, "segmentLoaded");
    await engine.loadSegment({
      url: `${ORIGINS[0]}v/init.mp4`,
      kind: "init",
      playlistUrl: PLAYLIST,
      byteRange: { start: 0, end: 200 },
    });
    await engine.loadSegment({ url: seg(0), kind: "segment", playlistUrl: PLAYLIST });
    await engine.loadSegment({ url: seg(0), kind: "segment", playlistUrl: PLAYLIST }); // cache
    peers.serve = async () => ({
      data: bytes(500, 9),
      peerId: "peer-1",
      firstByteAt: Date.now(),
      waitMs: 0,
    });
    net.files.set("v/seg1.ts", bytes(500, 9));
    await engine.loadSegment({
      url: seg(1),
      kind: "segment",
      playlistUrl: PLAYLIST,
      deadlineMs: 60_000,
    });
    expect(started).toEqual([
      { url: `${ORIGINS[0]}v/init.mp4`, kind: "init", range: { start: 0, end: 200 } },
      { url: seg(0), kind: "media" },
      { url: seg(0), kind: "media" },
      { url: seg(1), kind: "media" },
    ]);
    expect(
      loaded.map((e) => [e.kind, e.source, e.bytes, e.httpBytes, e.p2pBytes, e.range]),
    ).toEqual([
      ["init", "http", 200, 200, 0, { start: 0, end: 200 }],
      ["media", "http", 1000, 1000, 0, undefined],
      ["media", "cache", 1000, 0, 0, undefined],
      ["media", "p2p", 500, 0, 500, undefined],
    ]);
    // Uploads reported by the P2P layer reach the app as they happen.
    const uploaded = record(on, "bytesUploaded");
    peers.host?.onUploaded("peer-2", 4096);
    expect(uploaded).toEqual([{ peerId: "peer-2", bytes: 4096 }]);
    engine.destroy();
  });

  it("an aborted load emits segmentAborted (not segmentError); a failed one emits segmentError then error", async () => {
    const { engine, net } = setup({
      integrity: "off",
      http: {
        segmentRetry: {
          maxNumRetry: 3,
          retryDelayMs: 1,
          maxRetryDelayMs: 1,
          backoff: "linear",
          jitter: 0,
        },
      },
    });
    net.faults.set(ORIGINS[0], () => ({ headerDelayMs: 10_000 }));
    const on = engine.on.bind(engine);
    const aborted = record(on, "segmentAborted");
    const failed = record(on, "segmentError");
    const errors = record(on, "error");
    net.files.set("v/seg0.ts", bytes(10));
    const ctl = new AbortController();
    const p = engine.loadSegment(
      { url: seg(0), kind: "segment", playlistUrl: PLAYLIST },
      { signal: ctl.signal },
    );
    await new Promise((r) => setTimeout(r, 5));
    ctl.abort();
    await expect(p).rejects.toMatchObject({ code: "ABORTED" });
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toMatchObject({ url: seg(0), kind: "media" });
    expect(aborted[0]?.ms).toBeGreaterThanOrEqual(0);
    expect(failed).toEqual([]);

    net.faults.clear();
    const missing = engine.loadSegment({ url: seg(7), kind: "segment", playlistUrl: PLAYLIST });
    await expect(missing).rejects.toMatchObject({ code: "ALL_ORIGINS_FAILED" });
    expect(failed.map((e) => [e.url, e.error.code])).toEqual([[seg(7), "ALL_ORIGINS_FAILED"]]);
    expect(errors.at(-1)).toBe(failed[0]?.error);
    expect(aborted).toHaveLength(1);
    engine.destroy();
  });
});

describe("warnings caused in the engine", () => {
  it("integrity-manifest-unavailable: a configured manifest that cannot be fetched", async () => {
    const { engine, net } = setup({
      integrity: "required",
      integrityManifestUrl: `${ORIGINS[0]}v/hashes.json`,
      http: {
        playlistRetry: {
          maxNumRetry: 0,
          retryDelayMs: 1,
          maxRetryDelayMs: 1,
          backoff: "linear",
          jitter: 0,
        },
      },
    });
    for (const o of ORIGINS)
      net.faults.set(o, (c) => (c.path === "v/hashes.json" ? { status: 503 } : undefined));
    net.files.set("v/seg0.ts", bytes(10));
    const warnings = record(engine.on.bind(engine), "warning");
    const r = await engine.loadSegment({ url: seg(0), kind: "segment", playlistUrl: PLAYLIST });
    expect(r.verified).toBe(false);
    expect(warnings.map((w) => w.kind)).toEqual(["integrity-manifest-unavailable"]);
    expect(warnings[0]?.details["url"]).toBe(`${ORIGINS[0]}v/hashes.json`);
    engine.destroy();
  });

  it("no warning when the guessed sidecar manifest simply does not exist (hashes in the playlist)", async () => {
    const { engine, net, events } = setup({ integrity: "required" });
    const data = bytes(10);
    net.files.set("v/seg0.ts", data);
    const warnings = record(engine.on.bind(engine), "warning");
    await engine.loadSegment({
      url: seg(0),
      kind: "segment",
      playlistUrl: PLAYLIST,
      hash: await sha(data),
    });
    await engine
      .loadSegment({ url: seg(1), kind: "segment", playlistUrl: PLAYLIST })
      .catch(() => undefined);
    expect(warnings).toEqual([]);
    expect(pick(events, "error").map((e) => e.code)).toContain("INTEGRITY_UNAVAILABLE");
    engine.destroy();
  });
});

describe("error codes", () => {
  it("every declared error code is raised somewhere in the engine or its adapters' sources", () => {
    const root = fileURLToPath(new URL("../src", import.meta.url));
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
        d.isDirectory()
          ? files(join(dir, d.name))
          : d.name.endsWith(".ts")
            ? [join(dir, d.name)]
            : [],
      );
    const code = files(root)
      .filter((f) => !f.endsWith("errors.ts"))
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const unused = ErrorCodes.filter((c) => !code.includes(`"${c}"`));
    expect(unused).toEqual([]);
  });
});
