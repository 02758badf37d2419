/**
 * The packager's publishing side: what one ffmpeg run (a session) has produced, read from its
 * work directory, and its publication to every mirror — segment files, then the manifest, then
 * the playlists, each by temp file + rename — with per-mirror progress, so no mirror ever lists
 * a segment whose bytes or hash are missing, and a mirror that cannot be written catches up.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Rendition } from "./ffmpeg.js";
import { sha256File } from "./fsutil.js";
import {
  copyAtomic,
  manifestText,
  mediaPlaylistText,
  parseFfmpegPlaylist,
  writeAtomic,
  type RenditionSnapshot,
} from "./mirror.js";
import type { PackagerMetrics } from "./packager-metrics.js";
import { MANIFEST_NAME } from "./playlist.js";

/** One mirror's progress on one session. */
interface MirrorState {
  dir: string;
  /** Segments published per rendition index. */
  published: number[];
  initDone: boolean[];
  masterDone: boolean;
  finalDone: boolean;
  error: string | undefined;
}

/** One ffmpeg run: a recording once its first segment exists. */
export interface Session {
  id: string;
  work: string;
  renditions: RenditionSnapshot[];
  master: string | undefined;
  mirrors: MirrorState[];
  ended: boolean;
}

/** What a {@link Publisher} needs. */
export interface PublisherOptions {
  ladder: readonly Rendition[];
  /** Segments in the live playlists. */
  window: number;
  mirrors: readonly string[];
  metrics: PackagerMetrics;
  log: (line: string) => void;
  /** Parent of every session's work directory. */
  workRoot: string;
}

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** Sessions and their publication to the mirrors. */
export class Publisher {
  /** Recording ids published so far, oldest first. */
  readonly recordings: string[] = [];
  /** Every session, oldest first. */
  readonly sessions: Session[] = [];
  private readonly ladder: readonly Rendition[];
  private readonly window: number;
  private readonly mirrors: readonly string[];
  private readonly metrics: PackagerMetrics;
  private readonly log: (line: string) => void;
  private readonly workRoot: string;
  private syncing: Promise<void> = Promise.resolve();

  constructor(o: PublisherOptions) {
    this.ladder = o.ladder;
    this.window = o.window;
    this.mirrors = o.mirrors;
    this.metrics = o.metrics;
    this.log = o.log;
    this.workRoot = o.workRoot;
  }

  /** A session for one ffmpeg run, in its own work directory. */
  async newSession(): Promise<Session> {
    const id = `pending-${this.sessions.length}`;
    const work = join(this.workRoot, `work-${Date.now()}-${this.sessions.length}`);
    await mkdir(work, { recursive: true });
    const s: Session = {
      id,
      work,
      renditions: this.ladder.map((_, i) => ({
        name: `v${i}`,
        init: undefined,
        segments: [],
        ended: false,
      })),
      master: undefined,
      mirrors: this.mirrors.map((dir) => ({
        dir,
        published: this.ladder.map(() => 0),
        initDone: this.ladder.map(() => false),
        masterDone: false,
        finalDone: false,
        error: undefined,
      })),
      ended: false,
    };
    return s;
  }

  /** Publishes whatever is new, after any publication still running; never rejects. */
  tick(): Promise<void> {
    this.syncing = this.syncing
      .then(() => this.syncAll())
      .catch((err: unknown) => {
        this.log(`publish error: ${String(err)}`);
      });
    return this.syncing;
  }

  /** The session's input ended: publish it as VOD. */
  async finish(s: Session): Promise<void> {
    s.ended = true;
    for (const r of s.renditions) r.ended = true;
    await this.tick();
  }

  /** Reads ffmpeg's work playlists: new segments (hashed), init, master; names the recording. */
  private async scan(s: Session): Promise<void> {
    for (let i = 0; i < this.ladder.length; i++) {
      const r = s.renditions[i];
      if (!r) continue;
      const dir = join(s.work, r.name);
      let text: string;
      try {
        text = await readFile(join(dir, "index.m3u8"), "utf8");
      } catch {
        continue;
      }
      const p = parseFfmpegPlaylist(text);
      if (!r.init && p.init) {
        const h = await sha256File(join(dir, p.init));
        r.init = { uri: p.init, sha256: h, bytes: (await stat(join(dir, p.init))).size };
      }
      for (let k = r.segments.length; k < p.segments.length; k++) {
        const seg = p.segments[k];
        if (!seg) break;
        const path = join(dir, seg.uri);
        const sha256 = await sha256File(path);
        const bytes = (await stat(path)).size;
        r.segments.push({ ...seg, sha256, bytes });
      }
      r.ended = p.ended;
    }
    if (s.renditions.some((r) => r.segments.length > 0) && !this.recordings.includes(s.id)) {
      // The recording is named when its first segment exists (nothing is in a mirror before).
      s.id = this.recordingId();
      this.recordings.push(s.id);
      this.log(`recording ${s.id}: first segment`);
    }
    if (!s.master) {
      s.master = await readFile(join(s.work, "master.m3u8"), "utf8").catch(() => undefined);
    }
  }

