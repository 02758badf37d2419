import { WebSocket } from "ws";
import { randomBytes } from "node:crypto";

/** A 20-char binary string (chars 0–255), as WebTorrent sends ids. */
export function binId(seed?: string): string {
  if (seed !== undefined) return seed.padEnd(20, "_").slice(0, 20);
  return randomBytes(20).toString("latin1");
}

/** Parsed server message (tests only read fields they check). */
export type Msg = Record<string, unknown>;

/** A raw WebSocket test client that buffers parsed messages. */
export class TestClient {
  readonly messages: Msg[] = [];
  closeCode: number | null = null;
  private waiters: Array<() => void> = [];

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
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  /** Waits until `pred` matches a buffered message, removes and returns it. */
  async next(pred: (m: Msg) => boolean = () => true, timeoutMs = 5000): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(pred);
      if (i >= 0) return this.messages.splice(i, 1)[0] as Msg;
      if (this.closeCode !== null)
        throw new Error(`socket closed (${this.closeCode}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timeout waiting for message");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves with the close code. */
  async closed(timeoutMs = 5000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.closeCode === null) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timeout waiting for close");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.closeCode;
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
