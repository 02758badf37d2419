import { afterEach, describe, expect, it } from "vitest";
import { OriginError, signUrl, startOrigins, type OriginCluster } from "../src/index.js";
import { FIXTURE_DIR } from "./helpers.js";

const SEG = "v0/seg_003.m4s";
let cluster: OriginCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe("per-origin signed URLs (tokenSecrets)", () => {
  it("each origin serves only URLs signed with its own secret, until they expire", async () => {
    let now = 1_000_000;
    cluster = await startOrigins({
      dir: FIXTURE_DIR,
      origins: 3,
      tokenSecrets: ["sa", "sb"],
      clock: () => now,
    });
    const [a, b, c] = cluster.urls as [string, string, string];
    const status = async (u: string): Promise<number> => (await fetch(u)).status;
    expect(await status(`${a}${SEG}`)).toBe(401);
    expect(await status(signUrl(`${a}${SEG}`, "sa", now + 10_000))).toBe(200);
    expect(await status(signUrl(`${b}${SEG}`, "sa", now + 10_000))).toBe(403); // A's token on B
    expect(await status(signUrl(`${b}${SEG}`, "sb", now + 10_000))).toBe(200);
    expect(await status(`${c}${SEG}`)).toBe(200); // no secret: open
    const signed = signUrl(`${a}${SEG}?x=1`, "sa", now + 10_000);
    expect(await status(signed.replace("seg_003", "seg_004"))).toBe(403); // signature covers the path
    now += 20_000;
    expect(await status(signed)).toBe(403); // expired
    expect(await status(`${a}healthz`)).toBe(200); // control plane stays open
    const pre = await fetch(`${a}${SEG}`, { method: "OPTIONS" });
    expect(pre.status).toBe(204);
  });

  it("rejects an empty secret", async () => {
    await expect(
      startOrigins({ dir: FIXTURE_DIR, origins: 1, tokenSecrets: [""] }),
    ).rejects.toBeInstanceOf(OriginError);
  });
});

describe("content steering endpoint", () => {
  it("serves the steering manifest, follows setSteering, counts requests, 404 without one", async () => {
    cluster = await startOrigins({
      dir: FIXTURE_DIR,
      origins: 2,
      steering: { priority: ["b", "a"], ttl: 10 },
    });
    const url = `${cluster.urls[1]}steering.json?_HLS_pathway=a`;
    const first = (await (await fetch(url)).json()) as unknown;
    expect(first).toEqual({ VERSION: 1, TTL: 10, "PATHWAY-PRIORITY": ["b", "a"] });
    cluster.setSteering({ priority: ["a"], ttl: 1, reloadUri: "/steering.json?n=2" });
    expect(await (await fetch(url)).json()).toEqual({
      VERSION: 1,
      TTL: 1,
      "PATHWAY-PRIORITY": ["a"],
      "RELOAD-URI": "/steering.json?n=2",
    });
    expect(cluster.steeringRequests).toBe(2);
    expect(() => cluster?.setSteering({ priority: ["bad id"] })).toThrow(OriginError);
    cluster.setSteering(undefined);
    expect((await fetch(url)).status).toBe(404);
  });
});
