import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import { TypedEmitter } from "../src/events.js";
import {
  FrameType,
  PROTOCOL_VERSION,
  PeerProtocolError,
  decodeFrame,
  encodeCancel,
  encodeChunk,
  encodeHandshake,
  encodeHave,
  encodeReject,
  encodeRequest,
  encodeResponse,
  type PeerMessage,
  type PeerProtocolErrorReason,
} from "../src/p2p/peer-protocol.js";
import {
  MAX_REMOTE_HAVES,
  MAX_UPLOADS_PER_PEER,
  PeerSession,
  type RequestOutcome,
} from "../src/p2p/peer-session.js";
import type {
  PeerConnection,
  PeerConnectionEvents,
  SignalData,
} from "../src/p2p/peer-transport.js";
import { FAKE, bytes, sameBytes, testClock, uploadGate } from "./p2p-helpers.js";

/** A synchronous fake connection: the test plays the remote peer. */
class FakeConn extends TypedEmitter<PeerConnectionEvents> implements PeerConnection {
  readonly initiator = false;
  bufferedAmount = 0;
  maxMessageBytes: number | undefined = undefined;
  destroyed = false;
  readonly sent: PeerMessage[] = [];
  signal(_d: SignalData): void {}
  send(data: Uint8Array): void {
    if (this.destroyed) throw new Error("closed");
    this.sent.push(decodeFrame(data));
  }
  destroy(): void {
    this.destroyed = true;
  }
  open(): void {
    this.emit("connect");
  }
  closeRemote(): void {
    this.emit("close");
  }
  deliver(frame: Uint8Array | unknown): void {
    this.emit("data", frame as Uint8Array);
  }
}

interface Rig {
  conn: FakeConn;
  session: PeerSession;
  closed: Array<{ reason: string; error: PeerProtocolError | undefined }>;
  store: Map<string, Uint8Array>;
  uploaded: number[];
}

function rig(
  opts: { handshake?: boolean; connect?: boolean; maxUploads?: number; rate?: number } = {},
): Rig & { ready: number } {
  const conn = new FakeConn();
  const closed: Rig["closed"] = [];
  let ready = 0;
  const store = new Map<string, Uint8Array>();
  const uploaded: number[] = [];
  const session = new PeerSession(conn, {
    peerId: "-HC0001-remote000000",
    connectionKey: "x/y",
    clock: testClock,
    connectTimeoutMs: 5000,
    downloadOnly: false,
    localHaves: () => [],
    gate: uploadGate(opts.maxUploads ?? 4, opts.rate ?? 0),
    ewmaAlpha: 0.3,
    hooks: {
      onReady: () => {
        ready++;
      },
      onClose: (_s, reason, error) => closed.push({ reason, error }),
      onHave: () => undefined,
      serve: (id) => store.get(id) ?? "not-found",
      onUploaded: (_s, n) => uploaded.push(n),
    },
  });
  if (opts.connect !== false) conn.open();
  if (opts.handshake !== false) conn.deliver(encodeHandshake(false));
  return {
    conn,
    session,
    closed,
    store,
    uploaded,
    get ready() {
      return ready;
    },
  };
}

function expectDropped(r: Rig, reason: PeerProtocolErrorReason): void {
  expect(r.session.state).toBe("closed");
  expect(r.conn.destroyed).toBe(true);
  expect(r.closed).toHaveLength(1);
  expect(r.closed[0]?.error).toBeInstanceOf(PeerProtocolError);
  expect(r.closed[0]?.error?.reason).toBe(reason);
  expect(r.closed[0]?.error?.code).toBe("PEER_PROTOCOL");
}

beforeEach(() => {
  vi.useFakeTimers(FAKE);
});
afterEach(() => {
  vi.useRealTimers();
});

