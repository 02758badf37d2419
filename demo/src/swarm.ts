import { cssVar, formatBytes, StackedAreaChart } from "./charts.js";
import type { ViewerStatsMessage } from "./embed.js";
import { readStreamKind } from "./prefs.js";

const MAX_VIEWERS = 8;

function isViewerMessage(v: unknown): v is ViewerStatsMessage {
  if (typeof v !== "object" || v === null) return false;
  const m = new Map<string, unknown>(Object.entries(v));
  if (m.get("type") !== "hivecast-demo-viewer") return false;
  return ["viewer", "http", "p2p", "uploaded", "peers", "offload", "currentTime"].every((k) => {
    const n = m.get(k);
    return typeof n === "number" && Number.isFinite(n) && n >= 0;
  });
}

function main(): void {
  const params = new URLSearchParams(location.search);
  const requested = Number.parseInt(params.get("n") ?? "4", 10);
  const n = Number.isFinite(requested) ? Math.min(MAX_VIEWERS, Math.max(1, requested)) : 4;
  const stream = readStreamKind(location.search);

  const form = document.getElementById("swarm-form");
  const count = document.getElementById("count");
  const streamSelect = document.getElementById("stream");
  const viewers = document.getElementById("viewers");
  const totals = document.getElementById("swarm-totals");
  const nLabel = document.getElementById("n-viewers");
  const canvas = document.getElementById("swarm-chart");
  const legend = document.getElementById("swarm-legend");
  if (
    !(form instanceof HTMLFormElement) ||
    !(count instanceof HTMLSelectElement) ||
    !(streamSelect instanceof HTMLSelectElement) ||
    !(canvas instanceof HTMLCanvasElement) ||
    !viewers ||
    !totals ||
    !nLabel ||
    !legend
  ) {
    return;
  }
  if (![...count.options].some((o) => o.value === String(n))) count.add(new Option(String(n)));
  count.value = String(n);
  streamSelect.value = stream;
  nLabel.textContent = String(n);
  // Changing a setting reloads the page with the new query: every viewer starts afresh.
  for (const s of [count, streamSelect]) s.addEventListener("change", () => form.requestSubmit());

  const series = [
    { label: "HTTP (all origins)", color: cssVar("--c-origin-0", "#0072b2") },
    { label: "P2P", color: cssVar("--c-p2p", "#009e73") },
  ];
  legend.replaceChildren(
    ...series.map((s) => {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = s.color;
      li.append(sw, s.label);
      return li;
    }),
  );
  const chart = new StackedAreaChart(canvas, series);

  // Viewers join one after another, as real audiences do.
  for (let i = 0; i < n; i++) {
    setTimeout(() => {
      const frame = document.createElement("iframe");
      frame.src = `./embed.html?viewer=${i}&stream=${stream}&p2p=1`;
      frame.title = `Viewer ${i}`;
      frame.allow = "autoplay";
      frame.className = "viewer";
      viewers.append(frame);
    }, i * 1000);
  }

  const latest = new Map<number, ViewerStatsMessage>();
  addEventListener("message", (e: MessageEvent<unknown>) => {
    if (e.origin !== location.origin || !isViewerMessage(e.data)) return;
    latest.set(e.data.viewer, e.data);
  });

  let prev: { t: number; http: number; p2p: number } | null = null;
  setInterval(() => {
    let http = 0;
    let p2p = 0;
    let uploaded = 0;
    for (const m of latest.values()) {
      http += m.http;
      p2p += m.p2p;
      uploaded += m.uploaded;
    }
    const t = performance.now();
    if (prev) {
      const dt = Math.max(0.25, (t - prev.t) / 1000);
      chart.push([Math.max(0, http - prev.http) / dt, Math.max(0, p2p - prev.p2p) / dt]);
    }
    prev = { t, http, p2p };
    const offload = http + p2p > 0 ? p2p / (http + p2p) : 0;
    totals.dataset.http = String(http);
    totals.dataset.p2p = String(p2p);
    totals.textContent = `${latest.size}/${n} viewers reporting · swarm offload ${(offload * 100).toFixed(1)}% · HTTP ${formatBytes(http)} · P2P ${formatBytes(p2p)} · uploaded ${formatBytes(uploaded)}`;
    canvas.setAttribute(
      "aria-label",
      `Swarm bytes over time; so far HTTP ${formatBytes(http)}, P2P ${formatBytes(p2p)}`,
    );
  }, 1000);
}

main();
