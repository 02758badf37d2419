/**
 * The Hivecast peer protocol: binary frames on an ordered, reliable data channel.
 *
 * Every frame starts with a one-byte type. Integers are big-endian. A frame is at most
 * {@link MAX_FRAME_BYTES}; control frames must be consumed exactly (no trailing bytes), every
 * length is checked against what remains before it is read, and segment ids must be valid UTF-8.
 *
 * ```
 * HANDSHAKE 0x01  'H' 'V' 'C' version:u8 flags:u8
 * HAVE      0x02  count:u16 { idLen:u16 id size:u32 } × count
 * LOST      0x03  count:u16 { idLen:u16 id } × count
 * REQUEST   0x04  requestId:u32 idLen:u16 id
 * CANCEL    0x05  requestId:u32
 * REJECT    0x06  requestId:u32 reason:u8
 * RESPONSE  0x07  requestId:u32 size:u32          (the transfer of `size` bytes starts)
 * CHUNK     0x08  requestId:u32 offset:u32 payload (1…MAX_CHUNK_PAYLOAD bytes)
 * ```
 */
import { HivecastError } from "../errors.js";

/**
 * Current protocol version, sent in the handshake and part of the tracker info hash, so viewers
 * of different versions do not meet. Version 2 raised the frame limit from 16 to 64 KiB.
 */
export const PROTOCOL_VERSION = 2;
/**
 * Largest frame on the wire, chunks included: 64 KiB, the `max-message-size` every data channel
 * accepts when the other side's SDP does not say (RFC 8841), so no negotiation is needed.
 * Fewer, larger messages cost the receiving page's main thread fewer message events.
 */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Header bytes of a CHUNK frame. */
export const CHUNK_HEADER_BYTES = 9;
/** Largest payload of one CHUNK frame. */
export const MAX_CHUNK_PAYLOAD = MAX_FRAME_BYTES - CHUNK_HEADER_BYTES;
/** Longest segment id, in UTF-8 bytes. */
export const MAX_SEGMENT_ID_BYTES = 256;
/** Largest segment a peer may announce or send. */
export const MAX_SEGMENT_BYTES = 32 * 1024 * 1024;
/** Most entries in one HAVE or LOST frame. */
export const MAX_LIST_ENTRIES = 256;

const MAGIC = [0x48, 0x56, 0x43] as const; // "HVC"
const FLAG_DOWNLOAD_ONLY = 0x01;
/** Handshake flag bits this version defines; any other bit set is refused (`BAD_FLAGS`). */
const KNOWN_FLAGS = FLAG_DOWNLOAD_ONLY;

/** Frame type bytes. */
export const FrameType = {
  handshake: 0x01,
  have: 0x02,
  lost: 0x03,
  request: 0x04,
  cancel: 0x05,
  reject: 0x06,
  response: 0x07,
  chunk: 0x08,
} as const;

/** Why a peer refused a request. */
export type RejectReason = "not-found" | "busy" | "not-serving";
const REJECT_CODES: Readonly<Record<RejectReason, number>> = {
  "not-found": 1,
  busy: 2,
  "not-serving": 3,
};

/** One HAVE entry. */
export interface HaveEntry {
  segmentId: string;
  /** Size of the segment in bytes. */
  size: number;
}

/** A decoded frame. */
export type PeerMessage =
  | { type: "handshake"; version: number; downloadOnly: boolean }
  | { type: "have"; entries: HaveEntry[] }
  | { type: "lost"; segmentIds: string[] }
  | { type: "request"; requestId: number; segmentId: string }
  | { type: "cancel"; requestId: number }
  | { type: "reject"; requestId: number; reason: RejectReason }
  | { type: "response"; requestId: number; size: number }
  /** `data` is a view into the received frame: copy it before the frame is reused. */
  | { type: "chunk"; requestId: number; offset: number; data: Uint8Array };

