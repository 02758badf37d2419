import type { UserConfig } from "@hivecast/core";
import type Hls from "hls.js";
import type { HlsConfig } from "hls.js";
import { Hivecast } from "./hivecast.js";

/** Config of {@link playWithHivecast}: Hivecast's own, plus hls.js's under `hls`. */
export type PlayWithHivecastConfig = UserConfig & {
  /** Passed to `new Hls(...)` (Hivecast adds its loaders). */
  hls?: Partial<HlsConfig>;
};

/** What {@link playWithHivecast} started. */
export interface HivecastPlayback {
  /** The hls.js player (absent on the native fallback). */
  hls?: Hls;
  /** The Hivecast instance (absent on the native fallback). */
  hivecast?: Hivecast;
  /** True when the browser's own HLS plays the URL, without Hivecast (no MSE). */
  native: boolean;
  /** Stops playback and releases everything. Idempotent. */
  destroy(): void;
}

/**
 * Plays `url` in `video` with hls.js + Hivecast wherever hls.js works (`Hls.isSupported()`, i.e.
 * Media Source Extensions are there). Only without MSE (iPhone Safari before iOS 17.1) does it
 * fall back to the browser's native HLS — without Hivecast. `canPlayType` is not consulted first
 * on purpose: Chromium answers "maybe" for HLS, but hls.js is the path with Hivecast in it.
 *
 * @param Hls the hls.js class, passed in so this package never bundles hls.js.
 */
export function playWithHivecast(
  video: HTMLVideoElement,
  url: string,
  Hls: typeof import("hls.js").default,
  config: PlayWithHivecastConfig = {},
): HivecastPlayback {
  const { hls: hlsConfig, ...hivecastConfig } = config;
  if (!Hls.isSupported()) {
    video.src = url;
    let done = false;
    return {
      native: true,
      destroy(): void {
        if (done) return;
        done = true;
        video.removeAttribute("src");
        video.load();
      },
    };
  }
  const hivecast = new Hivecast(hivecastConfig);
  let hls: Hls;
  try {
    hls = new Hls(hivecast.hlsConfig(hlsConfig));
    hivecast.attach(hls);
  } catch (e) {
    hivecast.destroy();
    throw e;
  }
  hls.loadSource(url);
  hls.attachMedia(video);
  let done = false;
  return {
    hls,
    hivecast,
    native: false,
    destroy(): void {
      if (done) return;
      done = true;
      hls.destroy();
      hivecast.destroy();
    },
  };
}
