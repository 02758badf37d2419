import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, WebSocket } from "ws";
import { admitUpgrade, refuseUpgrade } from "./admission.js";
import { resolveConfig, type SignalingConfig } from "./config.js";
import { CloseCodes } from "./connection.js";
import { SignalingError } from "./errors.js";
import { HttpEndpoints } from "./http-endpoints.js";
import { Logger, type LogSink } from "./logger.js";
import { SignalingMetrics } from "./metrics.js";
import { Tracker, type SignalingStats } from "./tracker.js";

/**
 * The signaling server: one HTTP server whose upgrades (admitted by `admission.ts`) become
 * tracker connections (`tracker.ts`, `connection.ts`) and whose plain requests are the HTTP
 * endpoints (`http-endpoints.ts`); this file wires them, listens and shuts down.
 */

export { CloseCodes } from "./connection.js";
export type { SignalingStats } from "./tracker.js";

/** A running signaling server. */
export interface SignalingServer {
  /** Tracker URL for clients, e.g. `ws://127.0.0.1:8090` (IPv6 hosts in brackets). */
  readonly url: string;
  /** Base HTTP URL (`/healthz`, `/metrics`, `/ice`). */
  readonly httpUrl: string;
  /** The bound port (useful with `port: 0`). */
  readonly port: number;
  /** The resolved, frozen config. */
  readonly config: Readonly<SignalingConfig>;
  /** Prometheus metrics text, as served on `/metrics`. */
  metrics(): Promise<string>;
  /** Current counts. */
  stats(): SignalingStats;
  /**
   * Graceful shutdown: stop accepting, close every socket with 1001, terminate those still open
   * after `shutdownTimeoutMs`, then resolve. Idempotent.
   */
  close(): Promise<void>;
}

/** Injectable dependencies (tests). */
export interface SignalingDeps {
  /** Where JSON log lines go (default: stderr). */
  logSink?: LogSink;
  /** Random source for peer selection (default: `Math.random`). */
  random?: () => number;
}

/** Injectable dependencies (tests). */
export interface SignalingDeps {
  /** Where JSON log lines go (default: stderr). */
  logSink?: LogSink;
  /** Random source for peer selection (default: `Math.random`). */
  random?: () => number;
}

class SignalingServerImpl implements SignalingServer {
  url = "";
  httpUrl = "";
  port = 0;
  readonly metricsRegistry: SignalingMetrics;
  readonly log: Logger;
  private readonly tracker: Tracker;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    readonly config: Readonly<SignalingConfig>,
    deps: SignalingDeps,
  ) {
    this.log = new Logger(config.logLevel, deps.logSink);
    this.metricsRegistry = new SignalingMetrics({
      connections: () => this.tracker.conns.size,
      swarms: () => this.tracker.swarmCount,
      peers: () => this.tracker.peers,
    });
    this.tracker = new Tracker(config, this.log, this.metricsRegistry, deps.random ?? Math.random);
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: config.maxPayload,
      perMessageDeflate: false,
    });
    const endpoints = new HttpEndpoints(this);
    this.http = createServer((req, res) => endpoints.handle(req, res));
    this.http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    this.http.on("clientError", (_err, socket) => socket.destroy());
  }

  async listen(): Promise<void> {
    const { port, host } = this.config;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(
          new SignalingError("listen_failed", `cannot listen on ${host}:${port}: ${err.message}`, {
            cause: err,
          }),
        );
      this.http.once("error", onError);
      this.http.listen(port, host, () => {
        this.http.off("error", onError);
        resolve();
      });
    });
    this.http.on("error", (err) => this.log.error("http server error", { err: err.message }));
    const addr = this.http.address() as AddressInfo;
    this.port = addr.port;
    const h = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    this.url = `ws://${h}:${addr.port}`;
    this.httpUrl = `http://${h}:${addr.port}`;
    this.sweepTimer = setInterval(() => this.tracker.sweep(), this.config.pingIntervalMs);
    this.sweepTimer.unref();
    this.log.info("signaling server listening", {
      url: this.url,
      maxPayload: this.config.maxPayload,
    });
  }

  metrics(): Promise<string> {
    return this.metricsRegistry.registry.metrics();
  }

  stats(): SignalingStats {
    return this.tracker.stats();
  }

  isClosing(): boolean {
    return this.closing !== null;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refusal = admitUpgrade(
      this.config,
      req,
      { closing: this.closing !== null, connections: this.tracker.conns.size },
      Date.now(),
    );
    if (refusal !== null) {
      this.metricsRegistry.refusedUpgrades.labels(refusal.reason).inc();
      this.log.debug("upgrade refused", { status: refusal.status, reason: refusal.reason });
      refuseUpgrade(socket, refusal.status, refusal.reason);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.closing !== null) {
        ws.close(CloseCodes.goingAway, "server shutting down");
        return;
      }
      this.tracker.accept(ws, socket, req);
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.log.info("signaling server shutting down", { connections: this.tracker.conns.size });
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    const httpClosed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    const sockets = [...this.tracker.conns];
    const closed = sockets.map(
      (conn) =>
        new Promise<void>((resolve) => {
          if (conn.ws.readyState === WebSocket.CLOSED) return resolve();
          conn.ws.once("close", () => resolve());
          conn.flush();
          conn.ws.close(CloseCodes.goingAway, "server shutting down");
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.config.shutdownTimeoutMs);
    });
    await Promise.race([Promise.all(closed), timedOut]);
    clearTimeout(timer);
    for (const conn of sockets) {
      if (conn.ws.readyState !== WebSocket.CLOSED) conn.ws.terminate();
      this.tracker.onClose(conn);
    }
    this.http.closeAllConnections();
    await httpClosed;
    this.wss.close();
    this.log.info("signaling server closed");
  }
}

/**
 * Starts a signaling server (WebTorrent tracker protocol over WebSocket) and resolves once it
 * listens. Config is `Partial<SignalingConfig>` merged over `DEFAULT_CONFIG`.
 * @throws SignalingError `config_invalid` or `listen_failed`.
 */
export async function startSignalingServer(
  opts: Partial<SignalingConfig> = {},
  deps: SignalingDeps = {},
): Promise<SignalingServer> {
  const server = new SignalingServerImpl(resolveConfig(opts), deps);
  await server.listen();
  return server;
}
