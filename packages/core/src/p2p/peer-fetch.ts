/**
 * One download from peers: the loop that asks the scheduler's plan (wait, ask a peer, or leave
 * it to HTTP), picks candidates whose announced size is the trusted one, watches each transfer
 * for stalls, falling behind, the deadline and abort, and keeps the longest abandoned start for
 * HTTP to complete. What a failed transfer means for the peer and the load is the failure
 * policy's call. Used by {@link P2PSegmentSource} for the player's loads and VOD prefetch.
 */
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { HivecastWarning, WarningKind } from "../events.js";
import { actionFor, type FailureKind } from "../failure-policy.js";
import type { PeerDownload, PeerPartial, SegmentKey } from "./contract.js";
import type { PeerDefense } from "./peer-defense.js";
import type { TransferOutcome } from "./peer-score.js";
import { LOCAL_BUSY_DETAIL, type PeerSession } from "./peer-session.js";
import {
  BACKUP_FETCH_DELAY_MS,
  fetchRole,
  isFallingBehind,
  planDownload,
  type Candidate,
} from "./scheduler.js";
import type { Swarm } from "./swarm.js";

/** A peer transfer that delivers no byte for this long is abandoned, ms. */
export const PEER_STALL_MS = 2000;
/** Most peers tried for one download. */
export const MAX_PEER_ATTEMPTS = 3;
/** A peer that answered "busy" is asked again after this, ms. */
export const BUSY_RETRY_MS = 250;
/** Least bytes of an abandoned peer transfer worth completing over HTTP (one chunk). */
export const MIN_PARTIAL_BYTES = 16 * 1024;
/**
 * After joining a swarm the tracker says others are in, segments after the first wait up to
 * this long from the join (and never past `giveUpAt`) for the first peer connections, so the
 * start-up burst comes from peers too. The first segment never waits (start-up time).
 */
export const JOIN_WAIT_MS = 1500;
/** A peer's first announcements follow its handshake: a session this new may not have sent them yet, ms. */
export const HAVE_SETTLE_MS = 100;

type TransferResult =
  | { ok: true; data: Uint8Array; firstByteAt: number }
  | {
      ok: false;
      /** Scored outcome (undefined: rejected or gone, nothing to score). */
      outcome: TransferOutcome | undefined;
      retry: boolean;
      busy: boolean;
      /** The peer disconnected during the transfer. */
      gone: boolean;
      partial: { data: Uint8Array; size: number; firstByteAt: number } | undefined;
    };

/**
 * Until when a segment nobody announced may wait while joining ({@link JOIN_WAIT_MS}): the
 * tracker has not answered yet or reported others in the swarm, and no serving peer is
 * connected yet or one of them is still settling ({@link HAVE_SETTLE_MS}). Undefined when
 * there is nothing to wait for (alone in the swarm, not joined, or settled peers).
 */
function joinWaitUntil(
  swarm: Swarm,
  serving: readonly PeerSession[],
  now: number,
): number | undefined {
  // Alone in the swarm, or not joined (a join put off on a starved page): nothing to wait for.
  if (swarm.trackerPeers === 1 || Number.isNaN(swarm.startedAt)) return undefined;
  const joinEnd = swarm.startedAt + JOIN_WAIT_MS;
  if (serving.length === 0) return joinEnd;
  let settled = Number.NEGATIVE_INFINITY;
  for (const s of serving) settled = Math.max(settled, s.readyAt + HAVE_SETTLE_MS);
  return settled > now ? Math.min(joinEnd, settled) : undefined;
}

/** The failure policy's kind of a failed transfer. */
function transferFailureKind(r: Extract<TransferResult, { ok: false }>): FailureKind {
  if (r.busy) return "peer-busy";
  if (r.outcome === "stalled") return "peer-stalled";
  if (r.outcome === "slow") return "peer-slow";
  return r.gone ? "peer-gone" : "peer-refused";
}

