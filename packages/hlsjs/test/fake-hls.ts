import type Hls from "hls.js";
import type { HlsConfig } from "hls.js";
import type { MediaView, TrackView } from "../src/segment-request.js";

type Listener = (...args: unknown[]) => void;

/**
 * A stand-in for an hls.js instance: the members Hivecast reads (config, media, levels, tracks,
 * on/off, the class's static `Events`) and a way to fire events.
 */
export class FakeHls {
  static readonly Events = {
    DESTROYING: "hlsDestroying",
    MEDIA_ATTACHED: "hlsMediaAttached",
    FRAG_BUFFERED: "hlsFragBuffered",
    LEVEL_LOADED: "hlsLevelLoaded",
  };
  static supported = true;
  static instances: FakeHls[] = [];
  static isSupported(): boolean {
    return FakeHls.supported;
  }

  media: MediaView | null = null;
  levels: TrackView[] = [];
  audioTracks: TrackView[] = [];
  subtitleTracks: TrackView[] = [];
  readonly listeners = new Map<string, Set<Listener>>();
  readonly calls: string[] = [];

  constructor(readonly config: Partial<HlsConfig> = {}) {
    FakeHls.instances.push(this);
  }

  on(event: string, fn: Listener): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
  }

  off(event: string, fn: Listener): void {
    this.listeners.get(event)?.delete(fn);
  }

  listenerCount(event: string): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  trigger(event: string, data: unknown = {}): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) fn(event, data);
  }

  loadSource(url: string): void {
    this.calls.push(`loadSource ${url}`);
  }

  attachMedia(_media: unknown): void {
    this.calls.push("attachMedia");
  }

  destroy(): void {
    this.calls.push("destroy");
    this.trigger(FakeHls.Events.DESTROYING);
  }

  /** Typed as the real hls.js instance for the API under test. */
  asHls(): Hls {
    // Test double: structurally the subset of Hls that Hivecast uses.
    return this as unknown as Hls;
  }
}

/** The FakeHls class typed as the hls.js class. */
export function fakeHlsClass(): typeof Hls {
  // Test double: the static members playWithHivecast uses (isSupported, Events, constructor).
  return FakeHls as unknown as typeof Hls;
}
