import { describe, expect, it } from "vitest";
import {
  deadlineMsFor,
  hashFromTagList,
  type PlaybackView,
  segmentRequestOf,
} from "../src/segment-request.js";
import { frag, fragmentContext } from "./helpers.js";

const HEX = "bbbf1fce85b9f40112d25c45d35c944a9346563814034e76fe4640564c454910";

function playback(over: Partial<PlaybackView> = {}): PlaybackView {
  return {
    media: { currentTime: 10, playbackRate: 1, paused: false },
    levels: [{ details: { live: true, url: "https://a.example/live/v0/index.m3u8" } }],
    audioTracks: [{ details: { live: false, url: "https://a.example/live/audio.m3u8" } }],
    subtitleTracks: [],
    ...over,
  };
}

describe("hashFromTagList", () => {
  it("reads #EXT-X-HIVECAST-SHA256 the way hls.js keeps unknown tags", () => {
    expect(
      hashFromTagList([
        ["INF", "2"],
        ["EXT-X-HIVECAST-SHA256", HEX],
      ]),
    ).toBe(HEX);
  });

  it("lowercases and trims the hex", () => {
    expect(hashFromTagList([["EXT-X-HIVECAST-SHA256", ` ${HEX.toUpperCase()} `]])).toBe(HEX);
  });

  it("ignores malformed values and other tags", () => {
    expect(hashFromTagList([["EXT-X-HIVECAST-SHA256", "abc"]])).toBeUndefined();
    expect(hashFromTagList([["EXT-X-HIVECAST-SHA256"]])).toBeUndefined();
    expect(hashFromTagList([["EXT-X-OTHER", HEX]])).toBeUndefined();
    expect(hashFromTagList([["EXT-X-HIVECAST-SHA256", `${HEX}00`]])).toBeUndefined();
    expect(hashFromTagList(undefined)).toBeUndefined();
  });

  it("takes the first well-formed tag", () => {
    const other = "a".repeat(64);
    expect(
      hashFromTagList([
        ["EXT-X-HIVECAST-SHA256", "zz"],
        ["EXT-X-HIVECAST-SHA256", other],
        ["EXT-X-HIVECAST-SHA256", HEX],
      ]),
    ).toBe(other);
  });
});

describe("deadlineMsFor", () => {
  it("is (start − currentTime) / playbackRate in ms while playing", () => {
    expect(deadlineMsFor(14, { currentTime: 10, playbackRate: 1, paused: false })).toBe(4000);
    expect(deadlineMsFor(14, { currentTime: 10, playbackRate: 2, paused: false })).toBe(2000);
    expect(deadlineMsFor(14, { currentTime: 10, playbackRate: 0.5, paused: false })).toBe(8000);
  });

  it("is 0 for a segment already due", () => {
    expect(deadlineMsFor(8, { currentTime: 10, playbackRate: 1, paused: false })).toBe(0);
  });

  it("is undefined when paused, stopped (rate 0), reversed or without media", () => {
    expect(deadlineMsFor(14, { currentTime: 10, playbackRate: 1, paused: true })).toBeUndefined();
    expect(deadlineMsFor(14, { currentTime: 10, playbackRate: 0, paused: false })).toBeUndefined();
    expect(deadlineMsFor(14, { currentTime: 10, playbackRate: -1, paused: false })).toBeUndefined();
    expect(deadlineMsFor(14, null)).toBeUndefined();
    expect(
      deadlineMsFor(Number.NaN, { currentTime: 10, playbackRate: 1, paused: false }),
    ).toBeUndefined();
  });

  it("is undefined while nothing is at the playhead: unpaused before the first frame (autoplay), or stalled", () => {
    const at = (readyState: number) =>
      deadlineMsFor(14, { currentTime: 10, playbackRate: 1, paused: false, readyState });
    expect(at(0)).toBeUndefined(); // HAVE_NOTHING: play() called, no segment yet
    expect(at(1)).toBeUndefined(); // HAVE_METADATA: init segment only, or stalled
    expect(at(2)).toBe(4000);
    expect(at(4)).toBe(4000);
  });
});

