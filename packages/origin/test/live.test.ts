import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOrigins, type OriginCluster } from "../src/index.js";
import { FIXTURE_DIR, json, rawRequest, sha256 } from "./helpers.js";

const K = 4;
const SEG_MS = 2000;
const T0 = 1_700_000_000_000;
let now = T0;
let cluster: OriginCluster;
let vodCount = 0;
const vodHash: string[] = [];
let initHash = "";

interface LiveView {
  mediaSequence: number;
  discontinuitySequence: number;
  uris: string[];
  hashes: string[];
  /** Index into uris of each segment preceded by EXT-X-DISCONTINUITY. */
  discontinuities: number[];
  text: string;
}

function parseLive(text: string): LiveView {
  const view: LiveView = {
    mediaSequence: -1,
    discontinuitySequence: -1,
    uris: [],
    hashes: [],
    discontinuities: [],
    text,
  };
  let disc = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) view.mediaSequence = Number(line.slice(22));
    else if (line.startsWith("#EXT-X-DISCONTINUITY-SEQUENCE:")) {
      view.discontinuitySequence = Number(line.slice(30));
    } else if (line === "#EXT-X-DISCONTINUITY") disc = true;
    else if (line.startsWith("#EXT-X-HIVECAST-SHA256:")) view.hashes.push(line.slice(23));
    else if (line !== "" && !line.startsWith("#")) {
      if (disc) view.discontinuities.push(view.uris.length);
      disc = false;
      view.uris.push(line);
    }
  }
  return view;
}

async function livePlaylist(origin = 0, path = "/live/v0/index.m3u8"): Promise<LiveView> {
  const r = await rawRequest(cluster.urls[origin] ?? "", path);
  expect(r.status).toBe(200);
  expect(r.headers["content-type"]).toBe("application/vnd.apple.mpegurl");
  return parseLive(r.body.toString("utf8"));
}

beforeAll(async () => {
  now = T0;
  cluster = await startOrigins({ dir: FIXTURE_DIR, origins: 2, liveWindow: K, clock: () => now });
  const vod = await readFile(join(FIXTURE_DIR, "v0/index.m3u8"), "utf8");
  const segs = vod.split("\n").filter((l) => l.endsWith(".m4s"));
  vodCount = segs.length;
  for (const s of segs) vodHash.push(sha256(await readFile(join(FIXTURE_DIR, "v0", s))));
  initHash = sha256(await readFile(join(FIXTURE_DIR, "v0/init_0.mp4")));
});
afterAll(() => cluster.close());

