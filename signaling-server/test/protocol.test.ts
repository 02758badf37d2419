import { describe, expect, it } from "vitest";
import { isBinaryId, MAX_SKIP_PEER_IDS, parseClientMessage } from "../src/protocol.js";
import { binId } from "./helpers.js";

const limits = { maxOffers: 3, maxSdpBytes: 100, maxScrapeHashes: 4 };
const ih = binId("infohash");
const pid = binId("peer");

describe("protocol parser", () => {
  it("accepts 20-char binary strings only", () => {
    expect(isBinaryId("\u0000".repeat(20))).toBe(true);
    expect(isBinaryId("\u00ff".repeat(20))).toBe(true);
    expect(isBinaryId("\u0100".repeat(20))).toBe(false);
    expect(isBinaryId("a".repeat(19))).toBe(false);
    expect(isBinaryId("a".repeat(21))).toBe(false);
    expect(isBinaryId(12)).toBe(false);
  });

  it("parses an announce with offers, capped by numwant and maxOffers", () => {
    const offers = Array.from({ length: 5 }, (_, i) => ({
      offer: { type: "offer", sdp: `sdp${i}` },
      offer_id: binId(),
    }));
    const m = parseClientMessage(
      JSON.stringify({ action: "announce", info_hash: ih, peer_id: pid, offers, numwant: 5 }),
      limits,
    );
    expect(m.kind).toBe("announce");
    if (m.kind !== "announce") return;
    expect(m.offers.map((o) => o.sdp)).toEqual(["sdp0", "sdp1", "sdp2"]);
    expect(m.event).toBe("update");
    const m2 = parseClientMessage(
      JSON.stringify({ action: "announce", info_hash: ih, peer_id: pid, offers, numwant: 1 }),
      limits,
    );
    expect(m2.kind === "announce" && m2.offers.length).toBe(1);
  });

  it("parses an answer", () => {
    const offerId = binId();
    const m = parseClientMessage(
      JSON.stringify({
        action: "announce",
        info_hash: ih,
        peer_id: pid,
        to_peer_id: binId("b"),
        offer_id: offerId,
        answer: { type: "answer", sdp: "x" },
      }),
      limits,
    );
    expect(m).toEqual({
      kind: "answer",
      infoHash: ih,
      peerId: pid,
      toPeerId: binId("b"),
      offerId,
      sdp: "x",
    });
  });

  it("parses scrape with one or many hashes and refuses an empty scrape", () => {
    expect(parseClientMessage(JSON.stringify({ action: "scrape", info_hash: ih }), limits)).toEqual(
      { kind: "scrape", infoHashes: [ih] },
    );
    expect(
      parseClientMessage(JSON.stringify({ action: "scrape", info_hash: [ih, pid] }), limits),
    ).toEqual({ kind: "scrape", infoHashes: [ih, pid] });
    expect(parseClientMessage(JSON.stringify({ action: "scrape" }), limits).kind).toBe("invalid");
    expect(
      parseClientMessage(JSON.stringify({ action: "scrape", info_hash: Array(5).fill(ih) }), limits)
        .kind,
    ).toBe("invalid");
  });

  const bad: Array<[string, unknown, string]> = [
    ["json", "{", "bad_json"],
    ["array", [], "not_object"],
    ["null", null, "not_object"],
    ["action", { action: "hello" }, "bad_action"],
    ["short info_hash", { action: "announce", info_hash: "abc", peer_id: pid }, "bad_info_hash"],
    [
      "wide info_hash",
      { action: "announce", info_hash: "\u4e00".repeat(20), peer_id: pid },
      "bad_info_hash",
    ],
    ["numeric peer_id", { action: "announce", info_hash: ih, peer_id: 5 }, "bad_peer_id"],
    ["event", { action: "announce", info_hash: ih, peer_id: pid, event: "explode" }, "bad_event"],
    ["numwant", { action: "announce", info_hash: ih, peer_id: pid, numwant: "5" }, "bad_numwant"],
    [
      "negative numwant",
      { action: "announce", info_hash: ih, peer_id: pid, numwant: -1 },
      "bad_numwant",
    ],
    [
      "offers not array",
      { action: "announce", info_hash: ih, peer_id: pid, offers: {} },
      "bad_offers",
    ],
    [
      "offer_id",
      {
        action: "announce",
        info_hash: ih,
        peer_id: pid,
        offers: [{ offer: { type: "offer", sdp: "x" }, offer_id: "x" }],
      },
      "bad_offer_id",
    ],
    [
      "offer type",
      {
        action: "announce",
        info_hash: ih,
        peer_id: pid,
        offers: [{ offer: { type: "answer", sdp: "x" }, offer_id: binId() }],
      },
      "bad_sdp",
    ],
    [
      "sdp too big",
      {
        action: "announce",
        info_hash: ih,
        peer_id: pid,
        offers: [{ offer: { type: "offer", sdp: "x".repeat(101) }, offer_id: binId() }],
      },
      "bad_sdp",
    ],
    [
      "sdp too many bytes",
      {
        action: "announce",
        info_hash: ih,
        peer_id: pid,
        offers: [{ offer: { type: "offer", sdp: "\u00e9".repeat(60) }, offer_id: binId() }],
      },
      "bad_sdp",
    ],
    [
      "answer w/o to_peer_id",
      {
        action: "announce",
        info_hash: ih,
        peer_id: pid,
        answer: { type: "answer", sdp: "x" },
        offer_id: binId(),
      },
      "bad_to_peer_id",
    ],
    [
      "answer w/o offer_id",
      {
        action: "announce",
        info_hash: ih,
        peer_id: pid,
        answer: { type: "answer", sdp: "x" },
        to_peer_id: binId(),
      },
      "bad_offer_id",
    ],
    [
      "skip_peer_ids not an array",
      { action: "announce", info_hash: ih, peer_id: pid, skip_peer_ids: binId() },
      "bad_skip_peer_ids",
    ],
    [
      "skip_peer_ids entry not a peer id",
      { action: "announce", info_hash: ih, peer_id: pid, skip_peer_ids: [binId(), "short"] },
      "bad_skip_peer_ids",
    ],
    [
      "answer shape",
      {
        action: "announce",
        info_hash: ih,
        peer_id: pid,
        answer: "sdp",
        to_peer_id: binId(),
        offer_id: binId(),
      },
      "bad_answer",
    ],
  ];
  it.each(bad)("rejects %s", (_name, value, reason) => {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    const m = parseClientMessage(text, limits);
    expect(m.kind).toBe("invalid");
    if (m.kind === "invalid") expect(m.reason).toBe(reason);
  });
});