describe("peer session", () => {
  it("a peer that accepts messages under 64 KiB is left before the handshake, not banned", () => {
    const r = rig({ connect: false, handshake: false });
    r.conn.maxMessageBytes = 16 * 1024;
    r.conn.open();
    expect(r.conn.sent).toEqual([]);
    expect(r.session.state).toBe("closed");
    expect(r.closed).toEqual([
      {
        reason: "peer accepts messages of at most 16384 bytes, frames need 65536",
        error: undefined,
      },
    ]);
    // 64 KiB (the size every browser accepts when the SDP does not say) or more is fine.
    for (const max of [64 * 1024, 256 * 1024, Number.POSITIVE_INFINITY]) {
      const ok = rig({ connect: false });
      ok.conn.maxMessageBytes = max;
      ok.conn.open();
      expect(ok.session.state).toBe("ready");
    }
  });

  it("sends the handshake on connect and becomes ready on the peer's", () => {
    const r = rig();
    expect(r.conn.sent[0]).toEqual({
      type: "handshake",
      version: PROTOCOL_VERSION,
      downloadOnly: false,
    });
    expect(r.session.state).toBe("ready");
    r.session.close("done", undefined, true);
  });

  it("assembles chunks in order and measures throughput", async () => {
    const r = rig();
    r.conn.deliver(encodeHave([{ segmentId: "a.ts", size: 40_000 }])[0]);
    const req = r.session.request("a.ts");
    const sent = r.conn.sent.at(-1);
    expect(sent?.type).toBe("request");
    const id = sent?.type === "request" ? sent.requestId : 0;
    const data = bytes(40_000);
    r.conn.deliver(encodeResponse(id, 40_000));
    vi.advanceTimersByTime(100);
    for (let off = 0; off < data.length; off += 16_000)
      r.conn.deliver(encodeChunk(id, off, data.subarray(off, Math.min(off + 16_000, data.length))));
    const out: RequestOutcome = await req.done;
    expect(out.ok).toBe(true);
    if (out.ok) expect(sameBytes(out.data, data)).toBe(true);
    expect(r.session.throughputBps).toBeGreaterThan(0);
    r.session.close("done", undefined, true);
  });

  it("a cancelled or cut-off download hands back the bytes that arrived, in order", async () => {
    const data = bytes(40_000);
    for (const end of ["cancel", "disconnect"] as const) {
      const r = rig();
      const req = r.session.request("a.ts");
      const m = r.conn.sent.at(-1);
      const id = m?.type === "request" ? m.requestId : 0;
      r.conn.deliver(encodeResponse(id, 40_000));
      r.conn.deliver(encodeChunk(id, 0, data.subarray(0, 16_000)));
      r.conn.deliver(encodeChunk(id, 16_000, data.subarray(16_000, 20_000)));
      if (end === "cancel") req.cancel();
      else r.conn.closeRemote();
      const out = await req.done;
      expect(out).toMatchObject({ ok: false, reason: end === "cancel" ? "cancelled" : "gone" });
      const partial = out.ok ? undefined : out.partial;
      expect(partial?.size).toBe(40_000);
      expect(sameBytes(partial?.data, data.subarray(0, 20_000))).toBe(true);
      r.session.close("done", undefined, true);
    }
  });

  describe("r19 an abandoned transfer still measures the peer's throughput", () => {
    /** Requests a.ts and returns the request and its id. */
    function ask(r: Rig): { req: ReturnType<PeerSession["request"]>; id: number } {
      const req = r.session.request("a.ts");
      const m = r.conn.sent.at(-1);
      return { req, id: m?.type === "request" ? m.requestId : 0 };
    }

    it("a trickle cancelled half-way: its real rate, not 'unknown'", async () => {
      const r = rig();
      const { req, id } = ask(r);
      r.conn.deliver(encodeResponse(id, 40_000));
      vi.advanceTimersByTime(1000);
      r.conn.deliver(encodeChunk(id, 0, bytes(10_000)));
      vi.advanceTimersByTime(1000);
      req.cancel();
      const out = await req.done;
      expect(out).toMatchObject({ ok: false, reason: "cancelled" });
      // 10 000 bytes in 2 s since the first byte
      expect(r.session.throughputBps).toBeCloseTo(5000, 0);
      r.session.close("done", undefined, true);
    });

    it("a fast peer that starts trickling ranks by what it delivers now", async () => {
      const r = rig();
      const first = ask(r);
      r.conn.deliver(encodeResponse(first.id, 40_000));
      vi.advanceTimersByTime(100);
      const data = bytes(40_000);
      for (let off = 0; off < data.length; off += 16_000)
        r.conn.deliver(encodeChunk(first.id, off, data.subarray(off, off + 16_000)));
      expect((await first.req.done).ok).toBe(true);
      const fast = r.session.throughputBps;
      expect(fast).toBeCloseTo(400_000, -3);
      for (let i = 0; i < 3; i++) {
        const slow = ask(r);
        r.conn.deliver(encodeResponse(slow.id, 40_000));
        vi.advanceTimersByTime(2000);
        r.conn.deliver(encodeChunk(slow.id, 0, bytes(1000)));
        slow.req.cancel();
        await slow.req.done;
      }
      // ewma (α 0.3) of 500 B/s three times: about a third of the fast rate is left
      expect(r.session.throughputBps).toBeLessThan(fast * 0.4);
      expect(r.session.throughputBps).toBeGreaterThan(0);
      r.session.close("done", undefined, true);
    });

    it("a RESPONSE then nothing: the least rate; no RESPONSE, or a quick cancel: no sample", async () => {
      const r = rig();
      const stalled = ask(r);
      r.conn.deliver(encodeResponse(stalled.id, 40_000));
      vi.advanceTimersByTime(1500);
      stalled.req.cancel();
      await stalled.req.done;
      expect(r.session.throughputBps).toBe(1);
      // never answered: a stall for the score (peer-score.ts), not a rate
      const unanswered = ask(r);
      vi.advanceTimersByTime(3000);
      unanswered.req.cancel();
      await unanswered.req.done;
      expect(r.session.throughputBps).toBe(1);
      const r2 = rig();
      const quick = ask(r2);
      r2.conn.deliver(encodeResponse(quick.id, 40_000));
      vi.advanceTimersByTime(50);
      r2.conn.deliver(encodeChunk(quick.id, 0, bytes(16_000)));
      quick.req.cancel(); // e.g. HTTP won: 50 ms say nothing about the peer
      await quick.req.done;
      expect(r2.session.throughputBps).toBe(0);
      r.session.close("done", undefined, true);
      r2.session.close("done", undefined, true);
    });
  });

  it("uploads with back-pressure on bufferedAmount and honours cancel", async () => {
    const r = rig();
    r.store.set("a.ts", bytes(100_000));
    r.conn.bufferedAmount = 10_000_000; // the channel is full
    r.conn.deliver(encodeRequest(5, "a.ts"));
    expect(r.conn.sent.filter((m) => m.type === "chunk")).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(r.conn.sent.filter((m) => m.type === "chunk")).toHaveLength(0); // still waiting
    r.conn.bufferedAmount = 0;
    await vi.advanceTimersByTimeAsync(25);
    const chunks = r.conn.sent.filter((m) => m.type === "chunk");
    expect(chunks.length).toBeGreaterThan(0);
    expect(r.uploaded).toEqual([100_000]);
    // a cancelled upload stops early
    r.store.set("b.ts", bytes(200_000));
    r.conn.bufferedAmount = 10_000_000;
    r.conn.deliver(encodeRequest(6, "b.ts"));
    r.conn.deliver(encodeCancel(6));
    r.conn.bufferedAmount = 0;
    await vi.advanceTimersByTimeAsync(100);
    expect(r.uploaded).toEqual([100_000]);
    expect(r.session.activeUploads).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    r.session.close("done", undefined, true);
  });

  it("rejects requests beyond the per-peer upload cap and for unknown segments", () => {
    const r = rig();
    r.store.set("a.ts", bytes(50_000));
    r.conn.bufferedAmount = 10_000_000; // keep uploads running
    r.conn.deliver(encodeRequest(100, "missing.ts"));
    for (let i = 1; i <= MAX_UPLOADS_PER_PEER + 3; i++) r.conn.deliver(encodeRequest(i, "a.ts"));
    const rejects = r.conn.sent.filter((m) => m.type === "reject");
    expect(rejects.filter((m) => m.type === "reject" && m.reason === "busy")).toHaveLength(3);
    expect(rejects.filter((m) => m.type === "reject" && m.reason === "not-found")).toHaveLength(1);
    expect(r.session.activeUploads).toBe(MAX_UPLOADS_PER_PEER);
    r.session.close("done", undefined, true);
  });

  it("a closed session fails its downloads with gone and leaves no timer", async () => {
    const r = rig();
    const req = r.session.request("x.ts");
    r.conn.closeRemote();
    expect(await req.done).toMatchObject({ ok: false, reason: "gone" });
    expect(r.closed[0]?.reason).toBe("connection closed");
    expect(r.closed[0]?.error).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("the peer's handshake and haves before our own connect: ready only once ours went out", () => {
    // WebRTC delivers data on an open channel before simple-peer emits `connect` here.
    const r = rig({ connect: false });
    r.conn.deliver(encodeHave([{ segmentId: "a.ts", size: 1000 }])[0]);
    expect(r.session.state).toBe("connecting");
    expect(r.ready).toBe(0);
    expect(r.session.remoteHaves.get("a.ts")).toBe(1000);
    // Nothing may be sent yet: a request now would reach a peer that has not seen our handshake.
    const early = r.session.request("a.ts");
    expect(r.conn.sent).toEqual([]);
    r.conn.open();
    expect(r.conn.sent[0]).toEqual({
      type: "handshake",
      version: PROTOCOL_VERSION,
      downloadOnly: false,
    });
    expect(r.session.state).toBe("ready");
    expect(r.ready).toBe(1);
    expect(r.closed).toEqual([]);
    r.session.request("a.ts");
    expect(r.conn.sent.at(-1)).toMatchObject({ type: "request", segmentId: "a.ts" });
    r.session.close("done", undefined, true);
    return expect(early.done).resolves.toMatchObject({ ok: false, reason: "gone" });
  });

  it("a request before our handshake went out is a protocol violation", () => {
    const r = rig({ connect: false });
    r.store.set("a.ts", bytes(100));
    r.conn.deliver(encodeRequest(1, "a.ts"));
    expectDropped(r, "UNEXPECTED_MESSAGE");
    expect(r.conn.sent).toEqual([]);
  });

  it("a peer that never handshakes is dropped after the connect timeout", () => {
    const r = rig({ handshake: false });
    vi.advanceTimersByTime(5000);
    expect(r.session.state).toBe("closed");
    expect(r.closed[0]?.reason).toBe("connect timeout");
  });
});

describe("r02 peer frame attacks at the session: typed error, connection dropped, nothing escapes", () => {
  function requested(r: Rig, segmentId: string): { id: number; done: Promise<RequestOutcome> } {
    const req = r.session.request(segmentId);
    const m = r.conn.sent.at(-1);
    return { id: m?.type === "request" ? m.requestId : -1, done: req.done };
  }

  it("anything before the handshake", () => {
    const r = rig({ handshake: false });
    r.conn.deliver(encodeRequest(1, "a.ts"));
    expectDropped(r, "UNEXPECTED_MESSAGE");
  });

  it("a second handshake", () => {
    const r = rig();
    r.conn.deliver(encodeHandshake(false));
    expectDropped(r, "UNEXPECTED_MESSAGE");
  });

  it("unknown type", () => {
    const r = rig();
    r.conn.deliver(Uint8Array.of(0x42, 0, 0));
    expectDropped(r, "UNKNOWN_TYPE");
  });

  it("text instead of binary", () => {
    const r = rig();
    r.conn.deliver("hello");
    expectDropped(r, "NOT_BINARY");
  });

  it("huge length", () => {
    const r = rig();
    const f = new Uint8Array(9);
    f[0] = FrameType.response;
    f.fill(0xff, 1);
    r.conn.deliver(f);
    expectDropped(r, "BAD_SIZE");
    const r2 = rig();
    r2.conn.deliver(new Uint8Array(1 << 20));
    expectDropped(r2, "FRAME_TOO_LARGE");
  });

  it("chunk for a request never made", () => {
    const r = rig();
    r.conn.deliver(encodeChunk(77, 0, bytes(10)));
    expectDropped(r, "UNEXPECTED_CHUNK");
  });

  it("response for a request never made", () => {
    const r = rig();
    r.conn.deliver(encodeResponse(77, 10));
    expectDropped(r, "UNEXPECTED_MESSAGE");
  });

  it("overlapping, repeated and out-of-order offsets", async () => {
    for (const offsets of [[0, 25], [0, 0], [50]]) {
      const r = rig();
      const { id, done } = requested(r, "a.ts");
      r.conn.deliver(encodeResponse(id, 100));
      for (const off of offsets) r.conn.deliver(encodeChunk(id, off, bytes(50)));
      expectDropped(r, "BAD_OFFSET");
      expect(await done).toMatchObject({ ok: false, reason: "gone" });
    }
  });

  it("chunk past the announced size", () => {
    const r = rig();
    const { id } = requested(r, "a.ts");
    r.conn.deliver(encodeResponse(id, 100));
    r.conn.deliver(encodeChunk(id, 60, bytes(50)));
    expectDropped(r, "BAD_OFFSET");
  });

  it("chunk before the response", () => {
    const r = rig();
    const { id } = requested(r, "a.ts");
    r.conn.deliver(encodeChunk(id, 0, bytes(50)));
    expectDropped(r, "UNEXPECTED_CHUNK");
  });

  it("response size different from the announced size", () => {
    const r = rig();
    r.conn.deliver(encodeHave([{ segmentId: "a.ts", size: 1000 }])[0]);
    const { id } = requested(r, "a.ts");
    r.conn.deliver(encodeResponse(id, 32 * 1024 * 1024));
    expectDropped(r, "SIZE_MISMATCH");
  });

  it("duplicate request id", () => {
    const r = rig();
    r.store.set("a.ts", bytes(50_000));
    r.conn.bufferedAmount = 10_000_000;
    r.conn.deliver(encodeRequest(1, "a.ts"));
    r.conn.deliver(encodeRequest(1, "a.ts"));
    expectDropped(r, "TOO_MANY_REQUESTS");
  });

  it("have flood: memory stays bounded", () => {
    const r = rig();
    const entries = Array.from({ length: MAX_REMOTE_HAVES + 10 }, (_, i) => ({
      segmentId: `s${i}`,
      size: 1,
    }));
    for (const f of encodeHave(entries)) r.conn.deliver(f);
    expect(r.session.remoteHaves.size).toBeLessThanOrEqual(MAX_REMOTE_HAVES);
    expectDropped(r, "TOO_MANY_HAVES");
  });

  it("late chunks of a cancelled request are ignored, not punished", () => {
    const r = rig();
    const req = r.session.request("a.ts");
    const m = r.conn.sent.at(-1);
    const id = m?.type === "request" ? m.requestId : -1;
    r.conn.deliver(encodeResponse(id, 100));
    req.cancel();
    r.conn.deliver(encodeChunk(id, 0, bytes(50)));
    r.conn.deliver(encodeReject(id, "busy"));
    expect(r.session.state).toBe("ready");
    expect(r.conn.sent.at(-1)).toEqual({ type: "cancel", requestId: id });
    r.session.close("done", undefined, true);
  });

  it("10^5 random frames into live sessions: each session either stays consistent or is dropped with a typed error", () => {
    const frameArb = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 40 }),
      fc
        .tuple(fc.integer({ min: 1, max: 8 }), fc.uint8Array({ maxLength: 40 }))
        .map(([t, rest]) => Uint8Array.of(t, ...rest)),
      fc
        .tuple(fc.nat({ max: 3 }), fc.nat({ max: 200 }), fc.integer({ min: 1, max: 60 }))
        .map(([id, off, len]) => encodeChunk(id, off, bytes(len))),
      fc
        .tuple(fc.nat({ max: 3 }), fc.integer({ min: 1, max: 300 }))
        .map(([id, size]) => encodeResponse(id, size)),
    );
    let frames = 0;
    let dropped = 0;
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 20, maxLength: 20 }), (seq) => {
        const r = rig();
        // Open requests so that some chunks and responses refer to real ids.
        for (let i = 0; i < 3; i++) r.session.request(`s${i}`);
        for (const f of seq) {
          r.conn.deliver(f); // must never throw
          frames++;
        }
        expect(r.session.remoteHaves.size).toBeLessThanOrEqual(MAX_REMOTE_HAVES);
        if (r.session.state === "closed") {
          dropped++;
          expect(r.conn.destroyed).toBe(true);
          expect(r.closed[0]?.error).toBeInstanceOf(PeerProtocolError);
        } else {
          expect(r.closed).toHaveLength(0);
          r.session.close("done", undefined, true);
        }
      }),
      { numRuns: 5000, seed: 99 },
    );
    expect(frames).toBe(100_000);
    expect(dropped).toBeGreaterThan(4000);
    vi.clearAllTimers();
  });
});
