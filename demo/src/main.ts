import type { HivecastStats, OriginState, OriginStats } from "@hivecast/core";
import { loadDemoConfig, type DemoConfig } from "./config.js";
import {
  cssVar,
  formatBytes,
  formatRate,
  Sparkline,
  StackedAreaChart,
  type Series,
} from "./charts.js";
import { applyFault, FAULT_PRESETS, readFaults } from "./faults.js";
import {
  createPlayer,
  type DemoPlayer,
  type LogEntry,
  type PlayerSample,
  type StreamKind,
} from "./player.js";
import { readP2PConsent, readStreamKind, writeP2PConsent } from "./prefs.js";

const $ = <T extends HTMLElement>(id: string, type: new () => T): T => {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`#${id} missing from the page`);
  return el;
};

const ORIGIN_COLORS = [
  "--c-origin-0",
  "--c-origin-1",
  "--c-origin-2",
  "--c-origin-3",
  "--c-origin-4",
];
const ORIGIN_FALLBACK = ["#0072b2", "#e69f00", "#cc79a7", "#56b4e9", "#d55e00"];
const LOG_KEEP = 50;
/** Samples (seconds) the byte rates are averaged over. */
const RATE_WINDOW = 3;

/** How long a failure keeps a breaker-closed origin shown as degraded. */
const DEGRADED_WINDOW_MS = 20_000;

/** What the origin badge shows: the breaker state, or "degraded" when it failed recently. */
type DisplayState = OriginState | "degraded" | "idle";

const STATE_HELP: Record<DisplayState, string> = {
  healthy: "circuit breaker closed, no recent failures",
  degraded: "circuit breaker closed, but requests failed in the last 20 s",
  open: "circuit breaker open: the player avoids this origin until a probe succeeds",
  "half-open": "circuit breaker half-open: a probe request decides",
  idle: "not used yet",
};

/**
 * The engine may simply route around a failing origin before its breaker opens (the breaker
 * needs consecutive failures), so recent failures are shown too, or a dead origin would look
 * healthy.
 */
function displayState(o: OriginStats | undefined, recentFailures: number): DisplayState {
  if (!o) return "idle";
  if (o.state === "healthy" && recentFailures > 0) return "degraded";
  return o.state;
}

/** Per-origin DOM handles. */
interface OriginView {
  root: HTMLElement;
  badge: HTMLElement;
  throughput: HTMLElement;
  ttfb: HTMLElement;
  bytes: HTMLElement;
  requests: HTMLElement;
  faults: HTMLElement;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function hostOf(u: string): string {
  try {
    return new URL(u).host;
  } catch {
    return u;
  }
}

/** Finds an origin's stats whatever trailing-slash spelling the engine used as key. */
function originStats(stats: HivecastStats, origin: string): OriginStats | undefined {
  const direct = stats.byOrigin[origin];
  if (direct) return direct;
  const trimmed = origin.replace(/\/+$/, "");
  for (const [k, v] of Object.entries(stats.byOrigin))
    if (k.replace(/\/+$/, "") === trimmed) return v;
  return undefined;
}

class Dashboard {
  private readonly series: Series[];
  private readonly bytesChart: StackedAreaChart;
  private readonly sparks: Record<"offload" | "peers" | "buffer" | "latency", Sparkline>;
  private readonly originViews: OriginView[] = [];
  private readonly log: LogEntry[] = [];
  private logDirty = false;
  /** Per origin: recent (time, cumulative failures) marks, to spot an origin failing now. */
  private failureMarks: { t: number; failures: number }[][] = [];
  /** Recent samples; rates are averaged over the window they span. */
  private history: PlayerSample[] = [];

  constructor(private readonly config: DemoConfig) {
    this.series = [
      ...config.origins.map((o, i) => ({
        label: `Origin ${i}`,
        color: cssVar(
          ORIGIN_COLORS[i % ORIGIN_COLORS.length] ?? "",
          ORIGIN_FALLBACK[i % 5] ?? "#888",
        ),
      })),
      { label: "P2P", color: cssVar("--c-p2p", "#009e73") },
      { label: "Cache", color: cssVar("--c-cache", "#8a8f98") },
    ];
    this.bytesChart = new StackedAreaChart($("bytes-chart", HTMLCanvasElement), this.series);
    const accent = cssVar("--accent", "#0b6bcb");
    this.sparks = {
      offload: new Sparkline($("s-offload", HTMLCanvasElement), cssVar("--c-p2p", "#009e73"), 1),
      peers: new Sparkline($("s-peers", HTMLCanvasElement), cssVar("--c-p2p", "#009e73")),
      buffer: new Sparkline($("s-buffer", HTMLCanvasElement), accent),
      latency: new Sparkline($("s-latency", HTMLCanvasElement), accent),
    };
    this.buildLegend();
    this.buildOrigins();
    $("log-segments", HTMLInputElement).addEventListener("change", () => this.renderLog());
  }

