/**
 * WebRtcTransport against a scripted RTCPeerConnection: the order of offer/answer, ICE gathering
 * and its timeout, channel events, failures and destroy. Real data channels are covered in
 * p2p-webrtc.test.ts (node-datachannel) and the e2e tests (Chromium).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  PeerLinkError,
  pairType,
  type PeerConnection,
  type SignalData,
} from "../src/p2p/peer-transport.js";
import {
  RELAY_SETTLE_MS,
  WebRtcTransport,
  linkFromStats,
  type RTCPeerConnectionConstructor,
} from "../src/p2p/webrtc-transport.js";
import { FAKE, testClock } from "./p2p-helpers.js";

type Handler = ((e: unknown) => void) | null;

class FakeChannel {
  readyState: RTCDataChannelState = "connecting";
  binaryType = "blob";
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  closeCalls = 0;
  onopen: Handler = null;
  onmessage: Handler = null;
  onclosing: Handler = null;
  onclose: Handler = null;
  onerror: Handler = null;
  send(d: Uint8Array): void {
    this.sent.push(d);
  }
  close(): void {
    this.closeCalls++;
    this.readyState = "closed";
  }
  open(): void {
    this.readyState = "open";
    this.onopen?.({});
  }
}

class FakePC {
  static made: FakePC[] = [];
  iceGatheringState: RTCIceGatheringState = "new";
  iceConnectionState: RTCIceConnectionState = "new";
  connectionState: RTCPeerConnectionState = "new";
  localDescription: { type: string; sdp: string } | null = null;
  remote: { type?: string; sdp?: string } | undefined;
  channels: FakeChannel[] = [];
  closed = false;
  failRemote = false;
  onicecandidate: Handler = null;
  onicegatheringstatechange: Handler = null;
  oniceconnectionstatechange: Handler = null;
  onconnectionstatechange: Handler = null;
  ondatachannel: Handler = null;
  constructor(readonly config?: RTCConfiguration) {
    FakePC.made.push(this);
  }
  createDataChannel(): FakeChannel {
    const ch = new FakeChannel();
    this.channels.push(ch);
    return ch;
  }
  createOffer(): Promise<{ type: string; sdp: string }> {
    return Promise.resolve({ type: "offer", sdp: "v=0 offer" });
  }
  createAnswer(): Promise<{ type: string; sdp: string }> {
    return Promise.resolve({ type: "answer", sdp: "v=0 answer" });
  }
  setLocalDescription(d: { type: string; sdp: string }): Promise<void> {
    this.localDescription = { ...d };
    this.iceGatheringState = "gathering";
    return Promise.resolve();
  }
  setRemoteDescription(d: { type?: string; sdp?: string }): Promise<void> {
    if (this.failRemote) return Promise.reject(new Error("bad remote description"));
    this.remote = d;
    return Promise.resolve();
  }
  close(): void {
    this.closed = true;
  }
  /** A host candidate joins the description, then gathering completes. */
  finishGathering(): void {
    if (this.localDescription) this.localDescription.sdp += " a=candidate:1";
    this.onicecandidate?.({ candidate: { candidate: "a=candidate:1" } });
    this.iceGatheringState = "complete";
    this.onicegatheringstatechange?.({});
    this.onicecandidate?.({ candidate: null });
  }
  /** The remote side's data channel arrives (answerer). */
  remoteChannel(): FakeChannel {
    const ch = new FakeChannel();
    this.ondatachannel?.({ channel: ch });
    return ch;
  }
  handlers(): Handler[] {
    return [
      this.onicecandidate,
      this.onicegatheringstatechange,
      this.oniceconnectionstatechange,
      this.onconnectionstatechange,
      this.ondatachannel,
    ];
  }
}

const PC = FakePC as unknown as RTCPeerConnectionConstructor;

interface Recorded {
  conn: PeerConnection;
  pc: FakePC;
  events: string[];
  signals: SignalData[];
  data: Uint8Array[];
}

function make(initiator: boolean, gatherMs = 500): Recorded {
  const t = new WebRtcTransport({
    RTCPeerConnection: PC,
    clock: testClock,
    iceGatherTimeoutMs: gatherMs,
  });
  const conn = t.createPeer({ initiator, rtcConfig: { iceServers: [] } });
  const pc = FakePC.made[FakePC.made.length - 1];
  if (!pc) throw new Error("no RTCPeerConnection made");
  const r: Recorded = { conn, pc, events: [], signals: [], data: [] };
  conn.on("signal", (s) => {
    r.events.push(`signal:${s.type}`);
    r.signals.push(s);
  });
  conn.on("connect", () => r.events.push("connect"));
  conn.on("data", (d) => {
    r.events.push("data");
    r.data.push(d);
  });
  conn.on("text", (n) => r.events.push(`text:${n}`));
  conn.on("error", (e) => r.events.push(`error:${e.message}`));
  conn.on("close", () => r.events.push("close"));
  return r;
}

