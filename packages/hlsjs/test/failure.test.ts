import { HivecastError } from "@hivecast/core";
import { describe, expect, it } from "vitest";
import { classifyFailure } from "../src/failure.js";

const status = (s: number): HivecastError =>
  new HivecastError("HTTP_STATUS", `HTTP ${s}`, {
    details: { status: s, origin: "https://a.example/" },
  });

describe("classifyFailure", () => {
  it("an HTTP status becomes the hls.js error code", () => {
    expect(classifyFailure(status(404))).toMatchObject({ kind: "error", code: 404 });
    expect(classifyFailure(status(503))).toMatchObject({ kind: "error", code: 503 });
  });

  it("finds the status of the last attempt behind ALL_ORIGINS_FAILED", () => {
    const last = status(410);
    const all = new HivecastError("ALL_ORIGINS_FAILED", "Every origin failed", {
      fatal: true,
      cause: last,
      details: { url: "u", origin: "https://b.example/" },
    });
    const f = classifyFailure(all);
    expect(f).toMatchObject({ kind: "error", code: 410 });
    expect(f.kind === "error" && f.text).toContain("ALL_ORIGINS_FAILED");
  });

  it("timeouts become onTimeout, also behind ALL_ORIGINS_FAILED", () => {
    const t = new HivecastError("HTTP_TIMEOUT", "first byte timeout", { details: { origin: "o" } });
    expect(classifyFailure(t)).toEqual({ kind: "timeout" });
    expect(classifyFailure(new HivecastError("ALL_ORIGINS_FAILED", "x", { cause: t }))).toEqual({
      kind: "timeout",
    });
  });

  it("failures without a status are reported like hls.js network errors: code 0", () => {
    expect(classifyFailure(new HivecastError("HTTP_NETWORK", "offline"))).toMatchObject({
      kind: "error",
      code: 0,
    });
    expect(classifyFailure(new HivecastError("INTEGRITY_MISMATCH", "bad bytes"))).toMatchObject({
      kind: "error",
      code: 0,
    });
    expect(classifyFailure(new TypeError("boom"))).toEqual({
      kind: "error",
      code: 0,
      text: "boom",
    });
    expect(classifyFailure("weird")).toEqual({ kind: "error", code: 0, text: "weird" });
  });

  it("ABORTED and DESTROYED are their own kinds", () => {
    expect(classifyFailure(new HivecastError("ABORTED", "a"))).toEqual({ kind: "aborted" });
    expect(classifyFailure(new HivecastError("DESTROYED", "d"))).toEqual({ kind: "destroyed" });
  });

  it("ignores a non-numeric or zero status", () => {
    const e = new HivecastError("HTTP_STATUS", "x", { details: { status: "404" } });
    expect(classifyFailure(e)).toMatchObject({ kind: "error", code: 0 });
  });
});