  private buildLegend(): void {
    const legend = $("legend", HTMLUListElement);
    legend.replaceChildren(
      ...this.series.map((s) => {
        const li = el("li");
        const sw = el("span", { class: "swatch", "aria-hidden": "true" });
        sw.style.background = s.color;
        li.append(sw, s.label);
        return li;
      }),
    );
  }

  private buildOrigins(): void {
    const host = $("origins", HTMLDivElement);
    this.config.origins.forEach((origin, i) => {
      const root = el("article", {
        class: "origin",
        "data-index": String(i),
        "data-state": "idle",
      });
      root.setAttribute("aria-label", `Origin ${i}`);
      const head = el("header", { class: "origin-head" });
      const sw = el("span", { class: "swatch", "aria-hidden": "true" });
      sw.style.background = this.series[i]?.color ?? "#888";
      const title = el("h3", {}, `Origin ${i}`);
      const hostEl = el("span", { class: "host" }, hostOf(origin));
      const badge = el("span", { class: "badge", "data-role": "state" }, "idle");
      head.append(sw, title, hostEl, badge);

      const metrics = el("dl", { class: "metrics" });
      const metric = (label: string): HTMLElement => {
        const box = el("div");
        const dd = el("dd", {}, "—");
        box.append(el("dt", {}, label), dd);
        metrics.append(box);
        return dd;
      };
      const throughput = metric("Throughput");
      const ttfb = metric("TTFB");
      const bytes = metric("Bytes");
      const requests = metric("Req / fail");
      const faults = el("p", { class: "faults", "aria-live": "polite" }, "no faults injected");

      const buttons = el("div", { class: "fault-buttons", role: "group" });
      buttons.setAttribute("aria-label", `Inject faults into origin ${i}`);
      for (const preset of FAULT_PRESETS) {
        const b = el("button", {
          type: "button",
          class: preset.faults === null ? "btn btn-reset" : "btn",
          "data-fault": preset.id,
          title: `Origin ${i}: ${preset.description}`,
          // The accessible name starts with the visible label (WCAG 2.5.3).
          "aria-label": `${preset.label} (origin ${i}: ${preset.description})`,
        });
        b.textContent = preset.label;
        b.addEventListener("click", () => void this.fault(i, preset.id));
        buttons.append(b);
      }
      root.append(head, metrics, faults, buttons);
      host.append(root);
      this.originViews.push({ root, badge, throughput, ttfb, bytes, requests, faults });
    });
  }

  private async fault(index: number, presetId: string): Promise<void> {
    const preset = FAULT_PRESETS.find((p) => p.id === presetId);
    if (!preset) return;
    const view = this.originViews[index];
    view?.root.setAttribute("aria-busy", "true");
    try {
      await applyFault(this.config.origins, index, preset.faults);
      this.addLog({
        at: Date.now(),
        level: preset.faults === null ? "good" : "warn",
        tag: "fault",
        text: `origin ${index}: ${preset.faults === null ? "faults cleared" : preset.description}`,
      });
    } catch (e) {
      this.addLog({
        at: Date.now(),
        level: "error",
        tag: "fault",
        text: e instanceof Error ? e.message : String(e),
      });
    } finally {
      view?.root.removeAttribute("aria-busy");
      void this.refreshFaults();
    }
  }

  /** Shows the faults each origin currently simulates. */
  async refreshFaults(): Promise<void> {
    await Promise.all(
      this.config.origins.map(async (_, i) => {
        const active = await readFaults(this.config.origins, i);
        const view = this.originViews[i];
        if (!view) return;
        view.root.dataset.faulty = active && active.length > 0 ? "true" : "false";
        view.faults.textContent =
          active === null
            ? "fault state unknown (no origin answered)"
            : active.length === 0
              ? "no faults injected"
              : `injected: ${active.join(", ")}`;
      }),
    );
  }

