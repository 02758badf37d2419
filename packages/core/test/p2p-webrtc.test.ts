import { afterEach, describe, expect, it, vi } from "vitest";
import type { PeerSegmentSourceFactory, SegmentKey } from "../src/p2p/contract.js";
import { MemoryNetwork } from "../src/testing/memory-transport.js";
import { MemoryTracker } from "../src/testing/memory-tracker.js";
import { createPeerSegmentSource, P2PSegmentSource } from "../src/p2p/peer-segment-source.js";
import type { RTCPeerConnectionConstructor } from "../src/p2p/webrtc-transport.js";
import { simplePeerSourceFactory } from "../src/simple-peer.js";
import {
  bytes,
  FakeHost,
  p2pConfig,
  playlist,
  sameBytes,
  seeded,
  testClock,
  type Viewer,
} from "./p2p-helpers.js";

let webrtc = true;
let why = "";
let NodeRTCPeerConnection: RTCPeerConnectionConstructor | undefined;
try {
  const polyfill = await import("node-datachannel/polyfill");
  NodeRTCPeerConnection = polyfill.RTCPeerConnection as unknown as RTCPeerConnectionConstructor;
} catch (e) {
  webrtc = false;
  why = String(e);
  console.warn(`p2p-webrtc: skipped, node-datachannel cannot load: ${why}`);
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const viewers: Viewer[] = [];
afterEach(() => {
  for (const v of viewers.splice(0)) v.source.destroy();
  vi.unstubAllGlobals();
});

/** Each variant builds the P2P layer the way a user gets it: a factory with no test transport. */
const variants: Array<[string, PeerSegmentSourceFactory, Record<string, unknown>]> = [
  [
    "the default WebRtcTransport (global RTCPeerConnection)",
    createPeerSegmentSource,
    { RTCPeerConnection: NodeRTCPeerConnection },
  ],
  ["simplePeerSourceFactory (@hivecast/core/simple-peer)", simplePeerSourceFactory(), {}],
];

describe.skipIf(!webrtc).each(variants)(
  "%s: real WebRTC data channels (node-datachannel, loopback)",
  (_name, factory, globals) => {
    it("two viewers connect through the tracker and transfer a segment", async () => {
      const tracker = new MemoryTracker({ clock: testClock, latencyMs: 1 });
      for (const [k, v] of Object.entries(globals)) vi.stubGlobal(k, v);
      vi.stubGlobal("WebSocket", tracker.WebSocket);
      // Signals never use the memory network; it only fills the Viewer record.
      const unused = new MemoryNetwork({ clock: testClock });
      // iceServers: [] and a loopback bind (libdatachannel option): host candidates on 127.0.0.1 only.
      const rtcConfig = { iceServers: [], bindAddress: "127.0.0.1" };
      // A short gather timeout (from config) keeps the test fast if gathering never completes.
      const cfg = p2pConfig({ rtcConfig, connectTimeoutMs: 10_000, iceGatherTimeoutMs: 300 });
      let seed = 0;
      const mk = (): Viewer => {
        const host = new FakeHost();
        const source = factory({
          config: cfg,
          clock: testClock,
          random: seeded(++seed),
          host,
          store: host,
        });
        if (!(source instanceof P2PSegmentSource)) throw new Error("not the P2P layer");
        return { source, host, transport: unused.transport(), id: source.peerId };
      };
      const a = mk();
      const b = mk();
      viewers.push(a, b);
      const info = playlist("vod/webrtc.m3u8", false, 3);
      a.source.updatePlaylist(info);
      await new Promise((r) => setTimeout(r, 500)); // a's offers are gathered and sent
      b.source.updatePlaylist(info);
      await until(() => a.source.peerCount() === 1 && b.source.peerCount() === 1, 15_000);
      const sdps = tracker.sockets
        .flatMap((s) => s.sent)
        .flatMap((m) => {
          const offers = m["offers"];
          const list = Array.isArray(offers) ? offers : [];
          return [
            ...list.map((o: unknown) => JSON.stringify(o)),
            JSON.stringify(m["answer"] ?? ""),
          ];
        })
        .join("\n");
      const candidates = [...sdps.matchAll(/candidate:\S+ \d+ \S+ \d+ (\S+) /g)].map((x) => x[1]);
      expect(candidates.length).toBeGreaterThan(0);
      expect(new Set(candidates)).toEqual(new Set(["127.0.0.1"]));

      const k: SegmentKey = { swarmId: info.swarmId, segmentId: "seg-0.ts" };
      const data = bytes(300_000, 5);
      a.host.put(k, data);
      a.source.announce(k, data.byteLength);
      await until(() => b.source.peerCount() === 1, 1000);
      await new Promise((r) => setTimeout(r, 100));
      const got = await b.source.download(k, {
        signal: new AbortController().signal,
        giveUpAt: Date.now() + 8000,
      });
      expect(got?.peerId).toBe(a.id);
      expect(sameBytes(got?.data, data)).toBe(true);
      expect(a.host.uploaded).toEqual([[b.id, data.byteLength]]);
    }, 20_000);
  },
);
