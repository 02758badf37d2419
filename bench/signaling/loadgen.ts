/**
 * The one load generator used against every tracker (its own process, pinned to another core).
 * It speaks the WebTorrent tracker protocol over plain `ws`: N connections, each a peer in a
 * swarm of `swarmSize`; then `update` announces carrying `offers` offers each (numwant = offers,
 * as bittorrent-tracker's client and p2p-media-loader send), each offer's relay to a random
 * other peer timed end to end (the offer's SDP carries a sequence number whose send time is kept
 * here; sender and receiver are both in this process, so one clock).
 */
import { WebSocket } from "ws";
import { performance } from "node:perf_hooks";
import { isObject, type LoadReply, type SdpKind } from "./protocol.js";

const send = (m: LoadReply): void => {
  process.send?.(m);
};

interface Peer {
  ws: WebSocket;
  announceHead: string;
}

let peers: Peer[] = [];
let seq = 0;
/** Offers per announce (and its numwant); set by `connect`. */
let offersPerAnnounce = 1;
/** JSON-escaped text appended to each offer's SDP after its `s=<seq>` line; set by `connect`. */
let sdpTail = "";

/**
 * The body of a real offer: what Chromium's `createOffer` gives for one data channel once ICE
 * gathering completes with host candidates only (716 characters with the `s=` line): the
 * smallest offer a browser viewer sends. The load generator puts its `s=<seq>` line first.
 */
const REAL_SDP_TAIL = [
  "v=0",
  "o=- 5963213075823789285 2 IN IP4 127.0.0.1",
  "t=0 0",
  "a=group:BUNDLE 0",
  "a=extmap-allow-mixed",
  "a=msid-semantic: WMS",
  "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
  "c=IN IP4 0.0.0.0",
  "a=candidate:3908674249 1 udp 2113937151 aa598c08-6893-4a30-bd2e-b45678cd86d3.local 49147 typ host generation 0 network-cost 999",
  "a=candidate:4018916985 1 udp 2113942271 a5f6f888-4e5e-4bde-b719-9003098c5589.local 52956 typ host generation 0 network-cost 999",
  "a=ice-ufrag:em60",
  "a=ice-pwd:oE/lV6R3hw69wWVM3V3WSDks",
  "a=ice-options:trickle",
  "a=fingerprint:sha-256 C2:68:1C:C6:7C:CA:B8:5A:C6:A5:F3:4A:24:8A:56:A6:FB:88:7A:48:F3:46:D9:2F:E3:CD:64:0A:27:CE:BB:1A",
  "a=setup:actpass",
  "a=mid:0",
  "a=sctp-port:5000",
  "a=max-message-size:262144",
  "",
].join("\\r\\n");
/** Send time per sequence number (ring buffer, 0 = not in flight): no allocation per relay. */
const RING = 1 << 20;
const sentAt = new Float64Array(RING);
let lastProgress = 0;
let onRelay: (latencyMs: number) => void = () => {};
const SDP_MARK = Buffer.from('"sdp":"s=');

/** 20-char ASCII id (a valid binary string) from a prefix and a number. */
function id20(prefix: string, n: number): string {
  const s = n.toString(36);
  return prefix + "0".repeat(20 - prefix.length - s.length) + s;
}

/** Cheap scan of the raw frame: only relayed offers carry our `s=<seq>` SDP. */
function onMessage(data: Buffer): void {
  const at = data.indexOf(SDP_MARK);
  if (at < 0) return;
  let s = 0;
  for (let i = at + SDP_MARK.length; i < data.length; i++) {
    const c = data[i] ?? 0x22;
    if (c < 0x30 || c > 0x39) break;
    s = s * 10 + (c - 0x30);
  }
  const slot = s % RING;
  const t = sentAt[slot] ?? 0;
  if (t === 0) return;
  sentAt[slot] = 0;
  const now = performance.now();
  lastProgress = now;
  onRelay(now - t);
}

function announceOnce(p: Peer): void {
  const now = performance.now();
  let offers = "";
  for (let k = 0; k < offersPerAnnounce; k++) {
    const s = seq++;
    sentAt[s % RING] = now;
    offers += `${k === 0 ? "" : ","}{"offer":{"type":"offer","sdp":"s=${s}${sdpTail}"},"offer_id":"${id20("o", s)}"}`;
  }
  p.ws.send(`${p.announceHead},"offers":[${offers}]}`);
}

