import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createHmac } from "node:crypto";
import {
  SignalingError,
  buildIceResponse,
  mintTurnCredential,
  parseCli,
  parseIceServerUrl,
  resolveConfig,
  type IceServerUrl,
} from "../src/index.js";

const SECRET = "coturn-static-auth-secret";

function parsed(raw: string): IceServerUrl {
  const u = parseIceServerUrl(raw);
  if (typeof u === "string") throw new Error(`${raw}: ${u}`);
  return u;
}

describe("TURN REST credentials (coturn use-auth-secret)", () => {
  it("matches vectors computed independently with `openssl dgst -sha1 -hmac <secret> -binary | base64`", () => {
    // printf %s "1700000000:peer-a" | openssl dgst -sha1 -hmac coturn-static-auth-secret -binary | base64
    expect(mintTurnCredential(SECRET, 3600, 1_699_996_400_000, "peer-a")).toEqual({
      username: "1700000000:peer-a",
      credential: "hJYYVMoQsr+zzskjViN2Elwf5LE=",
      expiresAt: 1_700_000_000,
    });
    expect(mintTurnCredential(SECRET, 600, 1_796_233_486_999, "alice")).toEqual({
      username: "1796234086:alice",
      credential: "ysUgQtd8rPwP+ptpzfeQnJ/PvOA=",
      expiresAt: 1_796_234_086,
    });
    expect(mintTurnCredential("0123456789abcdef", 86_400, 1_700_000_000_000, "viewer_1")).toEqual({
      username: "1700086400:viewer_1",
      credential: "9MJ40PmX98iXmqCFlWjswRtb1Ys=",
      expiresAt: 1_700_086_400,
    });
  });

  it("unsafe or missing ids become a random hex id; the username always parses as <expiry>:<id>", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 16, maxLength: 64 }),
        fc.integer({ min: 60, max: 604_800 }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
        (secret, ttl, now, id) => {
          const c = mintTurnCredential(secret, ttl, now, id);
          const m = /^([0-9]+):([A-Za-z0-9._-]{1,64})$/.exec(c.username);
          expect(m).not.toBeNull();
          expect(Number(m?.[1])).toBe(Math.floor(now / 1000) + ttl);
          expect(c.expiresAt).toBe(Math.floor(now / 1000) + ttl);
          if (id !== undefined && /^[A-Za-z0-9._-]{1,64}$/.test(id)) expect(m?.[2]).toBe(id);
          else expect(m?.[2]).toMatch(/^[0-9a-f]{16}$/);
          const raw = Buffer.from(c.credential, "base64");
          expect(raw.length).toBe(20);
          expect(raw.toString("base64")).toBe(c.credential);
          expect(c.credential).toBe(createHmac("sha1", secret).update(c.username).digest("base64"));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("two random ids differ, so two viewers never share a username", () => {
    const a = mintTurnCredential(SECRET, 60, 0);
    const b = mintTurnCredential(SECRET, 60, 0);
    expect(a.username).not.toBe(b.username);
  });
});

describe("ICE server URLs", () => {
  it("accepts stun:, stuns:, turn:, turns: with a host, a port and a TURN transport", () => {
    expect(parsed("stun:stun.example.test")).toEqual({
      url: "stun:stun.example.test",
      scheme: "stun",
      host: "stun.example.test",
      port: null,
      transport: null,
    });
    expect(parsed("TURN:127.0.0.1:3478?transport=tcp")).toMatchObject({
      url: "turn:127.0.0.1:3478?transport=tcp",
      scheme: "turn",
      port: 3478,
      transport: "tcp",
    });
    expect(parsed("turns:[::1]:5349")).toMatchObject({ host: "[::1]", port: 5349 });
    expect(parsed("stuns:localhost:5349")).toMatchObject({ scheme: "stuns" });
    expect(parsed("turn:turn-1.example.org?transport=udp")).toMatchObject({ transport: "udp" });
  });

  it.each([
    ["", /empty/],
    ["http://example.com", /must start with stun:/],
    ["turn://example.com:3478", /"\/\/"/],
    ["stun:", /<scheme>:<host>/],
    ["stun:host:0", /port out of/],
    ["stun:host:70000", /port out of/],
    ["stun:host:12a", /<scheme>:<host>/],
    ["stun:host?transport=udp", /TURN URLs only/],
    ["turn:host?transport=sctp", /<scheme>:<host>/],
    ["turn:host?foo=bar", /<scheme>:<host>/],
    ["turn:user@host", /<scheme>:<host>/],
    ["turn:[1::2::3]:3478", /IPv6/],
    ["turn:999.1.1.1", /IPv4/],
    ["turn:-bad-.example", /<scheme>:<host>/],
    ["turn:host name", /<scheme>:<host>/],
    [`turn:${"a".repeat(600)}`, /longer than/],
  ])("refuses %j", (raw, why) => {
    const u = parseIceServerUrl(raw);
    expect(typeof u).toBe("string");
    expect(u).toMatch(why);
  });

  it("never throws on arbitrary strings; accepted URLs keep their shape", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (raw) => {
        const u = parseIceServerUrl(raw);
        if (typeof u !== "string") expect(u.url).toMatch(/^(stuns?|turns?):[^\s/@]+$/);
      }),
      { numRuns: 500 },
    );
  });
});

