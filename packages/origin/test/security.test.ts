import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOrigins, type OriginCluster } from "../src/index.js";
import { parseRequestPath } from "../src/http-util.js";
import { rawRequest, removeDir, sha256, tempCopy } from "./helpers.js";

const SECRET = "TOP-SECRET-DO-NOT-SERVE";
let tmp: string;
let cluster: OriginCluster;
let base: string;

beforeAll(async () => {
  // <tmp>/secret.txt is outside the served dir <tmp>/media
  tmp = await tempCopy(true);
  await writeFile(join(tmp, "secret.txt"), SECRET);
  await mkdir(join(tmp, "outside"));
  await writeFile(
    join(tmp, "outside", "index.m3u8"),
    `#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n${SECRET}.m3u8\n`,
  );
  await symlink(join(tmp, "secret.txt"), join(tmp, "media", "link.txt"));
  await symlink(join(tmp, "outside"), join(tmp, "media", "linkdir"));
  await writeFile(join(tmp, "media", "inside.txt"), "inside");
  await symlink(join(tmp, "media", "inside.txt"), join(tmp, "media", "inner-link.txt"));
  // a VOD playlist inside the dir whose (untagged) segment points outside it
  await mkdir(join(tmp, "media", "evil"));
  await writeFile(
    join(tmp, "media", "evil", "index.m3u8"),
    "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n../../secret.txt\n#EXT-X-ENDLIST\n",
  );
  cluster = await startOrigins({ dir: join(tmp, "media"), origins: 1 });
  base = cluster.urls[0] ?? "";
});
afterAll(async () => {
  await cluster.close();
  await removeDir(tmp);
});

describe("parseRequestPath", () => {
  it("decodes normal paths and refuses dot segments, NUL, separators and bad escapes", () => {
    expect(parseRequestPath("/v0/index.m3u8?x=1")).toEqual(["v0", "index.m3u8"]);
    expect(parseRequestPath("/a%20b.txt")).toEqual(["a b.txt"]);
    expect(parseRequestPath("http://host:1/v0/x.m4s")).toEqual(["v0", "x.m4s"]);
    expect(parseRequestPath("/")).toEqual([]);
    for (const bad of [
      "/../x",
      "/%2e%2e/x",
      "/%2E%2E/x",
      "/v0/.%2e/x",
      "/./x",
      "/a%2fb",
      "/a%5cb",
      "/a%00b",
      "//etc/passwd",
      "/%zz",
      "x",
      "*",
    ]) {
      expect(parseRequestPath(bad), bad).toBeUndefined();
    }
  });
});

describe("path traversal over HTTP", () => {
  const attempts = [
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E%2Fsecret.txt",
    "/v0/..%2f..%2fsecret.txt",
    "/v0/%2e%2e/%2e%2e/secret.txt",
    "/..%5csecret.txt",
    "/..\\secret.txt",
    "//secret.txt",
    "/%00/secret.txt",
    "/secret.txt%00.m3u8",
    "/live/../../secret.txt",
    "/live/%2e%2e/%2e%2e/secret.txt",
    "http://evil.test/../secret.txt",
    "/link.txt",
    "/linkdir/index.m3u8",
    "/live/linkdir/index.m3u8",
    "/live/linkdir/segments-sha256.json",
    "/%252e%252e/secret.txt",
  ];
  for (const path of attempts) {
    it(`refuses ${path}`, async () => {
      const r = await rawRequest(base, path);
      expect([400, 404]).toContain(r.status);
      expect(r.body.toString("utf8")).not.toContain(SECRET);
    });
  }

  it("a live playlist never hashes or serves files outside the directory", async () => {
    for (const path of [
      "/live/evil/index.m3u8",
      "/live/evil/segments-sha256.json",
      "/live/evil/seg/0.txt",
    ]) {
      const r = await rawRequest(base, path);
      expect(r.status, path).toBe(404);
      expect(r.body.toString("utf8")).not.toContain(sha256(Buffer.from(SECRET)));
      expect(r.body.toString("utf8")).not.toContain(SECRET);
    }
  });

  it("still serves files and symlinks that stay inside the directory", async () => {
    const r = await rawRequest(base, "/inner-link.txt");
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("inside");
    expect((await rawRequest(base, "/v0/")).status).toBe(404);
    expect((await rawRequest(base, "/")).status).toBe(404);
  });
});
