import { describe, expect, it } from "vitest";
import { parseLag } from "../swarm/lib.js";

describe("swarm bench: a page's main-thread lag record", () => {
  it("keeps the counts and the per-stall lags, dropping what is not a finite number", () => {
    expect(
      parseLag({
        samples: 120,
        over50: 9,
        over100: 4,
        over250: 1,
        maxMs: 310,
        beforeStall: [310, "x", Number.NaN, 40],
      }),
    ).toEqual({
      samples: 120,
      over50: 9,
      over100: 4,
      over250: 1,
      maxMs: 310,
      beforeStall: [310, 40],
    });
  });

  it("is all zeros for a page that recorded none", () => {
    expect(parseLag(undefined)).toEqual({
      samples: 0,
      over50: 0,
      over100: 0,
      over250: 0,
      maxMs: 0,
      beforeStall: [],
    });
  });
});
