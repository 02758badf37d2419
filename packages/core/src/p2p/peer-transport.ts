/**
 * The seam between the swarm and WebRTC: a peer connection with one ordered, reliable data
 * channel. Implemented by {@link WebRtcTransport} (the default: browsers, or Node with
 * node-datachannel's RTCPeerConnection), {@link SimplePeerTransport} (opt-in) and
 * {@link MemoryTransport} (unit tests, simulator).
 */

/** Session description exchanged through the tracker (non-trickle: one offer, one answer). */
export interface SignalData {
  type: "offer" | "answer";
  sdp: string;
}

/** Events of a {@link PeerConnection}. */
export interface PeerConnectionEvents {
  /** Local description ready: send it to the other side through the tracker. */
  signal: (data: SignalData) => void;
  /** The data channel is open. */
  connect: () => void;
  /** A binary message arrived. */
  data: (data: Uint8Array) => void;
  /** The connection closed (by either side or by failure). Emitted at most once. */
  close: () => void;
  /** A transport error; `close` follows. */
  error: (err: Error) => void;
}

/** One peer connection. */
export interface PeerConnection {
  /** Whether this side created the offer. */
  readonly initiator: boolean;
  /** Bytes queued on the data channel and not yet sent (back-pressure). */
  readonly bufferedAmount: number;
  /**
   * The remote IP address of the selected candidate pair, once connected (undefined when the
   * transport cannot tell). Address-keyed defenses use it; see `p2p.defense`.
   */
  readonly remoteAddress?: string | undefined;
  /** Applies the remote description. */
  signal(data: SignalData): void;
  /** Sends one binary message. Throws when the connection is closed. */
  send(data: Uint8Array): void;
  /** Closes the connection and releases everything it holds. Idempotent; emits nothing. */
  destroy(): void;
  on<K extends keyof PeerConnectionEvents>(event: K, fn: PeerConnectionEvents[K]): unknown;
  off<K extends keyof PeerConnectionEvents>(event: K, fn: PeerConnectionEvents[K]): unknown;
}

/** Options of {@link PeerTransport.createPeer}. */
export interface CreatePeerOptions {
  /** True on the side that makes the offer. */
  initiator: boolean;
  /** STUN/TURN configuration. */
  rtcConfig: RTCConfiguration;
}

/** Creates peer connections. Creating one is the first moment an RTCPeerConnection may exist. */
export interface PeerTransport {
  createPeer(opts: CreatePeerOptions): PeerConnection;
}

/** Validates an untrusted value as {@link SignalData} of the given type (bounded SDP). */
export function parseSignal(value: unknown, type: SignalData["type"]): SignalData | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const t: unknown = Reflect.get(value, "type");
  const sdp: unknown = Reflect.get(value, "sdp");
  if (t !== type || typeof sdp !== "string" || sdp.length === 0 || sdp.length > MAX_SDP_CHARS)
    return undefined;
  return { type, sdp };
}

/** Longest SDP accepted from the tracker. */
export const MAX_SDP_CHARS = 32 * 1024;
