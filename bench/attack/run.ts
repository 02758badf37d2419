/**
 * Attack benchmark (simulated): N viewers running the real P2P layer on the scale simulator's
 * virtual clock and in-memory transport (bench/scale/sim.ts), plus one attacker per mode that
 * speaks our peer protocol — the same P2PSegmentSource with a transport or host that lies,
 * stalls, floods, leeches or multiplies. Reports per mode the viewers' offload relative to the
 * control run, stalls, upload per viewer and what the attacker got.
 *
 *   npx tsx bench/attack/run.ts [--quick] [--viewers 2] [--seconds 40] [--modes a,b] [--out f]
 */
import {
  createPeerSegmentSource,
  type P2PSegmentSource,
} from "../../packages/core/src/p2p/index.js";
import {
  MemoryPeerConnection,
  quietPeerHost,
  staticPeerStore,
  type MemoryNetwork,
} from "../../packages/core/src/testing/index.js";
import { encodeHave, encodeLost } from "../../packages/core/src/p2p/peer-protocol.js";
import type {
  CreatePeerOptions,
  PeerConnection,
  PeerTransport,
} from "../../packages/core/src/p2p/peer-transport.js";
import { Args, defaultOut, writeResult } from "../lib/cli.js";
import { prng, simulate, type SimEnv, type SimOptions, type SimResult } from "../scale/sim.js";
import { EvilConn, MODES, type Mode } from "./evil-conn.js";
import { AddressTracker } from "./tracker.js";

const FLOOD_FRAMES_PER_10MS = 10;
const SYBILS = 24;
const SEGMENT_MS = 2000;
/** Trickle: the attacker's link rate, bytes/second (a 200 KiB segment would take ~5 min). */
const TRICKLE_BYTES_PER_SEC = 700;
/** The attacker's address (one public address; the sybils use eight). */
const ATTACKER_ADDRESS = "192.0.2.66";
/** Honest viewer i's public address. */
const viewerAddress = (i: number): string => `198.51.100.${i + 1}`;

interface AttackStats {
  /** Bytes the attacker received from viewers. */
  receivedBytes: number;
  /** Flood frames the attacker sent. */
  floodFrames: number;
  /** Attacker identities still connected to some viewer at the end. */
  connectedAtEnd: number;
}

