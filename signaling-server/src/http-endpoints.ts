import type { IncomingMessage, ServerResponse } from "node:http";
import { admit } from "./admission.js";
import type { SignalingConfig } from "./config.js";
import { buildIceResponse, parseIceServerUrl, type IceServerUrl } from "./ice.js";
import type { Logger } from "./logger.js";
import type { SignalingMetrics } from "./metrics.js";
import type { SignalingStats } from "./tracker.js";

/**
 * Plain HTTP on the tracker's port: `GET /healthz`, `GET /metrics`, `GET /ice`, and a 426 on `/`
 * and `/announce` for clients that forgot the WebSocket upgrade.
 */

/** What the endpoints read from the server. */
export interface HttpSource {
  readonly config: Readonly<SignalingConfig>;
  readonly log: Logger;
  readonly metricsRegistry: SignalingMetrics;
  stats(): SignalingStats;
  /** True once `close()` was called. */
  isClosing(): boolean;
}

export class HttpEndpoints {
  /** `config.iceServers`, parsed (validated by `resolveConfig`). */
  private readonly iceUrls: IceServerUrl[];

  constructor(private readonly src: HttpSource) {
    this.iceUrls = src.config.iceServers.flatMap((raw) => {
      const u = parseIceServerUrl(raw);
      return typeof u === "string" ? [] : [u];
    });
  }

  /** The `request` handler of the HTTP server. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path === "/ice" && (req.method === "GET" || req.method === "OPTIONS")) {
      this.ice(req, res);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/healthz") {
      const ok = !this.src.isClosing();
      res.writeHead(ok ? 200 : 503, {
        "content-type": "application/json",
        "cache-control": "no-store",
      });
      res.end(JSON.stringify({ status: ok ? "ok" : "shutting_down", ...this.src.stats() }));
      return;
    }
    if (path === "/metrics") {
      const registry = this.src.metricsRegistry.registry;
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          this.src.log.error("metrics failed", { err: String(err) });
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(path === "/" || path === "/announce" ? 426 : 404, {
      "content-type": "text/plain",
    });
    res.end(
      path === "/" || path === "/announce"
        ? "WebSocket tracker: connect with ws://\n"
        : "not found\n",
    );
  }

  /**
   * `GET /ice`: the ICE servers, TURN entries with fresh credentials. Same Origin and token
   * checks as the upgrade; a refused request gets its status and no credentials. CORS: the
   * allowed Origin is echoed (`*` without an allowlist); `OPTIONS` answers a preflight.
   */
  private ice(req: IncomingMessage, res: ServerResponse): void {
    const { config, log, metricsRegistry } = this.src;
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "cache-control": "no-store",
    };
    const preflight = req.method === "OPTIONS";
    const admission = preflight
      ? admit({ allowedOrigins: config.allowedOrigins, tokenSecret: null }, req, Date.now())
      : admit(config, req, Date.now());
    if (!admission.ok) {
      metricsRegistry.iceRequests.labels(admission.reason).inc();
      log.debug("ice request refused", { status: admission.status, reason: admission.reason });
      res.writeHead(admission.status, headers).end(JSON.stringify({ error: admission.reason }));
      return;
    }
    const origin = req.headers.origin;
    if (config.allowedOrigins.length === 0) {
      headers["access-control-allow-origin"] = "*";
    } else if (typeof origin === "string") {
      headers["access-control-allow-origin"] = origin;
      headers.vary = "Origin";
    }
    if (preflight) {
      headers["access-control-allow-methods"] = "GET";
      headers["access-control-max-age"] = "600";
      res.writeHead(204, headers).end();
      return;
    }
    if (this.iceUrls.length === 0) {
      metricsRegistry.iceRequests.labels("not_configured").inc();
      res.writeHead(404, headers).end(JSON.stringify({ error: "ice_not_configured" }));
      return;
    }
    const body = buildIceResponse(
      this.iceUrls,
      config.turnSecret,
      config.turnTtlS,
      Date.now(),
      admission.claims?.sub,
    );
    metricsRegistry.iceRequests.labels("ok").inc();
    res.writeHead(200, headers).end(JSON.stringify(body));
  }
}
