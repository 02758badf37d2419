import { afterEach, describe, expect, it } from "vitest";
import Server from "bittorrent-tracker/server";
import { WebSocket } from "ws";
import type { AddressInfo } from "node:net";
import type { SegmentKey } from "../src/p2p/contract.js";
import { MemoryNetwork } from "../src/testing/memory-transport.js";
import {
  bytes,
  makeViewer,
  p2pConfig,
  playlist,
  sameBytes,
  testClock,
  type Viewer,
} from "./p2p-helpers.js";

/** Polls `cond` on real time until true or `ms` pass. */
async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

let server: Server | undefined;
const viewers: Viewer[] = [];
afterEach(async () => {
  for (const v of viewers.splice(0)) v.source.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

describe("tracker protocol compatibility (real ws client, reference bittorrent-tracker server)", () => {
  it("two viewers find each other through bittorrent-tracker and share a segment", async () => {
    const s = new Server({ udp: false, http: false, ws: true, stats: false });
    server = s;
    const warnings: string[] = [];
    s.on("warning", (e) => warnings.push(e.message));
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.http.address() as AddressInfo).port;
    const url = `ws://127.0.0.1:${port}`;
    const net = new MemoryNetwork({ clock: testClock, latencyMs: 1 });
    const cfg = p2pConfig({ trackers: [url], announceIntervalMs: 1000 });
    const a = makeViewer(net, undefined, { config: cfg, deps: { WebSocket } });
    const b = makeViewer(net, undefined, { config: cfg, deps: { WebSocket } });
    viewers.push(a, b);
    const info = playlist("vod/compat.m3u8", false, 4);
    a.source.updatePlaylist(info);
    await new Promise((r) => setTimeout(r, 200));
    b.source.updatePlaylist(info);
    await until(() => a.source.peerCount() === 1 && b.source.peerCount() === 1, 10_000);
    const k: SegmentKey = { swarmId: info.swarmId, segmentId: "seg-0.ts" };
    a.host.put(k, bytes(120_000));
    a.source.announce(k, 120_000);
    await new Promise((r) => setTimeout(r, 50));
    const got = await b.source.download(k, {
      signal: new AbortController().signal,
      giveUpAt: Date.now() + 5000,
    });
    expect(got?.peerId).toBe(a.id);
    expect(sameBytes(got?.data, bytes(120_000))).toBe(true);
    expect(warnings.filter((w) => !/no peer with that|unexpected `started`/.test(w))).toEqual([]);
  }, 20_000);
});
