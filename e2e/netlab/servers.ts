/**
 * The NAT lab's servers, run by the lab inside its public namespace
 * (`ip netns exec <ns> tsx e2e/netlab/servers.ts <options.json>`): dev origins on the fixture's
 * simulated live stream, the signaling server and the page server, all on the lab's public
 * address, plus (bench) a per-viewer byte-counting proxy in front of the origins.
 *
 * Prints one JSON line `{ origins, tracker, pages, proxy }` when listening. Each line on stdin
 * is a command answered by one JSON line: `proxy` → the proxy's counters. Exits on SIGTERM or
 * when stdin closes.
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { startOrigins } from "@hivecast/origin";
import { startSignalingServer } from "@hivecast/signaling-server";
import { startPageServer } from "../page-server.js";
import { mediaDir } from "../swarm-env.js";
import { startCountingProxy, type CountingProxy } from "../../bench/swarm/lib.js";

interface Options {
  host: string;
  pages: Record<string, string>;
  origins: number;
  liveWindow: number;
  proxy: boolean;
  iceServers: string[];
  turnSecret: string | null;
  turnTtlS: number;
}

function parseOptions(path: string | undefined): Options {
  if (!path) throw new Error("usage: servers.ts <options.json>");
  const x: unknown = JSON.parse(readFileSync(path, "utf8"));
  if (typeof x !== "object" || x === null) throw new Error("options: not an object");
  const o = x as Record<string, unknown>;
  if (typeof o.host !== "string") throw new Error("options: host");
  const pages: Record<string, string> = {};
  if (typeof o.pages === "object" && o.pages !== null)
    for (const [k, v] of Object.entries(o.pages)) if (typeof v === "string") pages[k] = v;
  const int = (v: unknown, d: number): number =>
    typeof v === "number" && Number.isInteger(v) && v > 0 ? v : d;
  return {
    host: o.host,
    pages,
    origins: int(o.origins, 1),
    liveWindow: int(o.liveWindow, 6),
    proxy: o.proxy === true,
    iceServers: Array.isArray(o.iceServers)
      ? o.iceServers.filter((u): u is string => typeof u === "string")
      : [],
    turnSecret: typeof o.turnSecret === "string" ? o.turnSecret : null,
    turnTtlS: int(o.turnTtlS, 3600),
  };
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv[2]);
  const origins = await startOrigins({
    dir: mediaDir,
    origins: opts.origins,
    port: 0,
    host: opts.host,
    liveWindow: opts.liveWindow,
  });
  // `GET /ice` on the signaling port hands out the lab's STUN/TURN URLs, TURN entries with
  // credentials minted from coturn's `static-auth-secret`.
  const signaling = await startSignalingServer({
    port: 0,
    host: opts.host,
    logLevel: "warn",
    iceServers: opts.iceServers,
    turnSecret: opts.turnSecret,
    turnTtlS: opts.turnTtlS,
  });
  const pages = await startPageServer(opts.pages, opts.host);
  const proxy: CountingProxy | null = opts.proxy
    ? await startCountingProxy(origins.urls, opts.host)
    : null;
  let closing = false;
  const close = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    await proxy?.close();
    await pages.close();
    await signaling.close();
    await origins.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void close());
  process.on("SIGINT", () => void close());
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (cmd) => {
    if (cmd.trim() === "proxy" && proxy) {
      const viewers: Record<string, unknown> = {};
      for (let v = 0; v < 256; v++) {
        const c = proxy.viewer(v);
        if (c.requests > 0) viewers[v] = c;
      }
      process.stdout.write(
        `${JSON.stringify({ total: proxy.total(), viewers, copies: [...proxy.segmentCopies().values()] })}\n`,
      );
    } else process.stdout.write(`${JSON.stringify({ error: `unknown command ${cmd}` })}\n`);
  });
  lines.on("close", () => void close());
  process.stdout.write(
    `${JSON.stringify({
      origins: origins.urls,
      tracker: signaling.url,
      pages: pages.url,
      proxy: proxy ? proxy.baseFor(0, 0).replace(/\/v0\/o0\/$/, "") : null,
    })}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(
    `netlab servers: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(1);
});
