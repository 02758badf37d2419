/**
 * Player pages of the origins benchmark and validation of what they report. Both arms run the
 * same in-page instrumentation; only the player set-up differs.
 */

/** What a page is told (JSON in the `cfg` query parameter). */
export interface OriginsPageConfig {
  arm: "plain" | "hivecast";
  /** Master playlist URL on the affected origin. */
  src: string;
  /** All origin base URLs (Hivecast only). */
  origins: string[];
}

/**
 * In-page instrumentation. Segment time is measured two ways:
 * - `wallMs`: from the first FRAG_LOADING of a fragment to its FRAG_LOADED (hls.js events, so the
 *   same for both arms and including every retry/failover the loader did),
 * - `statsMs`: hls.js `frag.stats.loading.end − loading.start` as the loader reported it.
 */
const INSTRUMENT = String.raw`
const cfg = JSON.parse(new URLSearchParams(location.search).get("cfg"));
const B = (window.__bench = {
  arm: cfg.arm, startupMs: null, stalls: 0, stallMs: 0, frags: [], fragErrors: 0, fatalErrors: 0,
  errorDetails: {}, failedKeys: {}, pageErrors: [], firstTime: null, lastTime: null,
});
window.addEventListener("error", (e) => B.pageErrors.push(String(e.message).slice(0, 200)));
window.addEventListener("unhandledrejection", (e) => B.pageErrors.push(String(e.reason).slice(0, 200)));
let waitingSince = null;
const loadingAt = new Map();
const keyOf = (f) => f.type + ":" + f.level + ":" + f.sn;
function instrument(hls, video) {
  video.addEventListener("playing", () => {
    const now = performance.now();
    if (B.startupMs === null) { B.startupMs = now; B.firstTime = video.currentTime; }
    if (waitingSince !== null) { B.stalls++; B.stallMs += now - waitingSince; waitingSince = null; }
  });
  video.addEventListener("waiting", () => {
    if (B.startupMs !== null && waitingSince === null) waitingSince = performance.now();
  });
  hls.on(Hls.Events.FRAG_LOADING, (_e, d) => {
    const k = keyOf(d.frag);
    if (!loadingAt.has(k)) loadingAt.set(k, performance.now());
  });
  hls.on(Hls.Events.FRAG_LOADED, (_e, d) => {
    const now = performance.now();
    const f = d.frag;
    const k = keyOf(f);
    const t0 = loadingAt.get(k);
    loadingAt.delete(k);
    delete B.failedKeys[k];
    const st = f.stats || {};
    const ld = st.loading || {};
    B.frags.push({
      sn: typeof f.sn === "number" ? f.sn : -1, level: f.level, type: f.type,
      wallMs: t0 === undefined ? null : now - t0,
      statsMs: ld.end > 0 && ld.start > 0 ? ld.end - ld.start : null,
      bytes: Math.max(d.payload ? d.payload.byteLength : 0, st.loaded || 0, st.total || 0),
      at: now,
    });
  });
  hls.on(Hls.Events.ERROR, (_e, d) => {
    B.errorDetails[d.details] = (B.errorDetails[d.details] || 0) + 1;
    if (d.frag && /^frag(LoadError|LoadTimeOut)$/.test(d.details)) {
      B.fragErrors++;
      B.failedKeys[keyOf(d.frag)] = true;
    }
    if (d.fatal) {
      // Recover as a careful player would: a manifest that never loaded needs loadSource again
      // (startLoad alone does nothing then); other network errors restart loading.
      B.fatalErrors++;
      if (d.type === Hls.ErrorTypes.NETWORK_ERROR) {
        const manifest = /^manifest/.test(d.details);
        setTimeout(() => (manifest ? hls.loadSource(cfg.src) : hls.startLoad()), 1000);
      } else if (d.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    }
  });
  B.snapshot = () => {
    const now = performance.now();
    const s = JSON.parse(JSON.stringify(B));
    if (waitingSince !== null) { s.stalls++; s.stallMs += now - waitingSince; }
    s.snapshotAtMs = now;
    s.lastTime = video.currentTime;
    s.failedSegments = Object.keys(B.failedKeys).length;
    if (B.libStatsFn) { try { s.libStats = JSON.parse(JSON.stringify(B.libStatsFn())); } catch (e) { s.libStats = String(e); } }
    return s;
  };
  video.muted = true;
  hls.loadSource(cfg.src);
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
}
`;