function attacker(env: SimEnv, mode: Mode, segmentBytes: number, stats: AttackStats): void {
  if (mode === "control") return;
  const { clock } = env;
  const D = SEGMENT_MS;
  const make = (
    i: number,
    net: MemoryNetwork,
    opts: { address?: string; bytesPerSec?: number; downloadOnly?: boolean },
  ): P2PSegmentSource => {
    const address = opts.address ?? ATTACKER_ADDRESS;
    const inner = net.transport({
      address,
      ...(opts.bytesPerSec ? { bytesPerSec: opts.bytesPerSec } : {}),
    });
    const conns: EvilConn[] = [];
    const transport: PeerTransport = {
      createPeer(o: CreatePeerOptions): PeerConnection {
        const c = new EvilConn(inner.createPeer(o), {
          silent: mode === "slowloris",
          half: mode === "half",
        });
        conns.push(c);
        if (mode === "text-flood") {
          const inner = c.inner;
          const text = JSON.stringify({ type: "ping", pad: "x".repeat(200) });
          const tick = (): void => {
            if (clock.now() >= env.end) return;
            try {
              for (let k = 0; k < FLOOD_FRAMES_PER_10MS; k++) {
                if (!(inner instanceof MemoryPeerConnection)) return;
                inner.sendText(text);
                stats.floodFrames++;
              }
            } catch {
              return; // not connected yet, or dropped
            }
            clock.setTimeout(tick, 10);
          };
          c.on("connect", () => clock.setTimeout(tick, 10));
        }
        if (mode === "have-flood") {
          const [have] = encodeHave([{ segmentId: env.segId(0), size: segmentBytes }]);
          const [lost] = encodeLost([env.segId(0)]);
          const tick = (): void => {
            if (clock.now() >= env.end) return;
            try {
              for (let k = 0; k < FLOOD_FRAMES_PER_10MS && have && lost; k++) {
                c.send(k % 2 === 0 ? have : lost);
                stats.floodFrames++;
              }
            } catch {
              return; // not connected yet, or dropped
            }
            clock.setTimeout(tick, 10);
          };
          c.on("connect", () => clock.setTimeout(tick, 10));
        }
        return c;
      },
    };
    // The attacker's "store" serves whatever its mode wants; it never prefetches.
    const store = staticPeerStore(
      (key) => {
        const m = /\/(\d+)\.m4s$/.exec(key.segmentId);
        const sn = m ? Number(m[1]) : 0;
        return mode === "size-liar"
          ? new Uint8Array(10)
          : new Uint8Array(segmentBytes).fill(sn & 0xff);
      },
      () => false,
    );
    const host = quietPeerHost();
    const config = {
      ...env.config,
      p2p: { ...env.config.p2p, downloadOnly: opts.downloadOnly ?? false },
    };
    return createPeerSegmentSource({
      config,
      clock,
      random: prng(9000 + i),
      host,
      store,
      transport,
      WebSocket: env.WebSocketAt(address),
      navigator: {},
    });
  };
  const sources: P2PSegmentSource[] = [];
  const start = (fn: () => void): void => {
    clock.setTimeout(fn, Math.max(0, env.t0 - clock.now()));
  };
  const announcer = (src: P2PSegmentSource, size: number): void => {
    const tick = (): void => {
      if (clock.now() >= env.end) return;
      const sn = env.newestAt(clock.now());
      // announce the segment viewers are about to look for, as soon as it exists
      src.announce({ swarmId: env.swarmId, segmentId: env.segId(sn) }, size);
      clock.setTimeout(tick, D / 4);
    };
    tick();
  };
  const { net } = env;
  switch (mode) {
    case "honest-extra":
    case "slowloris":
    case "half":
    case "size-liar": {
      const s = make(0, net, {});
      sources.push(s);
      start(() => announcer(s, mode === "size-liar" ? 32 * 1024 * 1024 : segmentBytes));
      break;
    }
    case "trickle": {
      const s = make(0, net, { bytesPerSec: TRICKLE_BYTES_PER_SEC });
      sources.push(s);
      start(() => announcer(s, segmentBytes));
      break;
    }
    case "have-flood":
    case "text-flood": {
      const s = make(0, net, {});
      sources.push(s);
      start(() => announcer(s, segmentBytes));
      break;
    }
    case "leech": {
      const s = make(0, net, { downloadOnly: true });
      sources.push(s);
      start(() => {
        const loop = async (): Promise<void> => {
          while (clock.now() < env.end) {
            const newest = env.newestAt(clock.now());
            let got = 0;
            for (let sn = newest - 5; sn <= newest; sn++) {
              const r = await s
                .download(
                  { swarmId: env.swarmId, segmentId: env.segId(sn) },
                  { signal: new AbortController().signal, giveUpAt: clock.now() + 3000 },
                )
                .catch(() => null);
              if (r) {
                got++;
                stats.receivedBytes += r.data.byteLength;
              }
            }
            if (got === 0) await new Promise<void>((r) => clock.setTimeout(r, 100));
          }
        };
        void loop();
      });
      break;
    }
    case "sybil-idle": {
      for (let i = 0; i < SYBILS; i++) {
        const s = make(i, net, { downloadOnly: true, address: `203.0.113.${(i % 8) + 1}` });
        sources.push(s);
        start(() =>
          s.updatePlaylist({ swarmId: env.swarmId, live: true, targetDuration: 2, segments: [] }),
        );
      }
      break;
    }
  }
  clock.setTimeout(
    () => {
      stats.connectedAtEnd = sources.filter((s) => s.peerCount() > 0).length;
      for (const s of sources) s.destroy();
    },
    env.end - 1 - clock.now(),
  );
}

