import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseClientMessage, isBinaryId } from "../src/protocol.js";
import { startSignalingServer, type SignalingServer } from "../src/index.js";
import { TestClient, announce, binId, type Msg } from "./helpers.js";

/** A few fixed swarms so fuzzed announces land next to the well-behaved clients. */
const HASHES = [binId("fuzz-swarm-0"), binId("fuzz-swarm-1"), binId("fuzz-swarm-2")];
const binIdArb = fc
  .uint8Array({ minLength: 20, maxLength: 20 })
  .map((b) => Buffer.from(b).toString("latin1"));
const almostId = fc.oneof(
  binIdArb,
  fc.constantFrom(...HASHES),
  fc.string({ maxLength: 25 }),
  fc.jsonValue({ maxDepth: 2 }),
);
const sdpish = fc.oneof(
  fc.record({
    type: fc.constantFrom("offer", "answer", "pranswer"),
    sdp: fc.string({ maxLength: 300 }),
  }),
  fc.jsonValue({ maxDepth: 2 }),
);
const messageLike = fc.record(
  {
    action: fc.oneof(
      fc.constantFrom("announce", "scrape", "announce", "ANNOUNCE", ""),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    info_hash: fc.oneof(almostId, fc.array(almostId, { maxLength: 20 })),
    peer_id: almostId,
    event: fc.oneof(
      fc.constantFrom("started", "stopped", "completed", "update", "paused", "empty", "bogus"),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    numwant: fc.oneof(
      fc.integer({ min: -5, max: 100 }),
      fc.double(),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    left: fc.oneof(fc.constant(0), fc.integer(), fc.jsonValue({ maxDepth: 1 })),
    offers: fc.oneof(
      fc.array(fc.record({ offer: sdpish, offer_id: almostId }, { requiredKeys: [] }), {
        maxLength: 15,
      }),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    answer: sdpish,
    to_peer_id: almostId,
    offer_id: almostId,
  },
  { requiredKeys: [] },
);
/** A frame: JSON text of a message-like object, random JSON, random text, or binary. */
const frame: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: messageLike.map((m) => JSON.stringify(m)) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
);

describe("r05 tracker fuzz", () => {
  it("r05 the parser never throws and only accepts in-bounds values (20k generated messages)", () => {
    const limits = { maxOffers: 10, maxSdpBytes: 16384, maxScrapeHashes: 16 };
    fc.assert(
      fc.property(
        fc.oneof(
          messageLike.map((m) => JSON.stringify(m)),
          fc.json(),
          fc.string(),
        ),
        (text) => {
          const m = parseClientMessage(text, limits);
          switch (m.kind) {
            case "invalid":
              return (
                typeof m.message === "string" && (m.infoHash === null || isBinaryId(m.infoHash))
              );
            case "scrape":
              return (
                m.infoHashes.length >= 1 &&
                m.infoHashes.length <= 16 &&
                m.infoHashes.every(isBinaryId)
              );
            case "answer":
              return (
                [m.infoHash, m.peerId, m.toPeerId, m.offerId].every(isBinaryId) &&
                m.sdp.length <= 16384
              );
            case "announce":
              return (
                isBinaryId(m.infoHash) &&
                isBinaryId(m.peerId) &&
                m.offers.length <= 10 &&
                m.offers.every((o) => isBinaryId(o.offerId))
              );
          }
        },
      ),
      { numRuns: 20_000, seed: 5 },
    );
  });

  let server: SignalingServer | undefined;
  afterEach(() => server?.close());

  it("r05 10^5 random/malformed messages, binary frames and 1 MiB payloads: error reply or close, other clients keep working", async () => {
    server = await startSignalingServer({
      port: 0,
      host: "127.0.0.1",
      logLevel: "silent",
      messageRatePerSecond: 1e9,
      messageBurst: 1_000_000,
      maxInvalidMessages: 1e12,
      maxRateLimitedMessages: 1e12,
    });
    const s = server;
    const open = (): Promise<TestClient> => TestClient.open(s.url);
    // Two well-behaved peers in a fuzzed swarm.
    const good1 = await open();
    const good2 = await open();
    good1.send(announce(HASHES[0]!, binId("good-1")));
    good2.send(announce(HASHES[0]!, binId("good-2")));
    await good1.next((m) => "interval" in m);
    await good2.next((m) => "interval" in m);

    const fuzzers = await Promise.all([open(), open(), open(), open()]);
    const TOTAL = 100_000;
    const CHUNK = 5_000;
    let sent = 0;
    let reopened = 0;
    for (let chunk = 0; sent < TOTAL; chunk++) {
      const frames = fc.sample(frame, { numRuns: CHUNK, seed: 1000 + chunk });
      for (let i = 0; i < frames.length; i++) {
        const f = frames[i]!;
        const fz = fuzzers[i % fuzzers.length]!;
        if (typeof f === "string") fz.ws.send(f);
        else fz.ws.send(f, { binary: true });
      }
      sent += frames.length;
      if (chunk % 5 === 2) {
        // A 1 MiB payload: the socket is closed with 1009, the server goes on.
        const victim = fuzzers[chunk % fuzzers.length]!;
        victim.ws.send(
          JSON.stringify({
            action: "announce",
            info_hash: HASHES[1],
            junk: "x".repeat(1024 * 1024),
          }),
        );
        expect(await victim.closed()).toBe(1009);
      }
      for (let i = 0; i < fuzzers.length; i++) {
        const fz = fuzzers[i]!;
        if (fz.closeCode === null) {
          await fz.sync();
          fz.messages.length = 0;
        } else {
          fuzzers[i] = await open();
          reopened++;
        }
      }
      good1.messages.length = 0;
      good2.messages.length = 0;
    }
    expect(sent).toBeGreaterThanOrEqual(TOTAL);
    expect(reopened).toBeGreaterThanOrEqual(4);

    // Well-behaved clients still get a clean offer → answer round trip.
    // (A fresh swarm: in the fuzzed ones the single offer could go to a fuzzer's peer.)
    const fresh = binId("fuzz-final");
    good1.send(announce(fresh, binId("good-1")));
    await good1.next((m) => "interval" in m && m.info_hash === fresh);
    good2.send(announce(fresh, binId("good-2"), 1));
    await good2.next((m) => "interval" in m && m.info_hash === fresh);
    const offer = await good1.next((m) => "offer" in m && m.peer_id === binId("good-2"));
    good1.send({
      action: "announce",
      info_hash: fresh,
      peer_id: binId("good-1"),
      to_peer_id: binId("good-2"),
      offer_id: offer.offer_id,
      answer: { type: "answer", sdp: "ok" },
    });
    const ans: Msg = await good2.next((m) => "answer" in m && m.peer_id === binId("good-1"));
    expect(ans.answer).toEqual({ type: "answer", sdp: "ok" });

    const st = s.stats();
    expect(st.rejected).toBeGreaterThan(TOTAL / 2);
    // Bounded state: each connection holds ≤ 16 swarms and ≤ 64 pending offers.
    expect(st.connections).toBe(6);
    expect(st.peers).toBeLessThanOrEqual(6 * 16);
    expect(st.pendingOffers).toBeLessThanOrEqual(6 * 64);
    expect((await fetch(`${s.httpUrl}/healthz`)).status).toBe(200);
    for (const c of [good1, good2, ...fuzzers]) c.close();
  }, 120_000);
});
