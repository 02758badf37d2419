import { describe, expect, it, vi } from "vitest";
import type { Config } from "../src/config.js";
import { Engine } from "../src/engine.js";
import { HivecastError } from "../src/errors.js";
import type { PeerTransport } from "../src/p2p/peer-transport.js";
import { FakePeers, PLAYLIST, seg, setup } from "./engine-harness.js";
import { bytes, FakeNet, ORIGINS, testClock } from "./fake-net.js";

const [A, B, C] = ORIGINS;

function configError(fn: () => void): HivecastError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(HivecastError);
  expect((caught as HivecastError).code).toBe("CONFIG_INVALID");
  return caught as HivecastError;
}

describe("updateConfig", () => {
  it("an invalid change throws CONFIG_INVALID naming the field and keeps the old config", () => {
    const { engine } = setup({ integrity: "off" });
    const before = engine.config;
    expect(configError(() => engine.updateConfig({ p2p: { maxPeers: -1 } })).details["field"]).toBe(
      "p2p.maxPeers",
    );
    expect(configError(() => engine.updateConfig({ origins: ["nope"] })).details["field"]).toBe(
      "origins[0]",
    );
    expect(
      configError(() => engine.updateConfig({ http: { hedgeFactor: 3 } })).details["field"],
    ).toBe("http");
    expect(configError(() => engine.updateConfig(null as never)).details["field"]).toBe(
      "updateConfig",
    );
    expect(engine.config).toBe(before);
    engine.destroy();
  });

  it("a new origins list applies to the next request", async () => {
    const { engine, net } = setup({
      integrity: "off",
      origins: [A],
      http: {
        segmentRetry: {
          maxNumRetry: 1,
          retryDelayMs: 1,
          maxRetryDelayMs: 1,
          backoff: "linear",
          jitter: 0,
        },
      },
    });
    net.files.set("v/seg0.ts", bytes(10));
    net.files.set("v/seg1.ts", bytes(10));
    net.faults.set(A, () => ({ status: 503 }));
    await expect(
      engine.loadSegment({ url: seg(0), kind: "segment", playlistUrl: PLAYLIST }),
    ).rejects.toMatchObject({ code: "HTTP_STATUS" });
    engine.updateConfig({ origins: [A, { url: C, headers: { "X-Cdn": "c" } }] });
    expect(engine.config.origins.map((o) => o.url)).toEqual([A, C]);
    const r = await engine.loadSegment({ url: seg(1), kind: "segment", playlistUrl: PLAYLIST });
    expect(r.origin).toBe(C);
    expect(net.calls.some((c) => c.origin === B)).toBe(false);
    engine.destroy();
  });

  it("a p2p change (limits, upload cap, download-only) restarts the P2P layer with the new values; enabled: false stops it", () => {
    const made: Config[] = [];
    const peers = new FakePeers();
    const net = new FakeNet();
    const engine = new Engine(
      { origins: [...ORIGINS], p2p: { enabled: true, trackers: ["ws://t.test/"] } },
      {
        fetch: net.fetch,
        clock: testClock,
        peerSourceFactory: ({ config }) => {
          made.push(config);
          return peers;
        },
      },
    );
    engine.updateConfig({ p2p: { maxPeers: 3, uploadBytesPerSec: 100_000, downloadOnly: true } });
    expect(made.map((c) => [c.p2p.maxPeers, c.p2p.uploadBytesPerSec, c.p2p.downloadOnly])).toEqual([
      [20, 0, "auto"],
      [3, 100_000, true],
    ]);
    expect(peers.destroyed).toBe(true); // the first one
    engine.updateConfig({ p2p: { enabled: false } });
    expect(made).toHaveLength(2);
    expect(engine.config.p2p).toMatchObject({ enabled: false, maxPeers: 3 });
    engine.destroy();
  });

  it("p2p.transport: a factory in the config builds the built-in P2P layer's transport", async () => {
    const calls: number[] = [];
    const transport: PeerTransport = {
      createPeer: () => {
        throw new Error("not in this test");
      },
    };
    const engine = new Engine(
      {
        origins: [...ORIGINS],
        p2p: {
          enabled: true,
          trackers: ["ws://127.0.0.1:9/"],
          iceGatherTimeoutMs: 1234,
          transport: ({ iceGatherTimeoutMs }) => {
            calls.push(iceGatherTimeoutMs);
            return transport;
          },
        },
      },
      { fetch: new FakeNet().fetch, clock: testClock },
    );
    // The P2P layer is a chunk of its own, loaded when the swarm would join (first frame)…
    expect(calls).toEqual([]);
    engine.playbackStarted();
    await vi.waitFor(() => expect(calls).toEqual([1234])); // …then built on the transport
    engine.destroy();
    expect(() => new Engine({ p2p: { transport: "webrtc" as never } })).toThrow(/p2p\.transport/);
  });
});
