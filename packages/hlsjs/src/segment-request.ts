import { HASH_TAG_NAME, hashFromTagValue } from "@hivecast/core";
import type { ByteRange, SegmentRequest } from "@hivecast/core";

/** The parts of an hls.js `Fragment` the adapter reads (structural, so any hls.js ≥ 1.5 fits). */
export interface FragmentView {
  sn: number | "initSegment";
  /** Playback start, seconds. */
  start: number;
  duration: number;
  /** hls.js `PlaylistLevelType`: "main" | "audio" | "subtitle". */
  type: string;
  /** Index of the level (main) or track (audio/subtitle) it belongs to. */
  level: number;
  /** URL of the media playlist the fragment came from. */
  baseurl: string;
  /** Tags hls.js did not interpret, each `[name, value?]`. */
  tagList: string[][];
  byteRangeStartOffset?: number | undefined;
  byteRangeEndOffset?: number | undefined;
}

/** The parts of an hls.js LL-HLS `Part` the adapter reads. */
export interface PartView {
  start: number;
  duration: number;
}

/** The parts of hls.js's `FragmentLoaderContext` the adapter reads. */
export interface FragmentContextView {
  url: string;
  rangeStart?: number | undefined;
  rangeEnd?: number | undefined;
  frag: FragmentView;
  part: PartView | null;
}

/** A level or track with its parsed playlist, when loaded. */
export interface TrackView {
  details?: { live: boolean; url: string } | undefined;
}

/** The media element facts a deadline needs. */
export interface MediaView {
  currentTime: number;
  playbackRate: number;
  paused: boolean;
  /** `HTMLMediaElement.readyState`; absent counts as playing (4). */
  readyState?: number;
}

/** `HTMLMediaElement.HAVE_CURRENT_DATA`: a frame at the playhead is there. */
const HAVE_CURRENT_DATA = 2;

/** The parts of an attached `Hls` instance the adapter reads (the real `Hls` satisfies it). */
export interface PlaybackView {
  readonly media: MediaView | null;
  readonly levels: readonly TrackView[];
  readonly audioTracks: readonly TrackView[];
  readonly subtitleTracks: readonly TrackView[];
}

/** The trusted SHA-256 from the fragment's `#EXT-X-HIVECAST-SHA256` tag, lowercased, if well-formed. */
export function hashFromTagList(
  tagList: readonly (readonly string[])[] | undefined,
): string | undefined {
  if (!Array.isArray(tagList)) return undefined;
  for (const tag of tagList) {
    if (!Array.isArray(tag) || tag[0] !== HASH_TAG_NAME) continue;
    const hash = hashFromTagValue(tag[1]);
    if (hash !== undefined) return hash;
  }
  return undefined;
}

/**
 * Milliseconds until playback reaches `startSec`, at the current playback rate. Undefined unless
 * media is attached and playing: then the engine has no deadline and serves as soon as it can.
 * Not paused is not enough: a page that calls `play()` before the first segment (autoplay) is
 * unpaused with nothing to show, and a stalled player waits with nothing at the playhead; both
 * need the bytes now (`readyState` below `HAVE_CURRENT_DATA`).
 */
export function deadlineMsFor(
  startSec: number,
  media: MediaView | null | undefined,
): number | undefined {
  if (!media || media.paused) return undefined;
  if ((media.readyState ?? 4) < HAVE_CURRENT_DATA) return undefined;
  const rate = media.playbackRate;
  if (!(rate > 0) || !Number.isFinite(startSec) || !Number.isFinite(media.currentTime))
    return undefined;
  return Math.max(0, ((startSec - media.currentTime) / rate) * 1000);
}

function trackOf(frag: FragmentView, view: PlaybackView | undefined): TrackView | undefined {
  if (!view) return undefined;
  const list =
    frag.type === "audio"
      ? view.audioTracks
      : frag.type === "subtitle"
        ? view.subtitleTracks
        : view.levels;
  return Array.isArray(list) ? list[frag.level] : undefined;
}

/** The byte range hls.js asked for (`rangeEnd` is exclusive, 0 meaning "whole resource"). */
function rangeOf(ctx: FragmentContextView): ByteRange | undefined {
  const start = ctx.rangeStart ?? 0;
  const end = ctx.rangeEnd ?? 0;
  if (end > 0 && Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end > start)
    return { start, end };
  return undefined;
}

/**
 * Maps one hls.js fragment load to an engine request: URL and byte range exactly as hls.js asks,
 * init vs media segment, the trusted hash from the tag list, the live flag and the playback
 * deadline. A hash is passed only when the bytes asked for are exactly the tagged segment
 * (not an LL-HLS part, not a range hls.js widened for AES-CBC alignment).
 */
export function segmentRequestOf(
  ctx: FragmentContextView,
  view: PlaybackView | undefined,
): SegmentRequest {
  const { frag, part } = ctx;
  const track = trackOf(frag, view);
  const byteRange = rangeOf(ctx);
  const isInit = frag.sn === "initSegment";
  const fragRange =
    frag.byteRangeStartOffset !== undefined && frag.byteRangeEndOffset !== undefined
      ? { start: frag.byteRangeStartOffset, end: frag.byteRangeEndOffset }
      : undefined;
  const sameBytes =
    part === null &&
    (byteRange === undefined
      ? fragRange === undefined
      : fragRange !== undefined &&
        fragRange.start === byteRange.start &&
        fragRange.end === byteRange.end);
  const req: SegmentRequest = {
    url: ctx.url,
    kind: isInit ? "init" : "segment",
    playlistUrl: frag.baseurl || track?.details?.url || ctx.url,
  };
  if (byteRange) req.byteRange = byteRange;
  if (!isInit && typeof frag.sn === "number" && part === null) req.sn = frag.sn;
  const duration = part ? part.duration : frag.duration;
  if (!isInit && Number.isFinite(duration) && duration > 0) req.duration = duration;
  const hash = sameBytes ? hashFromTagList(frag.tagList) : undefined;
  if (hash !== undefined) req.hash = hash;
  const live = track?.details?.live;
  if (typeof live === "boolean") req.live = live;
  if (!isInit) {
    const deadline = deadlineMsFor(part ? part.start : frag.start, view?.media);
    if (deadline !== undefined) req.deadlineMs = deadline;
  }
  return req;
}
