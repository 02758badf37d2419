/**
 * The JSON text of every message the tracker sends, in the WebTorrent tracker protocol's shape
 * (the counterpart of `protocol.ts`, which parses what clients send). Strings are built by hand:
 * ids arrive pre-encoded as JSON (`infoHashJson`, `peerIdJson`) so a relay encodes only its SDP.
 */

/** Counts of one swarm, as replies carry them. */
export interface SwarmCounts {
  readonly infoHashJson: string;
  readonly complete: number;
  readonly incomplete: number;
}

/** A `failure reason` reply. */
export function failureText(
  action: "announce" | "scrape",
  text: string,
  infoHash: string | null,
): string {
  const hash = infoHash === null ? "" : `,"info_hash":${JSON.stringify(infoHash)}`;
  return `{"action":"${action}","failure reason":${JSON.stringify(text)}${hash}}`;
}

/**
 * The constant start of every announce reply, for {@link announceReplyText}: the interval and
 * the protocol extensions the server supports (clients that do not know the field ignore it).
 */
export function announceReplyHead(intervalS: number, extensions: readonly string[]): string {
  return `{"action":"announce","interval":${intervalS},"extensions":${JSON.stringify(extensions)},"info_hash":`;
}

/** The reply to an announce: interval and the swarm's counts (zero for no swarm). */
export function announceReplyText(
  head: string,
  swarm: SwarmCounts | undefined,
  infoHash: string,
): string {
  const hash = swarm?.infoHashJson ?? JSON.stringify(infoHash);
  return `${head}${hash},"complete":${swarm?.complete ?? 0},"incomplete":${swarm?.incomplete ?? 0}}`;
}

/** An offer relayed to one peer of the swarm. */
export function offerText(
  infoHashJson: string,
  fromPeerIdJson: string,
  offerId: string,
  sdp: string,
): string {
  return (
    `{"action":"announce","info_hash":${infoHashJson},"peer_id":${fromPeerIdJson},` +
    `"offer_id":${JSON.stringify(offerId)},"offer":{"type":"offer","sdp":${JSON.stringify(sdp)}}}`
  );
}

/** An answer relayed back to the peer that made the offer. */
export function answerText(
  sdp: string,
  offerId: string,
  fromPeerIdJson: string,
  infoHashJson: string,
): string {
  return (
    `{"action":"announce","answer":{"type":"answer","sdp":${JSON.stringify(sdp)}},` +
    `"offer_id":${JSON.stringify(offerId)},"peer_id":${fromPeerIdJson},"info_hash":${infoHashJson}}`
  );
}

/** A scrape reply: counts per requested info hash (zero for unknown swarms). */
export function scrapeText(
  infoHashes: readonly string[],
  lookup: (infoHash: string) => SwarmCounts | undefined,
  intervalS: number,
): string {
  let files = "";
  for (const hash of infoHashes) {
    const swarm = lookup(hash);
    const c = swarm?.complete ?? 0;
    const i = swarm?.incomplete ?? 0;
    if (files.length > 0) files += ",";
    files += `${swarm?.infoHashJson ?? JSON.stringify(hash)}:{"complete":${c},"incomplete":${i},"downloaded":${c}}`;
  }
  return `{"action":"scrape","files":{${files}},"flags":{"min_request_interval":${intervalS}}}`;
}
