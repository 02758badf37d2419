import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DEFAULT_CONFIG, envName, parseCli, usage } from "../src/index.js";
import { TestClient } from "./helpers.js";

describe("CLI config", () => {
  it("reads flags over env over defaults", () => {
    const req = parseCli(
      [
        "--port",
        "9001",
        "--max-offers=5",
        "--allowed-origins",
        "https://a.example, https://b.example",
      ],
      {
        HIVECAST_SIGNALING_PORT: "9000",
        HIVECAST_SIGNALING_LOG_LEVEL: "warn",
        HIVECAST_SIGNALING_TOKEN_SECRET: "a-secret-of-16-chars",
      },
    );
    expect(req.kind).toBe("run");
    if (req.kind !== "run") return;
    expect(req.config).toMatchObject({
      port: 9001,
      maxOffers: 5,
      logLevel: "warn",
      tokenSecret: "a-secret-of-16-chars",
      allowedOrigins: ["https://a.example", "https://b.example"],
      maxPayload: DEFAULT_CONFIG.maxPayload,
    });
    expect(Object.isFrozen(req.config)).toBe(true);
    expect(envName("maxPeersPerSwarm")).toBe("HIVECAST_SIGNALING_MAX_PEERS_PER_SWARM");
  });

  it("refuses unknown flags, missing values and bad numbers, naming them", () => {
    expect(() => parseCli(["--bogus", "1"], {})).toThrow(/--bogus/);
    expect(() => parseCli(["--port"], {})).toThrow(/--port needs a value/);
    expect(() => parseCli(["--port", "http"], {})).toThrow(/`port` must be a number/);
    expect(() => parseCli([], { HIVECAST_SIGNALING_MAX_PAYLOAD: "1" })).toThrow(/`maxPayload`/);
    expect(parseCli(["--help"], {})).toEqual({ kind: "help" });
    expect(usage()).toContain("--max-peers-per-swarm");
  });

  it("hivecast-signaling starts on port 0, serves, and exits 0 on SIGTERM after closing sockets with 1001", async () => {
    const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
    const child = spawn(
      process.execPath,
      ["--import", "tsx", cli, "--port", "0", "--host", "127.0.0.1"],
      {
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, HIVECAST_SIGNALING_LOG_LEVEL: "info" },
      },
    );
    const exited = new Promise<number | null>((resolve) =>
      child.once("exit", (code) => resolve(code)),
    );
    let stderr = "";
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listen line: ${stderr}`)), 15_000);
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /"url":"(ws:\/\/127\.0\.0\.1:\d+)"/.exec(stderr);
        if (m?.[1] !== undefined) {
          clearTimeout(t);
          resolve(m[1]);
        }
      });
    });
    const ws = await TestClient.open(url);
    const health = await fetch(`${url.replace("ws:", "http:")}/healthz`);
    expect(health.status).toBe(200);
    child.kill("SIGTERM");
    expect(await ws.closed()).toBe(1001);
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/"msg":"signaling server closed"/);
  }, 30_000);
});
