/**
 * Where a page's main thread spends its time, from a Chromium trace (DevTools tracing, JSON
 * "traceEvents"): self time per event name on the page's renderer main thread. A JS CPU profile
 * lumps everything outside JavaScript into "(program)"; the trace names it (media pipeline,
 * WebRTC, layout, paint, IPC, garbage collection…). Also the JS CPU profile's own readings: its
 * top functions and its self time per script.
 */

/** The categories a `--trace-viewer` run records (the timeline, V8, media and WebRTC). */
export const TRACE_CATEGORIES = [
  "toplevel",
  "devtools.timeline",
  "disabled-by-default-devtools.timeline",
  "v8",
  "v8.execute",
  "disabled-by-default-v8.gc",
  "blink",
  "media",
  "webrtc",
  "loading",
  "mojom",
];

/** One trace event, as far as this reading needs it. */
export interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  args?: Record<string, unknown>;
}

/** One row: an event name and the main thread's time in it, not in events nested inside it. */
export interface TraceRow {
  name: string;
  selfMs: number;
  count: number;
}

/** The reading of one page's main thread. */
export interface TraceSummary {
  /** Renderer process of the page. */
  pid: number;
  /** Time in outermost events (tasks), ms: the thread's busy time. */
  tasksMs: number;
  /** Event names by self time, most first. */
  top: TraceRow[];
}

/**
 * The renderer process that hosts `frameId` (the page's main frame): from a frame list or an
 * event naming the frame with its `processId`, else the process of an event that names the
 * frame, if that process is a renderer (has a `CrRendererMain` thread).
 */
export function pidOfFrame(events: readonly TraceEvent[], frameId: string): number | undefined {
  const renderers = new Set<number>();
  for (const e of events) {
    if (e.ph === "M" && e.name === "thread_name" && e.args?.["name"] === "CrRendererMain")
      renderers.add(e.pid);
  }
  let fromEvent: number | undefined;
  for (const e of events) {
    const data = e.args?.["data"];
    if (!data || typeof data !== "object") continue;
    const d = data as { frame?: unknown; frames?: unknown; processId?: unknown };
    if (Array.isArray(d.frames)) {
      for (const f of d.frames as Array<{ frame?: unknown; processId?: unknown }>) {
        if (f.frame === frameId && typeof f.processId === "number") return f.processId;
      }
    }
    if (d.frame !== frameId) continue;
    if (typeof d.processId === "number") return d.processId;
    if (renderers.has(e.pid)) fromEvent ??= e.pid;
  }
  return fromEvent;
}

/** The main thread (`CrRendererMain`) of process `pid`. */
export function mainThreadOf(events: readonly TraceEvent[], pid: number): number | undefined {
  for (const e of events) {
    if (e.ph === "M" && e.name === "thread_name" && e.pid === pid) {
      if ((e.args?.["name"] as string | undefined) === "CrRendererMain") return e.tid;
    }
  }
  return undefined;
}

/**
 * Self time per event name on one thread. Complete events (`X`) and begin/end pairs (`B`/`E`)
 * nest by time; an event's self time is its duration less that of the events directly inside
 * it. Time in no event at all (idle) is not counted.
 */
