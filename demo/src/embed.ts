import { loadDemoConfig } from "./config.js";
import { formatBytes } from "./charts.js";
import { createPlayer } from "./player.js";
import { readP2PConsent, readStreamKind } from "./prefs.js";

/** Message an embedded viewer posts to the swarm page once a second. */
export interface ViewerStatsMessage {
  type: "hivecast-demo-viewer";
  viewer: number;
  http: number;
  p2p: number;
  uploaded: number;
  peers: number;
  offload: number;
  currentTime: number;
}

async function main(): Promise<void> {
  const video = document.getElementById("video");
  const line = document.getElementById("line");
  if (!(video instanceof HTMLVideoElement) || !line) return;
  const params = new URLSearchParams(location.search);
  const viewer = Number.parseInt(params.get("viewer") ?? "0", 10) || 0;
  let config;
  try {
    config = await loadDemoConfig();
  } catch (e) {
    line.textContent = e instanceof Error ? e.message : String(e);
    return;
  }
  const player = createPlayer({
    config,
    video,
    stream: readStreamKind(location.search),
    p2p: readP2PConsent(location.search),
    onLog: () => {},
  });
  setInterval(() => {
    const s = player.sample();
    const { stats } = s;
    const head = document.createElement("strong");
    head.textContent = `#${viewer} · offload ${(stats.offload * 100).toFixed(0)}% · peers ${stats.peers}`;
    const sub = document.createElement("span");
    sub.textContent = `http ${formatBytes(stats.bytes.http)} · p2p ${formatBytes(stats.bytes.p2p)} · up ${formatBytes(stats.uploadedBytes)}`;
    line.replaceChildren(head, sub);
    const msg: ViewerStatsMessage = {
      type: "hivecast-demo-viewer",
      viewer,
      http: stats.bytes.http,
      p2p: stats.bytes.p2p,
      uploaded: stats.uploadedBytes,
      peers: stats.peers,
      offload: stats.offload,
      currentTime: s.currentTime,
    };
    if (window.parent !== window) window.parent.postMessage(msg, location.origin);
  }, 1000);
  addEventListener("pagehide", () => player.destroy());
}

void main();
