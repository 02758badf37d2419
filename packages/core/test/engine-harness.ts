/** Shared set-up for Engine tests: fake origins, a fake P2P layer, an event recorder. */
import type { UserConfig } from "../src/config.js";
import { Engine, type EngineDeps } from "../src/engine.js";
import type { HivecastEvents } from "../src/events.js";
import type {
  PeerDownload,
  PeerHost,
  PeerSegmentSource,
  PeerStore,
  PlaylistInfo,
  SegmentKey,
} from "../src/p2p/contract.js";
import { FakeNet, ORIGINS, seededRandom, testClock } from "./fake-net.js";

export const PLAYLIST = `${ORIGINS[0]}v/index.m3u8`;
export const seg = (i: number): string => `${ORIGINS[0]}v/seg${i}.ts`;

/** A scripted P2P layer recording what the engine asks of it. */
export class FakePeers implements PeerSegmentSource {
  readonly downloads: Array<{
    key: SegmentKey;
    giveUpAt: number;
    signal: AbortSignal;
    expectedSize?: number;
  }> = [];
  readonly bad: Array<{ peerId: string; key: SegmentKey; reason: string }> = [];
  readonly announced: Array<{ key: SegmentKey; size: number }> = [];
  readonly forgotten: SegmentKey[] = [];
  readonly playlists: PlaylistInfo[] = [];
  destroyed = false;
  host: PeerHost | undefined = undefined;
  /** The engine's store as the P2P layer sees it. */
  store: PeerStore | undefined = undefined;
  /** What a download yields; default: nobody has it. */
  serve: (key: SegmentKey, signal: AbortSignal) => Promise<PeerDownload | null> = async () => null;

  download(
    key: SegmentKey,
    opts: { signal: AbortSignal; giveUpAt: number; expectedSize?: number },
  ): Promise<PeerDownload | null> {
    this.downloads.push({ key, ...opts });
    return this.serve(key, opts.signal);
  }
  reportBad(peerId: string, key: SegmentKey, reason: string): void {
    this.bad.push({ peerId, key, reason });
  }
  announce(key: SegmentKey, size: number): void {
    this.announced.push({ key, size });
  }
  forget(key: SegmentKey): void {
    this.forgotten.push(key);
  }
  updatePlaylist(info: PlaylistInfo): void {
    this.playlists.push(info);
  }
  /** Peers connected (`peerCount()`). */
  connected = 2;
  peerCount(): number {
    return this.connected;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

/** Every event, in order (payloads read back with {@link pick}). */
export interface Recorded {
  name: keyof HivecastEvents;
  e: unknown;
}

/** Payloads of one event type, in order. */
export function pick<K extends keyof HivecastEvents>(
  events: readonly Recorded[],
  name: K,
): Array<Parameters<HivecastEvents[K]>[0]> {
  return events.filter((r) => r.name === name).map((r) => r.e as Parameters<HivecastEvents[K]>[0]);
}

const EVENTS: Array<keyof HivecastEvents> = [
  "segmentLoaded",
  "peerConnected",
  "peerDisconnected",
  "peerBanned",
  "originStateChanged",
  "integrityFailure",
  "error",
];

/** Fake peers that count `playbackStarted` calls. */
export class StartablePeers extends FakePeers {
  started = 0;
  playbackStarted(): void {
    this.started++;
  }
}

/** An engine over a FakeNet (three origins) with optional fake peers; records every event. */
export function setup(
  config: UserConfig = {},
  opts: { peers?: FakePeers; deps?: Partial<EngineDeps>; net?: FakeNet } = {},
): { engine: Engine; net: FakeNet; events: Recorded[]; peers: FakePeers | undefined } {
  const net = opts.net ?? new FakeNet();
  const peers = opts.peers;
  const engine = new Engine(
    { origins: [...ORIGINS], ...config },
    {
      fetch: net.fetch,
      clock: testClock,
      random: seededRandom(3),
      peerSourceFactory: peers
        ? ({ host, store }) => {
            peers.host = host;
            peers.store = store;
            return peers;
          }
        : undefined,
      ...opts.deps,
    },
  );
  const events: Recorded[] = [];
  for (const name of EVENTS)
    engine.on(name, ((e: unknown) => void events.push({ name, e })) as HivecastEvents[typeof name]);
  return { engine, net, events, peers };
}

/** P2P config that lets the fake peers be created. */
export const P2P_ON: UserConfig["p2p"] = { enabled: true, trackers: ["ws://tracker.test"] };

export { seededRandom };
