/**
 * ICE configuration: `p2p.iceServers` validation, the `p2p.iceServersUrl` provider (fetch,
 * cache, refresh before expiry, fallback with warnings, hostile replies) and `allowRelay`'s
 * TURN filter. Fake timers and a scripted fetch; nothing leaves the process.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { resolveConfig, type P2PConfig } from "../src/config.js";
import { isHivecastError } from "../src/errors.js";
import type { WarningKind } from "../src/events.js";
import {
  ICE_FETCH_TIMEOUT_MS,
  ICE_SERVERS_WAIT_MS,
  IceServerProvider,
  MAX_ICE_RESPONSE_BYTES,
  checkIceServers,
  parseIceServersReply,
} from "../src/p2p/ice-servers.js";
import { FAKE, seeded, testClock } from "./p2p-helpers.js";

const ICE_URL = "http://127.0.0.1:9/ice";
const STUN = { urls: "stun:127.0.0.1:3478" };
const TURN = { urls: ["turn:127.0.0.1:3478?transport=udp"], username: "1:p", credential: "c" };

beforeEach(() => {
  vi.useFakeTimers(FAKE);
});
afterEach(() => {
  vi.useRealTimers();
});

function configError(p2p: Record<string, unknown>): { field: unknown; message: string } {
  try {
    resolveConfig({ p2p: p2p as Partial<P2PConfig> });
  } catch (e) {
    if (!isHivecastError(e) || e.code !== "CONFIG_INVALID") throw e;
    return { field: e.details?.field, message: e.message };
  }
  throw new Error("expected CONFIG_INVALID");
}

describe("p2p.iceServers / iceServersUrl / allowRelay / connectRetry validation", () => {
  it("accepts STUN and TURN servers and keeps only known fields", () => {
    const c = resolveConfig({
      p2p: { iceServers: [STUN, { ...TURN, extra: 1 } as RTCIceServer], iceServersUrl: ICE_URL },
    });
    expect(c.p2p.iceServers).toHaveLength(2);
    expect(checkIceServers([{ ...TURN, extra: 1 }], "x")).toEqual({ ok: true, servers: [TURN] });
    expect(c.p2p.allowRelay).toBe(true);
    expect(c.p2p.iceServers).not.toBe(undefined);
    expect(resolveConfig({}).p2p.iceServers).toBeUndefined(); // no public STUN by default
  });

  it.each([
    [{ iceServers: "stun:x" }, "p2p.iceServers", /expected an array/],
    [{ iceServers: [{ urls: "http://127.0.0.1/" }] }, "p2p.iceServers", /urls: expected a stun:/],
    [{ iceServers: [{ urls: [] }] }, "p2p.iceServers", /expected 1 to/],
    [{ iceServers: [{ urls: [42] }] }, "p2p.iceServers", /urls\[0\]: expected a string/],
    [{ iceServers: [{ urls: "turn:127.0.0.1" }] }, "p2p.iceServers", /needs `username`/],
    [{ iceServers: [{ ...STUN, username: 5 }] }, "p2p.iceServers", /username: expected a string/],
    [{ iceServers: [null] }, "p2p.iceServers", /expected an object/],
    [{ iceServersUrl: "ftp://127.0.0.1/ice" }, "p2p.iceServersUrl", /protocol/],
    [{ allowRelay: "no" }, "p2p.allowRelay", /boolean/],
    [
      {
        connectRetry: {
          maxNumRetry: -1,
          retryDelayMs: 1,
          maxRetryDelayMs: 1,
          backoff: "linear",
          jitter: 0,
        },
      },
      "p2p.connectRetry.maxNumRetry",
      /number/,
    ],
  ])("rejects %j with CONFIG_INVALID naming the field", (p2p, field, why) => {
    const e = configError(p2p);
    expect(e.field).toBe(field);
    expect(e.message).toMatch(why);
  });
});

describe("parseIceServersReply", () => {
  it("reads iceServers with ttlSeconds, or expiresAt (unix seconds) when there is no ttl", () => {
    const now = 1_700_000_000_000;
    const a = parseIceServersReply(
      JSON.stringify({ iceServers: [STUN, TURN], ttlSeconds: 600 }),
      now,
    );
    expect(a).toEqual({ ok: true, reply: { iceServers: [STUN, TURN], ttlMs: 600_000 } });
    const b = parseIceServersReply(
      JSON.stringify({ iceServers: [STUN], expiresAt: now / 1000 + 60 }),
      now,
    );
    expect(b).toEqual({ ok: true, reply: { iceServers: [STUN], ttlMs: 60_000 } });
    const c = parseIceServersReply(JSON.stringify({ iceServers: [] }), now);
    expect(c).toEqual({ ok: true, reply: { iceServers: [], ttlMs: undefined } });
  });

  it.each([
    ["not json", /not JSON/],
    ["[]", /not a JSON object/],
    ['{"iceServers":{}}', /expected an array/],
    ['{"iceServers":[{"urls":"https://127.0.0.1/"}]}', /stun:, stuns:, turn: or turns:/],
    ['{"iceServers":[{"urls":"javascript:alert(1)"}]}', /stun:, stuns:, turn: or turns:/],
    ['{"iceServers":[],"ttlSeconds":-5}', /ttlSeconds/],
    ['{"iceServers":[],"ttlSeconds":"600"}', /ttlSeconds/],
    ['{"iceServers":[],"expiresAt":1}', /expired/],
    [JSON.stringify({ iceServers: Array.from({ length: 40 }, () => STUN) }), /more than/],
    [" ".repeat(MAX_ICE_RESPONSE_BYTES + 1), /too large/],
  ])("rejects %s", (text, why) => {
    const r = parseIceServersReply(text, 1_700_000_000_000);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(why);
  });
});

/** A scripted fetch: each call takes the next reply (a function of the call number). */
function scriptedFetch(reply: (n: number) => Promise<Response>): {
  fetch: typeof fetch;
  calls: () => number;
} {
  let n = 0;
  const f = (_url: string | URL | Request, _init?: RequestInit): Promise<Response> => reply(++n);
  return { fetch: f as typeof fetch, calls: () => n };
}

