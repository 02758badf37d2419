/**
 * The WebTorrent tracker's relay messages, for the in-memory trackers of tests and simulations
 * ({@link MemoryTracker} and the benches' trackers): reading a client's announce and writing
 * what the tracker sends back (the announce reply, an offer relayed to another peer, an answer
 * relayed to the peer that made the offer). How a tracker picks the peers is its own business.
 */
import { SKIP_PEER_IDS } from "../p2p/tracker-client.js";

/** A client's announce, as much of it as a relaying tracker reads. */
export interface RelayAnnounce {
  infoHash: string;
  peerId: string;
  /** `event: "stopped"`: the peer leaves the swarm. */
  stopped: boolean;
  /** The SDP answer, when the announce answers an offer; undefined otherwise. */
  answer: unknown;
  /** For an answer: whom it goes to. */
  toPeerId: string;
  /** For an answer: the offer it answers. */
  offerId: unknown;
  /** The offers to relay (possibly empty). */
  offers: unknown[];
  /** `skip_peer_ids`: peers the offers must not go to (the strings among them). */
  skipPeerIds: string[];
}

/** Protocol extensions a relaying tracker that honours `skip_peer_ids` names in its replies. */
export const SKIP_EXTENSIONS: readonly string[] = [SKIP_PEER_IDS];

/** `data` parsed as a JSON object, or null when it is not one. */
export function parseTrackerMessage(data: string): Record<string, unknown> | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const msg: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) msg[k] = x;
  return msg;
}

/** `msg` as an announce, or null when it is another action or lacks its info hash or peer id. */
export function readAnnounce(msg: Record<string, unknown>): RelayAnnounce | null {
  const infoHash = msg["info_hash"];
  const peerId = msg["peer_id"];
  if (msg["action"] !== "announce" || typeof infoHash !== "string" || typeof peerId !== "string")
    return null;
  const offers = msg["offers"];
  const skip = msg["skip_peer_ids"];
  return {
    infoHash,
    peerId,
    stopped: msg["event"] === "stopped",
    answer: msg["answer"],
    toPeerId: String(msg["to_peer_id"]),
    offerId: msg["offer_id"],
    offers: Array.isArray(offers) ? offers : [],
    skipPeerIds: Array.isArray(skip) ? skip.filter((x): x is string => typeof x === "string") : [],
  };
}

/**
 * The tracker's reply to an announce: the swarm's size, and the announce interval and the
 * protocol extensions the tracker supports, if any.
 */
export function announceReply(
  infoHash: string,
  swarmSize: number,
  opts: { intervalSec?: number; extensions?: readonly string[] } = {},
): string {
  return JSON.stringify({
    action: "announce",
    ...(opts.intervalSec !== undefined ? { interval: opts.intervalSec } : {}),
    ...(opts.extensions !== undefined ? { extensions: opts.extensions } : {}),
    info_hash: infoHash,
    complete: 0,
    incomplete: swarmSize,
  });
}

/** `a`'s answer, as relayed to the peer that made the offer. */
export function relayedAnswer(a: RelayAnnounce): string {
  return JSON.stringify({
    action: "announce",
    answer: a.answer,
    offer_id: a.offerId,
    peer_id: a.peerId,
    info_hash: a.infoHash,
  });
}

/** One of `a`'s offers, as relayed to another peer; null when the entry is not an object. */
export function relayedOffer(a: RelayAnnounce, entry: unknown): string | null {
  if (typeof entry !== "object" || entry === null) return null;
  return JSON.stringify({
    action: "announce",
    offer: Reflect.get(entry, "offer"),
    offer_id: Reflect.get(entry, "offer_id"),
    peer_id: a.peerId,
    info_hash: a.infoHash,
  });
}
