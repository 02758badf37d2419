import { describe, expect, it } from "vitest";
import { isSha256Hex, sha256Hex } from "../src/sha256.js";

describe("sha256Hex", () => {
  it("matches the FIPS 180-2 test vectors, including a view into a larger buffer", async () => {
    expect(await sha256Hex(new TextEncoder().encode("abc"))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(await sha256Hex(new Uint8Array(0))).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    const padded = new TextEncoder().encode("xxabcxx");
    expect(await sha256Hex(padded.subarray(2, 5))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("recognises well-formed digests only", () => {
    expect(isSha256Hex("AB".repeat(32))).toBe(true);
    expect(isSha256Hex("ab".repeat(31))).toBe(false);
    expect(isSha256Hex("zz".repeat(32))).toBe(false);
    expect(isSha256Hex(42)).toBe(false);
  });
});
