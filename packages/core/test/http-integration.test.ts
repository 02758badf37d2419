/// <reference types="node" />
/**
 * The engine against real HTTP servers on 127.0.0.1 (port 0) with the real fetch: byte ranges,
 * truncation by a real socket close, and failover — what the in-memory fake cannot prove.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Engine } from "../src/engine.js";
import { bytes, sameBytes, sha } from "./fake-net.js";

type Mode = "ok" | "503" | "truncate" | "ignore-range";

interface Origin {
  base: string;
  server: Server;
  mode: Mode;
  requests: Array<{ path: string; range: string | undefined }>;
}

const files = new Map<string, Uint8Array>();

function handle(origin: Origin, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  origin.requests.push({ path, range: req.headers.range });
  if (origin.mode === "503") {
    res.writeHead(503).end();
    return;
  }
  const file = files.get(path);
  if (!file) {
    res.writeHead(404).end();
    return;
  }
  const m =
    origin.mode === "ignore-range" ? null : /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
  const start = m ? Number(m[1]) : 0;
  const end = m ? Math.min(Number(m[2]) + 1, file.length) : file.length;
  const body = file.subarray(start, end);
  const headers: Record<string, string | number> = {
    "content-length": body.length,
    "content-type": "video/mp2t",
  };
  if (m) headers["content-range"] = `bytes ${start}-${end - 1}/${file.length}`;
  res.writeHead(m ? 206 : 200, headers);
  if (origin.mode === "truncate") {
    // Headers promise the whole body; the connection dies halfway.
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
    return;
  }
  res.end(body);
}

async function startOrigin(): Promise<Origin> {
  const origin: Origin = { base: "", server: createServer(), mode: "ok", requests: [] };
  origin.server.on("request", (req: IncomingMessage, res: ServerResponse) =>
    handle(origin, req, res),
  );
  await new Promise<void>((resolve) => origin.server.listen(0, "127.0.0.1", resolve));
  origin.base = `http://127.0.0.1:${(origin.server.address() as AddressInfo).port}/live/`;
  return origin;
}

let running: Origin[] = [];
afterEach(async () => {
  await Promise.all(
    running.map(
      (o) =>
        new Promise<void>((resolve) => {
          o.server.closeAllConnections();
          o.server.close(() => resolve());
        }),
    ),
  );
  running = [];
});

describe("Engine over real HTTP origins", () => {
  it("splits a large segment over three real origins, survives a truncating one, and verifies it", async () => {
    running = await Promise.all([startOrigin(), startOrigin(), startOrigin()]);
    const [a, b, c] = running;
    if (!a || !b || !c) throw new Error("origins did not start");
    const segment = bytes(3 * 1024 * 1024 + 17, 5);
    files.set("/live/v/seg0.ts", segment);
    files.set(
      "/live/v/index.m3u8",
      new TextEncoder().encode(
        `#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-HIVECAST-SHA256:${await sha(segment)}\n#EXTINF:4,\nseg0.ts\n#EXT-X-ENDLIST\n`,
      ),
    );
    const engine = new Engine({ origins: running.map((o) => o.base) });
    const playlistUrl = `${a.base}v/index.m3u8`;
    const pl = await engine.loadPlaylist(playlistUrl);
    expect(pl.origin).toBe(a.base);

    b.mode = "truncate";
    const r = await engine.loadSegment({ url: `${a.base}v/seg0.ts`, kind: "segment", playlistUrl });
    expect(r.verified).toBe(true);
    expect(sameBytes(r.data, segment)).toBe(true);
    // The split used ranges; b's range died halfway and was refetched from another origin.
    expect(b.requests.filter((q) => q.path === "/live/v/seg0.ts").length).toBeGreaterThan(0);
    expect([...a.requests, ...c.requests].some((q) => q.range !== undefined)).toBe(true);
    expect(engine.stats.retries).toBeGreaterThan(0);
    expect(engine.stats.byOrigin[b.base]?.failures).toBeGreaterThan(0);
    engine.destroy();
  });

  it("fails over from a 503 origin and slices a range from a server that ignores Range", async () => {
    running = await Promise.all([startOrigin(), startOrigin()]);
    const [a, b] = running;
    if (!a || !b) throw new Error("origins did not start");
    files.set("/live/v/all.mp4", bytes(50_000, 8));
    a.mode = "503";
    b.mode = "ignore-range";
    const engine = new Engine({ origins: running.map((o) => o.base), integrity: "off" });
    const r = await engine.loadSegment({
      url: `${a.base}v/all.mp4?token=x`,
      kind: "segment",
      playlistUrl: `${a.base}v/index.m3u8`,
      byteRange: { start: 1000, end: 4000 },
    });
    expect(r.origin).toBe(b.base);
    expect(sameBytes(r.data, bytes(50_000, 8).subarray(1000, 4000))).toBe(true);
    expect(a.requests[0]?.range).toBe("bytes=1000-3999");
    engine.destroy();
  });
});
