/**
 * r23 at the adapter: every origin serves the same bad bytes for one segment. hls.js reloads a
 * failed fragment with a new loader up to `fragLoadPolicy.errorRetry.maxNumRetry` times; each
 * must get a clear error (so hls.js's error controller counts it and, out of retries, raises a
 * fatal FRAG_LOAD_ERROR or switches level), and none may download the known-bad bytes again.
 */
import type { FragmentLoaderContext, HlsConfig } from "hls.js";
import { afterEach, describe, expect, it } from "vitest";
import { Hivecast } from "../src/index.js";
import { frag, fragmentContext, loaderConfig, recorder } from "./helpers.js";

const ORIGINS = ["https://a.example/", "https://b.example/", "https://c.example/"];
const PATH = "live/v0/seg_7.m4s";
const GOOD = new Uint8Array(8192).map((_, i) => (i * 13) % 256);

async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = await globalThis.crypto.subtle.digest("SHA-256", new Uint8Array(data));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Every origin serves the segment with one byte flipped; records each request. */
function corruptEverywhere(): { fetch: typeof fetch; requests: string[] } {
  const requests: string[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    requests.push(url);
    if (init?.signal?.aborted) throw init.signal.reason;
    if (!url.endsWith(PATH)) return new Response("not found", { status: 404 });
    const body = GOOD.slice();
    body[100] = (body[100] ?? 0) ^ 0xff;
    return new Response(body, { status: 200 });
  };
  return { fetch: fetchFn, requests };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 2));
  }
}

let hivecast: Hivecast | undefined;
afterEach(() => {
  hivecast?.destroy();
  hivecast = undefined;
});

describe("r23 every source bad for one segment, single rendition", () => {
  it("r23 each hls.js retry gets a clear error at once; the bad bytes are downloaded once per origin", async () => {
    const hash = await sha256Hex(GOOD);
    const { fetch, requests } = corruptEverywhere();
    hivecast = new Hivecast({ origins: ORIGINS }, { fetch });
    const errors: string[] = [];
    hivecast.on("error", (e) => void errors.push(e.code));
    const cfg = hivecast.hlsConfig();
    const attempts = 7; // hls.js's default: the first load and 6 retries (fragLoadPolicy)
    const reports: Array<{ kind: string; code: unknown; text: unknown }> = [];
    for (let i = 0; i < attempts; i++) {
      const loader = new cfg.fLoader(cfg as HlsConfig);
      const { calls, callbacks } = recorder<FragmentLoaderContext>();
      loader.load(
        fragmentContext(frag({ tagList: [["EXT-X-HIVECAST-SHA256", hash]] }), {
          url: `${ORIGINS[0]}${PATH}`,
        }),
        loaderConfig(),
        callbacks,
      );
      await until(() => calls.length > 0);
      const err = calls[0]?.args[0] as { code?: unknown; text?: unknown } | undefined;
      reports.push({ kind: calls[0]?.kind ?? "", code: err?.code, text: err?.text });
    }
    // hls.js sees an error every time (never a success, never silence).
    expect(reports.map((r) => r.kind)).toEqual(Array<string>(attempts).fill("error"));
    expect(reports.every((r) => String(r.text).startsWith("INTEGRITY_MISMATCH"))).toBe(true);
    // Bounded work: one download per origin for the first load, none for the retries.
    expect(requests.filter((u) => u.endsWith(PATH))).toHaveLength(ORIGINS.length);
    expect(errors.filter((c) => c === "INTEGRITY_MISMATCH")).toHaveLength(attempts);
  });
});