describe("skip_peer_ids (extension)", () => {
  const ih = binId("skip-swarm");
  const pid = binId("skip-peer");
  it("reads the list; absent or null is empty", () => {
    const ids = [binId("a"), binId("b")];
    const m = parseClientMessage(
      JSON.stringify({ action: "announce", info_hash: ih, peer_id: pid, skip_peer_ids: ids }),
      limits,
    );
    expect(m).toMatchObject({ kind: "announce", skipPeerIds: ids });
    for (const extra of [{}, { skip_peer_ids: null }]) {
      const n = parseClientMessage(
        JSON.stringify({ action: "announce", info_hash: ih, peer_id: pid, ...extra }),
        limits,
      );
      expect(n).toMatchObject({ kind: "announce", skipPeerIds: [] });
    }
  });

  it(`reads at most ${MAX_SKIP_PEER_IDS} entries and ignores the rest, valid or not`, () => {
    const ids = Array.from({ length: MAX_SKIP_PEER_IDS }, (_, i) => binId(`s${i}`));
    const m = parseClientMessage(
      JSON.stringify({
        action: "announce",
        info_hash: ih,
        peer_id: pid,
        skip_peer_ids: [...ids, "not an id", 7],
      }),
      limits,
    );
    expect(m.kind === "announce" && m.skipPeerIds).toEqual(ids);
  });
});
