/**
 * The WebTorrent tracker protocol over WebSocket (as spoken by `bittorrent-tracker`'s
 * websocket client and p2p-media-loader): parsing and validation of client messages into typed
 * values. Nothing here trusts the wire: every field is checked for type and exact bounds.
 *
 * `info_hash`, `peer_id`, `to_peer_id` and `offer_id` travel as 20-character "binary strings"
 * (each char code 0–255); they are kept in that form as map keys.
 */

/** Why a message (or connection) was refused; also the `reason` label of the rejected metric. */
export type RejectReason =
  | "binary_frame"
  | "bad_json"
  | "not_object"
  | "bad_action"
  | "bad_info_hash"
  | "bad_peer_id"
  | "bad_event"
  | "bad_numwant"
  | "bad_offers"
  | "bad_offer_id"
  | "bad_sdp"
  | "bad_answer"
  | "bad_to_peer_id"
  | "bad_skip_peer_ids"
  | "rate_limited"
  | "peer_id_taken"
  | "too_many_swarms"
  | "too_many_peer_ids"
  | "swarm_full"
  | "too_many_peers_per_ip"
  | "server_swarms_full"
  | "no_matching_offer"
  | "offer_expired"
  | "target_gone"
  | "slow_consumer";

/** Announce events. `empty`/missing are read as `update` (as bittorrent-tracker does). */
export type AnnounceEvent = "started" | "stopped" | "completed" | "update" | "paused";

/** One WebRTC offer to relay. */
export interface Offer {
  /** 20-char binary string chosen by the offering client. */
  offerId: string;
  /** The SDP text (`offer.sdp`). */
  sdp: string;
}

/** `{action:"announce"}` without an answer: join/update/leave a swarm, maybe with offers. */
export interface AnnounceMessage {
  kind: "announce";
  infoHash: string;
  peerId: string;
  event: AnnounceEvent;
  /** Offers to relay, already capped to `min(numwant, maxOffers)`. */
  offers: Offer[];
  /** `left === 0` means the peer has everything (a seeder: counted in `complete`). */
  seeding: boolean;
  /**
   * `skip_peer_ids`: peers the sender's offers must not go to (it is already linked with them,
   * or will not link with them); empty when absent. At most {@link MAX_SKIP_PEER_IDS} are read.
   */
  skipPeerIds: string[];
}

/**
 * Most `skip_peer_ids` entries read from one announce; later entries are ignored (they only
 * cost the sender offers to peers it will refuse). Hivecast clients send at most 200.
 */
export const MAX_SKIP_PEER_IDS = 256;

/**
 * Protocol extensions this server supports, named in every announce reply (`extensions`).
 * `skip_peer_ids`: an announce may list peers its offers must not be relayed to.
 */
export const EXTENSIONS: readonly string[] = ["skip_peer_ids"];

/** `{action:"announce", answer, to_peer_id, offer_id}`: an answer to relay to the offerer. */
export interface AnswerMessage {
  kind: "answer";
  infoHash: string;
  peerId: string;
  toPeerId: string;
  offerId: string;
  sdp: string;
}

/** `{action:"scrape", info_hash: string | string[]}`. */
export interface ScrapeMessage {
  kind: "scrape";
  infoHashes: string[];
}

/** A validated client message. */
export type ClientMessage = AnnounceMessage | AnswerMessage | ScrapeMessage;

/** A refused message, with enough context for a wire-compatible `failure reason` reply. */
export interface ParseFailure {
  kind: "invalid";
  reason: RejectReason;
  /** Human text for `failure reason`. */
  message: string;
  /** The action, when it was readable (the reply echoes it). */
  action: "announce" | "scrape";
  /** The info hash, when it was valid (the client ignores replies for other hashes). */
  infoHash: string | null;
}

/** Limits the parser enforces. */
export interface ParseLimits {
  maxOffers: number;
  maxSdpBytes: number;
  /** Largest number of info hashes in one scrape. */
  maxScrapeHashes: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** True for a string of exactly 20 chars, each a byte (char code ≤ 255). */
export function isBinaryId(v: unknown): v is string {
  if (typeof v !== "string" || v.length !== 20) return false;
  for (let i = 0; i < 20; i++) if (v.charCodeAt(i) > 255) return false;
  return true;
}

function sdpOk(v: unknown, type: "offer" | "answer", maxBytes: number): string | null {
  if (!isRecord(v) || v.type !== type) return null;
  const sdp = v.sdp;
  if (typeof sdp !== "string" || sdp.length === 0 || sdp.length > maxBytes) return null;
  // length (UTF-16 units) ≤ bytes; only multi-byte text needs the exact count.
  if (sdp.length * 3 > maxBytes && Buffer.byteLength(sdp, "utf8") > maxBytes) return null;
  return sdp;
}

function fail(
  reason: RejectReason,
  message: string,
  action: "announce" | "scrape" = "announce",
  infoHash: string | null = null,
): ParseFailure {
  return { kind: "invalid", reason, message, action, infoHash };
}

function readEvent(v: unknown): AnnounceEvent | null {
  switch (v) {
    case undefined:
    case null:
    case "":
    case "empty":
    case "update":
      return "update";
    case "started":
    case "stopped":
    case "completed":
    case "paused":
      return v;
    default:
      return null;
  }
}

/** Parses one text frame. Never throws. */
export function parseClientMessage(
  text: string,
  limits: ParseLimits,
): ClientMessage | ParseFailure {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return fail("bad_json", "invalid JSON");
  }
  if (!isRecord(data)) return fail("not_object", "message must be a JSON object");
  if (data.action === "announce") return parseAnnounce(data, limits);
  if (data.action === "scrape") return parseScrape(data, limits);
  return fail("bad_action", "invalid action");
}

