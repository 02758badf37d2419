/**
 * Peer-connection observation for the NAT lab, independent of the library under test: an init
 * script wraps the page's `RTCPeerConnection` so every connection any library makes is
 * recorded, and polls `getStats()` each second (a closed connection keeps its last poll). From
 * that: links attempted / up, setup time, the selected candidate pair's types (host / srflx /
 * prflx / relay) and bytes, and which lab router the remote side sits behind.
 */
import type { Page } from "@playwright/test";

/** What one `RTCPeerConnection` did, as the init script records it. */
export interface PcRecord {
  /** ms since navigation when the connection was created. */
  createdMs: number;
  /** ms since navigation when it first reached `connected`, or null. */
  connectedMs: number | null;
  /** Last `connectionState`. */
  state: string;
  /** ICE server URLs it was configured with. */
  iceUrls: string[];
  /** Selected pair: local / remote candidate types, e.g. "srflx" / "relay"; null before. */
  localType: string | null;
  remoteType: string | null;
  /** Protocol of the local relay candidate (udp / tcp) when relayed. */
  relayProtocol: string | null;
  localAddr: string | null;
  remoteAddr: string | null;
  /** Addresses of all remote candidates seen (to find the remote router). */
  remoteCandidateAddrs: string[];
  bytesSent: number;
  bytesReceived: number;
}

/** Runs in the page before any other script (Playwright `addInitScript`). */
export const PC_INIT_SCRIPT = String.raw`(() => {
  const Orig = window.RTCPeerConnection;
  if (!Orig || window.__pcs) return;
  const pcs = (window.__pcs = []);
  const poll = async (r) => {
    if (r.pc.signalingState === "closed") return;
    let report;
    try { report = await r.pc.getStats(); } catch { return; }
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    let pair = null;
    report.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId) || pair;
    });
    if (!pair) report.forEach((s) => { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s; });
    const remotes = new Set(r.rec.remoteCandidateAddrs);
    report.forEach((s) => { if (s.type === "remote-candidate" && s.address) remotes.add(s.address); });
    r.rec.remoteCandidateAddrs = [...remotes];
    if (pair) {
      const l = byId.get(pair.localCandidateId) || {};
      const rc = byId.get(pair.remoteCandidateId) || {};
      r.rec.localType = l.candidateType || null;
      r.rec.remoteType = rc.candidateType || null;
      r.rec.relayProtocol = l.relayProtocol || null;
      r.rec.localAddr = l.address ? l.address + ":" + l.port : null;
      r.rec.remoteAddr = rc.address ? rc.address + ":" + rc.port : null;
      r.rec.bytesSent = pair.bytesSent || 0;
      r.rec.bytesReceived = pair.bytesReceived || 0;
    }
  };
  class PC extends Orig {
    constructor(cfg, ...rest) {
      super(cfg, ...rest);
      const urls = [];
      for (const s of (cfg && cfg.iceServers) || []) urls.push(...[].concat(s.urls || []));
      const rec = {
        createdMs: performance.now(), connectedMs: null, state: "new", iceUrls: urls,
        localType: null, remoteType: null, relayProtocol: null, localAddr: null, remoteAddr: null,
        remoteCandidateAddrs: [], bytesSent: 0, bytesReceived: 0,
      };
      const r = { pc: this, rec };
      pcs.push(r);
      this.addEventListener("connectionstatechange", () => {
        rec.state = this.connectionState;
        if (this.connectionState === "connected" && rec.connectedMs === null) {
          rec.connectedMs = performance.now();
          void poll(r);
        }
      });
      const close = this.close.bind(this);
      this.close = () => { if (rec.state !== "failed") rec.state = "closed"; return close(); };
    }
  }
  window.RTCPeerConnection = PC;
  setInterval(() => { for (const r of pcs) void poll(r); }, 1000);
  window.__pcReport = async () => {
    await Promise.all(pcs.map(poll));
    return pcs.map((r) => r.rec);
  };
})();`;

/** Installs {@link PC_INIT_SCRIPT} on a page (before it navigates). */
export async function observePeerConnections(page: Page): Promise<void> {
  await page.addInitScript(PC_INIT_SCRIPT);
}

function str(x: unknown): string | null {
  return typeof x === "string" ? x : null;
}
function num(x: unknown): number {
  return typeof x === "number" && Number.isFinite(x) ? x : 0;
}

/** Validates what `__pcReport()` returned. */
export function parsePcRecords(x: unknown): PcRecord[] {
  if (!Array.isArray(x)) return [];
  return x.map((r: unknown): PcRecord => {
    const o = (typeof r === "object" && r !== null ? r : {}) as Record<string, unknown>;
    const strs = (v: unknown): string[] =>
      Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
    return {
      createdMs: num(o.createdMs),
      connectedMs: typeof o.connectedMs === "number" ? o.connectedMs : null,
      state: str(o.state) ?? "unknown",
      iceUrls: strs(o.iceUrls),
      localType: str(o.localType),
      remoteType: str(o.remoteType),
      relayProtocol: str(o.relayProtocol),
      localAddr: str(o.localAddr),
      remoteAddr: str(o.remoteAddr),
      remoteCandidateAddrs: strs(o.remoteCandidateAddrs),
      bytesSent: num(o.bytesSent),
      bytesReceived: num(o.bytesReceived),
    };
  });
}

/** The page's peer connections so far (empty if the init script did not run). */
export async function peerConnections(page: Page): Promise<PcRecord[]> {
  const raw: unknown = await page.evaluate(async () => {
    const w = window as unknown as { __pcReport?: () => Promise<unknown> };
    return w.__pcReport ? await w.__pcReport() : [];
  });
  return parsePcRecords(raw);
}

/** True when either end of the selected pair is a TURN relay. */
export const isRelayed = (r: PcRecord): boolean =>
  r.localType === "relay" || r.remoteType === "relay";

/** "host", "srflx", "prflx" or "relay": the most indirect type of the selected pair. */
export function linkType(r: PcRecord): string | null {
  if (r.localType === null || r.remoteType === null) return null;
  if (isRelayed(r)) return "relay";
  for (const t of ["prflx", "srflx", "host"]) if (r.localType === t || r.remoteType === t) return t;
  return r.localType;
}
