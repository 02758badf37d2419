/**
 * Every recoverable problem reaches the app as a `warning` of its kind. Each test here causes
 * one kind not covered by the suites of its area (tracker messages, peers vanishing, refused
 * uploads, failing host callbacks), and the first one checks the list itself.
 */
import { describe, expect, it, vi } from "vitest";
import { WarningKinds, type WarningKind } from "../src/events.js";

import {
  TrackerClient,
  type TrackerSocket,
  type WebSocketConstructor,
} from "../src/p2p/tracker-client.js";
import { infoHashOf } from "../src/p2p/swarm.js";
import {
  bytes,
  makeViewer,
  p2pConfig,
  testClock,
  world,
  type Viewer,
  useFakeClock,
  neverAborted,
  keysOf,
  joinSwarm,
  giveSegment,
  settle,
  playlist,
} from "./p2p-helpers.js";
import type { MemoryTracker } from "../src/testing/memory-tracker.js";

const SWARM = "live/720p.m3u8";
const key = keysOf(SWARM);
const never = neverAborted;

useFakeClock();

const join = (viewers: Viewer[]): Promise<void> => joinSwarm(viewers, SWARM);

const give = (v: Viewer, segmentId: string, data: Uint8Array): void =>
  giveSegment(v, key(segmentId), data);

/** A tracker socket the test speaks for. */
function scriptedSocket(): { WebSocket: WebSocketConstructor; sockets: ScriptedSocket[] } {
  const sockets: ScriptedSocket[] = [];
  class Ws extends ScriptedSocket {
    constructor(_url: string) {
      super();
      sockets.push(this);
      queueMicrotask(() => {
        this.readyState = 1;
        this.onopen?.({});
      });
    }
  }
  return { WebSocket: Ws, sockets };
}

class ScriptedSocket implements TrackerSocket {
  readyState = 0;
  readonly sent: string[] = [];
  onopen: TrackerSocket["onopen"] = null;
  onmessage: TrackerSocket["onmessage"] = null;
  onclose: TrackerSocket["onclose"] = null;
  onerror: TrackerSocket["onerror"] = null;
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
  }
  receive(data: unknown): void {
    this.onmessage?.({ data });
  }
}

