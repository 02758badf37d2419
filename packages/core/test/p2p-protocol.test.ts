import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  CHUNK_HEADER_BYTES,
  FrameType,
  MAX_CHUNK_PAYLOAD,
  MAX_FRAME_BYTES,
  MAX_LIST_ENTRIES,
  MAX_SEGMENT_BYTES,
  PROTOCOL_VERSION,
  PeerProtocolError,
  decodeFrame,
  encodeCancel,
  encodeChunk,
  encodeHandshake,
  encodeHave,
  encodeLost,
  encodeReject,
  encodeRequest,
  encodeResponse,
  type PeerProtocolErrorReason,
} from "../src/p2p/peer-protocol.js";
import { isHivecastError } from "../src/errors.js";

function reasonOf(fn: () => unknown): PeerProtocolErrorReason | "no error" {
  try {
    fn();
    return "no error";
  } catch (e) {
    expect(e).toBeInstanceOf(PeerProtocolError);
    expect(isHivecastError(e)).toBe(true);
    return (e as PeerProtocolError).reason;
  }
}

function frame(...parts: Array<number | number[] | Uint8Array>): Uint8Array {
  const bytes: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") bytes.push(p);
    else bytes.push(...p);
  }
  return Uint8Array.from(bytes);
}
const u32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const u16 = (n: number): number[] => [(n >>> 8) & 255, n & 255];

describe("peer protocol: round trips", () => {
  it("handshake carries version and download-only flag", () => {
    expect(decodeFrame(encodeHandshake(false))).toEqual({
      type: "handshake",
      version: PROTOCOL_VERSION,
      downloadOnly: false,
    });
    expect(decodeFrame(encodeHandshake(true))).toMatchObject({ downloadOnly: true });
  });

  it("have/lost lists round-trip, including non-ASCII ids, and split into bounded frames", () => {
    const entries = Array.from({ length: 700 }, (_, i) => ({
      segmentId: `live/seg-${i}-é.ts@0-${i + 1}`,
      size: i + 1,
    }));
    const frames = encodeHave(entries);
    expect(frames.length).toBeGreaterThan(1);
    const back = frames.flatMap((f) => {
      expect(f.byteLength).toBeLessThanOrEqual(MAX_FRAME_BYTES);
      const m = decodeFrame(f);
      if (m.type !== "have") throw new Error("not a have");
      expect(m.entries.length).toBeLessThanOrEqual(MAX_LIST_ENTRIES);
      return m.entries;
    });
    expect(back).toEqual(entries);
    const longIds = Array.from({ length: 100 }, (_, i) => `${i}`.padEnd(256, "x"));
    const lost = encodeLost(longIds).flatMap((f) => {
      expect(f.byteLength).toBeLessThanOrEqual(MAX_FRAME_BYTES);
      const m = decodeFrame(f);
      return m.type === "lost" ? m.segmentIds : [];
    });
    expect(lost).toEqual(longIds);
    expect(encodeHave([])).toEqual([]);
  });

  it("request, cancel, reject, response and chunk round-trip", () => {
    expect(decodeFrame(encodeRequest(0xffffffff, "a/b.ts"))).toEqual({
      type: "request",
      requestId: 0xffffffff,
      segmentId: "a/b.ts",
    });
    expect(decodeFrame(encodeCancel(7))).toEqual({ type: "cancel", requestId: 7 });
    expect(decodeFrame(encodeReject(8, "busy"))).toEqual({
      type: "reject",
      requestId: 8,
      reason: "busy",
    });
    expect(decodeFrame(encodeResponse(9, 1234))).toEqual({
      type: "response",
      requestId: 9,
      size: 1234,
    });
    const payload = new Uint8Array(MAX_CHUNK_PAYLOAD).map((_, i) => i & 255);
    const f = encodeChunk(10, 16375 * 3, payload);
    expect(f.byteLength).toBe(MAX_FRAME_BYTES);
    const m = decodeFrame(f);
    expect(m.type).toBe("chunk");
    if (m.type === "chunk") {
      expect(m.offset).toBe(16375 * 3);
      expect(Array.from(m.data)).toEqual(Array.from(payload));
    }
  });

  it("encoders refuse what the decoder would reject", () => {
    expect(reasonOf(() => encodeRequest(1, ""))).toBe("BAD_SEGMENT_ID");
    expect(reasonOf(() => encodeRequest(1, "x".repeat(257)))).toBe("BAD_SEGMENT_ID");
    expect(reasonOf(() => encodeRequest(-1, "a"))).toBe("BAD_OFFSET");
    expect(reasonOf(() => encodeResponse(1, 0))).toBe("BAD_SIZE");
    expect(reasonOf(() => encodeResponse(1, MAX_SEGMENT_BYTES + 1))).toBe("BAD_SIZE");
    expect(reasonOf(() => encodeChunk(1, 0, new Uint8Array(0)))).toBe("FRAME_TOO_LARGE");
    expect(reasonOf(() => encodeChunk(1, 0, new Uint8Array(MAX_CHUNK_PAYLOAD + 1)))).toBe(
      "FRAME_TOO_LARGE",
    );
  });
});