  addLog(entry: LogEntry): void {
    this.log.push(entry);
    if (this.log.length > LOG_KEEP * 4) this.log.splice(0, this.log.length - LOG_KEEP * 4);
    if (!this.logDirty) {
      this.logDirty = true;
      requestAnimationFrame(() => this.renderLog());
    }
  }

  private renderLog(): void {
    this.logDirty = false;
    const showSegments = $("log-segments", HTMLInputElement).checked;
    const segmentTags = new Set(["http", "p2p", "cache"]);
    const shown = this.log
      .filter((e) => showSegments || !segmentTags.has(e.tag))
      .slice(-LOG_KEEP)
      .reverse();
    $("log", HTMLOListElement).replaceChildren(
      ...shown.map((e) => {
        const li = el("li", { "data-level": e.level });
        const time = el("time", { datetime: new Date(e.at).toISOString() });
        time.textContent = new Date(e.at).toLocaleTimeString([], { hour12: false });
        li.append(time, el("span", { class: "tag" }, e.tag), el("span", { class: "msg" }, e.text));
        return li;
      }),
    );
  }

  /** Failures of origin `i` that happened within the last {@link DEGRADED_WINDOW_MS}. */
  private failuresAt(i: number, now: number, failures: number): number {
    const marks = (this.failureMarks[i] ??= []);
    marks.push({ t: now, failures });
    while (marks.length > 1 && (marks[0]?.t ?? now) < now - DEGRADED_WINDOW_MS) marks.shift();
    return failures - (marks[0]?.failures ?? failures);
  }

  reset(): void {
    this.failureMarks = [];
    this.history = [];
    this.bytesChart.clear();
    for (const s of Object.values(this.sparks)) s.clear();
  }

