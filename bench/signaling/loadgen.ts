/**
 * The one load generator used against every tracker (its own process, pinned to another core).
 * It speaks the WebTorrent tracker protocol over plain `ws`: N connections, each a peer in a
 * swarm of `swarmSize`; then announces carrying one offer each, whose relay to a random other
 * peer is timed end to end (the offer's SDP carries the send time; sender and receiver are both
 * in this process, so one clock).
 */
import { WebSocket } from "ws";
import { performance } from "node:perf_hooks";
import { isObject, type LoadReply } from "./protocol.js";

const send = (m: LoadReply): void => {
  process.send?.(m);
};

interface Peer {
  ws: WebSocket;
  announceHead: string;
}

let peers: Peer[] = [];
let seq = 0;
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
  const s = seq++;
  sentAt[s % RING] = performance.now();
  p.ws.send(
    `${p.announceHead},"offers":[{"offer":{"type":"offer","sdp":"s=${s}"},"offer_id":"${id20("o", s)}"}]}`,
  );
}

/** Opens connections `from` … `to − 1` (added to those already open) and announces each. */
async function connect(url: string, from: number, to: number, swarmSize: number): Promise<void> {
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
            announceHead: `{"action":"announce","info_hash":"${infoHash}","peer_id":"${peerId}","numwant":1,"event":"update","uploaded":0,"downloaded":0,"left":1`,
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
  onRelay = () => {
    relaysTotal++;
    if (counting) relays++;
    announceOnce(pick());
  };
  for (let i = 0; i < window; i++) announceOnce(pick());
  // If offers got dropped and the loop stalls for 1 s, re-prime the window.
  let lost = 0;
  lastProgress = performance.now();
  const refill = setInterval(() => {
    if (performance.now() - lastProgress < 1000) return;
    lost++;
    lastProgress = performance.now();
    for (let i = 0; i < window; i++) announceOnce(pick());
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
  const perTick = rate / (1000 / TICK);
  let debt = 0;
  let sent = 0;
  const timer = setInterval(() => {
    debt += perTick;
    while (debt >= 1) {
      announceOnce(pick());
      sent++;
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
    typeof m.swarmSize === "number"
  ) {
    void connect(m.url, m.from, m.to, m.swarmSize);
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