/** What a {@link PeerFetcher} takes from the P2P layer. */
export interface PeerFetchContext {
  clock: Clock;
  config: Config;
  /** Our tracker peer id. */
  selfId: string;
  downloadOnly: boolean;
  /** Aborted when the P2P layer is destroyed. */
  lifetime: AbortSignal;
  destroyed(): boolean;
  /** Whether a peer (display id) is banned for the session. */
  isBanned(peerId: string): boolean;
  defense: PeerDefense;
  /** The printable id of a tracker peer id. */
  displayId(raw: string): string;
  warn(kind: WarningKind, message: string, details?: HivecastWarning["details"]): void;
  ban(peerId: string, reason: string, address?: string): void;
}

/** Downloads one segment from peers (see the module comment). */
export class PeerFetcher {
  constructor(private readonly ctx: PeerFetchContext) {}

  /** Resolves `p`'s value, or null at `until`/destroy; rejects on `signal`. */
  raceUntil<T>(p: Promise<T | null>, until: number, signal: AbortSignal): Promise<T | null> {
    return new Promise<T | null>((resolve, reject) => {
      const { clock } = this.ctx;
      const finish = (v: T | null, err?: unknown): void => {
        clock.clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.ctx.lifetime.removeEventListener("abort", onDestroy);
        if (err !== undefined) reject(err);
        else resolve(v);
      };
      const onAbort = (): void => finish(null, signal.reason);
      const onDestroy = (): void => finish(null);
      const timer = clock.setTimeout(() => finish(null), Math.max(0, until - clock.now()));
      signal.addEventListener("abort", onAbort, { once: true });
      this.ctx.lifetime.addEventListener("abort", onDestroy, { once: true });
      p.then(
        (v) => finish(v),
        () => finish(null),
      );
    });
  }

