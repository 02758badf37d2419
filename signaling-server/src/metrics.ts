import { statfs } from "node:fs/promises";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { RejectReason } from "./protocol.js";

/** Message types counted in and out. */
export type MessageType =
  | "announce"
  | "answer"
  | "scrape"
  | "offer_relay"
  | "answer_relay"
  | "reply"
  | "failure"
  | "invalid";

/** Label values of the rejected-messages counter. */
export type RejectLabel = RejectReason | "too_large" | "bad_frame";

/** Live numbers the gauges read at scrape time. */
export interface GaugeSource {
  connections(): number;
  swarms(): number;
  peers(): number;
}

/** Prometheus metrics of one server (own registry, so several servers can run in one process). */
export class SignalingMetrics {
  readonly registry = new Registry();
  /**
   * Message counts kept as plain numbers on the hot path and handed to prom-client when
   * scraped: a labelled prom-client `inc` hashes its labels on every call, several times per
   * relay.
   */
  private readonly inCounts = new Map<MessageType, number>();
  private readonly outCounts = new Map<MessageType, number>();
  private readonly rejectedCounter: Counter<"reason">;
  private readonly rejectedByReason = new Map<string, Counter.Internal>();
  /** Time from receiving an offer/answer to handing the relayed message to the socket. */
  readonly relayLatency: Histogram;
  /** Connections refused at the upgrade, by reason. */
  readonly refusedUpgrades: Counter<"reason">;
  /** `/ice` requests, by result (`ok`, `not_configured`, or why it was refused). */
  readonly iceRequests: Counter<"result">;

  constructor(source: GaugeSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "hivecast_signaling_" });
    new Gauge({
      name: "hivecast_signaling_disk_free_bytes",
      help: "Free bytes (available to this user) on the file system of the working directory (logs)",
      registers,
      async collect() {
        try {
          const s = await statfs(process.cwd());
          this.set(s.bavail * s.bsize);
        } catch {
          // an unreadable working directory reports nothing rather than failing the scrape
        }
      },
    });
    new Gauge({
      name: "hivecast_signaling_connections",
      help: "Open WebSocket connections",
      registers,
      collect() {
        this.set(source.connections());
      },
    });
    new Gauge({
      name: "hivecast_signaling_swarms",
      help: "Swarms (info hashes) with at least one peer",
      registers,
      collect() {
        this.set(source.swarms());
      },
    });
    new Gauge({
      name: "hivecast_signaling_peers",
      help: "Peers over all swarms",
      registers,
      collect() {
        this.set(source.peers());
      },
    });
    const counted = (name: string, help: string, counts: Map<MessageType, number>): void => {
      new Counter({
        name,
        help,
        labelNames: ["type"],
        registers,
        collect() {
          this.reset();
          for (const [type, n] of counts) this.inc({ type }, n);
        },
      });
    };
    counted("hivecast_signaling_messages_in_total", "Messages received, by type", this.inCounts);
    counted("hivecast_signaling_messages_out_total", "Messages sent, by type", this.outCounts);
    this.rejectedCounter = new Counter({
      name: "hivecast_signaling_rejected_messages_total",
      help: "Messages refused or dropped, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.refusedUpgrades = new Counter({
      name: "hivecast_signaling_refused_upgrades_total",
      help: "WebSocket upgrades refused, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.iceRequests = new Counter({
      name: "hivecast_signaling_ice_requests_total",
      help: "GET /ice requests, by result (ok, not_configured, or why it was refused)",
      labelNames: ["result"],
      registers,
    });
    this.relayLatency = new Histogram({
      name: "hivecast_signaling_relay_latency_seconds",
      help: "Time from receiving an offer or answer to queueing its relay",
      buckets: [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1],
      registers,
    });
  }

  /** Counts one received message. */
  in(type: MessageType): void {
    this.inCounts.set(type, (this.inCounts.get(type) ?? 0) + 1);
  }

  /** Counts `n` sent messages. */
  out(type: MessageType, n = 1): void {
    this.outCounts.set(type, (this.outCounts.get(type) ?? 0) + n);
  }

  /** Counts one refused or dropped message. */
  rejected(reason: RejectLabel): void {
    let c = this.rejectedByReason.get(reason);
    if (c === undefined) {
      c = this.rejectedCounter.labels(reason);
      this.rejectedByReason.set(reason, c);
    }
    c.inc();
  }
}