/** Opens connections `from` … `to − 1` (added to those already open) and announces each. */
async function connect(
  url: string,
  from: number,
  to: number,
  swarmSize: number,
  offers: number,
  sdp: SdpKind,
): Promise<void> {
  offersPerAnnounce = offers;
  sdpTail = sdp === "real" ? `\\r\\n${REAL_SDP_TAIL}` : "";
  const t0 = performance.now();
  let failed = 0;
  const CONCURRENCY = 250;
  const list: Peer[] = [];
  for (let base = from; base < to; base += CONCURRENCY) {
    const batch: Array<Promise<void>> = [];
    for (let i = base; i < Math.min(to, base + CONCURRENCY); i++) {
      const infoHash = id20("swarm", Math.floor(i / swarmSize));
      const peerId = id20("peer", i);
      batch.push(
        new Promise<void>((resolve) => {
          const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
          const peer: Peer = {
            ws,
            announceHead: `{"action":"announce","info_hash":"${infoHash}","peer_id":"${peerId}","numwant":${offers},"event":"update","uploaded":0,"downloaded":0,"left":1`,
          };
          ws.on("error", () => {
            failed++;
            resolve();
          });
          ws.on("message", onMessage);
          ws.once("open", () => {
            list.push(peer);
            ws.once("message", () => resolve());
            ws.send(
              `{"action":"announce","info_hash":"${infoHash}","peer_id":"${peerId}","numwant":0,"event":"started","uploaded":0,"downloaded":0,"left":1}`,
            );
          });
        }),
      );
    }
    await Promise.all(batch);
  }
  peers = [...peers, ...list];
  send({ type: "connected", connections: list.length, ms: performance.now() - t0, failed });
}

function pick(): Peer {
  return peers[Math.floor(Math.random() * peers.length)] as Peer;
}

async function throughput(seconds: number, window: number): Promise<void> {
  sentAt.fill(0);
  let relays = 0;
  let relaysTotal = 0;
  let counting = false;
  // Keeps about `window` offers in flight: a new announce once as many offers have arrived as
  // one announce carries.
  let credit = 0;
  const announces = Math.max(1, Math.round(window / offersPerAnnounce));
  onRelay = () => {
    relaysTotal++;
    if (counting) relays++;
    if (++credit < offersPerAnnounce) return;
    credit = 0;
    announceOnce(pick());
  };
  for (let i = 0; i < announces; i++) announceOnce(pick());
  // If offers got dropped and the loop stalls for 1 s, re-prime the window.
  let lost = 0;
  lastProgress = performance.now();
  const refill = setInterval(() => {
    if (performance.now() - lastProgress < 1000) return;
    lost++;
    lastProgress = performance.now();
    for (let i = 0; i < announces; i++) announceOnce(pick());
  }, 250);
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  counting = true;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuShare = (cpu.user + cpu.system) / 1e6 / elapsed;
  clearInterval(refill);
  onRelay = () => {};
  await new Promise((r) => setTimeout(r, 500)); // drain
  send({ type: "throughput", relays, relaysTotal, seconds: elapsed, lost, cpuShare });
}

async function latency(seconds: number, rate: number): Promise<void> {
  sentAt.fill(0);
  const samples: number[] = [];
  onRelay = (ms) => samples.push(ms);
  const TICK = 10;
  const perTick = rate / offersPerAnnounce / (1000 / TICK);
  let debt = 0;
  let sent = 0;
  const timer = setInterval(() => {
    debt += perTick;
    while (debt >= 1) {
      announceOnce(pick());
      sent += offersPerAnnounce;
      debt -= 1;
    }
  }, TICK);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(timer);
  await new Promise((r) => setTimeout(r, 1000)); // let stragglers arrive
  onRelay = () => {};
  samples.sort((a, b) => a - b);
  const q = (p: number): number =>
    samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN;
  send({
    type: "latency",
    sent,
    received: samples.length,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    maxMs: samples.at(-1) ?? NaN,
  });
}

process.on("message", (m: unknown) => {
  if (!isObject(m)) return;
  if (
    m.type === "connect" &&
    typeof m.url === "string" &&
    typeof m.from === "number" &&
    typeof m.to === "number" &&
    typeof m.swarmSize === "number" &&
    typeof m.offers === "number" &&
    (m.sdp === "tiny" || m.sdp === "real")
  ) {
    void connect(m.url, m.from, m.to, m.swarmSize, m.offers, m.sdp);
  } else if (
    m.type === "throughput" &&
    typeof m.seconds === "number" &&
    typeof m.window === "number"
  ) {
    void throughput(m.seconds, m.window);
  } else if (m.type === "latency" && typeof m.seconds === "number" && typeof m.rate === "number") {
    void latency(m.seconds, m.rate);
  } else if (m.type === "close") {
    for (const p of peers) p.ws.terminate();
    send({ type: "closed" });
    setTimeout(() => process.exit(0), 100);
  }
});
