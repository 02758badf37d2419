import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { createSignalingToken, startSignalingServer, type SignalingServer } from "../src/index.js";
import { Started, TestClient, announce, binId, isAnswer, isOffer, isReply } from "./helpers.js";

const started = new Started();
const server = (opts: Parameters<typeof startSignalingServer>[0] = {}): Promise<SignalingServer> =>
  started.server(opts);
const client = (url: string, opts?: Parameters<typeof TestClient.open>[1]): Promise<TestClient> =>
  started.client(url, opts);

afterEach(() => started.closeAll());

/** Status of a refused upgrade, or "open" when it was accepted. */
function upgradeStatus(
  url: string,
  opts: ConstructorParameters<typeof WebSocket>[2] = {},
): Promise<number | "open"> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.on("open", () => {
      ws.close();
      resolve("open");
    });
    ws.on("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.on("error", (err) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(err);
    });
  });
}

/** Sets up a swarm where `a` offered to `b`; returns b's received offer. */
async function offerFromAToB(s: SignalingServer, ih: string) {
  const a = await client(s.url);
  const b = await client(s.url);
  b.send(announce(ih, binId("peer-b")));
  await b.next(isReply);
  a.send(announce(ih, binId("peer-a"), 1));
  await a.next(isReply);
  const offer = await b.next(isOffer);
  return { a, b, offer };
}

