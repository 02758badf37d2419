import { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startSignalingServer, type SignalingServer } from "../src/index.js";
import {
  RawClient,
  Started,
  TestClient,
  announce,
  binId,
  clientFrame,
  isAnswer,
  isOffer,
  isReply,
  type Msg,
} from "./helpers.js";

const started = new Started();
const server = (opts: Parameters<typeof startSignalingServer>[0] = {}): Promise<SignalingServer> =>
  started.server(opts);
const client = (
  s: SignalingServer,
  opts?: Parameters<typeof TestClient.open>[1],
): Promise<TestClient> => started.client(s.url, opts);

afterEach(() => started.closeAll());

describe("tracker protocol", () => {
  it("replies to an announce with interval, the extensions it supports and complete/incomplete counts", async () => {
    const s = await server({ announceIntervalS: 30, idleTimeoutMs: 120_000 });
    const a = await client(s);
    const ih = binId("swarm-1");
    a.send(announce(ih, binId("peer-a")));
    const r = await a.next(isReply);
    expect(r).toEqual({
      action: "announce",
      interval: 30,
      extensions: ["skip_peer_ids"],
      info_hash: ih,
      complete: 0,
      incomplete: 1,
    });
    a.send(announce(ih, binId("peer-a"), 0, { event: "completed", left: 0 }));
    expect(await a.next(isReply)).toMatchObject({ complete: 1, incomplete: 0 });
    expect(s.stats()).toMatchObject({ connections: 1, swarms: 1, peers: 1 });
  });

  it("never relays an offer to a peer the announce lists in skip_peer_ids", async () => {
    const s = await server();
    const ih = binId("swarm-skip");
    const ids = ["peer-a", "peer-b", "peer-c", "peer-d"].map((n) => binId(n));
    const [pa, pb, pc, pd] = ids as [string, string, string, string];
    const [a, b, c, d] = [await client(s), await client(s), await client(s), await client(s)];
    for (const [cl, id] of [
      [b, pb],
      [c, pc],
      [d, pd],
    ] as const) {
      cl.send(announce(ih, id));
      await cl.next(isReply);
    }
    // a is linked with b and d: of three offers, one goes to c and the other two nowhere.
    for (let round = 0; round < 5; round++) {
      a.send(announce(ih, pa, 3, { skip_peer_ids: [pb, pd, binId("gone")] }));
      await a.next(isReply);
      const o = await c.next(isOffer);
      expect(o).toMatchObject({ peer_id: pa, info_hash: ih });
    }
    // The same announce without the list reaches all three.
    a.send(announce(ih, pa, 3));
    await a.next(isReply);
    for (const cl of [b, c, d]) expect(await cl.next(isOffer)).toMatchObject({ peer_id: pa });
    // Nothing reached b or d before that: their first offer is the last round's.
    expect(s.stats().offersRelayed).toBe(5 + 3);
  });

  it("relays offers to other peers and the answer back only to the offerer", async () => {
    const s = await server();
    const ih = binId("swarm-2");
    const [a, b, c] = [await client(s), await client(s), await client(s)];
    const [pa, pb, pc] = [binId("peer-a"), binId("peer-b"), binId("peer-c")];
    b.send(announce(ih, pb));
    await b.next(isReply);
    c.send(announce(ih, pc));
    await c.next(isReply);
    const offerMsg = announce(ih, pa, 2);
    a.send(offerMsg);
    expect(await a.next(isReply)).toMatchObject({ complete: 0, incomplete: 3 });
    const ob = await b.next(isOffer);
    const oc = await c.next(isOffer);
    const sent = (offerMsg.offers as Array<{ offer: { sdp: string }; offer_id: string }>).map(
      (o) => o.offer_id,
    );
    for (const o of [ob, oc]) {
      expect(o).toMatchObject({ action: "announce", info_hash: ih, peer_id: pa });
      expect(sent).toContain(o.offer_id);
      expect(o.offer).toMatchObject({ type: "offer" });
    }
    expect(ob.offer_id).not.toBe(oc.offer_id);

    b.send({
      action: "announce",
      info_hash: ih,
      peer_id: pb,
      to_peer_id: pa,
      offer_id: ob.offer_id,
      answer: { type: "answer", sdp: "answer-b" },
    });
    const ans = await a.next(isAnswer);
    expect(ans).toEqual({
      action: "announce",
      answer: { type: "answer", sdp: "answer-b" },
      offer_id: ob.offer_id,
      peer_id: pb,
      info_hash: ih,
    });
    // An answer gets no reply of its own (as bittorrent-tracker), and c got nothing but its offer.
    await b.sync();
    expect(b.messages).toEqual([]);
    expect(s.stats()).toMatchObject({ offersRelayed: 2, answersRelayed: 1, pendingOffers: 1 });
  });

  it("never sends a peer its own offer and sends at most one offer per peer", async () => {
    const s = await server();
    const ih = binId("swarm-3");
    const a = await client(s);
    const b = await client(s);
    b.send(announce(ih, binId("b")));
    await b.next(isReply);
    a.send(announce(ih, binId("a"), 5));
    await a.next(isReply);
    await b.next(isOffer);
    await a.sync();
    await b.sync();
    expect(a.messages.filter(isOffer)).toEqual([]);
    expect(b.messages.filter(isOffer)).toEqual([]);
  });

  it("stopped leaves the swarm; an empty swarm is deleted; close leaves every swarm", async () => {
    const s = await server();
    const a = await client(s);
    const [h1, h2] = [binId("h1"), binId("h2")];
    a.send(announce(h1, binId("a")));
    a.send(announce(h2, binId("a")));
    await a.next(isReply);
    await a.next(isReply);
    expect(s.stats()).toMatchObject({ swarms: 2, peers: 2 });
    a.send(announce(h1, binId("a"), 0, { event: "stopped" }));
    expect(await a.next(isReply)).toMatchObject({ info_hash: h1, complete: 0, incomplete: 0 });
    expect(s.stats()).toMatchObject({ swarms: 1, peers: 1 });
    a.close();
    await a.closed();
    await expect.poll(() => s.stats()).toMatchObject({ connections: 0, swarms: 0, peers: 0 });
  });

  it("scrape reports counts per info hash", async () => {
    const s = await server();
    const a = await client(s);
    const ih = binId("scraped");
    a.send(announce(ih, binId("a"), 0, { left: 0 }));
    await a.next(isReply);
    a.send({ action: "scrape", info_hash: [ih, binId("none")] });
    const r = await a.next((m) => m.action === "scrape");
    expect(r).toEqual({
      action: "scrape",
      files: {
        [ih]: { complete: 1, incomplete: 0, downloaded: 1 },
        [binId("none")]: { complete: 0, incomplete: 0, downloaded: 0 },
      },
      flags: { min_request_interval: 120 },
    });
  });

  it("enforces maxPeersPerSwarm and maxSwarmsPerConnection with a failure reason", async () => {
    const s = await server({ maxPeersPerSwarm: 1, maxSwarmsPerConnection: 2 });
    const a = await client(s);
    const b = await client(s);
    const ih = binId("small");
    a.send(announce(ih, binId("a")));
    await a.next(isReply);
    b.send(announce(ih, binId("b")));
    expect(await b.next()).toEqual({
      action: "announce",
      "failure reason": "swarm is full",
      info_hash: ih,
    });
    a.send(announce(binId("x1"), binId("a")));
    await a.next(isReply);
    a.send(announce(binId("x2"), binId("a")));
    expect(await a.next()).toMatchObject({ "failure reason": "too many swarms on one connection" });
    expect(s.stats().swarms).toBe(2);
  });

  it("answers malformed input with a failure reason, and binary frames too", async () => {
    const s = await server();
    const a = await client(s);
    a.send("not json");
    expect(await a.next()).toEqual({ action: "announce", "failure reason": "invalid JSON" });
    a.send({ action: "announce", info_hash: binId("ok"), peer_id: "short" });
    expect(await a.next()).toEqual({
      action: "announce",
      "failure reason": "invalid peer_id",
      info_hash: binId("ok"),
    });
    a.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await a.next()).toMatchObject({ "failure reason": "binary frames are not accepted" });
    expect(await s.metrics()).toMatch(
      /hivecast_signaling_rejected_messages_total\{reason="bad_peer_id"\} 1/,
    );
  });
});