function parseAnnounce(
  d: Record<string, unknown>,
  limits: ParseLimits,
): ClientMessage | ParseFailure {
  const infoHash = d.info_hash;
  if (!isBinaryId(infoHash)) return fail("bad_info_hash", "invalid info_hash");
  const peerId = d.peer_id;
  if (!isBinaryId(peerId)) return fail("bad_peer_id", "invalid peer_id", "announce", infoHash);

  if (d.answer !== undefined && d.answer !== null) {
    const toPeerId = d.to_peer_id;
    if (!isBinaryId(toPeerId)) {
      return fail(
        "bad_to_peer_id",
        "invalid `to_peer_id` (required with `answer`)",
        "announce",
        infoHash,
      );
    }
    const offerId = d.offer_id;
    if (!isBinaryId(offerId))
      return fail("bad_offer_id", "invalid `offer_id`", "announce", infoHash);
    const sdp = sdpOk(d.answer, "answer", limits.maxSdpBytes);
    if (sdp === null) return fail("bad_answer", "invalid answer", "announce", infoHash);
    return { kind: "answer", infoHash, peerId, toPeerId, offerId, sdp };
  }

  const event = readEvent(d.event);
  if (event === null) return fail("bad_event", "invalid event", "announce", infoHash);

  let want = limits.maxOffers;
  const numwant = d.numwant;
  if (numwant !== undefined && numwant !== null) {
    if (typeof numwant !== "number" || !Number.isFinite(numwant) || numwant < 0) {
      return fail("bad_numwant", "invalid numwant", "announce", infoHash);
    }
    want = Math.min(want, Math.floor(numwant));
  }

  const offers: Offer[] = [];
  const raw = d.offers;
  if (raw !== undefined && raw !== null) {
    if (!Array.isArray(raw))
      return fail("bad_offers", "offers must be an array", "announce", infoHash);
    // Validate what will be used; the rest is ignored like a smaller numwant.
    const n = Math.min(raw.length, want);
    for (let i = 0; i < n; i++) {
      const o: unknown = raw[i];
      if (!isRecord(o)) return fail("bad_offers", "invalid offer", "announce", infoHash);
      if (!isBinaryId(o.offer_id))
        return fail("bad_offer_id", "invalid offer_id", "announce", infoHash);
      const sdp = sdpOk(o.offer, "offer", limits.maxSdpBytes);
      if (sdp === null) return fail("bad_sdp", "invalid offer sdp", "announce", infoHash);
      offers.push({ offerId: o.offer_id, sdp });
    }
  }
  const skipPeerIds: string[] = [];
  const skip = d.skip_peer_ids;
  if (skip !== undefined && skip !== null) {
    if (!Array.isArray(skip))
      return fail("bad_skip_peer_ids", "skip_peer_ids must be an array", "announce", infoHash);
    const n = Math.min(skip.length, MAX_SKIP_PEER_IDS);
    for (let i = 0; i < n; i++) {
      const id: unknown = skip[i];
      if (!isBinaryId(id))
        return fail("bad_skip_peer_ids", "invalid peer id in skip_peer_ids", "announce", infoHash);
      skipPeerIds.push(id);
    }
  }
  // Unknown or odd `left` is ignored (JSON turns the client's Infinity into null).
  const seeding = d.left === 0 || event === "completed";
  return { kind: "announce", infoHash, peerId, event, offers, seeding, skipPeerIds };
}

function parseScrape(
  d: Record<string, unknown>,
  limits: ParseLimits,
): ScrapeMessage | ParseFailure {
  const v = d.info_hash;
  const list: unknown[] = typeof v === "string" ? [v] : Array.isArray(v) ? v : [];
  if (list.length === 0) {
    // bittorrent-tracker answers with every swarm; we refuse to enumerate the server.
    return fail("bad_info_hash", "info_hash required", "scrape");
  }
  if (list.length > limits.maxScrapeHashes)
    return fail("bad_info_hash", "too many info_hash", "scrape");
  const infoHashes: string[] = [];
  for (const h of list) {
    if (!isBinaryId(h)) return fail("bad_info_hash", "invalid info_hash", "scrape");
    infoHashes.push(h);
  }
  return { kind: "scrape", infoHashes };
}
