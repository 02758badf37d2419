/**
 * WebSocket text frames as a server sends them (RFC 6455 §5.2: FIN set, opcode 1 "text", no
 * mask, no extension bits), several messages encoded into one buffer.
 *
 * `ws` frames every message on its own: a `Buffer` for the text, another for the header and a
 * corked two-chunk write per message. A relay sends two small messages to two sockets, and that
 * per-message machinery was a large share of a relay's CPU time (bench/signaling). The server
 * therefore queues a turn's messages per connection and hands each socket one buffer built here;
 * `ws` still does the handshake, reading, ping/pong and closing.
 */

/** First header byte: FIN + opcode 1 (text). */
const FIN_TEXT = 0x81;
/** Reused per call: UTF-8 lengths of the messages being encoded. */
const lengths: number[] = [];

function headerSize(payload: number): number {
  return payload < 126 ? 2 : payload < 0x10000 ? 4 : 10;
}

/** Writes a frame header for `payload` bytes at `at`; returns where the payload starts. */
function writeHeader(buf: Buffer, at: number, payload: number): number {
  buf[at] = FIN_TEXT;
  if (payload < 126) {
    buf[at + 1] = payload;
    return at + 2;
  }
  if (payload < 0x10000) {
    buf[at + 1] = 126;
    buf.writeUInt16BE(payload, at + 2);
    return at + 4;
  }
  buf[at + 1] = 127;
  buf.writeUInt32BE(Math.floor(payload / 0x1_0000_0000), at + 2);
  buf.writeUInt32BE(payload >>> 0, at + 6);
  return at + 10;
}

/** One unmasked text frame carrying `message` (UTF-8). */
export function encodeTextFrame(message: string): Buffer {
  const payload = Buffer.byteLength(message, "utf8");
  const buf = Buffer.allocUnsafe(headerSize(payload) + payload);
  buf.write(message, writeHeader(buf, 0, payload), "utf8");
  return buf;
}

/** The text frames of `messages`, in order, back to back in one buffer (one socket write). */
export function encodeTextFrames(messages: readonly string[]): Buffer {
  let total = 0;
  for (let i = 0; i < messages.length; i++) {
    const payload = Buffer.byteLength(messages[i] ?? "", "utf8");
    lengths[i] = payload;
    total += headerSize(payload) + payload;
  }
  const buf = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < messages.length; i++) {
    const payload = lengths[i] ?? 0;
    at = writeHeader(buf, at, payload);
    at += buf.write(messages[i] ?? "", at, "utf8");
  }
  lengths.length = 0;
  return buf;
}