describe("warning kinds", () => {
  it("the event type lists each kind once", () => {
    expect(new Set(WarningKinds).size).toBe(WarningKinds.length);
    expect(WarningKinds).toEqual(
      expect.arrayContaining<WarningKind>([
        "tracker-unavailable",
        "tracker-refused",
        "tracker-protocol",
        "peer-gone",
        "upload-refused",
        "uploads-paused",
        "join-deferred",
        "p2p-internal",
      ]),
    );
  });

  it("tracker-protocol for a malformed message, tracker-refused for a failure reason", async () => {
    const { WebSocket, sockets } = scriptedSocket();
    const seen: Array<{ kind: WarningKind; tracker: string }> = [];
    const url = "ws://127.0.0.1:9/announce";
    const client = new TrackerClient({
      url,
      clock: testClock,
      random: () => 0.5,
      retry: p2pConfig().p2p.trackerRetry,
      connectTimeoutMs: 5000,
      WebSocket,
      onWarning: (kind, _m, d) => seen.push({ kind, tracker: d.tracker }),
    });
    const infoHash = infoHashOf(SWARM);
    client.subscribe({
      infoHash,
      onTrackerOpen: () => undefined,
      onTrackerMessage: () => undefined,
    });
    await vi.advanceTimersByTimeAsync(10);
    const socket = sockets[0];
    expect(socket).toBeDefined();
    socket?.receive("{not json");
    socket?.receive(
      JSON.stringify({ action: "announce", info_hash: infoHash, "failure reason": "swarm full" }),
    );
    expect(seen).toEqual([
      { kind: "tracker-protocol", tracker: url },
      { kind: "tracker-refused", tracker: url },
    ]);
    client.destroy();
  });

  it("peer-gone when the peer serving a transfer goes away in the middle of it", async () => {
    const { net, tracker } = world({ bytesPerSec: 1_000_000 });
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    await join([a, b]);
    give(a, "seg-0.ts", bytes(600_000));
    await vi.advanceTimersByTimeAsync(50);
    const p = b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt: Date.now() + 4000 });
    await vi.advanceTimersByTimeAsync(200);
    expect(b.host.warnings.filter((w) => w.kind === "peer-gone")).toEqual([]);
    a.source.destroy();
    await vi.advanceTimersByTimeAsync(5000);
    await p;
    const gone = b.host.warnings.filter((w) => w.kind === "peer-gone");
    expect(gone).toHaveLength(1);
    expect(gone[0]?.message).toContain(a.id);
    b.source.destroy();
  });

  it("upload-refused when this viewer's upload slots are all taken", async () => {
    const { net, tracker } = world({ bytesPerSec: 200_000 });
    const a = makeViewer(net, tracker, { config: p2pConfig({ maxUploads: 1 }) });
    const b = makeViewer(net, tracker);
    const c = makeViewer(net, tracker);
    await join([a, b, c]);
    give(a, "seg-0.ts", bytes(400_000));
    await vi.advanceTimersByTimeAsync(50);
    const giveUpAt = Date.now() + 8000;
    const pb = b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt });
    const pc = c.source.download(key("seg-0.ts"), { signal: never(), giveUpAt });
    await vi.advanceTimersByTimeAsync(9000);
    await Promise.allSettled([pb, pc]);
    expect(a.host.warnings.map((w) => w.kind)).toContain("upload-refused");
    for (const v of [a, b, c]) v.source.destroy();
  });

  it("uploads-paused once when playback stalls: the viewer refuses uploads for uploadPauseAfterStallMs and peers fetch elsewhere", async () => {
    const { net, tracker } = world({ bytesPerSec: 1_000_000 });
    const config = p2pConfig({ uploadPauseAfterStallMs: 10_000 });
    const a = makeViewer(net, tracker, { config });
    const b = makeViewer(net, tracker, { config });
    const c = makeViewer(net, tracker, { config });
    await join([a, b, c]);
    for (const id of ["seg-0.ts", "seg-1.ts", "seg-2.ts"]) {
      give(a, id, bytes(100_000));
      give(c, id, bytes(100_000));
    }
    give(a, "seg-3.ts", bytes(100_000));
    await vi.advanceTimersByTimeAsync(50);
    a.source.playbackStalled?.();
    a.source.playbackStalled?.(); // a second stall during the pause: no second warning
    const giveUpAt = Date.now() + 3000;
    for (const id of ["seg-0.ts", "seg-1.ts", "seg-2.ts"]) {
      const { value: got } = await settle(
        b.source.download(key(id), { signal: never(), giveUpAt }),
      );
      expect(got?.peerId).toBe(c.id);
    }
    // Held by the paused viewer alone: not served while the pause lasts.
    const { value: early } = await settle(
      b.source.download(key("seg-3.ts"), { signal: never(), giveUpAt: Date.now() + 2000 }),
    );
    expect(early).toBeNull();
    const kinds = a.host.warnings.map((w) => w.kind);
    expect(kinds.filter((k) => k === "uploads-paused")).toHaveLength(1);
    expect(kinds).not.toContain("upload-refused");
    await vi.advanceTimersByTimeAsync(10_000);
    const { value: later } = await settle(
      b.source.download(key("seg-3.ts"), { signal: never(), giveUpAt: Date.now() + 3000 }),
    );
    expect(later?.peerId).toBe(a.id);
    for (const v of [a, b, c]) v.source.destroy();
  });

  /** Announces `v` sent to the tracker. */
  const announcesBy = (tracker: MemoryTracker, v: Viewer): number =>
    tracker.sockets
      .flatMap((x) => x.sent)
      .filter((m) => m.action === "announce" && m.peer_id === v.id).length;

  /** A clock whose timers fire `lagMs` late for the next `n` runs of a 250 ms timer. */
  function laggingClock(): {
    clock: typeof testClock;
    lag(lagMs: number, n: number): Promise<void>;
  } {
    let skew = 0;
    return {
      clock: { ...testClock, now: () => Date.now() + skew },
      async lag(lagMs, n) {
        for (let i = 0; i < n; i++) {
          skew += lagMs;
          await vi.advanceTimersByTimeAsync(250);
        }
      },
    };
  }

  it("join-deferred once while the main thread is starved (timers 300 ms late, 3 of 8): no tracker, no link, until it keeps up again", async () => {
    const { net, tracker } = world({ bytesPerSec: 1_000_000 });
    // The default join: at start-up's end, at the latest joinDelayMaxMs after the playlist.
    const config = p2pConfig({ joinDelayMaxMs: 10_000, mainThreadLagMs: 250 });
    const starved = laggingClock();
    const b = makeViewer(net, tracker, { config: p2pConfig() });
    await join([b]);
    const a = makeViewer(net, tracker, { config, deps: { clock: starved.clock } });
    a.source.updatePlaylist(playlist(SWARM, false, 10));
    await starved.lag(300, 4); // start-up on a starved page
    a.source.playbackStarted?.();
    await starved.lag(300, 8);
    expect(announcesBy(tracker, a)).toBe(0);
    expect(a.host.warnings.filter((w) => w.kind === "join-deferred")).toHaveLength(1);
    expect(a.host.warnings.find((w) => w.kind === "join-deferred")?.details).toEqual({
      swarmId: SWARM,
    });
    // A segment load with a deadline would join at once on a page that keeps up: not here.
    give(b, "seg-1.ts", bytes(100_000));
    const { value: none, ms: noneMs } = await settle(
      // a's clock runs ahead by the lag it saw: its deadlines are on its clock.
      a.source.download(key("seg-1.ts"), {
        signal: never(),
        giveUpAt: starved.clock.now() + 2000,
      }),
    );
    expect(none).toBeNull();
    expect(noneMs).toBeLessThan(100); // nothing to wait for: HTTP at once
    expect(announcesBy(tracker, a)).toBe(0);
    // On time again: once fewer than 3 of the last 8 runs were late (6 runs), it joins.
    await starved.lag(0, 5);
    expect(announcesBy(tracker, a)).toBe(0);
    await starved.lag(0, 1);
    await vi.advanceTimersByTimeAsync(500);
    expect(announcesBy(tracker, a)).toBeGreaterThan(0);
    const { value: got } = await settle(
      a.source.download(key("seg-1.ts"), {
        signal: never(),
        giveUpAt: starved.clock.now() + 3000,
      }),
    );
    expect(got?.peerId).toBe(b.id);
    expect(a.host.warnings.filter((w) => w.kind === "join-deferred")).toHaveLength(1);
    for (const v of [a, b]) v.source.destroy();
  });

  it("a page that keeps up, a hidden page, or mainThreadLagMs 0 joins at the first frame as before", async () => {
    const { net, tracker } = world({ bytesPerSec: 1_000_000 });
    const config = p2pConfig({ joinDelayMaxMs: 10_000, mainThreadLagMs: 250 });
    const onTime = laggingClock();
    const hidden = laggingClock();
    const off = laggingClock();
    const a = makeViewer(net, tracker, { config, deps: { clock: onTime.clock } });
    const h = makeViewer(net, tracker, {
      config,
      deps: { clock: hidden.clock, document: { visibilityState: "hidden" } },
    });
    const o = makeViewer(net, tracker, {
      config: p2pConfig({ joinDelayMaxMs: 10_000, mainThreadLagMs: 0 }),
      deps: { clock: off.clock },
    });
    for (const v of [a, h, o]) v.source.updatePlaylist(playlist(SWARM, false, 10));
    await onTime.lag(40, 8);
    await hidden.lag(900, 8); // hidden pages' timers are slowed on purpose
    await off.lag(900, 8);
    for (const v of [a, h, o]) {
      expect(announcesBy(tracker, v)).toBe(0);
      v.source.playbackStarted?.();
    }
    await vi.advanceTimersByTimeAsync(100);
    for (const v of [a, h, o]) {
      expect(announcesBy(tracker, v)).toBeGreaterThan(0);
      expect(v.host.warnings.map((w) => w.kind)).not.toContain("join-deferred");
    }
    for (const v of [a, h, o]) v.source.destroy();
  });

  it("uploadPauseAfterStallMs 0: a stall changes nothing", async () => {
    const { net, tracker } = world({ bytesPerSec: 1_000_000 });
    const config = p2pConfig({ uploadPauseAfterStallMs: 0 });
    const a = makeViewer(net, tracker, { config });
    const b = makeViewer(net, tracker, { config });
    await join([a, b]);
    give(a, "seg-0.ts", bytes(100_000));
    await vi.advanceTimersByTimeAsync(50);
    a.source.playbackStalled?.();
    const { value: got } = await settle(
      b.source.download(key("seg-0.ts"), { signal: never(), giveUpAt: Date.now() + 3000 }),
    );
    expect(got?.peerId).toBe(a.id);
    expect(a.host.warnings.map((w) => w.kind)).not.toContain("uploads-paused");
    for (const v of [a, b]) v.source.destroy();
  });

  it("p2p-internal when a host callback throws; the P2P layer goes on", async () => {
    const { net, tracker } = world();
    const a = makeViewer(net, tracker);
    const b = makeViewer(net, tracker);
    b.host.onPeerConnected = () => {
      throw new Error("app bug");
    };
    await join([a, b]);
    expect(b.host.warnings.map((w) => w.kind)).toContain("p2p-internal");
    expect(b.source.peerCount()).toBe(1);
    for (const v of [a, b]) v.source.destroy();
  });
});