/** What went wrong in a frame or in the conversation. */
export type PeerProtocolErrorReason =
  | "NOT_BINARY"
  | "EMPTY_FRAME"
  | "FRAME_TOO_LARGE"
  | "TRUNCATED"
  | "TRAILING_BYTES"
  | "UNKNOWN_TYPE"
  | "BAD_MAGIC"
  | "UNSUPPORTED_VERSION"
  | "BAD_SEGMENT_ID"
  | "BAD_COUNT"
  | "BAD_SIZE"
  | "BAD_OFFSET"
  | "BAD_REASON"
  | "EMPTY_CHUNK"
  | "UNEXPECTED_MESSAGE"
  | "UNEXPECTED_CHUNK"
  | "SIZE_MISMATCH"
  | "TOO_MANY_HAVES"
  | "TOO_MANY_REQUESTS"
  | "BAD_FLAGS"
  | "DUPLICATE_ID"
  | "FLOOD";

/** A frame or message sequence broke the peer protocol. The connection is dropped. */
export class PeerProtocolError extends HivecastError {
  /** Which rule was broken. */
  readonly reason: PeerProtocolErrorReason;

  constructor(reason: PeerProtocolErrorReason, message: string) {
    super("PEER_PROTOCOL", message, { details: { reason } });
    this.reason = reason;
  }
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Reads a frame with bounds checks; every overrun is a typed error. */
class Reader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.byteLength - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.remaining < n)
      throw new PeerProtocolError("TRUNCATED", `frame truncated reading ${what}`);
  }

  u8(what: string): number {
    this.need(1, what);
    const v = this.view.getUint8(this.pos);
    this.pos += 1;
    return v;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  bytesOf(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  rest(): Uint8Array {
    const v = this.bytes.subarray(this.pos);
    this.pos = this.bytes.byteLength;
    return v;
  }

  segmentId(): string {
    const len = this.u16("segment id length");
    if (len === 0 || len > MAX_SEGMENT_ID_BYTES)
      throw new PeerProtocolError("BAD_SEGMENT_ID", `segment id length ${len} out of range`);
    const raw = this.bytesOf(len, "segment id");
    try {
      return utf8Decoder.decode(raw);
    } catch {
      throw new PeerProtocolError("BAD_SEGMENT_ID", "segment id is not valid UTF-8");
    }
  }

  size(): number {
    const size = this.u32("size");
    if (size === 0 || size > MAX_SEGMENT_BYTES)
      throw new PeerProtocolError("BAD_SIZE", `segment size ${size} out of range`);
    return size;
  }

  count(): number {
    const n = this.u16("count");
    if (n === 0 || n > MAX_LIST_ENTRIES)
      throw new PeerProtocolError("BAD_COUNT", `list of ${n} entries out of range`);
    return n;
  }

  end(): void {
    if (this.remaining !== 0)
      throw new PeerProtocolError("TRAILING_BYTES", `${this.remaining} unexpected trailing bytes`);
  }
}

/**
 * Decodes one frame. Throws only {@link PeerProtocolError}; never reads outside `frame`.
 * Accepts anything as input so data-channel payloads can be passed straight in.
 */
export function decodeFrame(frame: unknown): PeerMessage {
  if (!(frame instanceof Uint8Array))
    throw new PeerProtocolError("NOT_BINARY", "peer frames must be binary");
  if (frame.byteLength === 0) throw new PeerProtocolError("EMPTY_FRAME", "empty frame");
  if (frame.byteLength > MAX_FRAME_BYTES)
    throw new PeerProtocolError("FRAME_TOO_LARGE", `frame of ${frame.byteLength} bytes`);
  const r = new Reader(frame);
  const type = r.u8("type");
  switch (type) {
    case FrameType.handshake: {
      const magic = r.bytesOf(3, "magic");
      if (magic[0] !== MAGIC[0] || magic[1] !== MAGIC[1] || magic[2] !== MAGIC[2])
        throw new PeerProtocolError("BAD_MAGIC", "not a Hivecast handshake");
      const version = r.u8("version");
      if (version !== PROTOCOL_VERSION)
        throw new PeerProtocolError("UNSUPPORTED_VERSION", `peer speaks version ${version}`);
      const flags = r.u8("flags");
      if ((flags & ~KNOWN_FLAGS) !== 0)
        throw new PeerProtocolError("BAD_FLAGS", `unknown handshake flags 0x${flags.toString(16)}`);
      r.end();
      return { type: "handshake", version, downloadOnly: (flags & FLAG_DOWNLOAD_ONLY) !== 0 };
    }
    case FrameType.have: {
      const n = r.count();
      const entries: HaveEntry[] = [];
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        const segmentId = r.segmentId();
        if (seen.has(segmentId))
          throw new PeerProtocolError("DUPLICATE_ID", "segment listed twice in one HAVE");
        seen.add(segmentId);
        entries.push({ segmentId, size: r.size() });
      }
      r.end();
      return { type: "have", entries };
    }
    case FrameType.lost: {
      const n = r.count();
      const segmentIds: string[] = [];
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        const segmentId = r.segmentId();
        if (seen.has(segmentId))
          throw new PeerProtocolError("DUPLICATE_ID", "segment listed twice in one LOST");
        seen.add(segmentId);
        segmentIds.push(segmentId);
      }
      r.end();
      return { type: "lost", segmentIds };
    }
    case FrameType.request: {
      const requestId = r.u32("request id");
      const segmentId = r.segmentId();
      r.end();
      return { type: "request", requestId, segmentId };
    }
    case FrameType.cancel: {
      const requestId = r.u32("request id");
      r.end();
      return { type: "cancel", requestId };
    }
    case FrameType.reject: {
      const requestId = r.u32("request id");
      const code = r.u8("reason");
      const reason = (Object.keys(REJECT_CODES) as RejectReason[]).find(
        (k) => REJECT_CODES[k] === code,
      );
      if (reason === undefined)
        throw new PeerProtocolError("BAD_REASON", `unknown reject reason ${code}`);
      r.end();
      return { type: "reject", requestId, reason };
    }
    case FrameType.response: {
      const requestId = r.u32("request id");
      const size = r.size();
      r.end();
      return { type: "response", requestId, size };
    }
    case FrameType.chunk: {
      const requestId = r.u32("request id");
      const offset = r.u32("offset");
      const data = r.rest();
      if (data.byteLength === 0)
        throw new PeerProtocolError("EMPTY_CHUNK", "chunk without payload");
      if (offset + data.byteLength > MAX_SEGMENT_BYTES)
        throw new PeerProtocolError("BAD_OFFSET", `chunk ends past ${MAX_SEGMENT_BYTES}`);
      return { type: "chunk", requestId, offset, data };
    }
    default:
      throw new PeerProtocolError("UNKNOWN_TYPE", `unknown frame type ${type}`);
  }
}

