import Hls, { type ErrorData } from "hls.js";
import { Hivecast } from "@hivecast/hlsjs";
import type { HivecastStats } from "@hivecast/core";
import type { DemoConfig } from "./config.js";

/** Which stream the player shows. */
export type StreamKind = "live" | "vod";

/** Severity of an event-log line. */
export type LogLevel = "info" | "good" | "warn" | "error";

/** One line for the event log. */
export interface LogEntry {
  /** Wall-clock time (ms since epoch). */
  at: number;
  level: LogLevel;
  /** Short category shown as a tag ("segment", "peer", "origin", …). */
  tag: string;
  text: string;
}

/** What the dashboard samples once a second. */
export interface PlayerSample {
  /** `performance.now()` when taken. */
  t: number;
  stats: HivecastStats;
  /** Seconds buffered ahead of the playhead. */
  bufferSec: number;
  /** Seconds behind the live edge (`hls.latency`), or null for VOD / unknown. */
  latencySec: number | null;
  currentTime: number;
  /** Height of the rendition being played, when known. */
  levelHeight: number | null;
}

/** Options for {@link createPlayer}. */
export interface PlayerOptions {
  config: DemoConfig;
  video: HTMLVideoElement;
  stream: StreamKind;
  /** User consent for P2P. */
  p2p: boolean;
  /** Called for every event worth logging. */
  onLog: (entry: LogEntry) => void;
}

/** A running player: hls.js driven by Hivecast. */
export interface DemoPlayer {
  readonly hls: Hls;
  readonly hivecast: Hivecast;
  /** Takes a sample of stats and playback state. */
  sample(): PlayerSample;
  /** Turns P2P on or off (consent). */
  setP2P(enabled: boolean): void;
  /** Stops playback and releases everything. */
  destroy(): void;
}

const shortUrl = (u: string): string => {
  try {
    const p = new URL(u);
    return p.pathname.split("/").slice(-2).join("/");
  } catch {
    return u;
  }
};

/**
 * Short form of a peer id for the log. Tracker ids start with a client prefix shared by every
 * viewer ("-HC0001-"), so the distinctive part is the end.
 */
export function shortPeer(id: string | undefined): string {
  if (id === undefined || id === "") return "?";
  return id.length > 8 ? `…${id.slice(-6)}` : id;
}

/** Human label of an origin base URL: "origin 1 (127.0.0.1:8082)". */
export function originLabel(config: DemoConfig, origin: string | undefined): string {
  if (origin === undefined) return "origin ?";
  const i = config.origins.indexOf(origin);
  let host = origin;
  try {
    host = new URL(origin).host;
  } catch {
    // keep as is
  }
  return i >= 0 ? `origin ${i}` : host;
}

/** Seconds of media buffered ahead of the playhead. */
export function bufferAhead(video: HTMLVideoElement): number {
  const t = video.currentTime;
  const b = video.buffered;
  for (let i = 0; i < b.length; i++) {
    if (b.start(i) <= t + 0.1 && b.end(i) >= t) return Math.max(0, b.end(i) - t);
  }
  return 0;
}

/** Creates hls.js + Hivecast for `stream`, attaches to `video` and starts muted playback. */
export function createPlayer(opts: PlayerOptions): DemoPlayer {
  const { config, video, onLog } = opts;
  const log = (level: LogLevel, tag: string, text: string): void =>
    onLog({ at: Date.now(), level, tag, text });

  const hivecast = new Hivecast({
    origins: config.origins,
    integrity: "required",
    p2p: { enabled: opts.p2p, trackers: [config.tracker] },
  });
  const hls = new Hls(hivecast.hlsConfig({ enableWorker: true, lowLatencyMode: false }));
  hivecast.attach(hls);

  hivecast.on("segmentLoaded", (e) => {
    const from =
      e.source === "http"
        ? originLabel(config, e.origin)
        : e.source === "p2p"
          ? `peer ${shortPeer(e.peerId)}`
          : "cache";
    log(
      e.source === "p2p" ? "good" : "info",
      e.source,
      `${shortUrl(e.url)} ${(e.bytes / 1024).toFixed(0)} KiB from ${from} in ${Math.round(e.ms)} ms`,
    );
  });
  hivecast.on("peerConnected", (e) => log("good", "peer", `connected ${shortPeer(e.peerId)}`));
  hivecast.on("peerDisconnected", (e) =>
    log("info", "peer", `disconnected ${shortPeer(e.peerId)} (${e.reason})`),
  );
  hivecast.on("peerBanned", (e) =>
    log("error", "peer", `banned ${shortPeer(e.peerId)}: ${e.reason}`),
  );
  hivecast.on("originStateChanged", (e) =>
    log(
      e.state === "healthy" ? "good" : e.state === "open" ? "error" : "warn",
      "origin",
      `${originLabel(config, e.origin)} is ${e.state}`,
    ),
  );
  hivecast.on("integrityFailure", (e) =>
    log(
      "error",
      "integrity",
      `${shortUrl(e.url)} from ${e.source === "http" ? originLabel(config, e.origin) : `peer ${shortPeer(e.peerId)}`}: hash mismatch, discarded`,
    ),
  );
  hivecast.on("error", (e) => log(e.fatal ? "error" : "warn", "error", `${e.code}: ${e.message}`));

  hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) =>
    log("info", "hls", `manifest: ${d.levels.length} renditions`),
  );
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => {
    const level = hls.levels[d.level];
    log("info", "hls", `rendition ${d.level}${level?.height ? ` (${level.height}p)` : ""}`);
  });
  let mediaRecoveries = 0;
  hls.on(Hls.Events.ERROR, (_e, d: ErrorData) => {
    log(d.fatal ? "error" : "warn", "hls", `${d.fatal ? "fatal " : ""}${d.details}`);
    if (!d.fatal) return;
    // The usual hls.js recovery: restart loading after network errors, recover media errors twice.
    if (d.type === Hls.ErrorTypes.NETWORK_ERROR) {
      setTimeout(() => hls.startLoad(), 1000);
    } else if (d.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries++ < 2) {
      hls.recoverMediaError();
    }
  });

  video.muted = true;
  hls.attachMedia(video);
  hls.loadSource(opts.stream === "live" ? config.live : config.vod);
  void video.play().catch(() => {
    // Autoplay can be refused; the native controls let the viewer start it.
  });

  return {
    hls,
    hivecast,
    sample(): PlayerSample {
      const latency = hls.latency;
      const level = hls.currentLevel >= 0 ? hls.levels[hls.currentLevel] : undefined;
      return {
        t: performance.now(),
        stats: hivecast.stats,
        bufferSec: bufferAhead(video),
        latencySec:
          opts.stream === "live" && Number.isFinite(latency) && latency > 0 ? latency : null,
        currentTime: video.currentTime,
        levelHeight: level?.height ?? null,
      };
    },
    setP2P(enabled: boolean): void {
      hivecast.setP2PEnabled(enabled);
      log("info", "p2p", enabled ? "P2P enabled" : "P2P disabled");
    },
    destroy(): void {
      hls.destroy();
      hivecast.destroy();
      video.removeAttribute("src");
      video.load();
    },
  };
}