const shell = (head: string, body: string): string =>
  `<!doctype html><html><head><meta charset="utf-8"><title>origins bench</title>${head}</head>` +
  `<body><video id="v" muted playsinline width="320" height="180"></video>${body}</body></html>`;

/** Plain hls.js on the one (affected) origin. */
const plainPage = shell(
  `<script src="/hls.js"></script>`,
  `<script>${INSTRUMENT}
const hls = new Hls();
instrument(hls, document.getElementById("v"));
</script>`,
);

/** Hivecast over all origins (IIFE build, global `Hivecast`), P2P off. */
const hivecastPage = shell(
  `<script src="/hls.js"></script><script src="/hivecast.iife.js"></script>`,
  `<script>${INSTRUMENT}
const hivecast = new Hivecast.Hivecast({ origins: cfg.origins });
const hls = new Hls(hivecast.hlsConfig());
hivecast.attach(hls);
B.libStatsFn = () => hivecast.stats;
instrument(hls, document.getElementById("v"));
</script>`,
);

/** Pages by path, for the page server. */
export const ORIGINS_PAGES: Record<string, string> = {
  "/origins-plain.html": plainPage,
  "/origins-hivecast.html": hivecastPage,
};

/** One loaded fragment as the page saw it. */
export interface FragSample {
  sn: number;
  level: number;
  type: string;
  wallMs: number | null;
  statsMs: number | null;
  bytes: number;
  at: number;
}

/** What one page measured, validated. */
export interface OriginsPageMetrics {
  startupMs: number | null;
  stalls: number;
  stallMs: number;
  frags: FragSample[];
  fragErrors: number;
  fatalErrors: number;
  failedSegments: number;
  errorDetails: Record<string, number>;
  pageErrors: string[];
  /** Media seconds played between the first `playing` and the snapshot. */
  playedSec: number;
  /** Hivecast's per-origin byte counters (empty for plain hls.js). */
  bytesByOrigin: Record<string, number>;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}
const numOr = <T>(v: unknown, d: T): number | T =>
  typeof v === "number" && Number.isFinite(v) ? v : d;
function need(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new Error(`page metrics: ${k} is not a number`);
  return v;
}

function parseFrag(x: unknown): FragSample | undefined {
  if (!isRecord(x)) return undefined;
  return {
    sn: numOr(x.sn, -1),
    level: numOr(x.level, -1),
    type: typeof x.type === "string" ? x.type : "",
    wallMs: numOr(x.wallMs, null),
    statsMs: numOr(x.statsMs, null),
    bytes: numOr(x.bytes, 0),
    at: numOr(x.at, 0),
  };
}

/** Validates the `window.__bench.snapshot()` object of a page. */
export function parseOriginsPageMetrics(x: unknown): OriginsPageMetrics {
  if (!isRecord(x)) throw new Error("page metrics: not an object");
  const frags = Array.isArray(x.frags)
    ? x.frags.map(parseFrag).filter((f): f is FragSample => f !== undefined)
    : [];
  const errorDetails: Record<string, number> = {};
  if (isRecord(x.errorDetails))
    for (const [k, v] of Object.entries(x.errorDetails))
      if (typeof v === "number") errorDetails[k] = v;
  const bytesByOrigin: Record<string, number> = {};
  const stats = x.libStats;
  if (isRecord(stats) && isRecord(stats.byOrigin))
    for (const [k, v] of Object.entries(stats.byOrigin))
      if (isRecord(v) && typeof v.bytes === "number") bytesByOrigin[k] = v.bytes;
  const first = numOr(x.firstTime, null);
  const last = numOr(x.lastTime, null);
  return {
    startupMs: numOr(x.startupMs, null),
    stalls: need(x, "stalls"),
    stallMs: need(x, "stallMs"),
    frags,
    fragErrors: need(x, "fragErrors"),
    fatalErrors: need(x, "fatalErrors"),
    failedSegments: need(x, "failedSegments"),
    errorDetails,
    pageErrors: Array.isArray(x.pageErrors)
      ? x.pageErrors.filter((s): s is string => typeof s === "string")
      : [],
    playedSec: first !== null && last !== null ? Math.max(0, last - first) : 0,
    bytesByOrigin,
  };
}