export function selfTimes(
  events: readonly TraceEvent[],
  pid: number,
  tid: number,
  n = 40,
): TraceSummary {
  interface Span {
    name: string;
    start: number;
    end: number;
  }
  const spans: Span[] = [];
  const open = new Map<string, number[]>();
  for (const e of events) {
    if (e.pid !== pid || e.tid !== tid) continue;
    if (e.ph === "X" && typeof e.dur === "number") {
      spans.push({ name: e.name, start: e.ts, end: e.ts + e.dur });
    } else if (e.ph === "B") {
      const stack = open.get(e.name) ?? [];
      stack.push(e.ts);
      open.set(e.name, stack);
    } else if (e.ph === "E") {
      const start = open.get(e.name)?.pop();
      if (start !== undefined) spans.push({ name: e.name, start, end: e.ts });
    }
  }
  // Outer first: by start, then the longer one.
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const self = new Map<string, { ms: number; count: number }>();
  const stack: Array<{ span: Span; childUs: number }> = [];
  let tasksUs = 0;
  const close = (): void => {
    const done = stack.pop();
    if (!done) return;
    const own = Math.max(0, done.span.end - done.span.start - done.childUs);
    const row = self.get(done.span.name) ?? { ms: 0, count: 0 };
    row.ms += own / 1000;
    row.count += 1;
    self.set(done.span.name, row);
    const parent = stack[stack.length - 1];
    if (parent) parent.childUs += done.span.end - done.span.start;
  };
  for (const s of spans) {
    while (stack.length > 0 && (stack[stack.length - 1]?.span.end ?? 0) <= s.start) close();
    const parent = stack[stack.length - 1];
    // A span that overlaps its parent's end without nesting is cut to the parent.
    const span = parent && s.end > parent.span.end ? { ...s, end: parent.span.end } : s;
    if (!parent) tasksUs += span.end - span.start;
    stack.push({ span, childUs: 0 });
  }
  while (stack.length > 0) close();
  const top = [...self]
    .map(([name, r]) => ({ name, selfMs: Math.round(r.ms * 10) / 10, count: r.count }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, n);
  return { pid, tasksMs: Math.round(tasksUs / 100) / 10, top };
}

/** The page's main-thread reading from a whole trace, or undefined if the page is not in it. */
export function summarizePageTrace(
  events: readonly TraceEvent[],
  frameId: string,
  n = 40,
): TraceSummary | undefined {
  const pid = pidOfFrame(events, frameId);
  if (pid === undefined) return undefined;
  const tid = mainThreadOf(events, pid);
  if (tid === undefined) return undefined;
  return selfTimes(events, pid, tid, n);
}

// ---------------------------------------------------------------------------------------------
// JS CPU profiles (`--profile-viewer`): DevTools `Profiler.Profile`

/** One function of a CPU profile: where the main thread spent its own time. */
export interface ProfileRow {
  fn: string;
  selfMs: number;
}

/** Minimal shape of a DevTools `Profiler.Profile`. */
export interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }>;
  samples?: number[];
  timeDeltas?: number[];
}

/** A profile's busy time (idle left out) and the self time of each script in it, ms. */
export interface ScriptTimes {
  busyMs: number;
  /**
   * Self time by script file name (query left out); time outside any script goes under the
   * profiler's own names: "(program)" (native work), "(garbage collector)", or a built-in.
   */
  byScript: Record<string, number>;
}

/** Calls `visit` with each sample's call frame and the time it stands for, ms. */
function eachSample(
  p: CpuProfile,
  visit: (frame: CpuProfile["nodes"][number]["callFrame"], ms: number) => void,
): void {
  const byId = new Map(p.nodes.map((x) => [x.id, x.callFrame]));
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const f = byId.get(samples[i] ?? -1);
    // A sample stands for the time until the next one.
    if (f) visit(f, (deltas[i + 1] ?? deltas[i] ?? 0) / 1000);
  }
}

function fileOf(url: string): string {
  return url.slice(url.lastIndexOf("/") + 1).split("?")[0] ?? "";
}

/** The `n` functions with the most self time in `p`. */
export function topFunctions(p: CpuProfile, n: number): ProfileRow[] {
  const self = new Map<string, number>();
  eachSample(p, (f, ms) => {
    const key = `${f.functionName || "(anonymous)"} ${fileOf(f.url)}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + ms);
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([fn, selfMs]) => ({ fn, selfMs: Math.round(selfMs) }));
}

/**
 * Busy time and self time per script: how much of a page's main thread ran the player's own
 * code (hls.js, the Hivecast bundle), the page's, or native work called from either.
 */
export function selfByScript(p: CpuProfile): ScriptTimes {
  const by = new Map<string, number>();
  let busy = 0;
  eachSample(p, (f, ms) => {
    if (f.functionName === "(idle)") return;
    busy += ms;
    const key = fileOf(f.url) || f.functionName || "(anonymous)";
    by.set(key, (by.get(key) ?? 0) + ms);
  });
  const byScript: Record<string, number> = {};
  for (const [k, v] of [...by].sort((a, b) => b[1] - a[1])) byScript[k] = Math.round(v);
  return { busyMs: Math.round(busy), byScript };
}