describe("segmentRequestOf", () => {
  it("maps a media segment: url, sn, duration, hash, live, playlist url, deadline", () => {
    const f = frag({
      tagList: [
        ["INF", "2"],
        ["EXT-X-HIVECAST-SHA256", HEX],
      ],
    });
    const req = segmentRequestOf(fragmentContext(f), playback());
    expect(req).toEqual({
      url: "https://a.example/live/v0/seg_7.m4s",
      kind: "segment",
      playlistUrl: "https://a.example/live/v0/index.m3u8",
      sn: 7,
      duration: 2,
      hash: HEX,
      live: true,
      deadlineMs: 4000,
    });
  });

  it("maps an init segment (sn 'initSegment') to kind init, without sn or deadline", () => {
    const f = frag({ sn: "initSegment", start: 0, duration: 0 });
    const req = segmentRequestOf(
      fragmentContext(f, { url: "https://a.example/live/v0/init.mp4" }),
      playback(),
    );
    expect(req.kind).toBe("init");
    expect(req.url).toBe("https://a.example/live/v0/init.mp4");
    expect(req.sn).toBeUndefined();
    expect(req.duration).toBeUndefined();
    expect(req.deadlineMs).toBeUndefined();
  });

  it("maps hls.js's exclusive rangeEnd to an exclusive byte range and keeps the hash of that range", () => {
    const f = frag({
      byteRangeStartOffset: 1000,
      byteRangeEndOffset: 3000,
      tagList: [["EXT-X-HIVECAST-SHA256", HEX]],
    });
    const req = segmentRequestOf(
      fragmentContext(f, { rangeStart: 1000, rangeEnd: 3000 }),
      playback(),
    );
    expect(req.byteRange).toEqual({ start: 1000, end: 3000 });
    expect(req.hash).toBe(HEX);
  });

  it("maps an init segment byte range (EXT-X-MAP BYTERANGE)", () => {
    const f = frag({ sn: "initSegment", byteRangeStartOffset: 0, byteRangeEndOffset: 720 });
    const req = segmentRequestOf(fragmentContext(f, { rangeStart: 0, rangeEnd: 720 }), undefined);
    expect(req).toMatchObject({ kind: "init", byteRange: { start: 0, end: 720 } });
  });

  it("treats rangeEnd 0 as the whole resource", () => {
    const req = segmentRequestOf(
      fragmentContext(frag(), { rangeStart: 0, rangeEnd: 0 }),
      undefined,
    );
    expect(req.byteRange).toBeUndefined();
  });

  it("drops the hash when hls.js widened the range (AES-CBC alignment) or asks for an LL-HLS part", () => {
    const f = frag({
      byteRangeStartOffset: 1001,
      byteRangeEndOffset: 3001,
      tagList: [["EXT-X-HIVECAST-SHA256", HEX]],
    });
    const widened = segmentRequestOf(
      fragmentContext(f, { rangeStart: 992, rangeEnd: 3008 }),
      undefined,
    );
    expect(widened.byteRange).toEqual({ start: 992, end: 3008 });
    expect(widened.hash).toBeUndefined();

    const g = frag({ tagList: [["EXT-X-HIVECAST-SHA256", HEX]] });
    const part = segmentRequestOf(
      fragmentContext(g, { url: "https://a.example/live/v0/seg_7.part1.m4s" }),
      undefined,
    );
    expect(part.hash).toBe(HEX);
    const ctx = fragmentContext(g, { url: "https://a.example/live/v0/seg_7.part1.m4s" });
    const withPart = { ...ctx, part: { start: 14.5, duration: 0.5 } };
    const partReq = segmentRequestOf(withPart, playback());
    expect(partReq.hash).toBeUndefined();
    expect(partReq.sn).toBeUndefined();
    expect(partReq.duration).toBe(0.5);
    expect(partReq.deadlineMs).toBe(4500);
  });

  it("reads the live flag from the fragment's own level or audio track", () => {
    expect(segmentRequestOf(fragmentContext(frag()), playback()).live).toBe(true);
    expect(segmentRequestOf(fragmentContext(frag({ type: "audio" })), playback()).live).toBe(false);
    expect(segmentRequestOf(fragmentContext(frag({ level: 3 })), playback()).live).toBeUndefined();
    expect(segmentRequestOf(fragmentContext(frag()), undefined).live).toBeUndefined();
  });

  it("falls back to the level's playlist url when the fragment has no baseurl", () => {
    const req = segmentRequestOf(fragmentContext(frag({ baseurl: "" })), playback());
    expect(req.playlistUrl).toBe("https://a.example/live/v0/index.m3u8");
  });

  it("has no deadline before attach, while paused and without media", () => {
    expect(segmentRequestOf(fragmentContext(frag()), undefined).deadlineMs).toBeUndefined();
    const paused = playback({ media: { currentTime: 10, playbackRate: 1, paused: true } });
    expect(segmentRequestOf(fragmentContext(frag()), paused).deadlineMs).toBeUndefined();
    expect(
      segmentRequestOf(fragmentContext(frag()), playback({ media: null })).deadlineMs,
    ).toBeUndefined();
  });
});
