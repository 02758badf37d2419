/// <reference types="node" />
/**
 * Per-origin requests: origin objects, per-origin query handling and the `requestSetup` hook —
 * three origins that each want their own signed URL (HMAC secret per origin, as per-CDN URL
 * signing works), checked by the fake network on every request.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type RequestContext, resolveConfig, type UserConfig } from "../src/config.js";
import { Engine } from "../src/engine.js";
import { HivecastError } from "../src/errors.js";
import { dropQuery, originTargets } from "../src/origin-url.js";
import {
  bytes,
  type Call,
  FakeNet,
  ORIGINS,
  sameBytes,
  seededRandom,
  sha,
  testClock,
} from "./fake-net.js";

const [A, B, C] = ORIGINS;
const SECRETS: Record<string, string> = { [A]: "secret-a", [B]: "secret-b", [C]: "secret-c" };

function sign(url: string, secret: string, exp: number): string {
  const u = new URL(url);
  u.searchParams.delete("exp");
  u.searchParams.delete("sig");
  u.searchParams.set("exp", String(exp));
  u.searchParams.set(
    "sig",
    createHmac("sha256", secret).update(`${exp}:${u.pathname}`).digest("hex"),
  );
  return u.toString();
}

/** What the origin says of a call: undefined when its token is valid for that origin at `now`. */
function tokenProblem(call: Call, now: number): number | undefined {
  const u = new URL(call.url);
  const exp = Number(u.searchParams.get("exp"));
  const sig = u.searchParams.get("sig");
  if (sig === null) return 401;
  const want = createHmac("sha256", SECRETS[call.origin] ?? "")
    .update(`${exp}:${u.pathname}`)
    .digest("hex");
  return sig !== want || exp <= now ? 403 : undefined;
}

/** Fake origins that each require their own token; `now` is the origins' clock. */
function signedNet(now: () => number = () => 1000): FakeNet {
  const net = new FakeNet();
  for (const o of ORIGINS)
    net.faults.set(o, (call) => {
      const status = tokenProblem(call, now());
      return status === undefined ? undefined : { status };
    });
  return net;
}

const FAST_RETRY = {
  maxNumRetry: 6,
  retryDelayMs: 1,
  maxRetryDelayMs: 1,
  backoff: "linear",
  jitter: 0,
} as const;

function engineOn(net: FakeNet, config: UserConfig): Engine {
  return new Engine(
    {
      origins: [...ORIGINS],
      integrity: "required",
      http: { segmentRetry: FAST_RETRY, playlistRetry: FAST_RETRY },
      ...config,
    },
    { fetch: net.fetch, clock: testClock, random: seededRandom(3), peerSourceFactory: undefined },
  );
}

const signer =
  (exp: number, secrets: Record<string, string> = SECRETS) =>
  (ctx: RequestContext) => ({ url: sign(ctx.url, secrets[ctx.origin] ?? "none", exp) });

describe("per-origin query handling", () => {
  it("another origin's query is dropped by default, kept with query: keep, and a URL's own origin keeps its query", () => {
    const cfg = resolveConfig({ origins: [A, { url: B, query: "keep" }, C] });
    const t = originTargets(`${A}v/seg1.ts?token=for-a&x=1`, cfg.origins);
    expect(t.map((x) => x.url)).toEqual([
      `${A}v/seg1.ts?token=for-a&x=1`,
      `${B}v/seg1.ts?token=for-a&x=1`,
      `${C}v/seg1.ts`,
    ]);
  });

  it("HLS delivery directives survive dropping: a blocking reload stays blocking on every origin", () => {
    expect(dropQuery("v/p.m3u8?tok=1&_HLS_msn=12&_HLS_part=3#f")).toBe(
      "v/p.m3u8?_HLS_msn=12&_HLS_part=3#f",
    );
    expect(dropQuery("v/p.m3u8?tok=1")).toBe("v/p.m3u8");
    expect(dropQuery("v/p.m3u8")).toBe("v/p.m3u8");
  });

  it("origins are validated and normalised once: strings and objects, every option filled in", () => {
    const cfg = resolveConfig({
      origins: [A, { url: B, headers: { "X-Key": "1" }, credentials: "include", weight: 2 }],
    });
    expect(cfg.origins).toEqual([
      { url: A, query: "drop", headers: {}, credentials: undefined, weight: 1 },
      { url: B, query: "drop", headers: { "X-Key": "1" }, credentials: "include", weight: 2 },
    ]);
    const bad: Array<[unknown, string]> = [
      [[{ url: "ftp://x/" }], "origins[0].url"],
      [[{ url: A, query: "maybe" }], "origins[0].query"],
      [[{ url: A, headers: { "bad header": "1" } }], "origins[0].headers"],
      [[{ url: A, weight: -1 }], "origins[0].weight"],
      [[{ url: A, credentials: "always" }], "origins[0].credentials"],
      [[{ url: A, token: "x" }], "origins[0].token"],
      [[A, A], "origins"],
      [[42], "origins[0]"],
    ];
    for (const [origins, field] of bad) {
      let caught: unknown;
      try {
        resolveConfig({ origins } as unknown as UserConfig);
      } catch (e) {
        caught = e;
      }
      expect(caught, field).toBeInstanceOf(HivecastError);
      expect((caught as HivecastError).code).toBe("CONFIG_INVALID");
      expect((caught as HivecastError).details["field"]).toBe(field);
    }
    expect(() => resolveConfig({ requestSetup: "sign" as never })).toThrow(/requestSetup/);
    expect(() => resolveConfig({ origins: [A], pathways: { x: B } })).toThrow(/pathways\.x/);
  });
});

