import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Engine } from "../src/engine.js";
import type { HivecastWarning } from "../src/events.js";
import { isSha256Hex } from "../src/hash-tag.js";
import { hasWebCrypto, sha256Hex, sha256HexPureJs } from "../src/sha256.js";
import { bytes, FakeNet, ORIGINS, sha, testClock } from "./fake-net.js";

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

describe("SHA-256 without WebCrypto (insecure page)", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("the pure-JS SHA-256 agrees with WebCrypto on test vectors and random sizes", async () => {
    expect(await sha256HexPureJs(new TextEncoder().encode("abc"))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    fc.assert(
      await fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), async (d) => {
        expect(await sha256HexPureJs(d)).toBe(await sha256Hex(d));
      }),
      { numRuns: 50 },
    );
  });

  it("with crypto.subtle undefined, sha256Hex still hashes (pure JS) instead of failing", async () => {
    vi.stubGlobal("crypto", { getRandomValues: globalThis.crypto.getRandomValues });
    expect(hasWebCrypto()).toBe(false);
    expect(await sha256Hex(new TextEncoder().encode("abc"))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("an engine on an insecure page verifies segments and says so once with an insecure-context warning", async () => {
    const data = bytes(70_000, 3);
    const hash = await sha(data);
    vi.stubGlobal("crypto", {});
    const net = new FakeNet();
    net.files.set("v/seg0.ts", data);
    net.files.set("v/seg1.ts", data);
    const engine = new Engine(
      { origins: [...ORIGINS], integrity: "required" },
      { fetch: net.fetch, clock: testClock, peerSourceFactory: undefined },
    );
    const warnings: HivecastWarning[] = [];
    const errors: unknown[] = [];
    engine.on("warning", (w) => warnings.push(w));
    engine.on("error", (e) => errors.push(e));
    for (const name of ["seg0.ts", "seg1.ts"]) {
      const r = await engine.loadSegment({
        url: `${ORIGINS[0]}v/${name}`,
        kind: "segment",
        playlistUrl: `${ORIGINS[0]}v/index.m3u8`,
        hash,
      });
      expect(r.verified).toBe(true);
    }
    expect(warnings.map((w) => w.kind)).toEqual(["insecure-context"]);
    expect(errors).toEqual([]);
    engine.destroy();
  });
});