/** UTF-8 bytes of a segment id, or undefined when it cannot travel in a frame. */
export function encodeSegmentId(segmentId: string): Uint8Array | undefined {
  const b = utf8Encoder.encode(segmentId);
  return b.byteLength === 0 || b.byteLength > MAX_SEGMENT_ID_BYTES ? undefined : b;
}

/** Whether a segment id can be shared over the peer protocol. */
export function isShareableSegmentId(segmentId: string): boolean {
  return encodeSegmentId(segmentId) !== undefined;
}

function requireId(segmentId: string): Uint8Array {
  const b = encodeSegmentId(segmentId);
  if (!b) throw new PeerProtocolError("BAD_SEGMENT_ID", "segment id cannot be encoded");
  return b;
}

function checkU32(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new PeerProtocolError("BAD_OFFSET", `${what} ${n} is not a u32`);
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size <= 0 || size > MAX_SEGMENT_BYTES)
    throw new PeerProtocolError("BAD_SIZE", `segment size ${size} out of range`);
}

/** Encodes the handshake. */
export function encodeHandshake(downloadOnly: boolean): Uint8Array {
  return Uint8Array.of(
    FrameType.handshake,
    ...MAGIC,
    PROTOCOL_VERSION,
    downloadOnly ? FLAG_DOWNLOAD_ONLY : 0,
  );
}

