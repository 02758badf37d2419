import { describe, expect, it } from "vitest";
import type { Clock } from "../src/clock.js";
import { watchMainThread } from "../src/p2p/main-thread-watch.js";

/** A clock whose single pending timer fires when the test says, as late as the test says. */
function manualClock(): Clock & { fire(lateMs: number): void; pending(): number; late(): number } {
  let now = 1000;
  let lastLate = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.set(++seq, { at: now + ms, fn });
      return seq;
    },
    clearTimeout: (h) => void timers.delete(h as number),
    fire(lateMs) {
      const [id, t] = [...timers.entries()].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
      if (id === undefined || !t) throw new Error("no timer pending");
      timers.delete(id);
      now = t.at + lateMs;
      lastLate = lateMs;
      t.fn();
    },
    pending: () => timers.size,
    late: () => lastLate,
  };
}

function setup() {
  const clock = manualClock();
  /** The lag of each timer run that found the thread starved. */
  const starved: number[] = [];
  let visible = true;
  const watch = watchMainThread(
    clock,
    100,
    () => visible,
    (isStarved) => {
      if (isStarved) starved.push(clock.late());
    },
  );
  return {
    clock,
    watch,
    starved,
    setVisible: (v: boolean) => {
      visible = v;
    },
  };
}

describe("MainThreadWatch: a starved main thread is told by timer lag", () => {
  it("a thread that keeps up (lags up to the threshold) is never starved", () => {
    const { clock, starved } = setup();
    for (let i = 0; i < 100; i++) clock.fire(i % 2 === 0 ? 100 : 20);
    expect(starved).toEqual([]);
  });

  it("minLate late samples among the last `window` mean starved, with the worst lag", () => {
    const { clock, starved } = setup();
    clock.fire(150);
    clock.fire(0);
    clock.fire(400);
    expect(starved).toEqual([]);
    clock.fire(101);
    expect(starved).toEqual([101]);
    // Five on-time samples later the three late ones are still in the window of 8…
    for (let i = 0; i < 4; i++) clock.fire(0);
    expect(starved).toHaveLength(5);
    // …one more pushes the first late one out: no longer starved.
    clock.fire(0);
    expect(starved).toHaveLength(5);
  });

  it("a hidden page is not sampled, and the first sample after it shows again is dropped", () => {
    const { clock, starved, setVisible } = setup();
    clock.fire(300);
    clock.fire(300);
    setVisible(false);
    for (let i = 0; i < 10; i++) clock.fire(900); // hidden pages' timers are slowed on purpose
    setVisible(true);
    clock.fire(900); // was hidden until now: dropped
    expect(starved).toEqual([]);
    clock.fire(300); // the samples before hiding were forgotten: 1 late of 1
    expect(starved).toEqual([]);
    clock.fire(300);
    clock.fire(300);
    expect(starved).toEqual([300]);
  });

  it("one very late run (a suspended laptop) is one late run, not starvation", () => {
    const { clock, starved } = setup();
    clock.fire(300);
    clock.fire(60_000);
    clock.fire(0);
    expect(starved).toEqual([]);
  });

  it("starved() reads the window at any time", () => {
    const { clock, watch } = setup();
    expect(watch.starved()).toBe(false);
    for (const l of [120, 260, 300, 101]) clock.fire(l);
    expect(watch.starved()).toBe(true);
    for (let i = 0; i < 8; i++) clock.fire(3);
    expect(watch.starved()).toBe(false);
  });

  it("stop() leaves no timer behind", () => {
    const { clock, watch } = setup();
    clock.fire(300);
    expect(clock.pending()).toBe(1);
    watch.stop();
    expect(clock.pending()).toBe(0);
  });
});
