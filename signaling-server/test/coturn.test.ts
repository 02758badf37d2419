import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSignalingToken,
  mintTurnCredential,
  startSignalingServer,
  type IceResponse,
  type SignalingServer,
} from "../src/index.js";
import { hasTurnserver, startCoturn, type Coturn } from "./coturn.js";
import { turnAllocate } from "./turn-client.js";

const available = hasTurnserver();
if (!available) {
  console.warn(
    "coturn.test.ts SKIPPED: `turnserver` is not installed (Debian package coturn; " +
      "scripts/ensure.sh --system installs it). TURN credentials are not checked against coturn.",
  );
}

const SECRET = "coturn-test-shared-secret";
const TOKEN_SECRET = "0123456789abcdef-token-secret";
const ORIGIN = "https://viewer.example";

describe.skipIf(!available)("TURN credentials against a real coturn (use-auth-secret)", () => {
  let coturn: Coturn | undefined;
  let server: SignalingServer | undefined;

  beforeAll(async () => {
    coturn = await startCoturn(SECRET);
    server = await startSignalingServer({
      port: 0,
      host: "127.0.0.1",
      logLevel: "silent",
      iceServers: [`stun:127.0.0.1:${coturn.port}`, `turn:127.0.0.1:${coturn.port}?transport=udp`],
      turnSecret: SECRET,
      turnTtlS: 600,
      allowedOrigins: [ORIGIN],
      tokenSecret: TOKEN_SECRET,
    });
  }, 30_000);

  afterAll(async () => {
    await server?.close();
    await coturn?.stop();
  });

  function env(): { coturn: Coturn; server: SignalingServer } {
    if (coturn === undefined || server === undefined) throw new Error("setup failed");
    return { coturn, server };
  }

  async function iceFromServer(): Promise<{ username: string; credential: string }> {
    const { server } = env();
    const token = createSignalingToken(TOKEN_SECRET, {
      exp: Math.floor(Date.now() / 1000) + 60,
      sub: "viewer-7",
    });
    const res = await fetch(`${server.httpUrl}/ice?token=${token}`, {
      headers: { origin: ORIGIN },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as IceResponse;
    const turn = body.iceServers.find((s) => s.urls.some((u) => u.startsWith("turn:")));
    if (turn?.username === undefined || turn.credential === undefined)
      throw new Error(`no TURN entry: ${JSON.stringify(body)}`);
    expect(turn.username).toMatch(/^[0-9]+:viewer-7$/);
    return { username: turn.username, credential: turn.credential };
  }

  it("credentials minted by GET /ice get a TURN allocation from coturn", async () => {
    const { coturn } = env();
    const { username, credential } = await iceFromServer();
    const r = await turnAllocate("127.0.0.1", coturn.port, username, credential);
    expect(r, coturn.log()).toMatchObject({ ok: true });
    if (r.ok) expect(r.relayed).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("forged credentials (other secret, or a username edited to live longer) are refused with 401", async () => {
    const { coturn } = env();
    const forged = mintTurnCredential("not-the-coturn-secret", 600, Date.now(), "mallory");
    expect(
      await turnAllocate("127.0.0.1", coturn.port, forged.username, forged.credential),
    ).toMatchObject({
      ok: false,
      code: 401,
    });
    const { username, credential } = await iceFromServer();
    const [expiry, id] = username.split(":");
    const stretched = `${Number(expiry) + 86_400}:${id}`;
    expect(await turnAllocate("127.0.0.1", coturn.port, stretched, credential)).toMatchObject({
      ok: false,
      code: 401,
    });
  });

  it("expired credentials (right secret, expiry in the past) are refused with 401", async () => {
    const { coturn } = env();
    const expired = mintTurnCredential(SECRET, 60, Date.now() - 3_600_000, "late-viewer");
    expect(Number(expired.username.split(":")[0])).toBeLessThan(Date.now() / 1000);
    expect(
      await turnAllocate("127.0.0.1", coturn.port, expired.username, expired.credential),
    ).toMatchObject({
      ok: false,
      code: 401,
    });
    // The same id with a fresh expiry is accepted: only the expiry made the difference.
    const fresh = mintTurnCredential(SECRET, 60, Date.now(), "late-viewer");
    expect(
      await turnAllocate("127.0.0.1", coturn.port, fresh.username, fresh.credential),
    ).toMatchObject({
      ok: true,
    });
  });
});
