import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HASH_TAG, hashPlaylist, MANIFEST_NAME, OriginError } from "../src/index.js";
import { removeDir, sha256, tempCopy } from "./helpers.js";

let tmp: string;
let media: string;

async function stripIntegrity(playlist: string): Promise<void> {
  const text = await readFile(playlist, "utf8");
  await writeFile(
    playlist,
    text
      .split("\n")
      .filter((l) => !l.startsWith(HASH_TAG))
      .join("\n"),
  );
}

async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const sub of ["", "v0", "v1"]) {
    for (const name of await readdir(join(dir, sub))) {
      if (name.endsWith(".m3u8") || name.endsWith(".json")) {
        out.set(join(sub, name), await readFile(join(dir, sub, name), "utf8"));
      }
    }
  }
  return out;
}

beforeEach(async () => {
  tmp = await tempCopy(true);
  media = join(tmp, "media");
  for (const v of ["v0", "v1"]) {
    await stripIntegrity(join(media, v, "index.m3u8"));
    await removeDir(join(media, v, MANIFEST_NAME));
  }
});
afterEach(() => removeDir(tmp));

describe("hashPlaylist", () => {
  it("tags every segment and writes manifests matching node:crypto hashes", async () => {
    const report = await hashPlaylist(join(media, "master.m3u8"));
    expect(report.playlists.map((p) => p.segments)).toEqual([30, 30]);
    for (const v of ["v0", "v1"]) {
      const dir = join(media, v);
      const lines = (await readFile(join(dir, "index.m3u8"), "utf8")).split("\n");
      const manifest: unknown = JSON.parse(await readFile(join(dir, MANIFEST_NAME), "utf8"));
      const expected: Record<string, string> = {};
      const init = `init_${v.slice(1)}.mp4`;
      expected[init] = sha256(await readFile(join(dir, init)));
      let tags = 0;
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i] ?? "";
        if (!line.endsWith(".m4s")) continue;
        const h = sha256(await readFile(join(dir, line)));
        expected[line] = h;
        expect(lines[i - 1]).toBe(`${HASH_TAG}${h}`);
        tags++;
      }
      expect(tags).toBe(30);
      expect(lines.filter((l) => l.startsWith(HASH_TAG)).length).toBe(30);
      expect(manifest).toEqual(expected);
      expect(lines).toContain("#EXT-X-ENDLIST");
    }
  });

  it("is idempotent and leaves no temp files", async () => {
    await hashPlaylist(join(media, "master.m3u8"));
    const first = await snapshot(media);
    const again = await hashPlaylist(join(media, "master.m3u8"));
    expect(again.playlists.every((p) => !p.playlistChanged && !p.manifestChanged)).toBe(true);
    expect(await snapshot(media)).toEqual(first);
    for (const sub of ["", "v0", "v1"]) {
      const names = await readdir(join(media, sub));
      expect(names.filter((n) => n.endsWith(".tmp") || n.startsWith("."))).toEqual([]);
    }
  });

  it("replaces stale or duplicated tags instead of adding more", async () => {
    const p = join(media, "v0", "index.m3u8");
    const text = await readFile(p, "utf8");
    const bogus = `${HASH_TAG}${"0".repeat(64)}`;
    await writeFile(p, text.replace("seg_004.m4s", `${bogus}\n${bogus}\nseg_004.m4s`));
    await hashPlaylist(p);
    const lines = (await readFile(p, "utf8")).split("\n");
    expect(lines).not.toContain(bogus);
    expect(lines.filter((l) => l.startsWith(HASH_TAG)).length).toBe(30);
    const i = lines.indexOf("seg_004.m4s");
    expect(lines[i - 1]).toBe(
      `${HASH_TAG}${sha256(await readFile(join(media, "v0", "seg_004.m4s")))}`,
    );
  });

  it("hashes a media playlist given directly; other lines untouched", async () => {
    const p = join(media, "v1", "index.m3u8");
    const before = await readFile(p, "utf8");
    const report = await hashPlaylist(p);
    expect(report.playlists.length).toBe(1);
    expect(report.playlists[0]?.initSegments).toBe(1);
    const after = await readFile(p, "utf8");
    expect(
      after
        .split("\n")
        .filter((l) => !l.startsWith(HASH_TAG))
        .join("\n"),
    ).toBe(before);
    // v0 untouched
    await expect(readFile(join(media, "v0", MANIFEST_NAME))).rejects.toThrow();
  });

  it("respects EXT-X-BYTERANGE (segments and init)", async () => {
    const dir = join(media, "v0");
    const init = await readFile(join(dir, "init_0.mp4"));
    const s0 = await readFile(join(dir, "seg_000.m4s"));
    const s1 = await readFile(join(dir, "seg_001.m4s"));
    const pl = [
      "#EXTM3U",
      "#EXT-X-VERSION:7",
      "#EXT-X-TARGETDURATION:2",
      `#EXT-X-MAP:URI="single.mp4",BYTERANGE="${init.length}@0"`,
      "#EXTINF:2.0,",
      `#EXT-X-BYTERANGE:${s0.length}@${init.length}`,
      "single.mp4",
      "#EXTINF:2.0,",
      `#EXT-X-BYTERANGE:${s1.length}`,
      "single.mp4",
      "#EXT-X-ENDLIST",
      "",
    ].join("\n");
    const sub = join(dir, "..", "br");
    await mkdir(sub);
    await writeFile(join(sub, "single.mp4"), Buffer.concat([init, s0, s1]));
    await writeFile(join(sub, "index.m3u8"), pl);
    const report = await hashPlaylist(join(sub, "index.m3u8"));
    const a = init.length;
    expect(report.playlists[0]?.hashes).toEqual({
      [`single.mp4#bytes=0-${a - 1}`]: sha256(init),
      [`single.mp4#bytes=${a}-${a + s0.length - 1}`]: sha256(s0),
      [`single.mp4#bytes=${a + s0.length}-${a + s0.length + s1.length - 1}`]: sha256(s1),
    });
    const lines = (await readFile(join(sub, "index.m3u8"), "utf8")).split("\n");
    expect(lines.filter((l) => l.startsWith(HASH_TAG))).toEqual([
      `${HASH_TAG}${sha256(s0)}`,
      `${HASH_TAG}${sha256(s1)}`,
    ]);
  });

  it("preserves CRLF line endings", async () => {
    const p = join(media, "v1", "index.m3u8");
    await writeFile(p, (await readFile(p, "utf8")).replace(/\n/g, "\r\n"));
    await hashPlaylist(p);
    const text = await readFile(p, "utf8");
    expect(text.split("\r\n").filter((l) => l.startsWith(HASH_TAG)).length).toBe(30);
    expect(text.replace(/\r\n/g, "")).not.toContain("\n");
  });

  it("fails with typed errors for missing files and remote URIs", async () => {
    await expect(hashPlaylist(join(media, "nope.m3u8"))).rejects.toBeInstanceOf(OriginError);
    const p = join(media, "v0", "index.m3u8");
    await writeFile(p, "#EXTM3U\n#EXTINF:2,\nhttps://cdn.example/seg.m4s\n");
    await expect(hashPlaylist(p)).rejects.toMatchObject({ code: "invalid-playlist" });
    await writeFile(p, "#EXTM3U\n#EXTINF:2,\nmissing.m4s\n");
    await expect(hashPlaylist(p)).rejects.toMatchObject({ code: "io" });
    await writeFile(p, "not a playlist");
    await expect(hashPlaylist(p)).rejects.toMatchObject({ code: "invalid-playlist" });
  });
});