describe("r13 abuse", () => {
  it("r13 message flood is rate-limited, then the flooder is closed (1008) while others keep working", async () => {
    const s = await server({
      messageRatePerSecond: 10,
      messageBurst: 20,
      maxRateLimitedMessages: 100,
    });
    const ih = binId("flood");
    const good1 = await client(s.url);
    const good2 = await client(s.url);
    good1.send(announce(ih, binId("good1")));
    await good1.next(isReply);
    const bad = await client(s.url);
    for (let i = 0; i < 500; i++) bad.send({ action: "scrape", info_hash: ih });
    expect(await bad.closed()).toBe(1008);
    const replies = bad.messages.filter((m) => m.action === "scrape").length;
    expect(replies).toBeGreaterThanOrEqual(20);
    expect(replies).toBeLessThan(30);
    // The other clients' session is intact: an offer still reaches good1.
    good2.send(announce(ih, binId("good2"), 1));
    await good2.next(isReply);
    expect(await good1.next(isOffer)).toMatchObject({ peer_id: binId("good2") });
    expect(await s.metrics()).toMatch(/rejected_messages_total\{reason="rate_limited"\} 10[1-9]/);
  });

  it("r13 spoofed peer_id: another connection cannot announce, stop or answer as a peer it does not own", async () => {
    const s = await server();
    const ih = binId("spoof");
    const { a, b, offer } = await offerFromAToB(s, ih);
    const mallory = await client(s.url);
    // Stop b's membership by using b's id: refused, b stays in the swarm.
    mallory.send(announce(ih, binId("peer-b"), 0, { event: "stopped" }));
    expect(await mallory.next()).toMatchObject({
      "failure reason": "peer_id is in use by another connection",
    });
    mallory.send(announce(ih, binId("peer-b"), 1));
    expect(await mallory.next()).toMatchObject({
      "failure reason": "peer_id is in use by another connection",
    });
    // Answer a's offer pretending to be b.
    mallory.send({
      action: "announce",
      info_hash: ih,
      peer_id: binId("peer-b"),
      to_peer_id: binId("peer-a"),
      offer_id: offer.offer_id,
      answer: { type: "answer", sdp: "evil" },
    });
    expect(await mallory.next()).toMatchObject({ "failure reason": "peer_id is not yours" });
    expect(s.stats()).toMatchObject({ peers: 2 });
    // b's real answer still goes through.
    b.send({
      action: "announce",
      info_hash: ih,
      peer_id: binId("peer-b"),
      to_peer_id: binId("peer-a"),
      offer_id: offer.offer_id,
      answer: { type: "answer", sdp: "real" },
    });
    expect(await a.next(isAnswer)).toMatchObject({
      answer: { type: "answer", sdp: "real" },
      peer_id: binId("peer-b"),
    });
    await a.sync();
    expect(a.messages.filter(isAnswer)).toEqual([]);
  });

  it("r13 an answer is never relayed without the matching offer (unknown id, wrong peer, replay, other swarm, expired)", async () => {
    const s = await server({ offerTtlMs: 300 });
    const ih = binId("answers");
    const { a, b, offer } = await offerFromAToB(s, ih);
    const mallory = await client(s.url);
    mallory.send(announce(ih, binId("mallory")));
    await mallory.next(isReply);
    const answer = (from: string, offerId: unknown, infoHash = ih, to = binId("peer-a")) => ({
      action: "announce",
      info_hash: infoHash,
      peer_id: from,
      to_peer_id: to,
      offer_id: offerId,
      answer: { type: "answer", sdp: `from ${from.trim()}` },
    });
    // Mallory owns its id but was never sent this offer.
    mallory.send(answer(binId("mallory"), offer.offer_id));
    // Unknown offer id to a known peer.
    mallory.send(answer(binId("mallory"), binId()));
    // b answers with the wrong swarm, or to the wrong peer.
    b.send(answer(binId("peer-b"), offer.offer_id, binId("other-swarm")));
    b.send(answer(binId("peer-b"), offer.offer_id, ih, binId("mallory")));
    await mallory.sync();
    await b.sync();
    await a.sync();
    expect(a.messages.filter(isAnswer)).toEqual([]);
    expect(mallory.messages.filter(isAnswer)).toEqual([]);
    // The real one passes once; a replay does not.
    b.send(answer(binId("peer-b"), offer.offer_id));
    await a.next(isAnswer);
    b.send(answer(binId("peer-b"), offer.offer_id));
    await b.sync();
    await a.sync();
    expect(a.messages.filter(isAnswer)).toEqual([]);
    // An expired offer cannot be answered (a swarm with only a and b, so b gets the offer).
    const ih2 = binId("answers-2");
    b.send(announce(ih2, binId("peer-b")));
    await b.next(isReply);
    a.send(announce(ih2, binId("peer-a"), 1));
    const offer2 = await b.next(isOffer);
    await new Promise((r) => setTimeout(r, 400));
    b.send(answer(binId("peer-b"), offer2.offer_id, ih2));
    await b.sync();
    await a.sync();
    expect(a.messages.filter(isAnswer)).toEqual([]);
    expect(s.stats().answersRelayed).toBe(1);
    const m = await s.metrics();
    expect(m).toMatch(/reason="no_matching_offer"\} [4-9]/);
  });

  it("r13 offers cannot be aimed: the server picks the receivers, one offer per peer, never the sender", async () => {
    const s = await server();
    const ih = binId("aim");
    const peers = await Promise.all([0, 1, 2].map(() => client(s.url)));
    for (const [i, p] of peers.entries()) {
      p.send(announce(ih, binId(`p${i}`)));
      await p.next(isReply);
    }
    const a = await client(s.url);
    // 10 offers, a to_peer_id field trying to aim them (ignored: unknown fields are ignored).
    a.send(announce(ih, binId("aimer"), 10, { to_peer_id: binId("p0") }));
    await a.next(isReply);
    for (const p of peers) await p.next(isOffer);
    for (const p of [...peers, a]) await p.sync();
    expect(peers.flatMap((p) => p.messages.filter(isOffer))).toEqual([]);
    expect(a.messages.filter(isOffer)).toEqual([]);
    expect(s.stats().offersRelayed).toBe(3);
  });

  it("r13 too many invalid messages close the connection with 1008", async () => {
    const s = await server({ maxInvalidMessages: 5 });
    const c = await client(s.url);
    for (let i = 0; i < 10; i++) c.send("{bad");
    expect(await c.closed()).toBe(1008);
    expect(c.messages.length).toBe(5);
  });

  it("r13 oversized messages (> maxPayload) close the socket with 1009", async () => {
    const s = await server();
    const c = await client(s.url);
    c.send("x".repeat(64 * 1024 + 1));
    expect(await c.closed()).toBe(1009);
    expect(s.stats().connections).toBe(0);
  });
});