describe("requestSetup signs each request for its origin", () => {
  it("failover and range splitting over three origins with three secrets work because every request is signed for its own origin", async () => {
    const net = signedNet();
    const data = bytes(3 * 512 * 1024, 5);
    net.files.set("v/big.ts", data);
    net.files.set(
      "v/index.m3u8",
      `#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-HIVECAST-SHA256:${await sha(data)}\n#EXTINF:4,\nbig.ts\n#EXT-X-ENDLIST\n`,
    );
    // A fails every segment request after its token checked out: failover to B and C.
    const tokenCheck = net.faults.get(A)!;
    net.faults.set(
      A,
      (call) => tokenCheck(call) ?? (call.path === "v/big.ts" ? { status: 503 } : undefined),
    );
    const contexts: RequestContext[] = [];
    const setup = signer(5000);
    const engine = engineOn(net, {
      requestSetup: (ctx) => {
        contexts.push(ctx);
        return setup(ctx);
      },
      http: {
        segmentRetry: FAST_RETRY,
        playlistRetry: FAST_RETRY,
        splitThresholdBytes: 512 * 1024,
        minRangeBytes: 128 * 1024,
      },
    });
    // hls.js asks with A's token in the URL: it must never reach B or C.
    const playlistUrl = sign(`${A}v/index.m3u8`, "secret-a", 5000);
    await engine.loadPlaylist(playlistUrl);
    const r = await engine.loadSegment({
      url: sign(`${A}v/big.ts`, "secret-a", 5000),
      kind: "segment",
      playlistUrl,
    });
    expect(sameBytes(r.data, data)).toBe(true);
    const seg = net.callsTo("v/big.ts");
    expect(seg.filter((c) => c.range !== undefined).length).toBeGreaterThan(1); // split
    expect(new Set(seg.filter((c) => c.origin !== A).map((c) => c.origin))).toEqual(
      new Set([B, C]),
    );
    // Every request to B and C carried its own origin's valid token (none got 401/403).
    for (const c of net.calls)
      expect([c.origin, tokenProblem(c, 1000)]).toEqual([c.origin, undefined]);
    expect(contexts.some((c) => c.kind === "playlist")).toBe(true);
    expect(contexts.some((c) => c.kind === "segment" && c.range !== undefined)).toBe(true);
    expect(contexts.every((c) => c.resourceUrl.startsWith(A))).toBe(true);
    engine.destroy();
  });

  it("without requestSetup, the other origins refuse A's URLs (dropped token): the same failover cannot happen", async () => {
    const net = signedNet();
    net.files.set("v/s.ts", bytes(1000));
    const tokenCheck = net.faults.get(A)!;
    net.faults.set(A, (call) => tokenCheck(call) ?? { status: 503 });
    const engine = engineOn(net, { integrity: "off" });
    const url = sign(`${A}v/s.ts`, "secret-a", 5000);
    const e: unknown = await engine
      .loadSegment({ url, kind: "segment", playlistUrl: `${A}v/index.m3u8` })
      .catch((x: unknown) => x);
    expect((e as HivecastError).code).toBe("ALL_ORIGINS_FAILED");
    expect(net.calls.filter((c) => c.origin !== A).map((c) => tokenProblem(c, 1000))).toEqual([
      401, 401,
    ]);
    engine.destroy();
  });

  it("an expired token is refreshed once on 401/403 and the origin is not held responsible", async () => {
    let now = 1000;
    const net = signedNet(() => now);
    net.files.set("v/s.ts", bytes(2000));
    const refreshes: string[] = [];
    const engine = engineOn(net, {
      integrity: "off",
      requestSetup: (ctx) => {
        if (ctx.refresh) refreshes.push(ctx.origin);
        // A cached token that has expired by the time it is used; a refresh signs anew.
        return { url: sign(ctx.url, SECRETS[ctx.origin] ?? "", ctx.refresh ? now + 60_000 : 1500) };
      },
    });
    now = 2000;
    const r = await engine.loadSegment({
      url: `${A}v/s.ts`,
      kind: "segment",
      playlistUrl: `${A}v/i.m3u8`,
    });
    expect(r.origin).toBe(A);
    expect(refreshes).toEqual([A]);
    expect(net.calls.map((c) => [c.origin, tokenProblem(c, now)])).toEqual([
      [A, 403],
      [A, undefined],
    ]);
    expect(engine.stats.byOrigin[A]?.failures).toBe(0);
    expect(engine.stats.byOrigin[A]?.state).toBe("healthy");
    engine.destroy();
  });

  it("a wrong token penalises only that origin; the others keep serving", async () => {
    const net = signedNet();
    for (let i = 0; i < 4; i++) net.files.set(`v/s${i}.ts`, bytes(1000, i));
    const wrong = { ...SECRETS, [C]: "not-c's-secret" };
    const engine = engineOn(net, {
      origins: [C, A, B],
      integrity: "off",
      http: { segmentRetry: FAST_RETRY, breakerThreshold: 1 },
      requestSetup: signer(5000, wrong),
    });
    const states: Array<[string, string]> = [];
    engine.on("originStateChanged", (e) => states.push([e.origin, e.state]));
    // C is first in config order, so it is asked first (and its breaker opens at once).
    for (let i = 0; i < 4; i++) {
      const r = await engine.loadSegment({
        url: `${C}v/s${i}.ts`,
        kind: "segment",
        playlistUrl: `${C}v/i.m3u8`,
      });
      expect(r.origin).not.toBe(C);
      expect(sameBytes(r.data, bytes(1000, i))).toBe(true);
    }
    const s = engine.stats.byOrigin;
    expect(s[C]?.failures).toBeGreaterThan(0);
    expect([s[A]?.failures, s[B]?.failures]).toEqual([0, 0]);
    expect(states).toContainEqual([C, "open"]);
    expect(states.some(([o]) => o !== C)).toBe(false);
    // C was asked twice per attempt at most: the token, then one refresh.
    const toC = net.calls.filter((c) => c.origin === C);
    expect(toC.every((c) => tokenProblem(c, 1000) === 403)).toBe(true);
    engine.destroy();
  });

  it("per-origin headers and credentials are sent, requestSetup's headers merge over them", async () => {
    const seen: Array<{ url: string; init: RequestInit | undefined }> = [];
    const net = new FakeNet();
    net.files.set("v/s.ts", bytes(10));
    const fetch: typeof globalThis.fetch = (input, init) => {
      seen.push({ url: String(input), init });
      return net.fetch(input, init);
    };
    const engine = new Engine(
      {
        integrity: "off",
        origins: [
          { url: A, headers: { "X-Cdn": "a", "X-Both": "origin" }, credentials: "include" },
        ],
        requestSetup: () => ({ init: { headers: { "X-Both": "hook" } } }),
      },
      { fetch, clock: testClock, peerSourceFactory: undefined },
    );
    await engine.loadSegment({ url: `${A}v/s.ts`, kind: "segment", playlistUrl: `${A}v/i.m3u8` });
    const h = new Headers(seen[0]?.init?.headers);
    expect([h.get("x-cdn"), h.get("x-both"), seen[0]?.init?.credentials]).toEqual([
      "a",
      "hook",
      "include",
    ]);
    engine.destroy();
  });

  it("config.fetch is used; a throwing or bad requestSetup fails that attempt with REQUEST_SETUP, never as the origin's fault", async () => {
    const net = new FakeNet();
    net.files.set("v/s.ts", bytes(10));
    const errors: HivecastError[] = [];
    const engine = new Engine(
      {
        integrity: "off",
        origins: [...ORIGINS],
        fetch: net.fetch,
        http: { segmentRetry: { ...FAST_RETRY, maxNumRetry: 2 } },
        requestSetup: (ctx) => {
          if (ctx.origin === A) throw new Error("no key for A");
          if (ctx.origin === B) return { url: "javascript:alert(1)" };
          return undefined;
        },
      },
      { clock: testClock, random: seededRandom(1), peerSourceFactory: undefined },
    );
    engine.on("error", (e) => errors.push(e));
    const r = await engine.loadSegment({
      url: `${A}v/s.ts`,
      kind: "segment",
      playlistUrl: `${A}v/i.m3u8`,
    });
    expect(r.origin).toBe(C);
    expect(net.calls.map((c) => c.origin)).toEqual([C]);
    expect([engine.stats.byOrigin[A]?.failures, engine.stats.byOrigin[B]?.failures]).toEqual([
      0, 0,
    ]);
    expect(errors).toEqual([]);
    engine.destroy();
  });
});
