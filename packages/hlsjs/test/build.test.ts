import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runInNewContext } from "node:vm";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const configFile = fileURLToPath(new URL("../vite.config.ts", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "hivecast-hlsjs-build-"));

/** Strings found in hls.js's own bundle; none may appear in ours. */
const HLS_JS_MARKERS = ["hlsMediaAttaching", "MediaSource.isTypeSupported"];

function importsOf(code: string): string[] {
  return [...code.matchAll(/^\s*(?:import|export)\b[^;]*?from\s*["']([^"']+)["']/gm)].map(
    (m) => m[1]!,
  );
}

let esm = "";
let iife = "";

beforeAll(async () => {
  for (const mode of ["production", "iife"]) {
    await build({
      configFile,
      mode,
      logLevel: "silent",
      build: { outDir: out, emptyOutDir: false },
    });
  }
  esm = readFileSync(join(out, "index.js"), "utf8");
  iife = readFileSync(join(out, "hivecast.iife.js"), "utf8");
}, 60_000);

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

describe("ESM build (dist/index.js)", () => {
  it("the hls.js markers used below really are in hls.js", () => {
    const hlsJs = readFileSync(createRequire(import.meta.url).resolve("hls.js"), "utf8");
    expect(HLS_JS_MARKERS.filter((m) => !hlsJs.includes(m))).toEqual([]);
  });

  it("imports only @hivecast/core: hls.js is never imported nor bundled", () => {
    expect(importsOf(esm)).toEqual(["@hivecast/core"]);
    expect(HLS_JS_MARKERS.filter((m) => esm.includes(m))).toEqual([]);
  });

  it("keeps core external (no engine code inside)", () => {
    expect(esm).not.toContain("class OriginPool");
    expect(["class SegmentStore", "firstByteTimeoutMs:"].filter((m) => esm.includes(m))).toEqual(
      [],
    );
  });

  it("exports the public API", () => {
    const exported = [...esm.matchAll(/export\s*\{([^}]*)\}/g)]
      .flatMap((m) => m[1]!.split(","))
      .map((s) =>
        s
          .trim()
          .split(/\s+as\s+/)
          .pop()!,
      )
      .filter(Boolean)
      .sort();
    expect(exported).toEqual(
      [
        "DEFAULT_CONFIG",
        "ErrorCodes",
        "Hivecast",
        "HivecastError",
        "isHivecastError",
        "LIVE_CATCH_UP_RATE",
        "playWithHivecast",
      ].sort(),
    );
  });
});

describe("package.json points at what the builds write", () => {
  it("exports map, main and CDN fields name the ESM and IIFE outputs", () => {
    const pkg: unknown = JSON.parse(
      readFileSync(fileURLToPath(new URL("../package.json", import.meta.url)), "utf8"),
    );
    expect(pkg).toMatchObject({
      main: "./dist/index.js",
      types: "./dist/index.d.ts",
      unpkg: "./dist/hivecast.iife.js",
      exports: {
        ".": { types: "./dist/index.d.ts", import: "./dist/index.js" },
        "./iife": "./dist/hivecast.iife.js",
      },
      peerDependencies: { "hls.js": expect.stringMatching(/^\^1\.5/) },
    });
    expect(pkg).not.toHaveProperty(["dependencies", "hls.js"]);
    expect(esm.length).toBeGreaterThan(0);
    expect(iife.length).toBeGreaterThan(0);
  });
});

describe("IIFE build (hivecast.iife.js)", () => {
  it("defines the global Hivecast: a class with the package's exports as statics, no hls.js inside", () => {
    expect(HLS_JS_MARKERS.filter((m) => iife.includes(m))).toEqual([]);
    const sandbox: Record<string, unknown> = {
      performance: globalThis.performance,
      AbortController,
      TextEncoder,
      TextDecoder,
      URL,
      crypto: globalThis.crypto,
      setTimeout,
      clearTimeout,
      fetch: () => Promise.reject(new Error("no network in this test")),
    };
    runInNewContext(`${iife}\nthis.result = Hivecast;`, sandbox);
    const G = sandbox["result"] as {
      new (c: unknown): {
        hlsConfig(c?: unknown): Record<string, unknown>;
        destroy(): void;
        destroyed: boolean;
      };
      Hivecast: unknown;
      playWithHivecast: unknown;
      HivecastError: unknown;
      isHivecastError: (e: unknown) => boolean;
      DEFAULT_CONFIG: { integrity: string };
      ErrorCodes: readonly string[];
    };
    expect(typeof G).toBe("function");
    expect(typeof G.Hivecast).toBe("function");
    expect(typeof G.playWithHivecast).toBe("function");
    expect(G.DEFAULT_CONFIG.integrity).toBe("required");
    expect(G.ErrorCodes).toContain("ABORTED");
    const h = new G({ origins: ["https://a.example/"] });
    const cfg = h.hlsConfig({ maxBufferLength: 5 });
    expect(cfg["maxBufferLength"]).toBe(5);
    expect(typeof cfg["fLoader"]).toBe("function");
    expect(typeof cfg["pLoader"]).toBe("function");
    h.destroy();
    expect(h.destroyed).toBe(true);
    // namespace-style code (`new Hivecast.Hivecast(...)`) works too
    const ns = new (G.Hivecast as typeof G)({});
    expect(ns).toBeInstanceOf(G.Hivecast as typeof G);
    ns.destroy();
    let thrown: unknown;
    try {
      new G({ origins: ["nope"] });
    } catch (e) {
      thrown = e;
    }
    expect(G.isHivecastError(thrown)).toBe(true);
  });

  it("is minified", () => {
    expect(iife.split("\n").length).toBeLessThan(10);
  });
});
