/**
 * Late joiners start like plain hls.js: before playback starts the engine gives no deadline, and
 * then peers serve a segment only when a connected peer already holds it — no wait for
 * connections, announcements or the live-edge fetcher.
 */
import { describe, expect, it, vi } from "vitest";
import { FakePeers, P2P_ON, PLAYLIST, seg, setup } from "./engine-harness.js";
import { bytes as netBytes, sha } from "./fake-net.js";
import {
  bytes,
  makeViewer,
  playlist,
  world,
  useFakeClock,
  neverAborted,
  keysOf,
} from "./p2p-helpers.js";

const SWARM = "live/720p.m3u8";
const key = keysOf(SWARM);
const never = neverAborted;

useFakeClock();

describe("start-up never waits for peers", () => {
  it("mayWait false: no wait for the join, but a connected peer holding the segment still serves it", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    a.source.updatePlaylist(playlist(SWARM, false, 10));
    await vi.advanceTimersByTimeAsync(300);
    for (const i of [0, 1, 2]) {
      a.host.put(key(`seg-${i}.ts`), bytes(20_000, i));
      a.source.announce(key(`seg-${i}.ts`), 20_000);
    }
    const b = makeViewer(net, tracker);
    b.source.updatePlaylist(playlist(SWARM, false, 10));
    await vi.advanceTimersByTimeAsync(20); // the tracker answered (2 in the swarm), no peer yet
    expect(b.source.peerCount()).toBe(0);
    const giveUpAt = Date.now() + 5000;
    const t0 = Date.now();
    expect(await b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt })).toBeNull();
    // seg-1 would wait for the connection to a (the join wait); not before playback starts.
    const opts = { signal: never(), giveUpAt, mayWait: false };
    expect(await b.source.download(key("seg-1.ts"), opts)).toBeNull();
    expect(Date.now()).toBe(t0);
    // Once connected, a peer that holds the segment serves it even so.
    await vi.advanceTimersByTimeAsync(1000);
    expect(b.source.peerCount()).toBe(1);
    const p = b.source.download(key("seg-2.ts"), opts);
    await vi.advanceTimersByTimeAsync(500);
    expect(await p).toMatchObject({ peerId: a.id });
    a.source.destroy();
    b.source.destroy();
  });

  it("the engine lets peers wait only once the player gave a deadline (playback started)", async () => {
    const peers = new FakePeers();
    const { engine, net } = setup({ p2p: P2P_ON }, { peers });
    const data = netBytes(5000, 1);
    net.files.set("v/seg0.ts", data);
    const req = {
      url: seg(0),
      kind: "segment" as const,
      playlistUrl: PLAYLIST,
      hash: await sha(data),
    };
    await engine.loadSegment(req);
    engine["store"].clear();
    await engine.loadSegment({ ...req, deadlineMs: 4000 });
    expect(peers.downloads.map((d) => (d as { mayWait?: boolean }).mayWait)).toEqual([false, true]);
    engine.destroy();
  });
});
