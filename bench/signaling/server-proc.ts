/**
 * One tracker under test, in its own process (pinned to one core by the orchestrator):
 * `hivecast` (our server), `bittorrent-tracker` (its Server, WebSocket only) or `ws-floor` (the
 * least a tracker on Node + `ws` does per relay, floor-server.ts).
 * Talks to the orchestrator over IPC; see protocol.ts.
 */
import { Server as BittorrentTrackerServer } from "bittorrent-tracker";
import type { AddressInfo } from "node:net";
import { startSignalingServer } from "../../signaling-server/src/index.js";
import { startFloorServer } from "./floor-server.js";
import { isObject, type ServerReply } from "./protocol.js";

const kind = process.argv[2];
const send = (m: ServerReply): void => {
  process.send?.(m);
};
const gc = (globalThis as { gc?: () => void }).gc;

async function start(): Promise<{ port: number; close: () => Promise<void> }> {
  if (kind === "hivecast") {
    const s = await startSignalingServer({
      port: 0,
      host: "127.0.0.1",
      logLevel: "warn",
      // The load generator sends far more per connection than a viewer; keep limits out of the way.
      messageRatePerSecond: 100_000,
      messageBurst: 100_000,
      maxConnections: 1_000_000,
    });
    return { port: s.port, close: () => s.close() };
  }
  if (kind === "bittorrent-tracker") {
    const s = new BittorrentTrackerServer({ http: false, udp: false, ws: true, stats: false });
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    const port = (s.http?.address() as AddressInfo).port;
    return { port, close: () => new Promise<void>((resolve) => s.close(() => resolve())) };
  }
  if (kind === "ws-floor") return startFloorServer();
  throw new Error(`unknown server kind ${String(kind)}`);
}

const server = await start();
process.on("message", (m: unknown) => {
  if (!isObject(m)) return;
  if (m.type === "mem") {
    for (let i = 0; i < 3; i++) gc?.();
    setTimeout(() => {
      const u = process.memoryUsage();
      send({ type: "mem", rss: u.rss, heapUsed: u.heapUsed });
    }, 300);
  } else if (m.type === "cpu") {
    const c = process.cpuUsage();
    send({ type: "cpu", userUs: c.user, systemUs: c.system });
  } else if (m.type === "stop") {
    void Promise.race([server.close(), new Promise((r) => setTimeout(r, 3000))]).then(() =>
      process.exit(0),
    );
  }
});
send({ type: "ready", port: server.port });