/** Packs entries into as many frames as needed (each ≤ MAX_FRAME_BYTES and ≤ MAX_LIST_ENTRIES). */
function encodeList<T>(
  type: number,
  items: readonly T[],
  encodeItem: (item: T) => Uint8Array,
): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  let bytes = 3;
  const flush = (): void => {
    if (parts.length === 0) return;
    const out = new Uint8Array(bytes);
    out[0] = type;
    new DataView(out.buffer).setUint16(1, parts.length);
    let p = 3;
    for (const part of parts) {
      out.set(part, p);
      p += part.byteLength;
    }
    frames.push(out);
    parts = [];
    bytes = 3;
  };
  for (const item of items) {
    const part = encodeItem(item);
    if (bytes + part.byteLength > MAX_FRAME_BYTES || parts.length === MAX_LIST_ENTRIES) flush();
    parts.push(part);
    bytes += part.byteLength;
  }
  flush();
  return frames;
}

/** Encodes HAVE frames for `entries` (none when empty). */
export function encodeHave(entries: readonly HaveEntry[]): Uint8Array[] {
  return encodeList(FrameType.have, entries, (e) => {
    const id = requireId(e.segmentId);
    checkSize(e.size);
    const part = new Uint8Array(2 + id.byteLength + 4);
    const v = new DataView(part.buffer);
    v.setUint16(0, id.byteLength);
    part.set(id, 2);
    v.setUint32(2 + id.byteLength, e.size);
    return part;
  });
}

/** Encodes LOST frames for `segmentIds` (none when empty). */
export function encodeLost(segmentIds: readonly string[]): Uint8Array[] {
  return encodeList(FrameType.lost, segmentIds, (s) => {
    const id = requireId(s);
    const part = new Uint8Array(2 + id.byteLength);
    new DataView(part.buffer).setUint16(0, id.byteLength);
    part.set(id, 2);
    return part;
  });
}

/** Encodes a REQUEST frame. */
export function encodeRequest(requestId: number, segmentId: string): Uint8Array {
  checkU32(requestId, "request id");
  const id = requireId(segmentId);
  const out = new Uint8Array(7 + id.byteLength);
  const v = new DataView(out.buffer);
  out[0] = FrameType.request;
  v.setUint32(1, requestId);
  v.setUint16(5, id.byteLength);
  out.set(id, 7);
  return out;
}

/** Encodes a CANCEL frame. */
export function encodeCancel(requestId: number): Uint8Array {
  checkU32(requestId, "request id");
  const out = new Uint8Array(5);
  out[0] = FrameType.cancel;
  new DataView(out.buffer).setUint32(1, requestId);
  return out;
}

/** Encodes a REJECT frame. */
export function encodeReject(requestId: number, reason: RejectReason): Uint8Array {
  checkU32(requestId, "request id");
  const out = new Uint8Array(6);
  out[0] = FrameType.reject;
  new DataView(out.buffer).setUint32(1, requestId);
  out[5] = REJECT_CODES[reason];
  return out;
}

/** Encodes a RESPONSE frame announcing a transfer of `size` bytes. */
export function encodeResponse(requestId: number, size: number): Uint8Array {
  checkU32(requestId, "request id");
  checkSize(size);
  const out = new Uint8Array(9);
  const v = new DataView(out.buffer);
  out[0] = FrameType.response;
  v.setUint32(1, requestId);
  v.setUint32(5, size);
  return out;
}

/** Encodes a CHUNK frame; `data` must be 1…MAX_CHUNK_PAYLOAD bytes. */
export function encodeChunk(requestId: number, offset: number, data: Uint8Array): Uint8Array {
  checkU32(requestId, "request id");
  checkU32(offset, "offset");
  if (data.byteLength === 0 || data.byteLength > MAX_CHUNK_PAYLOAD)
    throw new PeerProtocolError("FRAME_TOO_LARGE", `chunk payload of ${data.byteLength} bytes`);
  if (offset + data.byteLength > MAX_SEGMENT_BYTES)
    throw new PeerProtocolError("BAD_OFFSET", "chunk ends past the largest segment");
  const out = new Uint8Array(CHUNK_HEADER_BYTES + data.byteLength);
  const v = new DataView(out.buffer);
  out[0] = FrameType.chunk;
  v.setUint32(1, requestId);
  v.setUint32(5, offset);
  out.set(data, CHUNK_HEADER_BYTES);
  return out;
}
