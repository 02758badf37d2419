/**
 * The seam between the swarm and WebRTC: a peer connection with one ordered, reliable data
 * channel. Implemented by {@link WebRtcTransport} (the default: browsers, or Node with
 * node-datachannel's RTCPeerConnection), {@link SimplePeerTransport} (opt-in) and
 * {@link MemoryTransport} (unit tests, simulator).
 */
import type { PeerLinkType } from "../types.js";

/** Session description exchanged through the tracker (non-trickle: one offer, one answer). */
export interface SignalData {
  type: "offer" | "answer";
  sdp: string;
}

/** The ICE candidate types WebRTC reports. */
export type CandidateType = "host" | "srflx" | "prflx" | "relay";

/** How an open link reaches the peer (the selected ICE candidate pair). */
export interface LinkInfo {
  /** The pair's type: `relay` if either end is relayed, else `srflx`, `prflx`, then `host`. */
  type: PeerLinkType;
  localType?: CandidateType;
  remoteType?: CandidateType;
  /** The remote candidate's address and port, as WebRTC reports it (may be an mDNS name). */
  remoteAddress?: string;
  /** "udp" or "tcp" (of the local candidate, or the TURN leg's). */
  protocol?: string;
}

/** The type of a candidate pair: its "farthest" end (relay, then srflx, prflx, host). */
export function pairType(a: CandidateType | undefined, b: CandidateType | undefined): PeerLinkType {
  for (const t of ["relay", "srflx", "prflx"] as const) if (a === t || b === t) return t;
  return "host";
}

/** Why a peer link failed to come up. */
export type LinkFailureCause =
  | "ice-failed"
  | "connect-timeout"
  | "no-candidates"
  | "offer-unanswered"
  | "relay-refused"
  | "other";

/** A transport error that knows its {@link LinkFailureCause}. */
export class PeerLinkError extends Error {
  constructor(
    readonly failure: LinkFailureCause,
    message: string,
  ) {
    super(message);
    this.name = "PeerLinkError";
  }
}

/** Events of a {@link PeerConnection}. */
export interface PeerConnectionEvents {
  /** Local description ready: send it to the other side through the tracker. */
  signal: (data: SignalData) => void;
  /** The data channel is open. */
  connect: () => void;
  /** A binary message arrived. */
  data: (data: Uint8Array) => void;
  /**
   * A text (or other non-binary) message arrived. Our protocol is binary only: the content is
   * dropped unread and only its length (UTF-16 units; 0 when unknown) is reported, so the
   * session can charge it to the peer's budget. Optional for transports: one that never emits
   * it must drop such messages itself.
   */
  text: (length: number) => void;
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
  /** The selected candidate pair, once `connect` was emitted, when the transport can tell. */
  readonly link?: LinkInfo | undefined;
  /**
   * The largest message the other side accepts (its SCTP `max-message-size`), once connected;
   * undefined when the transport cannot tell.
   */
  readonly maxMessageBytes?: number | undefined;
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