/** Lets the transport's promise chains run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

beforeEach(() => {
  vi.useFakeTimers(FAKE);
  FakePC.made = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe("WebRtcTransport", () => {
  it("passes rtcConfig through and creates nothing until createPeer", () => {
    const t = new WebRtcTransport({ RTCPeerConnection: PC, clock: testClock });
    expect(FakePC.made).toHaveLength(0);
    t.createPeer({ initiator: false, rtcConfig: { iceServers: [] } });
    expect(FakePC.made).toHaveLength(1);
    expect(FakePC.made[0]?.config).toEqual({ iceServers: [] });
  });

  it("without an RTCPeerConnection, createPeer throws a clear error", () => {
    const g = globalThis as { RTCPeerConnection?: unknown };
    const saved = g.RTCPeerConnection;
    delete g.RTCPeerConnection;
    try {
      const t = new WebRtcTransport({ clock: testClock });
      expect(() => t.createPeer({ initiator: true, rtcConfig: {} })).toThrow(
        /no RTCPeerConnection/,
      );
    } finally {
      if (saved !== undefined) g.RTCPeerConnection = saved;
    }
  });

  it("initiator: the offer waits for ICE gathering and carries its candidates", async () => {
    const r = make(true);
    await settle();
    expect(r.pc.channels).toHaveLength(1);
    expect(r.signals).toEqual([]);
    r.pc.finishGathering();
    await settle();
    expect(r.signals).toEqual([{ type: "offer", sdp: "v=0 offer a=candidate:1" }]);
    expect(vi.getTimerCount()).toBe(0);

    r.conn.signal({ type: "answer", sdp: "v=0 answer" });
    await settle();
    expect(r.pc.remote).toEqual({ type: "answer", sdp: "v=0 answer" });
    const ch = r.pc.channels[0];
    if (!ch) throw new Error("no channel");
    expect(ch.binaryType).toBe("arraybuffer");
    ch.open();
    ch.open();
    expect(r.events).toEqual(["signal:offer", "connect"]);
  });

  it("after the gather timeout the description goes with the candidates found so far", async () => {
    const r = make(true, 300);
    await settle();
    if (r.pc.localDescription) r.pc.localDescription.sdp += "\na=candidate:host";
    await vi.advanceTimersByTimeAsync(299);
    expect(r.signals).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.signals).toEqual([{ type: "offer", sdp: "v=0 offer\na=candidate:host" }]);
    r.pc.finishGathering(); // late completion emits nothing more
    await settle();
    expect(r.signals).toHaveLength(1);
  });

  it("a relay candidate ends the wait RELAY_SETTLE_MS later (a UDP TURN allocation that never completes cannot hold the description to the gather timeout)", async () => {
    const r = make(true, 5000);
    await settle();
    if (r.pc.localDescription) r.pc.localDescription.sdp += "\na=candidate:relay";
    r.pc.onicecandidate?.({
      candidate: { candidate: "candidate:2 1 tcp 1 100.64.0.1 49152 typ relay raddr 0.0.0.0" },
    });
    await vi.advanceTimersByTimeAsync(RELAY_SETTLE_MS - 1);
    expect(r.signals).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.signals).toEqual([{ type: "offer", sdp: "v=0 offer\na=candidate:relay" }]);
    r.pc.finishGathering();
    await settle();
    expect(r.signals).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a gather timeout with no candidate at all fails the link (cause no-candidates), never silently", async () => {
    const r = make(true, 300);
    const errors: unknown[] = [];
    r.conn.on("error", (e) => errors.push(e));
    await settle();
    await vi.advanceTimersByTimeAsync(300);
    await settle();
    expect(r.signals).toEqual([]);
    expect(r.events).toEqual(["error:ICE gathering found no candidate for the offer", "close"]);
    expect(errors[0]).toBeInstanceOf(PeerLinkError);
    expect((errors[0] as PeerLinkError).failure).toBe("no-candidates");
    expect(r.pc.closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("answerer: applies the offer, answers after gathering, uses the remote channel", async () => {
    const r = make(false);
    expect(r.pc.channels).toHaveLength(0);
    r.conn.signal({ type: "offer", sdp: "v=0 offer" });
    await settle();
    expect(r.pc.remote).toEqual({ type: "offer", sdp: "v=0 offer" });
    r.pc.finishGathering();
    await settle();
    expect(r.signals).toEqual([{ type: "answer", sdp: "v=0 answer a=candidate:1" }]);
    const ch = r.pc.remoteChannel();
    const extra = r.pc.remoteChannel();
    expect(extra.closeCalls).toBe(1);
    ch.open();
    ch.onmessage?.({ data: new Uint8Array([1, 2, 3]).buffer });
    // Text is not a frame: only its length is reported (for the peer's text budget).
    ch.onmessage?.({ data: "text is not a frame" });
    ch.onmessage?.({ data: { some: "object" } });
    expect(r.events).toEqual(["signal:answer", "connect", "data", "text:19", "text:0"]);
    expect([...(r.data[0] ?? [])]).toEqual([1, 2, 3]);
  });

  it("a description of the wrong type, or a second one, ends the connection with an error", async () => {
    const a = make(true);
    a.conn.signal({ type: "offer", sdp: "v=0 offer" });
    expect(a.events).toEqual(["error:unexpected offer: expected one answer", "close"]);
    expect(a.pc.closed).toBe(true);

    const b = make(false);
    b.conn.signal({ type: "offer", sdp: "v=0 offer" });
    b.conn.signal({ type: "offer", sdp: "v=0 offer again" });
    expect(b.events).toEqual(["error:unexpected offer: expected one offer", "close"]);
    await settle();
    b.pc.finishGathering();
    await settle();
    expect(b.signals).toEqual([]); // nothing after close
  });

  it("a rejected setRemoteDescription ends the connection with that error", async () => {
    const r = make(true);
    r.pc.failRemote = true;
    r.conn.signal({ type: "answer", sdp: "garbage" });
    await settle();
    expect(r.events).toEqual(["error:bad remote description", "close"]);
    expect(r.pc.closed).toBe(true);
  });

  it("the remote closing the channel closes once and releases the connection", async () => {
    const r = make(true);
    const ch = r.pc.channels[0];
    if (!ch) throw new Error("no channel");
    ch.open();
    ch.onclosing?.({});
    ch.onclose?.({});
    expect(r.events).toEqual(["connect", "close"]);
    expect(r.pc.closed).toBe(true);
    expect(r.pc.handlers().every((h) => h === null)).toBe(true);
    expect(ch.onmessage).toBeNull();
    await settle();
    expect(vi.getTimerCount()).toBe(0); // the pending gather wait was released
  });

  it("ICE or connection failure is an error, then close", () => {
    const r = make(false);
    r.pc.iceConnectionState = "failed";
    r.pc.oniceconnectionstatechange?.({});
    expect(r.events).toEqual(["error:ICE connection failed", "close"]);
    const s = make(false);
    s.pc.connectionState = "failed";
    s.pc.onconnectionstatechange?.({});
    expect(s.events).toEqual(["error:peer connection failed", "close"]);
  });

  it("destroy emits nothing, clears the gather timer and closes everything", async () => {
    const r = make(true);
    await settle();
    expect(vi.getTimerCount()).toBe(1);
    r.conn.destroy();
    r.conn.destroy();
    await settle();
    expect(vi.getTimerCount()).toBe(0);
    expect(r.events).toEqual([]);
    expect(r.pc.closed).toBe(true);
    expect(r.pc.channels[0]?.closeCalls).toBe(1);
    expect(() => r.conn.send(new Uint8Array(1))).toThrow(/not open/);
    r.conn.signal({ type: "answer", sdp: "v=0" });
    await settle();
    expect(r.pc.remote).toBeUndefined();
  });

  it("send needs an open channel and sends exactly a view's bytes", () => {
    const r = make(true);
    const ch = r.pc.channels[0];
    if (!ch) throw new Error("no channel");
    expect(() => r.conn.send(new Uint8Array(2))).toThrow(/not open/);
    ch.open();
    const whole = new Uint8Array([9, 8, 7]);
    r.conn.send(whole);
    const big = new Uint8Array([1, 2, 3, 4, 5]);
    r.conn.send(big.subarray(1, 3));
    expect(ch.sent[0]).toBe(whole);
    expect([...(ch.sent[1] ?? [])]).toEqual([2, 3]);
    expect(ch.sent[1]?.buffer.byteLength).toBe(2);
    ch.bufferedAmount = 12345;
    expect(r.conn.bufferedAmount).toBe(12345);
  });
});

describe("the link of an open connection", () => {
  async function openWith(extra: object): Promise<PeerConnection> {
    const r = make(true);
    Object.assign(r.pc, extra);
    await settle();
    r.pc.finishGathering();
    await settle();
    r.conn.signal({ type: "answer", sdp: "v=0 answer" });
    await settle();
    r.pc.channels[0]?.open();
    await settle();
    expect(r.events).toContain("connect");
    return r.conn;
  }
  const pair = {
    local: { type: "relay", protocol: "udp", relayProtocol: "tcp", address: "100.64.0.1" },
    remote: { type: "srflx", address: "192.0.2.7", port: 5000, protocol: "udp" },
  };

  it("is read from the ICE transport's selected pair without a stats report where the browser has it", async () => {
    const getStats = vi.fn(() => Promise.resolve(new Map()));
    const sctp = { transport: { iceTransport: { getSelectedCandidatePair: () => pair } } };
    const conn = await openWith({ sctp, getStats });
    expect(conn.link).toEqual({
      type: "relay",
      localType: "relay",
      remoteType: "srflx",
      remoteAddress: "192.0.2.7:5000",
      protocol: "tcp",
    });
    expect(getStats).not.toHaveBeenCalled();
  });

  it("comes from getStats() where the ICE transport has no pair (Firefox, or none selected)", async () => {
    const report = new Map<string, object>([
      [
        "p",
        {
          id: "p",
          type: "candidate-pair",
          selected: true,
          localCandidateId: "l",
          remoteCandidateId: "r",
        },
      ],
      ["l", { id: "l", type: "local-candidate", candidateType: "host", protocol: "udp" }],
      [
        "r",
        { id: "r", type: "remote-candidate", candidateType: "host", address: "10.0.0.2", port: 9 },
      ],
    ]);
    for (const sctp of [
      null,
      { transport: { iceTransport: { getSelectedCandidatePair: () => null } } },
    ]) {
      const getStats = vi.fn(() => Promise.resolve(report));
      const conn = await openWith({ sctp, getStats });
      expect(getStats).toHaveBeenCalledTimes(1);
      expect(conn.link?.type).toBe("host");
      expect(conn.link?.remoteAddress).toBe("10.0.0.2:9");
    }
  });
});

describe("linkFromStats (the selected candidate pair of a getStats() report)", () => {
  const local = (id: string, candidateType: string, extra = {}): object => ({
    id,
    type: "local-candidate",
    candidateType,
    protocol: "udp",
    ...extra,
  });
  const remote = (id: string, candidateType: string): object => ({
    id,
    type: "remote-candidate",
    candidateType,
    address: "192.0.2.7",
    port: 40000,
  });

  it("follows the transport's selectedCandidatePairId (Chromium)", () => {
    const report = [
      { id: "T", type: "transport", selectedCandidatePairId: "P2" },
      { id: "P1", type: "candidate-pair", localCandidateId: "L1", remoteCandidateId: "R1" },
      { id: "P2", type: "candidate-pair", localCandidateId: "L2", remoteCandidateId: "R2" },
      local("L1", "host"),
      remote("R1", "host"),
      local("L2", "relay", { relayProtocol: "tcp" }),
      remote("R2", "srflx"),
    ];
    expect(linkFromStats(report)).toEqual({
      type: "relay",
      localType: "relay",
      remoteType: "srflx",
      remoteAddress: "192.0.2.7:40000",
      protocol: "tcp",
    });
  });

  it("uses a pair marked selected (Firefox), else a nominated succeeded one", () => {
    const sel = [
      {
        id: "P",
        type: "candidate-pair",
        selected: true,
        localCandidateId: "L",
        remoteCandidateId: "R",
      },
      local("L", "host"),
      remote("R", "srflx"),
    ];
    expect(linkFromStats(sel)?.type).toBe("srflx");
    const nom = [
      {
        id: "P",
        type: "candidate-pair",
        nominated: true,
        state: "succeeded",
        localCandidateId: "L",
        remoteCandidateId: "R",
      },
      local("L", "host"),
      remote("R", "prflx"),
    ];
    expect(linkFromStats(nom)?.type).toBe("prflx");
    expect(pairType("host", "host")).toBe("host");
  });

  it("hostile or empty reports give undefined, never throw", () => {
    expect(linkFromStats([])).toBeUndefined();
    expect(
      linkFromStats([null, 3, "x", { type: "transport", selectedCandidatePairId: "nope" }]),
    ).toBeUndefined();
    expect(
      linkFromStats([
        {
          id: "P",
          type: "candidate-pair",
          selected: true,
          localCandidateId: "L",
          remoteCandidateId: "R",
        },
        local("L", "weird"),
        { id: "R", type: "remote-candidate", candidateType: 5 },
      ]),
    ).toBeUndefined();
  });
});