  async fetch(
    swarm: Swarm,
    key: SegmentKey,
    opts: {
      signal: AbortSignal;
      giveUpAt: number;
      /** Give up with the bytes an abandoned transfer received (for HTTP to complete). */
      allowPartial: boolean;
      /** Whether waiting for the first connections after joining is allowed ({@link JOIN_WAIT_MS}). */
      mayAwaitJoin?: boolean;
      /** Whether waiting at all is allowed (false: only a connected peer holding it now). */
      mayWait?: boolean;
      size: number | undefined;
      nearLiveEdge: boolean;
      /** The segment before this one: peers that have it are following the live edge. */
      previousId?: string | undefined;
      /** The playlist's target duration, ms (0 when unknown). */
      targetDurationMs?: number;
    },
  ): Promise<PeerDownload | PeerPartial | null> {
    const { clock, config } = this.ctx;
    const { signal, giveUpAt } = opts;
    const backupAfter = clock.now() + (opts.targetDurationMs ?? 0) + BACKUP_FETCH_DELAY_MS;
    const tried = new Set<string>();
    /** Peers that were busy, and when to ask them again. Busy is not a failure. */
    const busy = new Map<string, number>();
    let waitMs = 0;
    /** The longest start of the segment an abandoned transfer left behind. */
    let partial: PeerPartial | undefined;
    const giveUp = (): PeerPartial | null =>
      partial && !this.ctx.isBanned(partial.peerId) ? { ...partial, waitMs } : null;
    for (let round = 0; round < 1000; round++) {
      if (this.ctx.destroyed()) return null;
      if (signal.aborted) throw signal.reason;
      const now = clock.now();
      if (now >= giveUpAt || tried.size >= MAX_PEER_ATTEMPTS) return giveUp();
      let retryBusyAt = Number.POSITIVE_INFINITY;
      const excluded = new Set(tried);
      for (const [id, at] of busy) {
        if (at <= now) busy.delete(id);
        else {
          excluded.add(id);
          retryBusyAt = Math.min(retryBusyAt, at);
        }
      }
      // The size comes from the origin (playlist byte range, known HTTP size) when known: a peer
      // announcing another is a liar and is banned. Otherwise the size most peers announce
      // wins; one liar can never veto honest peers.
      const { sessions, size } = this.trustedCandidates(swarm, key.segmentId, excluded, opts.size);
      if (this.ctx.destroyed()) return null;
      const candidates: Candidate[] = sessions.map((s) => ({
        peerId: s.peerId,
        throughputBps: s.throughputBps,
        activeDownloads: s.activeDownloads,
        penalty: this.ctx.defense.scores.penalty(this.ctx.displayId(s.peerId)),
        relayed: swarm.linkInfo(s).linkType === "relay",
      }));
      const serving = swarm.readySessions().filter((s) => !s.remoteDownloadOnly);
      // Only a new live segment has fetchers; the ranking is done once per round.
      const role = opts.nearLiveEdge
        ? fetchRole(
            this.ctx.selfId,
            !this.ctx.downloadOnly,
            serving
              .filter((s) => !opts.previousId || s.remoteHaves.has(opts.previousId))
              .map((s) => s.peerId),
            key.segmentId,
            config.p2p.liveHttpFetchShare,
          )
        : "other";
      const plan = planDownload({
        now,
        giveUpAt,
        size,
        nearLiveEdge: opts.nearLiveEdge,
        selfIsFetcher: role === "fetcher",
        backupAt: role === "backup" ? backupAfter : undefined,
        candidates,
        servingPeers: serving.length,
        joiningUntil: opts.mayAwaitJoin === true ? joinWaitUntil(swarm, serving, now) : undefined,
      });
      if (plan.kind === "http") return giveUp();
      if (plan.kind === "wait") {
        if (opts.mayWait === false) return giveUp();
        const t0 = clock.now();
        await swarm.waitForChange(key.segmentId, Math.min(plan.until, retryBusyAt), signal);
        waitMs += clock.now() - t0;
        continue;
      }
      const session = swarm.session(plan.peerId);
      if (!session) {
        tried.add(plan.peerId);
        continue;
      }
      const r = await this.transfer(session, key.segmentId, giveUpAt, signal);
      const scored = r.ok ? "served" : r.outcome;
      if (scored !== undefined && !this.ctx.destroyed())
        this.ctx.defense.recordTransfer(this.ctx.displayId(session.peerId), scored);
      if (r.ok) {
        if (this.ctx.destroyed()) return null;
        return {
          data: r.data,
          peerId: this.ctx.displayId(session.peerId),
          firstByteAt: r.firstByteAt,
          waitMs,
        };
      }
      if (this.ctx.destroyed()) return null;
      const got = r.partial;
      if (
        opts.allowPartial &&
        got &&
        got.data.byteLength >= MIN_PARTIAL_BYTES &&
        got.data.byteLength > (partial?.data.byteLength ?? 0)
      ) {
        const peerId = this.ctx.displayId(session.peerId);
        partial = { partial: true, ...got, peerId, waitMs };
      }
      if (!r.retry) return giveUp();
      // The policy says whether this peer may be asked again in this load (busy: after a wait).
      if (actionFor(transferFailureKind(r)).load === "retry")
        busy.set(plan.peerId, clock.now() + BUSY_RETRY_MS);
      else tried.add(plan.peerId);
    }
    return giveUp();
  }

