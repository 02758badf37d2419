import { describe, expect, it } from "vitest";
import {
  lateStartups,
  startupPhases,
  warmLateComparison,
  type StartupRun,
} from "../swarm/startup.js";

const run = (rep: number, early: number[], late: Array<number | null>): StartupRun => ({
  rep,
  perViewer: [
    ...early.map((startupMs) => ({ startupMs, late: false })),
    ...late.map((startupMs) => ({ startupMs, late: true })),
  ],
});

describe("swarm bench: late joiners' warm start-up against plain hls.js's late joiners", () => {
  it("pools the late joiners of repetitions 2… only, skipping viewers that never started", () => {
    const runs = [run(0, [1], [9000, 9000]), run(1, [1], [400, null]), run(2, [1], [600, 500])];
    expect(lateStartups(runs, 1).sort((a, b) => a - b)).toEqual([400, 500, 600]);
    expect(lateStartups(runs, 0)).toHaveLength(5);
  });

  it("divides the pooled p95s; a cold first repetition of either arm does not count", () => {
    const plain = [
      run(0, [100], [5000, 5000]),
      run(1, [100], [400, 500]),
      run(2, [100], [500, 400]),
    ];
    const arm = [run(0, [100], [300, 300]), run(1, [100], [450, 550]), run(2, [100], [600, 500])];
    const c = warmLateComparison(arm, plain);
    // p95 of [400, 400, 500, 500] = 500; of [450, 500, 550, 600] = 592.5.
    expect(c).toEqual({
      lateViewers: 4,
      lateStartupP95Ms: 592.5,
      plainLateStartupP95Ms: 500,
      lateVsPlainLate: 1.185,
    });
  });

  it("is null with one repetition or without plain hls.js", () => {
    expect(warmLateComparison([run(0, [1], [2])], [run(0, [1], [2])])).toBeNull();
    expect(warmLateComparison([run(0, [1], [2]), run(1, [1], [2])], [])).toBeNull();
  });
});

describe("start-up phases from a page's start-up trace", () => {
  it("takes the first of each step, main-track fragments only; steps not reached are null", () => {
    expect(
      startupPhases([
        ["boot", 120],
        ["manifest", 180],
        ["level 0", 240],
        ["loading a3", 250],
        ["loading m3", 260],
        ["loaded a3", 300],
        ["loaded m3", 410],
        ["loading m4", 415],
        ["loaded m4", 500],
        ["buffered m3", 520],
      ]),
    ).toEqual({ manifest: 180, level: 240, fragLoading: 260, fragLoaded: 410, fragBuffered: 520 });
    expect(
      startupPhases([
        ["boot", 100],
        ["manifest", 150],
      ]),
    ).toEqual({
      manifest: 150,
      level: null,
      fragLoading: null,
      fragLoaded: null,
      fragBuffered: null,
    });
  });
});