describe("simulated live", () => {
  it("starts at media sequence 0 with a full window of K segments, no ENDLIST", async () => {
    now = T0;
    const v = await livePlaylist();
    expect(v.mediaSequence).toBe(0);
    expect(v.discontinuitySequence).toBe(0);
    expect(v.uris).toEqual(["seg/0.m4s", "seg/1.m4s", "seg/2.m4s", "seg/3.m4s"]);
    expect(v.text).not.toContain("#EXT-X-ENDLIST");
    expect(v.text).not.toContain("#EXT-X-PLAYLIST-TYPE");
    expect(v.text).toContain('#EXT-X-MAP:URI="init_0.mp4"');
    expect(v.text).toContain("#EXT-X-TARGETDURATION:2");
  });

  it("advances the media sequence with the clock", async () => {
    now = T0 + SEG_MS - 1;
    expect((await livePlaylist()).mediaSequence).toBe(0);
    now = T0 + SEG_MS;
    const v = await livePlaylist();
    expect(v.mediaSequence).toBe(1);
    expect(v.uris.length).toBe(K);
    now = T0 + 7 * SEG_MS + 500;
    expect((await livePlaylist()).mediaSequence).toBe(7);
  });

  it("every segment carries the hash of the VOD file it maps to", async () => {
    for (const first of [0, 5, 27, 58, 1234]) {
      now = T0 + first * SEG_MS;
      const v = await livePlaylist();
      expect(v.hashes.length).toBe(K);
      v.hashes.forEach((h, j) => expect(h).toBe(vodHash[(first + j) % vodCount]));
    }
  });

  it("marks the loop wrap with a discontinuity and keeps the sequences consistent", async () => {
    // window 28..31 spans the wrap at 30 (= VOD segment 0 again)
    now = T0 + (vodCount - 2) * SEG_MS;
    const a = await livePlaylist();
    expect(a.mediaSequence).toBe(vodCount - 2);
    expect(a.discontinuitySequence).toBe(0);
    expect(a.discontinuities).toEqual([2]);
    expect(a.uris[2]).toBe(`seg/${vodCount}.m4s`);
    expect(a.hashes[2]).toBe(vodHash[0]);
    // after the wrap segment heads the window, its tag is gone and the sequence counts it
    now = T0 + vodCount * SEG_MS;
    const b = await livePlaylist();
    expect(b.mediaSequence).toBe(vodCount);
    expect(b.discontinuitySequence).toBe(1);
    expect(b.discontinuities).toEqual([]);
    // second loop
    now = T0 + (2 * vodCount - 1) * SEG_MS;
    const c = await livePlaylist();
    expect(c.discontinuitySequence).toBe(1);
    expect(c.discontinuities).toEqual([1]);
  });

  it("segment URIs are unique per media sequence across loops", async () => {
    const seen = new Map<string, number>();
    for (let first = 0; first < 2 * vodCount + 5; first++) {
      now = T0 + first * SEG_MS;
      const v = await livePlaylist();
      v.uris.forEach((u, j) => {
        const msn = first + j;
        expect(u).toBe(`seg/${msn}.m4s`);
        const prev = seen.get(u);
        if (prev !== undefined) expect(prev).toBe(msn);
        seen.set(u, msn);
      });
    }
    expect(seen.size).toBe(2 * vodCount + 5 + K - 1);
  });

  it("serves live segment bytes of the mapped VOD segment; future ones are 404", async () => {
    now = T0 + (vodCount + 1) * SEG_MS;
    const edge = vodCount + 1 + K - 1;
    const r = await rawRequest(cluster.urls[0] ?? "", `/live/v0/seg/${vodCount + 2}.m4s`);
    expect(r.status).toBe(200);
    expect(sha256(r.body)).toBe(vodHash[2]);
    expect((await rawRequest(cluster.urls[0] ?? "", `/live/v0/seg/${edge}.m4s`)).status).toBe(200);
    expect((await rawRequest(cluster.urls[0] ?? "", `/live/v0/seg/${edge + 1}.m4s`)).status).toBe(
      404,
    );
    expect((await rawRequest(cluster.urls[0] ?? "", "/live/v0/seg/01.m4s")).status).toBe(404);
    expect((await rawRequest(cluster.urls[0] ?? "", "/live/v0/seg/1.ts")).status).toBe(404);
    const init = await rawRequest(cluster.urls[0] ?? "", "/live/v0/init_0.mp4");
    expect(sha256(init.body)).toBe(initHash);
  });

  it("serves the live integrity manifest for the current window + init", async () => {
    now = T0 + 10 * SEG_MS;
    const r = await rawRequest(cluster.urls[1] ?? "", "/live/v0/segments-sha256.json");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    const expected: Record<string, string> = { "init_0.mp4": initHash };
    for (let msn = 10; msn < 10 + K; msn++)
      expected[`seg/${msn}.m4s`] = vodHash[msn % vodCount] ?? "";
    expect(json(r)).toEqual(expected);
  });

  it("all origins of a cluster serve identical windows", async () => {
    now = T0 + 3 * SEG_MS + 1234;
    const a = await livePlaylist(0);
    const b = await livePlaylist(1);
    expect(a.text).toBe(b.text);
    const a1 = await livePlaylist(0, "/live/v1/index.m3u8");
    expect(a1.mediaSequence).toBe(3);
  });

  it("serves a live multivariant playlist pointing at the live media playlists", async () => {
    const r = await rawRequest(cluster.urls[0] ?? "", "/live/master.m3u8");
    expect(r.status).toBe(200);
    const text = r.body.toString("utf8");
    expect(text).toContain("#EXT-X-STREAM-INF");
    expect(text).toContain("v0/index.m3u8");
    expect(text).toContain("v1/index.m3u8");
    const variant = new URL("v0/index.m3u8", `${cluster.urls[0] ?? ""}live/master.m3u8`);
    expect(variant.pathname).toBe("/live/v0/index.m3u8");
  });

  it("adds program date-times that advance one segment duration per sequence", async () => {
    now = T0;
    const v = await livePlaylist();
    const pdts = v.text
      .split("\n")
      .filter((l) => l.startsWith("#EXT-X-PROGRAM-DATE-TIME:"))
      .map((l) => Date.parse(l.slice(25)));
    expect(pdts.length).toBe(K);
    for (let i = 1; i < K; i++) expect((pdts[i] ?? 0) - (pdts[i - 1] ?? 0)).toBe(SEG_MS);
    // the newest segment has ended by "now"
    expect((pdts[K - 1] ?? 0) + SEG_MS).toBeLessThanOrEqual(T0);
  });

  it("VOD stays VOD at the original paths", async () => {
    const r = await rawRequest(cluster.urls[0] ?? "", "/v0/index.m3u8");
    expect(r.body.toString()).toContain("#EXT-X-ENDLIST");
  });
});