  /**
   * Candidates for `segmentId` whose announced size is the trusted one: `known` (from the
   * origin) when given — peers contradicting it are banned for a protocol violation — else the
   * size most candidates announce (ties: the smaller, a liar's huge size never wins a tie).
   */
  private trustedCandidates(
    swarm: Swarm,
    segmentId: string,
    excluded: ReadonlySet<string>,
    known: number | undefined,
  ): { sessions: PeerSession[]; size: number | undefined } {
    const all = swarm.candidates(segmentId, excluded);
    if (known !== undefined) {
      const ok: PeerSession[] = [];
      for (const s of all) {
        const claimed = s.remoteHaves.get(segmentId);
        if (claimed === known) {
          ok.push(s);
          continue;
        }
        const id = this.ctx.displayId(s.peerId);
        if (actionFor("peer-size-lie").peer !== "ban") continue;
        this.ctx.warn(
          "peer-abuse",
          `peer ${id} banned: announced ${String(claimed)} bytes, origin says ${known}`,
          {
            peerId: id,
            reason: "SIZE_MISMATCH",
          },
        );
        this.ctx.ban(id, "protocol violation: SIZE_MISMATCH", this.ctx.defense.addressOf(s));
      }
      return { sessions: ok, size: known };
    }
    const votes = new Map<number, number>();
    for (const s of all) {
      const claimed = s.remoteHaves.get(segmentId);
      if (claimed !== undefined) votes.set(claimed, (votes.get(claimed) ?? 0) + 1);
    }
    let size: number | undefined;
    let best = 0;
    for (const [sz, n] of votes) {
      if (n > best || (n === best && size !== undefined && sz < size)) {
        size = sz;
        best = n;
      }
    }
    return { sessions: all.filter((s) => s.remoteHaves.get(segmentId) === size), size };
  }

  /** One peer transfer, watched for stalls, falling behind, the deadline, abort and destroy. */
  private transfer(
    session: PeerSession,
    segmentId: string,
    giveUpAt: number,
    signal: AbortSignal,
  ): Promise<TransferResult> {
    const { clock } = this.ctx;
    return new Promise<TransferResult>((resolve, reject) => {
      let settled = false;
      let retry = true;
      let abortReason: unknown;
      let aborted = false;
      let stallTimer: unknown;
      /** Why we cancelled: the peer's fault (stalled, slow) or ours (cancelled). */
      let outcome: TransferOutcome | undefined;
      const armStall = (): void => {
        if (stallTimer !== undefined) clock.clearTimeout(stallTimer);
        stallTimer = clock.setTimeout(() => {
          stallTimer = undefined;
          outcome ??= "stalled";
          req.cancel();
        }, PEER_STALL_MS);
      };
      const req = session.request(segmentId, (received, total, startedAt) => {
        armStall();
        const now = clock.now();
        if (isFallingBehind({ now, giveUpAt, startedAt, received, total })) {
          // A trickle: other peers are tried before HTTP while there is time (the plan decides).
          retry = now < giveUpAt;
          outcome ??= now < giveUpAt ? "slow" : "cancelled";
          req.cancel();
        }
      });
      const deadline = clock.setTimeout(
        () => {
          retry = false;
          outcome ??= "cancelled";
          req.cancel();
        },
        Math.max(0, giveUpAt - clock.now()),
      );
      const onAbort = (): void => {
        aborted = true;
        abortReason = signal.reason;
        retry = false;
        req.cancel();
      };
      const onDestroy = (): void => {
        retry = false;
        req.cancel();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.ctx.lifetime.addEventListener("abort", onDestroy, { once: true });
      armStall();
      void req.done.then((o) => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(deadline);
        if (stallTimer !== undefined) clock.clearTimeout(stallTimer);
        signal.removeEventListener("abort", onAbort);
        this.ctx.lifetime.removeEventListener("abort", onDestroy);
        if (aborted) reject(abortReason);
        else if (o.ok) resolve(o);
        else {
          if (o.reason === "gone") {
            const id = this.ctx.displayId(session.peerId);
            this.ctx.warn("peer-gone", `peer ${id} went away during a transfer of ${segmentId}`, {
              peerId: id,
              segmentId,
              detail: o.detail,
            });
          }
          resolve({
            ok: false,
            outcome: o.reason === "cancelled" ? outcome : undefined,
            retry,
            busy:
              o.reason === "rejected" && (o.detail === "busy" || o.detail === LOCAL_BUSY_DETAIL),
            gone: o.reason === "gone",
            partial: o.partial,
          });
        }
      });
    });
  }
}
