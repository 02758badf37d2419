import { createHash, createHmac, randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";

/**
 * A minimal TURN client (RFC 5766 Allocate over UDP with long-term credentials, RFC 5389
 * MESSAGE-INTEGRITY), enough to ask a real TURN server whether it accepts a username/credential
 * pair. Test-only.
 */

const MAGIC = 0x2112a442;
const ALLOCATE = 0x0003;
const ALLOCATE_OK = 0x0103;
const ALLOCATE_ERR = 0x0113;
const ATTR = {
  username: 0x0006,
  integrity: 0x0008,
  errorCode: 0x0009,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayed: 0x0016,
  transport: 0x0019,
} as const;

/** What the server answered to an Allocate. */
export type AllocateResult =
  { ok: true; relayed: string } | { ok: false; code: number; reason: string };

function attr(type: number, value: Buffer): Buffer {
  const pad = (4 - (value.length % 4)) % 4;
  const head = Buffer.alloc(4);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value, Buffer.alloc(pad)]);
}

function message(type: number, tx: Buffer, attrs: Buffer[], key?: Buffer): Buffer {
  const body = Buffer.concat(attrs);
  const head = Buffer.alloc(20);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(body.length + (key === undefined ? 0 : 24), 2);
  head.writeUInt32BE(MAGIC, 4);
  tx.copy(head, 8);
  if (key === undefined) return Buffer.concat([head, body]);
  const mac = createHmac("sha1", key)
    .update(Buffer.concat([head, body]))
    .digest();
  return Buffer.concat([head, body, attr(ATTR.integrity, mac)]);
}

interface Parsed {
  type: number;
  tx: Buffer;
  attrs: Map<number, Buffer>;
}

function parse(buf: Buffer): Parsed | null {
  if (buf.length < 20 || buf.readUInt32BE(4) !== MAGIC) return null;
  const attrs = new Map<number, Buffer>();
  const end = Math.min(buf.length, 20 + buf.readUInt16BE(2));
  for (let off = 20; off + 4 <= end;) {
    const t = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    attrs.set(t, buf.subarray(off + 4, off + 4 + len));
    off += 4 + len + ((4 - (len % 4)) % 4);
  }
  return { type: buf.readUInt16BE(0), tx: buf.subarray(8, 20), attrs };
}

/** Sends `msg` (retransmitted every 250 ms) until a response with its transaction id arrives. */
function transact(sock: Socket, port: number, host: string, msg: Buffer, timeoutMs: number) {
  const tx = msg.subarray(8, 20);
  return new Promise<Parsed>((resolve, reject) => {
    const send = (): void => sock.send(msg, port, host);
    const timer = setInterval(send, 250);
    const deadline = setTimeout(() => {
      done();
      reject(new Error(`no TURN response from ${host}:${port} in ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (data: Buffer): void => {
      const p = parse(data);
      if (p === null || !p.tx.equals(tx)) return;
      done();
      resolve(p);
    };
    const done = (): void => {
      clearInterval(timer);
      clearTimeout(deadline);
      sock.off("message", onMessage);
    };
    sock.on("message", onMessage);
    send();
  });
}

function errorOf(p: Parsed): { code: number; reason: string } {
  const v = p.attrs.get(ATTR.errorCode);
  if (v === undefined || v.length < 4) return { code: 0, reason: "no ERROR-CODE" };
  return {
    code: ((v[2] ?? 0) & 7) * 100 + (v[3] ?? 0),
    reason: v.subarray(4).toString("utf8"),
  };
}

function xorAddress(v: Buffer): string {
  const port = v.readUInt16BE(2) ^ (MAGIC >>> 16);
  const ip = [0, 1, 2, 3].map((i) => (v[4 + i] ?? 0) ^ ((MAGIC >>> (24 - 8 * i)) & 0xff));
  return `${ip.join(".")}:${port}`;
}

/**
 * An unauthenticated Allocate: the server's 401 challenge (realm, nonce), or a rejection if the
 * server does not answer in `timeoutMs`.
 */
export async function turnChallenge(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<{ realm: string; nonce: string }> {
  const sock = createSocket("udp4");
  try {
    const transport = attr(ATTR.transport, Buffer.from([17, 0, 0, 0]));
    const p = await transact(
      sock,
      port,
      host,
      message(ALLOCATE, randomBytes(12), [transport]),
      timeoutMs,
    );
    const realm = p.attrs.get(ATTR.realm)?.toString("utf8");
    const nonce = p.attrs.get(ATTR.nonce)?.toString("utf8");
    if (p.type !== ALLOCATE_ERR || errorOf(p).code !== 401 || realm === undefined || !nonce)
      throw new Error(`unexpected TURN challenge: type ${p.type} ${JSON.stringify(errorOf(p))}`);
    return { realm, nonce };
  } finally {
    sock.close();
  }
}

/** Asks a TURN server for a UDP relay with `username` / `password` (long-term credentials). */
export async function turnAllocate(
  host: string,
  port: number,
  username: string,
  password: string,
  timeoutMs = 5000,
): Promise<AllocateResult> {
  const sock = createSocket("udp4");
  try {
    const transport = attr(ATTR.transport, Buffer.from([17, 0, 0, 0]));
    const first = await transact(
      sock,
      port,
      host,
      message(ALLOCATE, randomBytes(12), [transport]),
      timeoutMs,
    );
    const realm = first.attrs.get(ATTR.realm);
    const nonce = first.attrs.get(ATTR.nonce);
    if (realm === undefined || nonce === undefined) return { ok: false, ...errorOf(first) };
    const key = createHash("md5")
      .update(`${username}:${realm.toString("utf8")}:${password}`)
      .digest();
    const attrs = [
      transport,
      attr(ATTR.username, Buffer.from(username, "utf8")),
      attr(ATTR.realm, realm),
      attr(ATTR.nonce, nonce),
    ];
    const p = await transact(
      sock,
      port,
      host,
      message(ALLOCATE, randomBytes(12), attrs, key),
      timeoutMs,
    );
    if (p.type === ALLOCATE_OK) {
      const relayed = p.attrs.get(ATTR.xorRelayed);
      return relayed === undefined
        ? { ok: false, code: 0, reason: "success without XOR-RELAYED-ADDRESS" }
        : { ok: true, relayed: xorAddress(relayed) };
    }
    return { ok: false, ...errorOf(p) };
  } finally {
    sock.close();
  }
}