  /** Publishes what `s` has and `m` lacks: files, then manifest, then playlists, atomically. */
  private async syncMirror(s: Session, m: MirrorState): Promise<void> {
    const base = join(m.dir, s.id);
    for (let i = 0; i < s.renditions.length; i++) {
      const r = s.renditions[i];
      if (!r?.init) continue;
      const rdir = join(base, r.name);
      const work = join(s.work, r.name);
      let changed = false;
      if (!m.initDone[i]) {
        await mkdir(rdir, { recursive: true });
        await copyAtomic(join(work, r.init.uri), join(rdir, r.init.uri));
        this.metrics.bytesWritten.inc({ mirror: m.dir }, r.init.bytes);
        m.initDone[i] = true;
        changed = true;
      }
      const published = m.published[i] ?? 0;
      for (let k = published; k < r.segments.length; k++) {
        const seg = r.segments[k];
        if (!seg) break;
        await copyAtomic(join(work, seg.uri), join(rdir, seg.uri));
        this.metrics.bytesWritten.inc({ mirror: m.dir }, seg.bytes);
        this.metrics.segmentsPublished.inc({ mirror: m.dir });
        m.published[i] = k + 1;
        changed = true;
      }
      const vod = s.ended;
      if (changed || (vod && !m.finalDone)) {
        const segs = r.segments.slice(0, m.published[i] ?? 0);
        if (segs.length === 0) continue;
        const manifest = manifestText(r, segs);
        await writeAtomic(join(rdir, MANIFEST_NAME), manifest);
        await writeAtomic(join(rdir, "index.m3u8"), mediaPlaylistText(r, segs, this.window, vod));
        this.metrics.bytesWritten.inc({ mirror: m.dir }, manifest.length);
      }
    }
    const allStarted = s.renditions.every((_, i) => (m.published[i] ?? 0) > 0);
    if (!m.masterDone && s.master && allStarted) {
      await writeAtomic(join(base, "master.m3u8"), s.master);
      const top = s.master.replace(/^(?!#)(\S.*)$/gm, `${s.id}/$1`);
      await writeAtomic(join(m.dir, "master.m3u8"), top);
      m.masterDone = true;
      this.log(`mirror ${m.dir}: live ${s.id}/master.m3u8`);
    }
    if (s.ended && m.masterDone) m.finalDone = true;
  }

  private async syncAll(): Promise<void> {
    for (const s of this.sessions) {
      const pending = s.mirrors.some((m) => !m.finalDone);
      if (!pending) continue;
      if (!s.ended) await this.scan(s);
      for (const m of s.mirrors) {
        if (m.finalDone) continue;
        try {
          await this.syncMirror(s, m);
          if (m.error !== undefined) this.log(`mirror ${m.dir}: writable again, caught up`);
          m.error = undefined;
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          if (m.error === undefined)
            this.log(`mirror ${m.dir}: cannot publish (${msg}); will retry`);
          m.error = msg;
        }
      }
    }
    const current = this.sessions[this.sessions.length - 1];
    if (current) {
      const total = current.renditions.reduce((a, r) => a + r.segments.length, 0);
      for (const m of current.mirrors) {
        const done = m.published.reduce((a, b) => a + b, 0);
        this.metrics.mirrorLag.set({ mirror: m.dir }, total - done);
      }
      const last = current.renditions[0]?.segments.length ?? 0;
      if (last > 0) this.metrics.noteSegment(current.id, last);
    }
  }

  /** A recording id no mirror has yet: `rec-<UTC start>`, suffixed when taken. */
  private recordingId(): string {
    const base = `rec-${stamp(new Date())}`;
    let id = base;
    const taken = (x: string) =>
      this.recordings.includes(x) || this.mirrors.some((m) => existsSync(join(m, x)));
    for (let n = 2; taken(id); n++) id = `${base}-${n}`;
    return id;
  }
}
