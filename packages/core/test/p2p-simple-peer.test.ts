import { afterEach, describe, expect, it } from "vitest";
import type { SegmentKey } from "../src/p2p/contract.js";
import { MemoryNetwork } from "../src/p2p/memory-transport.js";
import { MemoryTracker } from "../src/p2p/memory-tracker.js";
import { SimplePeerTransport } from "../src/p2p/simple-peer-transport.js";
import {
  bytes,
  makeViewer,
  p2pConfig,
  playlist,
  sameBytes,
  testClock,
  type Viewer,
} from "./p2p-helpers.js";

let webrtc = true;
let why = "";
try {
  await import("node-datachannel");
} catch (e) {
  webrtc = false;
  why = String(e);
  console.warn(`p2p-simple-peer: skipped, node-datachannel cannot load: ${why}`);
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
});

describe.skipIf(!webrtc)(
  "SimplePeerTransport: real WebRTC data channels (node-datachannel, loopback)",
  () => {
    it("two viewers connect through the tracker and transfer a segment", async () => {
      const tracker = new MemoryTracker({ clock: testClock, latencyMs: 1 });
      // Signals never use the memory network; it only satisfies makeViewer's signature.
      const unused = new MemoryNetwork({ clock: testClock });
      // iceServers: [] and a loopback bind (libdatachannel option): host candidates on 127.0.0.1 only.
      const rtcConfig = { iceServers: [], bindAddress: "127.0.0.1" };
      const cfg = p2pConfig({ rtcConfig, connectTimeoutMs: 10_000 });
      const mk = (): Viewer =>
        makeViewer(unused, tracker, {
          config: cfg,
          deps: { transport: new SimplePeerTransport({ iceCompleteTimeoutMs: 300 }) },
        });
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
