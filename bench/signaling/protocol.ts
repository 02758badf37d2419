/** IPC messages between the signaling benchmark's orchestrator and its child processes. */

/** Which tracker a server process runs (`ws-floor`: see floor-server.ts). */
export type ServerKind = "hivecast" | "bittorrent-tracker" | "ws-floor";

/** Orchestrator → server process. */
export type ServerCommand = { type: "mem" } | { type: "cpu" } | { type: "stop" };

/** Server process → orchestrator. */
export type ServerReply =
  | { type: "ready"; port: number }
  | { type: "mem"; rss: number; heapUsed: number }
  | { type: "cpu"; userUs: number; systemUs: number };

/** Offer SDP size: `tiny` (`s=<seq>` only) or `real` (a real Chromium data-channel offer). */
export type SdpKind = "tiny" | "real";

/** Orchestrator → load generator. */
export type LoadCommand =
  | {
      type: "connect";
      url: string;
      from: number;
      to: number;
      swarmSize: number;
      /** Offers per `update` announce (also its numwant). */
      offers: number;
      sdp: SdpKind;
    }
  | { type: "throughput"; seconds: number; window: number }
  | { type: "latency"; seconds: number; rate: number }
  | { type: "close" };

/** Load generator → orchestrator. */
export type LoadReply =
  | { type: "connected"; connections: number; ms: number; failed: number }
  | {
      type: "throughput";
      relays: number;
      relaysTotal: number;
      seconds: number;
      lost: number;
      cpuShare: number;
    }
  | { type: "latency"; sent: number; received: number; p50Ms: number; p99Ms: number; maxMs: number }
  | { type: "closed" };

/** Reads a typed message from IPC (values come from our own child processes). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}