describe("ICE config", () => {
  it("reads --ice-servers, --turn-ttl-s and the secret from HIVECAST_TURN_SECRET", () => {
    const req = parseCli(
      [
        "--ice-servers",
        "stun:127.0.0.1:3478, turn:127.0.0.1:3478?transport=udp",
        "--turn-ttl-s=600",
      ],
      { HIVECAST_TURN_SECRET: "a-turn-secret-of-16" },
    );
    if (req.kind !== "run") throw new Error("expected run");
    expect(req.config).toMatchObject({
      iceServers: ["stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp"],
      turnSecret: "a-turn-secret-of-16",
      turnTtlS: 600,
    });
    // The flag wins over the environment.
    const flag = parseCli(["--ice-servers", "turn:h", "--turn-secret", "flag-secret-16-chars"], {
      HIVECAST_TURN_SECRET: "env-secret-16-chars!",
    });
    expect(flag.kind === "run" && flag.config.turnSecret).toBe("flag-secret-16-chars");
  });

  it("bad ICE settings are typed config errors naming the flag", () => {
    const err = (f: () => unknown): SignalingError => {
      try {
        f();
      } catch (e) {
        if (e instanceof SignalingError) return e;
        throw e;
      }
      throw new Error("did not throw");
    };
    const e1 = err(() => parseCli(["--ice-servers", "stun:ok,http://evil"], {}));
    expect(e1.code).toBe("config_invalid");
    expect(e1.message).toMatch(/--ice-servers.*"http:\/\/evil" must start with stun:/);
    expect(err(() => resolveConfig({ iceServers: ["turn:h"] })).message).toMatch(
      /--turn-secret.*required/,
    );
    expect(
      err(() => resolveConfig({ iceServers: ["stun:h"], turnSecret: "x".repeat(16) })).message,
    ).toMatch(/--turn-secret.*no turn/);
    expect(
      err(() => resolveConfig({ iceServers: ["turn:h"], turnSecret: "short" })).message,
    ).toMatch(/--turn-secret.*at least 16/);
    expect(err(() => resolveConfig({ turnTtlS: 10 })).message).toMatch(/turnTtlS.*\[60, 604800\]/);
    expect(err(() => parseCli(["--turn-ttl-s", "1e9"], {})).code).toBe("config_invalid");
    expect(
      err(() => resolveConfig({ iceServers: Array.from({ length: 17 }, () => "stun:h") })).message,
    ).toMatch(/more than 16/);
    expect(err(() => resolveConfig({ iceServers: [42] as unknown as string[] })).message).toMatch(
      /array of STUN\/TURN URLs/,
    );
  });

  it("builds one STUN entry without credentials and one TURN entry with fresh ones", () => {
    const urls = ["stun:127.0.0.1:3478", "turn:127.0.0.1:3478", "turns:h:5349?transport=tcp"].map(
      parsed,
    );
    const r = buildIceResponse(urls, SECRET, 3600, 1_699_996_400_000, "peer-a");
    expect(r).toEqual({
      iceServers: [
        { urls: ["stun:127.0.0.1:3478"] },
        {
          urls: ["turn:127.0.0.1:3478", "turns:h:5349?transport=tcp"],
          username: "1700000000:peer-a",
          credential: "hJYYVMoQsr+zzskjViN2Elwf5LE=",
        },
      ],
      ttlSeconds: 3600,
      expiresAt: 1_700_000_000,
    });
    expect(buildIceResponse([parsed("stun:h")], null, 60, 0).iceServers).toEqual([
      { urls: ["stun:h"] },
    ]);
  });
});
