import { WebSocket } from "ws";
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { startSignalingServer, type SignalingServer } from "../src/index.js";

/** A 20-char binary string (chars 0–255), as WebTorrent sends ids. */
export function binId(seed?: string): string {
  if (seed !== undefined) return seed.padEnd(20, "_").slice(0, 20);
  return randomBytes(20).toString("latin1");
}

/** Parsed server message (tests only read fields they check). */
export type Msg = Record<string, unknown>;

/** Waiting on socket events in tests: `until` checks its condition again at every `wake()`. */
class Wakeups {
  private waiters: Array<() => void> = [];

  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `done()` holds; rejects with `timeoutMessage()` after `timeoutMs`. */
  async until(done: () => boolean, timeoutMs: number, timeoutMessage: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(timeoutMessage());
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** A raw WebSocket test client that buffers parsed messages. */
export class TestClient {
  readonly messages: Msg[] = [];
  closeCode: number | null = null;
  private readonly wakeups = new Wakeups();

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      if (!isBinary) this.messages.push(JSON.parse(String(data)) as Msg);
      this.wake();
    });
    ws.on("close", (code) => {
      this.closeCode = code;
      this.wake();
    });
    ws.on("error", () => {});
  }

  static async open(
    url: string,
    opts: ConstructorParameters<typeof WebSocket>[2] = {},
  ): Promise<TestClient> {
    const ws = new WebSocket(url, opts);
    const c = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return c;
  }

  private wake(): void {
    this.wakeups.wake();
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  /** Waits until `pred` matches a buffered message, removes and returns it. */
  async next(pred: (m: Msg) => boolean = () => true, timeoutMs = 5000): Promise<Msg> {
    let i = -1;
    await this.wakeups.until(
      () => {
        i = this.messages.findIndex(pred);
        if (i < 0 && this.closeCode !== null)
          throw new Error(`socket closed (${this.closeCode}) while waiting`);
        return i >= 0;
      },
      timeoutMs,
      () => "timeout waiting for message",
    );
    return this.messages.splice(i, 1)[0] as Msg;
  }

  /** Resolves with the close code. */
  async closed(timeoutMs = 5000): Promise<number> {
    await this.wakeups.until(
      () => this.closeCode !== null,
      timeoutMs,
      () => "timeout waiting for close",
    );
    return this.closeCode ?? -1;
  }

  /** A round trip through the server: scrape and wait for its reply (flushes earlier messages). */
  async sync(infoHash = binId("sync")): Promise<void> {
    this.send({ action: "scrape", info_hash: infoHash });
    await this.next((m) => m.action === "scrape");
  }

  close(): void {
    this.ws.close();
  }
}

/** An announce with `n` fake offers. */
export function announce(infoHash: string, peerId: string, n = 0, extra: Msg = {}): Msg {
  const offers = Array.from({ length: n }, (_, i) => ({
    offer: {
      type: "offer",
      sdp: `v=0 fake offer ${i} from ${Buffer.from(peerId, "latin1").toString("hex")}`,
    },
    offer_id: binId(),
  }));
  return {
    action: "announce",
    info_hash: infoHash,
    peer_id: peerId,
    numwant: n,
    event: "started",
    uploaded: 0,
    downloaded: 0,
    left: 1,
    offers,
    ...extra,
  };
}

/** A masked client text frame (payload < 126 bytes), to put several in one TCP write. */
export function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length >= 126) throw new Error("test frame too long");
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

/** A frame as read off the wire by `RawClient`. */
export interface RawFrame {
  opcode: number;
  payload: Buffer;
}

/**
 * A WebSocket client on a bare TCP socket: the test decides how frames are grouped into TCP
 * writes, and sees the server's frames in wire order, close frames included.
 */
export class RawClient {
  readonly frames: RawFrame[] = [];
  private buffered = Buffer.alloc(0);
  private readonly wakeups = new Wakeups();

  private constructor(readonly sock: Socket) {}

  static async open(url: string): Promise<RawClient> {
    const { port, hostname } = new URL(url);
    const sock = connect(Number(port), hostname);
    sock.on("error", () => undefined);
    await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
    const c = new RawClient(sock);
    await new Promise<void>((resolve, reject) => {
      let head = Buffer.alloc(0);
      const onData = (d: Buffer): void => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        sock.off("data", onData);
        if (head.subarray(0, 12).toString() !== "HTTP/1.1 101") {
          reject(new Error(`upgrade refused: ${head.subarray(0, end).toString()}`));
          return;
        }
        sock.on("data", (chunk: Buffer) => c.onData(chunk));
        c.onData(head.subarray(end + 4));
        resolve();
      };
      sock.on("data", onData);
      sock.write(
        `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${Buffer.from("0123456789abcdef").toString("base64")}\r\n` +
          `Sec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    return c;
  }

  /** Server frames are unmasked, under 64 KiB here: [FIN|opcode, len | 126 + u16, payload]. */
  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const b = this.buffered;
      if (b.length < 2) break;
      let len = (b[1] ?? 0) & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      }
      if (b.length < off + len) break;
      this.frames.push({ opcode: (b[0] ?? 0) & 0x0f, payload: b.subarray(off, off + len) });
      this.buffered = b.subarray(off + len);
    }
    this.wakeups.wake();
  }

  /** Writes `frames` to the server in one TCP write. */
  write(frames: Buffer[]): void {
    this.sock.write(Buffer.concat(frames));
  }

  /** Waits until `n` frames have arrived (all of them, in order). */
  async waitFrames(n: number, timeoutMs = 5000): Promise<RawFrame[]> {
    await this.wakeups.until(
      () => this.frames.length >= n,
      timeoutMs,
      () => `timeout: ${this.frames.length} of ${n} frames`,
    );
    return this.frames;
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** Whether `m` is the tracker's reply to an announce. */
export const isReply = (m: Msg): boolean => m.action === "announce" && "interval" in m;
/** Whether `m` relays another peer's offer. */
export const isOffer = (m: Msg): boolean => "offer" in m;
/** Whether `m` relays another peer's answer. */
export const isAnswer = (m: Msg): boolean => "answer" in m;

/**
 * The servers and clients one test file starts on loopback, every one closed by
 * {@link Started.closeAll} (call it in `afterEach`).
 */
export class Started {
  private readonly servers: SignalingServer[] = [];
  private readonly clients: TestClient[] = [];

  /** A signaling server on a free loopback port, silent, with `opts` on top. */
  async server(
    opts: Parameters<typeof startSignalingServer>[0] = {},
    random?: () => number,
  ): Promise<SignalingServer> {
    const s = await startSignalingServer(
      { port: 0, host: "127.0.0.1", logLevel: "silent", ...opts },
      random ? { random } : {},
    );
    this.servers.push(s);
    return s;
  }

  /** A client connected to `url`. */
  async client(url: string, opts?: Parameters<typeof TestClient.open>[1]): Promise<TestClient> {
    const c = await TestClient.open(url, opts);
    this.clients.push(c);
    return c;
  }

  /** Closes every client, then every server. */
  async closeAll(): Promise<void> {
    for (const c of this.clients.splice(0)) c.close();
    await Promise.all(this.servers.splice(0).map((s) => s.close()));
  }
}