describe("operations", () => {
  it("serves /healthz and /metrics with counts, messages by type, latency and process metrics", async () => {
    const s = await server();
    const a = await client(s);
    const b = await client(s);
    const ih = binId("m");
    b.send(announce(ih, binId("b")));
    await b.next(isReply);
    a.send(announce(ih, binId("a"), 1));
    await a.next(isReply);
    await b.next(isOffer);
    const health = await fetch(`${s.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: "ok",
      connections: 2,
      swarms: 1,
      peers: 2,
    });
    const res = await fetch(`${s.httpUrl}/metrics`);
    const text = await res.text();
    expect(res.headers.get("content-type")).toMatch(/text\/plain/);
    expect(text).toMatch(/^hivecast_signaling_connections 2$/m);
    expect(text).toMatch(/^hivecast_signaling_swarms 1$/m);
    expect(text).toMatch(/^hivecast_signaling_peers 2$/m);
    expect(text).toMatch(/^hivecast_signaling_messages_in_total\{type="announce"\} 2$/m);
    expect(text).toMatch(/^hivecast_signaling_messages_out_total\{type="offer_relay"\} 1$/m);
    expect(text).toMatch(/^hivecast_signaling_relay_latency_seconds_count 1$/m);
    expect(text).toMatch(/^hivecast_signaling_process_cpu_seconds_total /m);
    expect(text).toMatch(/^hivecast_signaling_process_resident_memory_bytes /m);
    expect(text).toMatch(/^hivecast_signaling_disk_free_bytes [1-9]\d*$/m);
    expect((await fetch(`${s.httpUrl}/nope`)).status).toBe(404);
  });

  it("writes structured JSON log lines at the configured level", async () => {
    const lines: string[] = [];
    const s = await startSignalingServer(
      { port: 0, host: "127.0.0.1", logLevel: "info" },
      { logSink: (l) => lines.push(l) },
    );
    await s.close();
    const parsed = lines.map((l) => JSON.parse(l) as Msg);
    expect(parsed[0]).toMatchObject({
      level: "info",
      msg: "signaling server listening",
      url: s.url,
    });
    expect(parsed.every((p) => typeof p.time === "string")).toBe(true);
    expect(parsed.some((p) => p.level === "debug")).toBe(false);
  });

  it("rejects a bad config naming the field", async () => {
    await expect(startSignalingServer({ maxPayload: -1 })).rejects.toThrow(/`maxPayload`/);
    await expect(startSignalingServer({ pingIntervalMs: 200_000 })).rejects.toThrow(
      /`pingIntervalMs`/,
    );
    // Answers scan the pending offers, so their number is bounded.
    await expect(startSignalingServer({ maxPendingOffers: 4097 })).rejects.toThrow(
      /`maxPendingOffers` must be an integer in \[1, 4096\]/,
    );
    // @ts-expect-error unknown option
    await expect(startSignalingServer({ maxPayloads: 1 })).rejects.toThrow(
      /`maxPayloads` is not a known option/,
    );
  });

  it("graceful close: refuses new sockets, closes open ones with 1001, then resolves", async () => {
    const s = await startSignalingServer({ port: 0, host: "127.0.0.1", logLevel: "silent" });
    const a = await TestClient.open(s.url);
    let healthDuring = 0;
    const closing = s.close();
    healthDuring = await fetch(`${s.httpUrl}/healthz`).then(
      (r) => r.status,
      () => -1,
    );
    await closing;
    expect(await a.closed()).toBe(1001);
    expect([503, -1]).toContain(healthDuring);
    await expect(TestClient.open(s.url)).rejects.toThrow();
    expect(s.stats().connections).toBe(0);
    await s.close(); // idempotent
  });
});

describe("write coalescing", () => {
  it("every frame for a socket in one event-loop turn leaves in a single write", async () => {
    const s = await server();
    const raw = await RawClient.open(s.url);

    // Count the server's socket writes from here on (its sockets are the ones with a server).
    let serverWrites = 0;
    const proto = Socket.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const spied = ["_write", "_writev"].map((name) => {
      const original = proto[name];
      if (typeof original !== "function") throw new Error(`no Socket.${name}`);
      proto[name] = function (this: Socket & { server?: unknown }, ...args: unknown[]) {
        if (this.server) serverWrites++;
        return original.apply(this, args);
      };
      return () => {
        proto[name] = original;
      };
    });
    try {
      // Three scrapes in one TCP write: the server reads them in one turn and answers three times.
      raw.write(
        [1, 2, 3].map((i) =>
          clientFrame(JSON.stringify({ action: "scrape", info_hash: binId(`c${i}`) })),
        ),
      );
      const frames = await raw.waitFrames(3);
      const replies = frames.map((f) => JSON.parse(f.payload.toString()) as Msg);
      expect(replies.map((m) => m.action)).toEqual(["scrape", "scrape", "scrape"]);
      expect(serverWrites).toBe(1);
    } finally {
      for (const restore of spied) restore();
      raw.destroy();
    }
  });

  it("frames queued in the turn that kicks a connection are sent before its close frame", async () => {
    const s = await server({ maxInvalidMessages: 1 });
    const raw = await RawClient.open(s.url);
    try {
      // One TCP write: a valid scrape, an invalid message (strike 1, failure reply), and a second
      // invalid one that closes the connection with 1008, all handled in one turn.
      raw.write([
        clientFrame(JSON.stringify({ action: "scrape", info_hash: binId("k1") })),
        clientFrame("not json"),
        clientFrame("still not json"),
      ]);
      const frames = await raw.waitFrames(3);
      expect(frames.map((f) => f.opcode)).toEqual([1, 1, 8]);
      expect((JSON.parse(frames[0]?.payload.toString() ?? "") as Msg).action).toBe("scrape");
      expect(JSON.parse(frames[1]?.payload.toString() ?? "") as Msg).toHaveProperty(
        "failure reason",
      );
      expect(frames[2]?.payload.readUInt16BE(0)).toBe(1008);
    } finally {
      raw.destroy();
    }
  });
});

describe("slow consumers", () => {
  it("a peer that stops reading is sent nothing more once maxBufferedBytes wait for it; the rest is unaffected", async () => {
    const s = await server({
      maxBufferedBytes: 256 * 1024,
      messageRatePerSecond: 100_000,
      messageBurst: 100_000,
    });
    const a = await client(s);
    const b = await client(s);
    const ih = binId("slow-swarm");
    a.send(announce(ih, binId("peer-a")));
    await a.next(isReply);
    b.send(announce(ih, binId("peer-b")));
    await b.next(isReply);

    // A stops reading. B sends 1000 offers of 15 KB (15 MB): more than the kernel's socket
    // buffers can take, so the rest waits in the server until the cap refuses it.
    a.ws.pause();
    const sdp = `v=0 ${"x".repeat(15_000)}`;
    const total = 1000;
    for (let i = 0; i < total; i++) {
      b.send(
        announce(ih, binId("peer-b"), 0, {
          event: "update",
          numwant: 1,
          offers: [{ offer: { type: "offer", sdp }, offer_id: binId(`o${i}`) }],
        }),
      );
    }
    await b.sync(); // B's messages are handled in order: all 1000 announces are done
    const relayed = s.stats().offersRelayed;
    expect(relayed).toBeGreaterThan(0);
    expect(relayed).toBeLessThan(total);
    expect(s.stats().rejected).toBe(total - relayed);
    expect(await s.metrics()).toMatch(
      new RegExp(
        `^hivecast_signaling_rejected_messages_total\\{reason="slow_consumer"\\} ${total - relayed}$`,
        "m",
      ),
    );
    // B got every reply; once A reads again it gets exactly the offers that were relayed.
    expect(b.messages.filter(isReply)).toHaveLength(total);
    a.ws.resume();
    for (let i = 0; i < relayed; i++) await a.next(isOffer);
    await a.sync();
    expect(a.messages.filter(isOffer)).toHaveLength(0);
  });
});
