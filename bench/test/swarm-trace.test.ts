import { describe, expect, it } from "vitest";
import {
  mainThreadOf,
  pidOfFrame,
  selfByScript,
  selfTimes,
  summarizePageTrace,
  topFunctions,
  type CpuProfile,
  type TraceEvent,
} from "../swarm/trace.js";

const x = (name: string, ts: number, dur: number, pid = 7, tid = 1): TraceEvent => ({
  name,
  ph: "X",
  pid,
  tid,
  ts,
  dur,
});

describe("swarm bench: main-thread self time from a Chromium trace", () => {
  it("subtracts nested events from their parent and adds up repeats", () => {
    const events = [
      x("RunTask", 0, 1000),
      x("FunctionCall", 100, 600),
      x("V8.GC", 200, 100),
      x("RunTask", 2000, 500),
      x("FunctionCall", 2000, 500),
      // Another thread and another process are not counted.
      x("RunTask", 0, 9000, 7, 2),
      x("RunTask", 0, 9000, 8, 1),
    ];
    const s = selfTimes(events, 7, 1);
    expect(s.tasksMs).toBe(1.5);
    expect(Object.fromEntries(s.top.map((r) => [r.name, [r.selfMs, r.count]]))).toEqual({
      RunTask: [0.4, 2],
      FunctionCall: [1, 2],
      "V8.GC": [0.1, 1],
    });
  });

  it("pairs begin and end events and cuts a child that outlasts its parent", () => {
    const events: TraceEvent[] = [
      x("RunTask", 0, 1000),
      { name: "Layout", ph: "B", pid: 7, tid: 1, ts: 100 },
      { name: "Layout", ph: "E", pid: 7, tid: 1, ts: 400 },
      x("Paint", 900, 500),
    ];
    const s = selfTimes(events, 7, 1);
    expect(s.tasksMs).toBe(1);
    const by = Object.fromEntries(s.top.map((r) => [r.name, r.selfMs]));
    expect(by).toEqual({ RunTask: 0.6, Layout: 0.3, Paint: 0.1 });
  });

  it("finds the page's renderer by its main frame and reads that renderer's main thread", () => {
    const events: TraceEvent[] = [
      {
        name: "TracingStartedInBrowser",
        ph: "I",
        pid: 1,
        tid: 1,
        ts: 0,
        args: { data: { frames: [{ frame: "F1", processId: 42 }] } },
      },
      { name: "thread_name", ph: "M", pid: 42, tid: 5, ts: 0, args: { name: "Compositor" } },
      { name: "thread_name", ph: "M", pid: 42, tid: 3, ts: 0, args: { name: "CrRendererMain" } },
      x("RunTask", 10, 2000, 42, 3),
      x("RunTask", 10, 5000, 42, 5),
    ];
    expect(pidOfFrame(events, "F1")).toBe(42);
    expect(pidOfFrame(events, "F2")).toBeUndefined();
    expect(mainThreadOf(events, 42)).toBe(3);
    expect(summarizePageTrace(events, "F1")?.tasksMs).toBe(2);
    expect(summarizePageTrace(events, "F2")).toBeUndefined();
  });

  it("takes an event's own process only if it is a renderer", () => {
    const browserEvent: TraceEvent = {
      name: "FrameCommittedInBrowser",
      ph: "I",
      pid: 1,
      tid: 1,
      ts: 0,
      args: { data: { frame: "F" } },
    };
    const rendererEvent: TraceEvent = { ...browserEvent, name: "Paint", pid: 9 };
    const thread: TraceEvent = {
      name: "thread_name",
      ph: "M",
      pid: 9,
      tid: 2,
      ts: 0,
      args: { name: "CrRendererMain" },
    };
    expect(pidOfFrame([browserEvent], "F")).toBeUndefined();
    expect(pidOfFrame([browserEvent, rendererEvent, thread], "F")).toBe(9);
    const named = { ...browserEvent, args: { data: { frame: "F", processId: 12 } } };
    expect(pidOfFrame([named], "F")).toBe(12);
  });
});

describe("swarm bench: a JS CPU profile by function and by script", () => {
  // Nodes: idle, native, hls.js's tick, the Hivecast bundle's send (url with a query string).
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: "(idle)", url: "", lineNumber: -1 } },
      { id: 2, callFrame: { functionName: "(program)", url: "", lineNumber: -1 } },
      { id: 3, callFrame: { functionName: "tick", url: "http://h/hls.js", lineNumber: 2 } },
      {
        id: 4,
        callFrame: { functionName: "send", url: "http://h/hivecast.iife.js?v=1", lineNumber: 9 },
      },
    ],
    // Each sample stands for the time to the next one (µs): 1 → 5 ms idle, 3 → 2 ms, …
    samples: [1, 3, 4, 2, 3],
    timeDeltas: [0, 5000, 2000, 3000, 1000, 4000],
  };

  it("leaves idle out of the busy time and adds self time per script file", () => {
    expect(selfByScript(profile)).toEqual({
      busyMs: 2 + 3 + 1 + 4,
      byScript: { "hls.js": 6, "hivecast.iife.js": 3, "(program)": 1 },
    });
  });

  it("names the top functions with file and 1-based line", () => {
    expect(topFunctions(profile, 2)).toEqual([
      { fn: "tick hls.js:3", selfMs: 6 },
      { fn: "(idle) :0", selfMs: 5 },
    ]);
  });

  it("reads an empty or partial profile as nothing", () => {
    expect(selfByScript({ nodes: [] })).toEqual({ busyMs: 0, byScript: {} });
    expect(selfByScript({ nodes: profile.nodes, samples: [99], timeDeltas: [0, 7] })).toEqual({
      busyMs: 0,
      byScript: {},
    });
  });
});
