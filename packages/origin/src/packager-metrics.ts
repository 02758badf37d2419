import { statfs } from "node:fs/promises";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";

/** Prometheus metrics of one packager (`hivecast_packager_*` plus process metrics). */
export class PackagerMetrics {
  /** The packager's registry, served at `/metrics`. */
  readonly registry = new Registry();
  /** Segments (media, not init) published, by mirror. */
  readonly segmentsPublished: Counter<"mirror">;
  /** Bytes written into mirrors (segments, init segments, manifests), by mirror. */
  readonly bytesWritten: Counter<"mirror">;
  /** Recordings started (counted at a recording's first segment: one per file run or RTMP publish). */
  readonly recordings: Counter;
  /** ffmpeg runs that ended abnormally (crashed, killed, failed to start a publish); stop() is not one. */
  readonly ffmpegFailures: Counter;
  /** Segments of the current recording not yet published in a mirror, by mirror. */
  readonly mirrorLag: Gauge<"mirror">;
  private lastSegmentAt: number | undefined;
  private lastCount = 0;
  private lastKey = "";
  private countedKey = "";

  /**
   * @param mirrors - mirror directories, whose file systems' free space is reported
   * @param clock - ms clock for the segment age @default Date.now
   */
  constructor(
    mirrors: string[],
    private readonly clock: () => number = Date.now,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.segmentsPublished = new Counter({
      name: "hivecast_packager_segments_published_total",
      help: "Media segments published, by mirror",
      labelNames: ["mirror"] as const,
      registers,
    });
    this.bytesWritten = new Counter({
      name: "hivecast_packager_bytes_written_total",
      help: "Bytes written into mirrors (segments, init segments, manifests), by mirror",
      labelNames: ["mirror"] as const,
      registers,
    });
    this.recordings = new Counter({
      name: "hivecast_packager_recordings_total",
      help: "Recordings started (counted at a recording's first segment: one per file run or RTMP publish)",
      registers,
    });
    this.ffmpegFailures = new Counter({
      name: "hivecast_packager_ffmpeg_failures_total",
      help: "ffmpeg runs that ended abnormally (crash, kill, failed publish); a publisher's normal end is not one",
      registers,
    });
    this.mirrorLag = new Gauge({
      name: "hivecast_packager_mirror_lag_segments",
      help: "Segments of the current recording not yet published in the mirror",
      labelNames: ["mirror"] as const,
      registers,
    });
    const age = () =>
      this.lastSegmentAt === undefined ? -1 : (this.clock() - this.lastSegmentAt) / 1000;
    new Gauge({
      name: "hivecast_packager_last_segment_age_seconds",
      help: "Seconds since ffmpeg completed the newest segment (-1 before the first)",
      registers,
      collect() {
        this.set(age());
      },
    });
    new Gauge({
      name: "hivecast_packager_disk_free_bytes",
      help: "Free bytes (available to this user) on each mirror's file system",
      labelNames: ["mirror"] as const,
      registers,
      async collect() {
        for (const m of mirrors) {
          try {
            const s = await statfs(m);
            this.set({ mirror: m }, s.bavail * s.bsize);
          } catch {
            this.set({ mirror: m }, -1);
          }
        }
      },
    });
  }

  /** Records that recording `key` has `count` segments (stamps the age when it grows). */
  noteSegment(key: string, count: number): void {
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.lastCount = 0;
    }
    if (count > 0 && key !== this.countedKey) {
      this.countedKey = key;
      this.recordings.inc();
    }
    if (count > this.lastCount) {
      this.lastCount = count;
      this.lastSegmentAt = this.clock();
    }
  }
}
