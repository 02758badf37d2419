import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Hivecast, playWithHivecast } from "../src/index.js";
import { FakeHls, fakeHlsClass } from "./fake-hls.js";

class FakeVideo {
  src = "";
  readonly calls: string[] = [];
  removeAttribute(name: string): void {
    this.calls.push(`removeAttribute ${name}`);
    if (name === "src") this.src = "";
  }
  load(): void {
    this.calls.push("load");
  }
  canPlayType(): string {
    return "maybe";
  }
  asVideo(): HTMLVideoElement {
    // Test double: only src / removeAttribute / load are used.
    return this as unknown as HTMLVideoElement;
  }
}

const URL_ = "https://a.example/live/master.m3u8";

beforeEach(() => {
  FakeHls.supported = true;
  FakeHls.instances = [];
});

afterEach(() => {
  FakeHls.supported = true;
});

describe("playWithHivecast", () => {
  it("uses hls.js + Hivecast whenever Hls.isSupported(), even if canPlayType says maybe", () => {
    const video = new FakeVideo();
    const p = playWithHivecast(video.asVideo(), URL_, fakeHlsClass(), {
      origins: ["https://a.example/"],
      hls: { maxBufferLength: 12 },
    });
    expect(p.native).toBe(false);
    expect(p.hivecast).toBeInstanceOf(Hivecast);
    const hls = FakeHls.instances[0]!;
    expect(p.hls).toBe(hls);
    expect(hls.config.maxBufferLength).toBe(12);
    expect(hls.config.fLoader).toBe(p.hivecast?.hlsConfig().fLoader);
    expect(hls.calls).toEqual([`loadSource ${URL_}`, "attachMedia"]);
    expect(p.hivecast?.attached).toBe(hls);
    expect(p.hivecast?.config.origins.map((o) => o.url)).toEqual(["https://a.example/"]);
    // the hls.js slice is not passed to the engine's config validation
    expect(p.hivecast?.config).not.toHaveProperty("hls");
    expect(video.src).toBe("");

    p.destroy();
    p.destroy();
    expect(hls.calls.filter((c) => c === "destroy")).toHaveLength(1);
    expect(p.hivecast?.destroyed).toBe(true);
    expect(p.hivecast?.attached).toBeUndefined();
  });

  it("falls back to native HLS without Hivecast only when MSE is missing", () => {
    FakeHls.supported = false;
    const video = new FakeVideo();
    const p = playWithHivecast(video.asVideo(), URL_, fakeHlsClass(), {
      origins: ["https://a.example/"],
    });
    expect(p.native).toBe(true);
    expect(p.hls).toBeUndefined();
    expect(p.hivecast).toBeUndefined();
    expect(FakeHls.instances).toHaveLength(0);
    expect(video.src).toBe(URL_);
    p.destroy();
    p.destroy();
    expect(video.calls).toEqual(["removeAttribute src", "load"]);
  });

  it("an invalid Hivecast config throws before any player is created", () => {
    const video = new FakeVideo();
    expect(() =>
      playWithHivecast(video.asVideo(), URL_, fakeHlsClass(), { origins: ["ftp://x"] }),
    ).toThrow(/origins\[0\]/);
    expect(FakeHls.instances).toHaveLength(0);
  });
});