interface ModeResult {
  mode: Mode;
  offload: number;
  /** Offload relative to the control run (goal ≥ 0.8). */
  offloadVsControl: number;
  stalls: number;
  viewersStalled: number;
  startupMsMedian: number;
  uploadBytesPerViewer: number[];
  attacker: AttackStats;
  /** Timer callbacks of the whole run (a CPU proxy: a flood that costs CPU shows here). */
  events: number;
  eventsVsControl: number;
  wallS: number;
  sim: SimResult;
}

async function main(): Promise<void> {
  const args = new Args();
  const quick = args.flag("--quick");
  const viewers = args.int("--viewers", 2, 2);
  const seconds = args.number("--seconds", quick ? 16 : 40, 4);
  const modes = (args.value("--modes")?.split(",") ?? [...MODES]) as Mode[];
  // `server`: the signaling server's peer selection (offers spread over addresses) and its
  // maxPeersPerIp; `random`: any peer of the swarm, whatever its address (the tracker before).
  const trackerKind = args.value("--tracker") ?? "server";
  if (trackerKind !== "server" && trackerKind !== "random")
    throw new Error(`--tracker must be server or random`);
  const maxPeersPerIp = args.int("--max-peers-per-ip", 64, 0);
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m}`);
  if (!modes.includes("control")) modes.unshift("control");
  const out = args.value("--out") ?? defaultOut("attack", quick);
  const segmentBytes = 200 * 1024;
  const base: SimOptions = {
    viewers,
    seconds,
    joinSpreadS: 1,
    segmentS: SEGMENT_MS / 1000,
    liveWindow: 6,
    liveSyncCount: 3,
    segmentBytes,
    httpRttMs: 40,
    httpBytesPerSec: 2_500_000,
    peerLatencyMs: 20,
    peerLinkBytesPerSec: 1_250_000,
    uploadBytesPerSec: 0,
    trackerLatencyMs: 20,
    seed: args.int("--seed", 7, 1),
    viewerAddress,
    ...(trackerKind === "server"
      ? {
          tracker: (clock, latencyMs, random) =>
            new AddressTracker(clock, latencyMs, random, maxPeersPerIp),
        }
      : {}),
  };
  const results: ModeResult[] = [];
  let control: SimResult | undefined;
  for (const mode of modes) {
    const stats: AttackStats = { receivedBytes: 0, floodFrames: 0, connectedAtEnd: 0 };
    const sim = await simulate({
      ...base,
      extra: (env) => attacker(env, mode, segmentBytes, stats),
    });
    if (mode === "control") control = sim;
    const c = control ?? sim;
    const r: ModeResult = {
      mode,
      offload: sim.offload,
      offloadVsControl: c.offload > 0 ? sim.offload / c.offload : Number.NaN,
      stalls: sim.stalls,
      viewersStalled: sim.viewersStalled,
      startupMsMedian: sim.startupMsMedian,
      uploadBytesPerViewer: sim.uploadBytesPerViewer,
      attacker: stats,
      events: sim.events,
      eventsVsControl: sim.events / c.events,
      wallS: sim.wallS,
      sim,
    };
    results.push(r);
    console.log(
      `${mode.padEnd(13)} offload ${sim.offload.toFixed(2)} (×${r.offloadVsControl.toFixed(2)} of control)  stalls ${sim.stalls}  upload/viewer ${sim.uploadBytesPerViewer.map((b) => (b / 2 ** 20).toFixed(1)).join("/")} MiB  attacker got ${(stats.receivedBytes / 2 ** 20).toFixed(1)} MiB, flood ${stats.floodFrames}, connected at end ${stats.connectedAtEnd}  events ×${r.eventsVsControl.toFixed(2)}`,
    );
  }
  writeResult(out, {
    bench: "attack",
    quick,
    simulated: true,
    options: { ...base, tracker: trackerKind, maxPeersPerIp, modes },
    results,
  });
  console.log(`wrote ${out}`);
}

await main();
