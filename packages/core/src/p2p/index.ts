/**
 * The P2P layer: tracker client, peer protocol, swarms and scheduler behind the Engine's
 * {@link PeerSegmentSource} seam. Internal to @hivecast/core except what the Engine, the
 * adapters' tests and the simulator inject (the in-memory doubles are in `../testing`).
 */
import type { PeerSegmentSourceFactory } from "./contract.js";
import { createPeerSegmentSource } from "./peer-segment-source.js";

/** The production P2P layer as the Engine's `peerSourceFactory` (WebRTC, global WebSocket). */
export const peerSegmentSourceFactory: PeerSegmentSourceFactory = createPeerSegmentSource;

export {
  createPeerSegmentSource,
  P2PSegmentSource,
  makePeerId,
  displayPeerId,
} from "./peer-segment-source.js";
export type { PeerSegmentSourceDeps } from "./peer-segment-source.js";
export type {
  PeerTransport,
  PeerConnection,
  PeerConnectionEvents,
  CreatePeerOptions,
  SignalData,
} from "./peer-transport.js";
export type { TrackerSocket, WebSocketConstructor } from "./tracker-client.js";
export type {
  PeerDownload,
  PeerHost,
  PeerSegmentSource,
  PeerSegmentSourceFactory,
  PlaylistInfo,
  SegmentKey,
} from "./contract.js";
