/**
 * The NAT lab's player page (hls.js + Hivecast script-tag build) and the one function that
 * builds the Hivecast configuration the lab's pages get.
 */
import type { Page } from "@playwright/test";

/** Where a lab page plays from and how it reaches peers. */
export interface LabPlayback {
  origins: string[];
  tracker: string;
  /**
   * Where the SDK fetches its STUN/TURN servers: the lab's signaling server `GET /ice`
   * (`p2p.iceServersUrl`), as a deployment would.
   */
  iceServersUrl?: string;
  /** Explicit STUN/TURN servers of the lab (`p2p.iceServers`; never a server outside it). */
  iceServers?: RTCIceServer[];
  swarmId?: string;
}

/**
 * The Hivecast configuration of a lab page. The only place that says how ICE servers reach the
 * SDK: `p2p.iceServersUrl` (the signaling server's `/ice`) and/or `p2p.iceServers`.
 */
export function hivecastConfig(p: LabPlayback): Record<string, unknown> {
  return {
    origins: p.origins,
    p2p: {
      enabled: true,
      trackers: [p.tracker],
      ...(p.swarmId ? { swarmId: p.swarmId } : {}),
      ...(p.iceServersUrl ? { iceServersUrl: p.iceServersUrl } : {}),
      ...(p.iceServers ? { iceServers: p.iceServers } : {}),
      rtcConfig: { iceServers: [] },
    },
  };
}

/** Player page: `?cfg=<JSON {src, hivecast}>`; records stalls, integrity failures, errors. */
export const PLAYER_PAGE = `<!doctype html><meta charset="utf-8">
<video id="v" muted playsinline></video>
<script src="/hls.js"></script>
<script src="/hivecast.iife.js"></script>
<script>
  const cfg = JSON.parse(new URLSearchParams(location.search).get("cfg"));
  const rec = (window.rec = {
    fatal: [], integrity: 0, peers: 0, playing: false, stalls: 0, stallMs: 0, maxStallMs: 0,
    waitingSince: null, warnings: [], peerLog: [],
  });
  const t = () => Math.round(performance.now());
  const note = (s) => { if (rec.peerLog.length < 100) rec.peerLog.push(t() + " " + s); };
  const hivecast = (window.hivecast = new Hivecast(cfg.hivecast));
  hivecast.on("peerConnected", (e) => { rec.peers++; note("up " + e.peerId + " " + (e.linkType || "?")); });
  hivecast.on("peerDisconnected", (e) => note("down " + e.peerId + " " + e.reason));
  hivecast.on("peerBanned", (e) => note("banned " + e.peerId + " " + e.reason));
  hivecast.on("integrityFailure", () => { rec.integrity++; });
  hivecast.on("warning", (w) => {
    if (rec.warnings.length < 20) rec.warnings.push(String(w.kind));
    note("warning " + w.kind + ": " + String(w.message).slice(0, 160));
  });
  const hls = new Hls(hivecast.hlsConfig());
  hivecast.attach(hls);
  hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) rec.fatal.push(d.details); });
  const video = document.getElementById("v");
  video.addEventListener("playing", () => {
    rec.playing = true;
    if (rec.waitingSince !== null) {
      const ms = performance.now() - rec.waitingSince;
      rec.stallMs += ms;
      rec.maxStallMs = Math.max(rec.maxStallMs, ms);
      rec.waitingSince = null;
    }
  });
  video.addEventListener("waiting", () => {
    if (rec.playing && rec.waitingSince === null) { rec.stalls++; rec.waitingSince = performance.now(); }
  });
  hls.loadSource(cfg.src);
  hls.attachMedia(video);
  video.play().catch(() => {});
</script>`;

/** What the player page reports. */
export interface PlayerState {
  currentTime: number;
  playing: boolean;
  stalls: number;
  /** Stalled ms so far, including a stall still going on. */
  stallMs: number;
  maxStallMs: number;
  integrity: number;
  peers: number;
  fatal: string[];
  warnings: string[];
  /** Peer events and warnings, "ms kind detail", for diagnosing a failed link. */
  peerLog: string[];
  bytes: { http: number; p2p: number };
}

/** Reads the page's playback state and Hivecast's byte counters. */
export function playerState(page: Page): Promise<PlayerState> {
  return page.evaluate(() => {
    const w = window as unknown as {
      rec: {
        playing: boolean;
        stalls: number;
        stallMs: number;
        maxStallMs: number;
        waitingSince: number | null;
        integrity: number;
        peers: number;
        fatal: string[];
        warnings: string[];
        peerLog: string[];
      };
      hivecast: { stats: { bytes: { http: number; p2p: number } } };
    };
    const r = w.rec;
    const ongoing = r.waitingSince === null ? 0 : performance.now() - r.waitingSince;
    const s = w.hivecast.stats;
    return {
      currentTime: document.querySelector("video")?.currentTime ?? 0,
      playing: r.playing,
      stalls: r.stalls,
      stallMs: r.stallMs + ongoing,
      maxStallMs: Math.max(r.maxStallMs, ongoing),
      integrity: r.integrity,
      peers: r.peers,
      fatal: r.fatal,
      warnings: r.warnings,
      peerLog: r.peerLog,
      bytes: { http: s.bytes.http, p2p: s.bytes.p2p },
    };
  });
}
