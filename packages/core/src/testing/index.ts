/**
 * `@hivecast/core/testing`: in-memory doubles of the P2P layer's network, for tests and
 * simulations that need peers without WebRTC or a signaling server. A {@link MemoryNetwork}
 * hands out {@link MemoryTransport}s (peer links with configurable latency, bandwidth, loss and
 * candidate types); a {@link MemoryTracker} is a WebSocket-compatible tracker in the same
 * process. Never part of the main bundle.
 * @packageDocumentation
 */
export { MemoryNetwork, MemoryTransport, MemoryPeerConnection } from "./memory-transport.js";
export type { MemoryNetworkOptions } from "./memory-transport.js";
export { MemoryTracker } from "./memory-tracker.js";
