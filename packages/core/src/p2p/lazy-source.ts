/**
 * The P2P layer on demand. The P2P layer (tracker client, peer protocol, scheduler, WebRTC) is
 * about 40 % of Hivecast's code; a page needs none of it before its first frame, since the swarm
 * joins only after start-up (`p2p.joinDelayMaxMs`). So the Engine's default factory hands out
 * this stand-in, which loads the layer as a chunk of its own when the swarm would join, and
 * forwards to it once loaded. Until then every download goes to HTTP (`null`), exactly as a
 * layer that has not joined yet would answer. Once built, the layer learns from the Engine
 * (`deps.catchUp`) the playlists, verified segments and start-up it missed. A load that fails
 * is retried a few times with a growing delay ({@link MAX_LAYER_LOADS}), each failure a
 * `p2p-internal` warning.
 */
import { backoffDelay } from "../backoff.js";
import type { Clock } from "../clock.js";
import type { PeerSegmentSource, PeerSegmentSourceFactory } from "./contract.js";

type Deps = Parameters<PeerSegmentSourceFactory>[0];

/** Loads of the P2P layer before the page gives up on it (the first and three retries). */
export const MAX_LAYER_LOADS = 4;
/** Retries of a failed load: 10 s, then doubling (±20 %), at most 2 min apart. */
const LOAD_RETRY = {
  retryDelayMs: 10_000,
  maxRetryDelayMs: 120_000,
  backoff: "exponential",
  jitter: 0.2,
} as const;

/**
 * A {@link PeerSegmentSource} that builds the real one with `load()`'s factory when the swarm
 * would join: at the first frame (`playbackStarted`), at a segment load with a playback
 * deadline, or `p2p.joinDelayMaxMs` after the first playlist or segment (at once when that is
 * 0, or when `p2p.mainThreadLagMs` watches start-up). Start-up thus neither fetches nor parses
 * the P2P layer.
 */
export function lazyPeerSource(
  deps: Deps,
  load: () => Promise<PeerSegmentSourceFactory>,
): PeerSegmentSource {
  const { clock, config, host } = deps;
  let real: PeerSegmentSource | undefined;
  let loading = false;
  let failures = 0;
  /** A failed load is retried by its timer only; triggers before then do not load. */
  let retryPending = false;
  let destroyed = false;
  let timer: ReturnType<Clock["setTimeout"]> | undefined;
  /** Loads and builds the layer; `joinNow`: the join's wait is over, its swarms join at once. */
  const begin = (joinNow: boolean): void => {
    if (loading || destroyed || retryPending || failures >= MAX_LAYER_LOADS) return;
    loading = true;
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
    load()
      .then((factory) => {
        if (destroyed) return;
        real = factory(
          joinNow
            ? { ...deps, config: { ...config, p2p: { ...config.p2p, joinDelayMaxMs: 0 } } }
            : deps,
        );
        deps.catchUp?.(real);
      })
      .catch((e: unknown) => {
        if (destroyed) return;
        // A network blip or a deploy in progress: try again later, a few times, then stay on HTTP.
        loading = false;
        failures++;
        if (failures >= MAX_LAYER_LOADS) {
          host.onWarning("p2p-internal", `P2P layer not started, giving up: ${String(e)}`, {});
          return;
        }
        const delay = backoffDelay(LOAD_RETRY, failures - 1, deps.random);
        host.onWarning(
          "p2p-internal",
          `P2P layer not started, retrying in ${Math.round(delay / 1000)} s: ${String(e)}`,
          {},
        );
        retryPending = true;
        timer = clock.setTimeout(() => {
          retryPending = false;
          begin(joinNow);
        }, delay);
      });
  };
  /** The first playlist or segment starts the join's longest wait. */
  const arm = (): void => {
    if (!loading && timer === undefined)
      timer = clock.setTimeout(() => begin(true), config.p2p.joinDelayMaxMs);
  };
  // The main-thread watch (`p2p.mainThreadLagMs`) needs its samples from before the first frame.
  if (config.p2p.joinDelayMaxMs <= 0 || config.p2p.mainThreadLagMs > 0) begin(false);
  return {
    download(key, opts) {
      if (real) return real.download(key, opts);
      // A load with a deadline: the player is playing, so the swarm would join now.
      if (opts.mayWait !== false) begin(true);
      return Promise.resolve(null);
    },
    // Nothing came from a peer before the layer existed, so there is no one to report.
    reportBad: (peerId, key, reason) => real?.reportBad(peerId, key, reason),
    announce(key, size) {
      if (real) real.announce(key, size);
      else arm();
    },
    forget: (key) => real?.forget(key),
    updatePlaylist(info) {
      if (real) real.updatePlaylist(info);
      else arm();
    },
    playbackStarted() {
      if (real) real.playbackStarted?.();
      else begin(false);
    },
    playbackStalled: () => real?.playbackStalled?.(),
    peerCount: () => real?.peerCount() ?? 0,
    linkStats: () => real?.linkStats?.(),
    destroy() {
      destroyed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      real?.destroy();
    },
  };
}