function json(body: unknown, init: ResponseInit = {}): Promise<Response> {
  return Promise.resolve(new Response(JSON.stringify(body), { status: 200, ...init }));
}

function provider(
  p2p: Partial<P2PConfig>,
  f: typeof fetch | undefined,
): { ice: IceServerProvider; warnings: Array<{ kind: WarningKind; message: string }> } {
  const warnings: Array<{ kind: WarningKind; message: string }> = [];
  const ice = new IceServerProvider({
    config: resolveConfig({ p2p: { enabled: true, ...p2p } }).p2p,
    clock: testClock,
    random: seeded(3),
    fetch: f,
    now: () => 1_700_000_000_000,
    onWarning: (kind, message) => warnings.push({ kind, message }),
  });
  return { ice, warnings };
}

async function settleReady(ice: IceServerProvider): Promise<void> {
  const r = ice.ready();
  if (r) {
    await vi.advanceTimersByTimeAsync(0);
    await r;
  }
}

describe("IceServerProvider", () => {
  it("fetches the list once started, uses it, and refreshes it at 70–80 % of its ttl", async () => {
    const f = scriptedFetch((n) =>
      json({ iceServers: [{ ...TURN, credential: `c${n}` }], ttlSeconds: 100 }),
    );
    const { ice, warnings } = provider({ iceServersUrl: ICE_URL, iceServers: [STUN] }, f.fetch);
    expect(f.calls()).toBe(0); // nothing before start
    expect(ice.servers()).toEqual([STUN]);
    await settleReady(ice);
    expect(f.calls()).toBe(1);
    expect(ice.rtcConfig().iceServers).toEqual([{ ...TURN, credential: "c1" }]);
    await vi.advanceTimersByTimeAsync(69_000);
    expect(f.calls()).toBe(1);
    await vi.advanceTimersByTimeAsync(11_000); // 80 s: refreshed before the 100 s expiry
    expect(f.calls()).toBe(2);
    expect(ice.servers()).toEqual([{ ...TURN, credential: "c2" }]);
    expect(warnings).toEqual([]);
    ice.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a failed fetch falls back to the explicit list with one warning, retries, and never throws", async () => {
    const f = scriptedFetch((n) =>
      n === 1
        ? Promise.reject(new TypeError("network down"))
        : json({ iceServers: [TURN], ttlSeconds: 600 }),
    );
    const { ice, warnings } = provider({ iceServersUrl: ICE_URL, iceServers: [STUN] }, f.fetch);
    await settleReady(ice);
    expect(ice.servers()).toEqual([STUN]);
    expect(warnings.map((w) => w.kind)).toEqual(["ice-servers-unavailable"]);
    expect(warnings[0]?.message).toMatch(/network down.*p2p.iceServers/);
    await vi.advanceTimersByTimeAsync(60_000); // retried (30 s ± 25 %)
    expect(f.calls()).toBe(2);
    expect(ice.servers()).toEqual([TURN]);
    ice.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });

  it.each([
    ["bad JSON", () => Promise.resolve(new Response("{oops", { status: 200 }))],
    ["HTTP 403", () => Promise.resolve(new Response("no", { status: 403 }))],
    ["an http: URL as ICE server", () => json({ iceServers: [{ urls: "http://127.0.0.1/x" }] })],
    [
      "an oversize body (declared)",
      () =>
        Promise.resolve(
          new Response("{}", { status: 200, headers: { "content-length": String(1 << 20) } }),
        ),
    ],
    [
      "an oversize body (streamed, no length)",
      () => {
        const chunk = new Uint8Array(16 * 1024).fill(32);
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent++ < 100) c.enqueue(chunk);
            else c.close();
          },
        });
        return Promise.resolve(new Response(body, { status: 200 }));
      },
    ],
  ])("%s: rejected with a warning, the explicit list stays in use", async (_name, reply) => {
    const f = scriptedFetch(reply);
    const { ice, warnings } = provider({ iceServersUrl: ICE_URL, iceServers: [STUN] }, f.fetch);
    await settleReady(ice);
    expect(ice.servers()).toEqual([STUN]);
    expect(warnings.map((w) => w.kind)).toEqual(["ice-servers-unavailable"]);
    ice.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("peer creation waits for the first fetch at most ICE_SERVERS_WAIT_MS; a hung fetch times out", async () => {
    const f = scriptedFetch(
      (_n) => new Promise<Response>(() => undefined), // never answers
    );
    const { ice, warnings } = provider({ iceServersUrl: ICE_URL, iceServers: [STUN] }, f.fetch);
    let ready = false;
    void ice.ready()?.then(() => (ready = true));
    await vi.advanceTimersByTimeAsync(ICE_SERVERS_WAIT_MS - 1);
    expect(ready).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(ready).toBe(true);
    expect(ice.servers()).toEqual([STUN]);
    expect(warnings).toEqual([]);
    // The fetch ignores its abort signal; destroy still ends the wait and every timer.
    ice.destroy();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(ICE_FETCH_TIMEOUT_MS).toBeGreaterThan(ICE_SERVERS_WAIT_MS);
  });

  it("a fetch that hangs is abandoned after ICE_FETCH_TIMEOUT_MS with a warning", async () => {
    const f = scriptedFetch(() => new Promise<Response>(() => undefined));
    const { ice, warnings } = provider({ iceServersUrl: ICE_URL }, f.fetch);
    ice.start();
    await vi.advanceTimersByTimeAsync(ICE_FETCH_TIMEOUT_MS - 1);
    expect(warnings).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(warnings.map((w) => w.kind)).toEqual(["ice-servers-unavailable"]);
    expect(warnings[0]?.message).toMatch(/timed out/);
    ice.destroy();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("once the fetched list expires and refreshes keep failing, the explicit list is used again", async () => {
    const f = scriptedFetch((n) =>
      n === 1 ? json({ iceServers: [TURN], ttlSeconds: 60 }) : Promise.reject(new Error("down")),
    );
    const { ice, warnings } = provider({ iceServersUrl: ICE_URL, iceServers: [STUN] }, f.fetch);
    await settleReady(ice);
    expect(ice.servers()).toEqual([TURN]);
    await vi.advanceTimersByTimeAsync(50_000); // refresh failed: kept while valid
    expect(warnings[0]?.message).toMatch(/keeping the list/);
    expect(ice.servers()).toEqual([TURN]);
    await vi.advanceTimersByTimeAsync(11_000); // past 60 s: expired TURN credentials are useless
    expect(ice.servers()).toEqual([STUN]);
    ice.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("no STUN/TURN anywhere: one ice-servers-missing warning, however many peers are made", () => {
    const { ice, warnings } = provider({}, undefined);
    expect(ice.ready()).toBeUndefined(); // nothing to wait for
    for (let i = 0; i < 3; i++) expect(ice.rtcConfig()).toEqual({ iceServers: [] });
    expect(warnings.map((w) => w.kind)).toEqual(["ice-servers-missing"]);
    expect(warnings[0]?.message).toMatch(/same network/);
  });

  it("explicit iceServers replace rtcConfig.iceServers; other rtcConfig fields are kept", () => {
    const { ice, warnings } = provider(
      {
        rtcConfig: { iceServers: [{ urls: "stun:127.0.0.2" }], iceCandidatePoolSize: 2 },
        iceServers: [STUN],
      },
      undefined,
    );
    expect(ice.rtcConfig()).toEqual({ iceServers: [STUN], iceCandidatePoolSize: 2 });
    const only = provider({ rtcConfig: { iceServers: [{ urls: "stun:127.0.0.2" }] } }, undefined);
    expect(only.ice.rtcConfig().iceServers).toEqual([{ urls: "stun:127.0.0.2" }]);
    expect([...warnings, ...only.warnings]).toEqual([]);
  });

  it("allowRelay false leaves TURN URLs out of the configuration", () => {
    const mixed = { urls: ["stun:127.0.0.1", "turns:127.0.0.1"], username: "u", credential: "c" };
    const { ice } = provider({ iceServers: [TURN, mixed], allowRelay: false }, undefined);
    expect(ice.rtcConfig().iceServers).toEqual([{ ...mixed, urls: ["stun:127.0.0.1"] }]);
  });
});
