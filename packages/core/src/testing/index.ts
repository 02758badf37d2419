/**
 * `@hivecast/core/testing`: in-memory doubles of the P2P layer's network, for tests and
 * simulations that need peers without WebRTC or a signaling server. A {@link MemoryNetwork}
 * hands out {@link MemoryTransport}s (peer links with configurable latency, bandwidth, loss and
 * candidate types); a {@link MemoryTracker} is a WebSocket-compatible tracker in the same
 * process. Never part of the main bundle.
 * @packageDocumentation
 */
import type { PeerHost, PeerStore, SegmentKey } from "../p2p/contract.js";

export { MemoryNetwork, MemoryTransport, MemoryPeerConnection } from "./memory-transport.js";
export type { MemoryNetworkOptions } from "./memory-transport.js";
export { MemoryTracker } from "./memory-tracker.js";

/**
 * A {@link PeerStore} for simulations: uploads read `getShareable`, and nothing is ever
 * prefetched (no pending tier). Tests that need the pending tier use a real `SegmentStore`.
 */
export function staticPeerStore(
  getShareable: (key: SegmentKey) => Uint8Array | undefined,
  has: (key: SegmentKey) => boolean = (key) => getShareable(key) !== undefined,
): PeerStore {
  return {
    getShareable,
    has,
    putPending: () => false,
    takePending: () => undefined,
    dropPending: () => undefined,
  };
}

/**
 * A {@link PeerHost} for simulations and benchmark peers: every segment may be shared, events
 * are dropped; `overrides` replaces the callbacks a caller wants to see.
 */
export function quietPeerHost(overrides: Partial<PeerHost> = {}): PeerHost {
  return {
    shareable: () => true,
    onPeerConnected: () => undefined,
    onPeerDisconnected: () => undefined,
    onPeerBanned: () => undefined,
    onUploaded: () => undefined,
    onWarning: () => undefined,
    ...overrides,
  };
}
