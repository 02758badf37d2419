import { afterEach, describe, expect, it } from "vitest";
import { createHmac } from "node:crypto";
import {
  createSignalingToken,
  startSignalingServer,
  type IceResponse,
  type SignalingServer,
} from "../src/index.js";

const servers: SignalingServer[] = [];
const TURN_SECRET = "turn-shared-secret-16+";
const TOKEN_SECRET = "0123456789abcdef-token";
const ICE = ["stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp"];

async function server(
  opts: Parameters<typeof startSignalingServer>[0] = {},
): Promise<SignalingServer> {
  const s = await startSignalingServer({
    port: 0,
    host: "127.0.0.1",
    logLevel: "silent",
    iceServers: ICE,
    turnSecret: TURN_SECRET,
    ...opts,
  });
  servers.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe("GET /ice", () => {
  it("serves STUN without and TURN with fresh REST credentials, no-store, CORS *", async () => {
    const s = await server({ turnTtlS: 3600 });
    const before = Math.floor(Date.now() / 1000);
    const res = await fetch(`${s.httpUrl}/ice`, { headers: { origin: "https://any.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("content-type")).toBe("application/json");
    const body = (await res.json()) as IceResponse;
    expect(body.ttlSeconds).toBe(3600);
    expect(body.expiresAt).toBeGreaterThanOrEqual(before + 3600);
    expect(body.expiresAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 3600);
    expect(body.iceServers).toHaveLength(2);
    expect(body.iceServers[0]).toEqual({ urls: ["stun:127.0.0.1:3478"] });
    const turn = body.iceServers[1];
    expect(turn?.urls).toEqual(["turn:127.0.0.1:3478?transport=udp"]);
    expect(turn?.username).toMatch(new RegExp(`^${body.expiresAt}:[0-9a-f]{16}$`));
    expect(turn?.credential).toBe(
      createHmac("sha1", TURN_SECRET)
        .update(turn?.username ?? "")
        .digest("base64"),
    );
    // Every request mints its own credentials.
    const again = (await (await fetch(`${s.httpUrl}/ice`)).json()) as IceResponse;
    expect(again.iceServers[1]?.username).not.toBe(turn?.username);
    expect(await s.metrics()).toMatch(/hivecast_signaling_ice_requests_total\{result="ok"\} 2/);
  });

  it("an Origin outside the allowlist (or none) gets 403 and never credentials; an allowed one is echoed", async () => {
    const s = await server({ allowedOrigins: ["https://good.example"] });
    const refused: Array<Record<string, string>> = [{ origin: "https://evil.example" }, {}];
    for (const headers of refused) {
      const res = await fetch(`${s.httpUrl}/ice`, { headers });
      expect(res.status).toBe(403);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: "origin_not_allowed" });
      expect(text).not.toMatch(/credential|username|turn:/);
    }
    const ok = await fetch(`${s.httpUrl}/ice`, { headers: { origin: "https://good.example" } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://good.example");
    expect(ok.headers.get("vary")).toBe("Origin");
    expect(await s.metrics()).toMatch(/ice_requests_total\{result="origin_not_allowed"\} 2/);
  });

  it("a missing, forged or expired token gets 401 and never credentials; a valid one's subject names the TURN user", async () => {
    const s = await server({ tokenSecret: TOKEN_SECRET });
    const now = Math.floor(Date.now() / 1000);
    const bad = [
      "",
      `?token=${createSignalingToken(TOKEN_SECRET, { exp: now - 1 })}`,
      `?token=${createSignalingToken("another-secret-16-chars", { exp: now + 60 })}`,
      "?token=garbage",
    ];
    for (const q of bad) {
      const res = await fetch(`${s.httpUrl}/ice${q}`);
      expect(res.status).toBe(401);
      const text = await res.text();
      expect(text).toMatch(/"error":"token_/);
      expect(text).not.toMatch(/credential|username/);
    }
    const token = createSignalingToken(TOKEN_SECRET, { exp: now + 60, sub: "viewer-42" });
    const res = await fetch(`${s.httpUrl}/ice?token=${token}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as IceResponse;
    expect(body.iceServers[1]?.username).toMatch(/^[0-9]+:viewer-42$/);
    // A subject that is not safe in a TURN username is replaced by a random id.
    const odd = createSignalingToken(TOKEN_SECRET, { exp: now + 60, sub: "a:b c" });
    const oddBody = (await (await fetch(`${s.httpUrl}/ice?token=${odd}`)).json()) as IceResponse;
    expect(oddBody.iceServers[1]?.username).toMatch(/^[0-9]+:[0-9a-f]{16}$/);
    const m = await s.metrics();
    expect(m).toMatch(/ice_requests_total\{result="token_missing"\} 1/);
    expect(m).toMatch(/ice_requests_total\{result="token_forged"\} 1/);
    expect(m).toMatch(/ice_requests_total\{result="token_expired"\} 1/);
  });

  it("answers a CORS preflight for allowed origins only, and 404 when no ICE servers are configured", async () => {
    const s = await server({ allowedOrigins: ["https://good.example"] });
    const pre = await fetch(`${s.httpUrl}/ice`, {
      method: "OPTIONS",
      headers: { origin: "https://good.example", "access-control-request-method": "GET" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-methods")).toBe("GET");
    const evil = await fetch(`${s.httpUrl}/ice`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example" },
    });
    expect(evil.status).toBe(403);
    const post = await fetch(`${s.httpUrl}/ice`, { method: "POST" });
    expect(post.status).toBe(405);

    const none = await server({ iceServers: [], turnSecret: null });
    const res = await fetch(`${none.httpUrl}/ice`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "ice_not_configured" });
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("STUN-only servers need no secret and hand out no credentials", async () => {
    const s = await server({ iceServers: ["stun:127.0.0.1:3478"], turnSecret: null });
    const body = (await (await fetch(`${s.httpUrl}/ice`)).json()) as IceResponse;
    expect(body.iceServers).toEqual([{ urls: ["stun:127.0.0.1:3478"] }]);
  });
});