  /** Folds one sample into charts, tiles and origin cards. */
  update(sample: PlayerSample): void {
    const { stats } = sample;
    // Segments arrive every couple of seconds, so per-second deltas are all spikes; a short
    // moving window shows the share of each source much more readably.
    this.history.push(sample);
    if (this.history.length > RATE_WINDOW + 1) this.history.shift();
    const prev = this.history.length > 1 ? this.history[0] : undefined;
    if (prev) {
      const dt = Math.max(0.25, (sample.t - prev.t) / 1000);
      const rate = (now: number, before: number): number => Math.max(0, now - before) / dt;
      const values = [
        ...this.config.origins.map((o) =>
          rate(originStats(stats, o)?.bytes ?? 0, originStats(prev.stats, o)?.bytes ?? 0),
        ),
        rate(stats.bytes.p2p, prev.stats.bytes.p2p),
        rate(stats.bytes.cache, prev.stats.bytes.cache),
      ];
      this.bytesChart.push(values);
      const parts = this.series
        .map((s, i) => `${s.label} ${formatRate(values[i] ?? 0)}`)
        .join(", ");
      $("bytes-chart", HTMLCanvasElement).setAttribute(
        "aria-label",
        `Bytes per second by source, last ${RATE_WINDOW} s: ${parts}`,
      );
    }
    const httpTotal = stats.bytes.http;
    $("totals", HTMLParagraphElement).textContent =
      `Total: HTTP ${formatBytes(httpTotal)} · P2P ${formatBytes(stats.bytes.p2p)} · cache ${formatBytes(stats.bytes.cache)} · uploaded to peers ${formatBytes(stats.uploadedBytes)}`;

    this.sparks.offload.push(stats.offload);
    this.sparks.peers.push(stats.peers);
    this.sparks.buffer.push(sample.bufferSec);
    this.sparks.latency.push(sample.latencySec);
    $("v-offload", HTMLParagraphElement).textContent = `${(stats.offload * 100).toFixed(1)} %`;
    $("v-peers", HTMLParagraphElement).textContent = String(stats.peers);
    $("v-buffer", HTMLParagraphElement).textContent = `${sample.bufferSec.toFixed(1)} s`;
    $("v-latency", HTMLParagraphElement).textContent =
      sample.latencySec === null ? "— (VOD)" : `${sample.latencySec.toFixed(1)} s`;
    const failed = $("v-failed", HTMLParagraphElement);
    failed.textContent = String(stats.segments.failed);
    failed.dataset.bad = String(stats.segments.failed > 0);
    $("n-failed", HTMLParagraphElement).textContent =
      `retries ${stats.retries}, hedges ${stats.hedges}, errors ${stats.errors}`;
    const integrity = $("v-integrity", HTMLParagraphElement);
    integrity.textContent = String(stats.integrityFailures);
    integrity.dataset.bad = String(stats.integrityFailures > 0);

    this.config.origins.forEach((origin, i) => {
      const view = this.originViews[i];
      if (!view) return;
      const o = originStats(stats, origin);
      const state = displayState(o, this.failuresAt(i, sample.t, o?.failures ?? 0));
      view.root.dataset.state = state;
      view.badge.textContent = state;
      view.badge.title = STATE_HELP[state];
      view.throughput.textContent = o && o.throughputBps > 0 ? formatRate(o.throughputBps) : "—";
      view.ttfb.textContent = o && o.ttfbMs > 0 ? `${Math.round(o.ttfbMs)} ms` : "—";
      view.bytes.textContent = o ? formatBytes(o.bytes) : "—";
      view.requests.textContent = o ? `${o.requests} / ${o.failures}` : "—";
    });
  }
}

async function main(): Promise<void> {
  const status = $("status", HTMLParagraphElement);
  const video = $("video", HTMLVideoElement);
  const streamSelect = $("stream", HTMLSelectElement);
  const p2pToggle = $("p2p", HTMLInputElement);

  let config: DemoConfig;
  try {
    config = await loadDemoConfig();
  } catch (e) {
    status.textContent = `Cannot start: ${e instanceof Error ? e.message : String(e)}`;
    status.dataset.bad = "true";
    return;
  }

  const dashboard = new Dashboard(config);
  let stream: StreamKind = readStreamKind(location.search);
  let p2p = readP2PConsent(location.search);
  streamSelect.value = stream;
  p2pToggle.checked = p2p;
  $("swarm-link", HTMLAnchorElement).href = `./swarm.html?stream=${stream}`;

  const onLog = (entry: LogEntry): void => dashboard.addLog(entry);
  let player: DemoPlayer = createPlayer({ config, video, stream, p2p, onLog });

  let last: PlayerSample | undefined;
  const renderStatus = (): void => {
    const state = video.paused
      ? video.ended
        ? "ended"
        : "paused"
      : video.readyState < 3
        ? "buffering"
        : "playing";
    const height = last?.levelHeight ? ` · ${last.levelHeight}p` : "";
    status.dataset.bad = "false";
    status.textContent = `${stream === "live" ? "Live" : "VOD"} · ${state}${height} · position ${video.currentTime.toFixed(1)} s · P2P ${p2p ? "on" : "off"}`;
  };
  const peersHint = $("n-peers", HTMLParagraphElement);
  const renderText = (): void => {
    renderStatus();
    peersHint.textContent = !p2p
      ? "P2P sharing is off"
      : (last?.stats.peers ?? 0) === 0
        ? "open another tab for peers"
        : "";
  };
  const tick = (): void => {
    last = player.sample();
    dashboard.update(last);
    renderText();
  };

  streamSelect.addEventListener("change", () => {
    stream = streamSelect.value === "vod" ? "vod" : "live";
    const url = new URL(location.href);
    url.searchParams.set("stream", stream);
    history.replaceState(null, "", url);
    $("swarm-link", HTMLAnchorElement).href = `./swarm.html?stream=${stream}`;
    player.destroy();
    dashboard.reset();
    dashboard.addLog({
      at: Date.now(),
      level: "info",
      tag: "player",
      text: `switched to ${stream}`,
    });
    player = createPlayer({ config, video, stream, p2p, onLog });
    // Baseline at zero bytes, so the first second's burst (VOD fills its buffer fast) is charted.
    tick();
  });
  p2pToggle.addEventListener("change", () => {
    p2p = p2pToggle.checked;
    writeP2PConsent(p2p);
    player.setP2P(p2p);
    renderText();
  });

  setInterval(tick, 1000);
  setInterval(() => void dashboard.refreshFaults(), 2000);
  void dashboard.refreshFaults();
  tick();

  // Handy from the devtools console.
  Object.assign(window, {
    hivecastDemo: {
      get player() {
        return player;
      },
      config,
    },
  });
}

void main();
