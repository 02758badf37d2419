import { afterAll, describe, expect, it } from "vitest";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { WebSocket } from "ws";
import { startSignalingServer, type SignalingServer } from "../src/index.js";
import { announce, binId } from "./helpers.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** A light client: counts messages, answers every offer it gets (a real peer would). */
class SoakPeer {
  offers = 0;
  answers = 0;
  ready: Promise<void>;
  closed: Promise<void>;
  private readonly ws: WebSocket;

  constructor(
    url: string,
    readonly peerId: string,
    readonly infoHash: string,
  ) {
    this.ws = new WebSocket(url);
    this.ws.on("error", () => {});
    this.ready = new Promise((resolve) => this.ws.once("open", () => resolve()));
    this.closed = new Promise((resolve) => this.ws.once("close", () => resolve()));
    this.ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as Record<string, unknown>;
      if (m.offer !== undefined) {
        this.offers++;
        this.ws.send(
          JSON.stringify({
            action: "announce",
            info_hash: this.infoHash,
            peer_id: this.peerId,
            to_peer_id: m.peer_id,
            offer_id: m.offer_id,
            answer: { type: "answer", sdp: "a" },
          }),
        );
      } else if (m.answer !== undefined) this.answers++;
    });
  }

  announce(offers: number): void {
    this.ws.send(JSON.stringify(announce(this.infoHash, this.peerId, offers)));
  }

  stop(): void {
    this.ws.send(JSON.stringify(announce(this.infoHash, this.peerId, 0, { event: "stopped" })));
  }

  close(): Promise<void> {
    this.ws.close();
    return this.closed;
  }
}

let server: SignalingServer | undefined;
afterAll(() => server?.close());

function p99FromMetrics(text: string): { count: number; p99UpperBoundS: number } {
  const buckets = [
    ...text.matchAll(/^hivecast_signaling_relay_latency_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm),
  ].map((m) => ({
    le: m[1] === "+Inf" ? Infinity : Number(m[1]),
    n: Number(m[2]),
  }));
  const count = buckets.at(-1)?.n ?? 0;
  const p99 = buckets.find((b) => b.n >= count * 0.99)?.le ?? Infinity;
  return { count, p99UpperBoundS: p99 };
}

describe("r12 signaling soak", () => {
  it("r12 thousands of connections with churn: state and heap return after churn; p99 relay latency reported", async () => {
    server = await startSignalingServer({ port: 0, host: "127.0.0.1", logLevel: "silent" });
    const s = server;
    const SWARMS = 25;
    const PER_ROUND = 1500;
    const ROUNDS = 4;
    const hashes = Array.from({ length: SWARMS }, (_, i) => binId(`soak-${i}`));

    // A long-lived population that stays through the churn.
    const stayers = hashes.map((h, i) => new SoakPeer(s.url, binId(`stay-${i}`), h));
    await Promise.all(stayers.map((p) => p.ready));
    stayers.forEach((p) => p.announce(0));

    const round = async (r: number): Promise<void> => {
      const peers = Array.from(
        { length: PER_ROUND },
        (_, i) => new SoakPeer(s.url, binId(`r${r}-${i}`), hashes[i % SWARMS]!),
      );
      await Promise.all(peers.map((p) => p.ready));
      peers.forEach((p, i) => p.announce(i % 3));
      await expect.poll(() => s.stats().peers, { timeout: 20_000 }).toBe(PER_ROUND + SWARMS);
      await new Promise((res) => setTimeout(res, 200));
      // Half leave politely (stopped), all then disconnect.
      peers.slice(0, PER_ROUND / 2).forEach((p) => p.stop());
      await Promise.all(peers.map((p) => p.close()));
      await expect.poll(() => s.stats().connections, { timeout: 20_000 }).toBe(SWARMS);
    };

    await round(0);
    const baseline = heapAfterGc();
    for (let r = 1; r < ROUNDS; r++) await round(r);
    const after = heapAfterGc();

    const st = s.stats();
    expect(st).toMatchObject({ connections: SWARMS, swarms: SWARMS, peers: SWARMS });
    // Pending offers only remain on the long-lived connections (answered ones are gone).
    expect(st.pendingOffers).toBeLessThanOrEqual(SWARMS * 64);
    expect(st.answersRelayed).toBeGreaterThan(0);
    // No leak: heap (client and server in this process) back near the post-warm-up baseline.
    const growth = after - baseline;
    const latency = p99FromMetrics(await s.metrics());
    console.log(
      `r12 soak: ${ROUNDS}×${PER_ROUND} connections churned, offers relayed ${st.offersRelayed}, answers ${st.answersRelayed}, ` +
        `heap growth after churn ${(growth / 1024).toFixed(0)} KiB, relay p99 ≤ ${latency.p99UpperBoundS * 1000} ms over ${latency.count} relays`,
    );
    expect(growth).toBeLessThan(8 * 1024 * 1024);
    expect(latency.count).toBeGreaterThan(1000);
    await Promise.all(stayers.map((p) => p.close()));
    await expect
      .poll(() => s.stats())
      .toMatchObject({ connections: 0, swarms: 0, peers: 0, pendingOffers: 0 });
  }, 120_000);
});