describe("r14 half-open connections", () => {
  it("r14 a socket that stops answering pings is reaped within the idle timeout", async () => {
    const s = await server({ pingIntervalMs: 50, idleTimeoutMs: 2000, announceIntervalS: 1 });
    const halfOpen = await client(s.url, { autoPong: false });
    const healthy = await client(s.url);
    halfOpen.send(announce(binId("r14"), binId("half")));
    await halfOpen.next(isReply);
    const t0 = Date.now();
    await expect.poll(() => s.stats().connections, { timeout: 2000, interval: 20 }).toBe(1);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(s.stats()).toMatchObject({ peers: 0, swarms: 0 });
    expect(healthy.closeCode).toBeNull();
  });

  it("r14 a connection that answers pings but never sends a message is closed after idleTimeoutMs (4000)", async () => {
    const s = await server({ pingIntervalMs: 100, idleTimeoutMs: 2000, announceIntervalS: 1 });
    const idle = await client(s.url);
    const t0 = Date.now();
    expect(await idle.closed(4000)).toBe(4000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(s.stats().connections).toBe(0);
  });
});

describe("r15 auth at the upgrade", () => {
  it("r15 Origin allowlist: other or missing Origin refused with 403", async () => {
    const s = await server({ allowedOrigins: ["https://good.example"] });
    expect(await upgradeStatus(s.url, { origin: "https://good.example" })).toBe("open");
    expect(await upgradeStatus(s.url, { origin: "https://evil.example" })).toBe(403);
    expect(await upgradeStatus(s.url)).toBe(403);
    expect(await s.metrics()).toMatch(/refused_upgrades_total\{reason="origin_not_allowed"\} 2/);
  });

  it("r15 signed token: missing, expired, forged or malformed refused with 401; valid accepted", async () => {
    const secret = "0123456789abcdef-secret";
    const s = await server({ tokenSecret: secret });
    const now = Math.floor(Date.now() / 1000);
    const valid = createSignalingToken(secret, { exp: now + 60, sub: "viewer-1" });
    const expired = createSignalingToken(secret, { exp: now - 1 });
    const forged = createSignalingToken("another-secret-of-16+", { exp: now + 60 });
    const [body] = valid.split(".");
    const tampered = `${Buffer.from(JSON.stringify({ exp: now + 9999 })).toString("base64url")}.${valid.split(".")[1]}`;
    expect(await upgradeStatus(`${s.url}/?token=${valid}`)).toBe("open");
    expect(await upgradeStatus(s.url)).toBe(401);
    expect(await upgradeStatus(`${s.url}/?token=${expired}`)).toBe(401);
    expect(await upgradeStatus(`${s.url}/?token=${forged}`)).toBe(401);
    expect(await upgradeStatus(`${s.url}/?token=${tampered}`)).toBe(401);
    expect(await upgradeStatus(`${s.url}/?token=${body}`)).toBe(401);
    const m = await s.metrics();
    expect(m).toMatch(/reason="token_missing"\} 1/);
    expect(m).toMatch(/reason="token_expired"\} 1/);
    expect(m).toMatch(/reason="token_forged"\} 2/);
    expect(m).toMatch(/reason="token_malformed"\} 1/);
  });
});

describe("r10 tracker restart (server side)", () => {
  it("r10 restart: clients are told 1001, a new server on the same port takes the same peer ids and the swarm re-forms", async () => {
    const first = await startSignalingServer({ port: 0, host: "127.0.0.1", logLevel: "silent" });
    const port = first.port;
    const ih = binId("restart");
    const a = await TestClient.open(first.url);
    const b = await TestClient.open(first.url);
    a.send(announce(ih, binId("a")));
    b.send(announce(ih, binId("b")));
    await a.next(isReply);
    await b.next(isReply);
    await first.close();
    expect(await a.closed()).toBe(1001);
    expect(await b.closed()).toBe(1001);
    const second = await server({ port });
    const a2 = await client(second.url);
    const b2 = await client(second.url);
    a2.send(announce(ih, binId("a")));
    await a2.next(isReply);
    b2.send(announce(ih, binId("b"), 1));
    expect(await b2.next(isReply)).toMatchObject({ incomplete: 2 });
    expect(await a2.next(isOffer)).toMatchObject({ peer_id: binId("b") });
  });
});