describe("r02 peer frame attacks: the decoder rejects each with a typed error", () => {
  it("rejects crafted frames", () => {
    const cases: Array<[unknown, PeerProtocolErrorReason]> = [
      ["a string", "NOT_BINARY"],
      [new ArrayBuffer(4), "NOT_BINARY"],
      [new Uint8Array(0), "EMPTY_FRAME"],
      [new Uint8Array(MAX_FRAME_BYTES + 1), "FRAME_TOO_LARGE"],
      [new Uint8Array(1024 * 1024 * 64), "FRAME_TOO_LARGE"],
      [frame(0x00), "UNKNOWN_TYPE"],
      [frame(0x09, 1, 2, 3), "UNKNOWN_TYPE"],
      [frame(0xff), "UNKNOWN_TYPE"],
      [frame(FrameType.handshake, 0x48, 0x56), "TRUNCATED"],
      [frame(FrameType.handshake, 0x47, 0x56, 0x43, PROTOCOL_VERSION, 0), "BAD_MAGIC"],
      [frame(FrameType.handshake, 0x48, 0x56, 0x43, 1, 0), "UNSUPPORTED_VERSION"], // 16 KiB frames
      [
        frame(FrameType.handshake, 0x48, 0x56, 0x43, PROTOCOL_VERSION + 1, 0),
        "UNSUPPORTED_VERSION",
      ],
      [frame(FrameType.handshake, 0x48, 0x56, 0x43, PROTOCOL_VERSION, 0, 0), "TRAILING_BYTES"],
      // huge length fields
      [frame(FrameType.have, u16(0xffff)), "BAD_COUNT"],
      [frame(FrameType.have, u16(0)), "BAD_COUNT"],
      [frame(FrameType.have, u16(1), u16(0xffff), 0x61), "BAD_SEGMENT_ID"],
      [frame(FrameType.have, u16(1), u16(5), 0x61), "TRUNCATED"],
      [frame(FrameType.have, u16(1), u16(1), 0x61, u32(0xffffffff)), "BAD_SIZE"],
      [frame(FrameType.have, u16(1), u16(1), 0x61, u32(0)), "BAD_SIZE"],
      [frame(FrameType.have, u16(2), u16(1), 0x61, u32(5)), "TRUNCATED"],
      [frame(FrameType.lost, u16(1), u16(2), 0xc3, 0x28), "BAD_SEGMENT_ID"], // invalid UTF-8
      [frame(FrameType.request, u32(1), u16(0)), "BAD_SEGMENT_ID"],
      [frame(FrameType.request, u32(1), u16(1), 0x61, 0x62), "TRAILING_BYTES"],
      [frame(FrameType.request, u32(1)), "TRUNCATED"],
      [frame(FrameType.cancel, 1, 2), "TRUNCATED"],
      [frame(FrameType.reject, u32(1), 99), "BAD_REASON"],
      [frame(FrameType.response, u32(1), u32(MAX_SEGMENT_BYTES + 1)), "BAD_SIZE"],
      [frame(FrameType.response, u32(1), u32(0xffffffff)), "BAD_SIZE"],
      [frame(FrameType.chunk, u32(1), u32(0)), "EMPTY_CHUNK"],
      [frame(FrameType.chunk, u32(1), u32(0xffffffff), 1), "BAD_OFFSET"], // "negative" offset
      [frame(FrameType.chunk, u32(1), u32(MAX_SEGMENT_BYTES - 1), 1, 2), "BAD_OFFSET"],
      [frame(FrameType.chunk, u32(1), 0, 0), "TRUNCATED"],
    ];
    for (const [input, reason] of cases) expect(reasonOf(() => decodeFrame(input))).toBe(reason);
  });

  it("10^5 random frames: only typed errors or well-formed messages, never reading out of bounds", () => {
    const typeByte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 8 }));
    const arb = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 64 }),
      fc.tuple(typeByte, fc.uint8Array({ maxLength: 300 })).map(([t, rest]) => frame(t, rest)),
      // Frames around the size limit: random header, cheap filler.
      fc
        .tuple(
          fc.integer({ min: MAX_FRAME_BYTES - 4, max: MAX_FRAME_BYTES + 4 }),
          typeByte,
          fc.uint8Array({ maxLength: 16 }),
          fc.integer({ min: 0, max: 255 }),
        )
        .map(([len, t, head, fill]) => {
          const f = new Uint8Array(len).fill(fill);
          f[0] = t;
          f.set(head.subarray(0, len - 1), 1);
          return f;
        }),
    );
    let ok = 0;
    let rejected = 0;
    fc.assert(
      fc.property(arb, (bytes) => {
        // Decode a view into a larger buffer: reading past the view would see 0xEE bytes.
        const backing = new Uint8Array(bytes.byteLength + 32).fill(0xee);
        backing.set(bytes, 16);
        const view = backing.subarray(16, 16 + bytes.byteLength);
        try {
          const m = decodeFrame(view);
          ok++;
          if (m.type === "chunk") {
            expect(m.data.byteOffset + m.data.byteLength).toBeLessThanOrEqual(
              view.byteOffset + view.byteLength,
            );
            expect(m.data.byteLength).toBeLessThanOrEqual(MAX_FRAME_BYTES - CHUNK_HEADER_BYTES);
          }
          if (m.type === "have") expect(m.entries.length).toBeLessThanOrEqual(MAX_LIST_ENTRIES);
        } catch (e) {
          if (!(e instanceof PeerProtocolError)) throw e;
          rejected++;
        }
      }),
      { numRuns: 100_000, seed: 4242 },
    );
    expect(ok + rejected).toBe(100_000);
    expect(rejected).toBeGreaterThan(0);
    expect(ok).toBeGreaterThan(0);
  });

  it("mutated valid frames decode or fail typed", () => {
    const valid = [
      encodeHandshake(false),
      ...encodeHave([{ segmentId: "s/1.ts", size: 100 }]),
      encodeRequest(3, "s/1.ts"),
      encodeResponse(3, 100),
      encodeChunk(3, 0, new Uint8Array(100)),
      encodeReject(3, "not-found"),
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.integer({ min: 0, max: 120 }),
        (which, flips, cut) => {
          const f = (valid[which] ?? new Uint8Array(1)).slice();
          for (const [pos, val] of flips) if (f.byteLength > 0) f[pos % f.byteLength] = val;
          const input = f.subarray(0, Math.min(f.byteLength, cut));
          try {
            decodeFrame(input);
          } catch (e) {
            if (!(e instanceof PeerProtocolError)) throw e;
          }
        },
      ),
      { numRuns: 20_000, seed: 7 },
    );
  });
});
