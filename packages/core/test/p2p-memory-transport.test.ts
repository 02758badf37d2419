import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryNetwork, type MemoryPeerConnection } from "../src/testing/memory-transport.js";
import type { PeerConnection } from "../src/p2p/peer-transport.js";
import { FAKE, testClock } from "./p2p-helpers.js";

beforeEach(() => {
  vi.useFakeTimers(FAKE);
});
afterEach(() => {
  vi.useRealTimers();
});

function pair(
  net: MemoryNetwork,
  upA = 0,
): { a: PeerConnection; b: PeerConnection; got: Uint8Array[]; events: string[] } {
  const a = net.transport({ bytesPerSec: upA }).createPeer({ initiator: true, rtcConfig: {} });
  const b = net.transport().createPeer({ initiator: false, rtcConfig: {} });
  const got: Uint8Array[] = [];
  const events: string[] = [];
  a.on("signal", (s) => b.signal(s));
  b.on("signal", (s) => a.signal(s));
  a.on("connect", () => events.push("a:connect"));
  b.on("connect", () => events.push("b:connect"));
  a.on("close", () => events.push("a:close"));
  b.on("close", () => events.push("b:close"));
  b.on("data", (d) => got.push(d));
  return { a, b, got, events };
}

describe("MemoryNetwork", () => {
  it("connects through offer/answer and delivers copies after the latency", async () => {
    const net = new MemoryNetwork({ clock: testClock, latencyMs: 5 });
    const { a, got, events } = pair(net);
    await vi.advanceTimersByTimeAsync(20);
    expect(events).toEqual(["a:connect", "b:connect"]);
    const msg = Uint8Array.of(1, 2, 3);
    a.send(msg);
    msg[0] = 9; // the sender's buffer is not shared
    expect(got).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(5);
    expect(got).toEqual([Uint8Array.of(1, 2, 3)]);
    expect(net.bytesSent).toBe(3);
  });

  it("a per-viewer upload rate drives bufferedAmount and delivery time", async () => {
    const net = new MemoryNetwork({ clock: testClock, latencyMs: 0 });
    const { a, got } = pair(net, 100_000);
    await vi.advanceTimersByTimeAsync(10);
    for (let i = 0; i < 10; i++) a.send(new Uint8Array(10_000));
    expect(a.bufferedAmount).toBe(100_000);
    await vi.advanceTimersByTimeAsync(500);
    expect(a.bufferedAmount).toBe(50_000);
    expect(got).toHaveLength(5);
    await vi.advanceTimersByTimeAsync(500);
    expect(a.bufferedAmount).toBe(0);
    expect(got).toHaveLength(10);
  });

  it("destroy closes the other end; a severed end goes silent; nothing is left scheduled", async () => {
    const net = new MemoryNetwork({ clock: testClock });
    const p1 = pair(net);
    await vi.advanceTimersByTimeAsync(20);
    p1.a.destroy();
    expect(() => p1.a.send(Uint8Array.of(1))).toThrow();
    await vi.advanceTimersByTimeAsync(10);
    expect(p1.events).toEqual(["a:connect", "b:connect", "b:close"]); // destroy emits nothing locally
    const p2 = pair(net);
    await vi.advanceTimersByTimeAsync(20);
    (p2.a as MemoryPeerConnection).severed = true;
    p2.a.send(Uint8Array.of(1));
    p2.a.destroy();
    await vi.advanceTimersByTimeAsync(100);
    expect(p2.got).toHaveLength(0);
    expect(p2.events).not.toContain("b:close");
    p2.b.destroy();
    expect(net.connections()).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("an answer to an unknown offer fails the connection", async () => {
    const net = new MemoryNetwork({ clock: testClock });
    const b = net.transport().createPeer({ initiator: false, rtcConfig: {} });
    const errors: string[] = [];
    b.on("error", (e) => errors.push(e.message));
    b.signal({ type: "offer", sdp: "memory:424242" });
    await vi.advanceTimersByTimeAsync(10);
    expect(errors).toHaveLength(1);
    expect(net.connections()).toHaveLength(0);
  });
});
