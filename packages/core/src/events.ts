import type { HivecastError } from "./errors.js";
import type { OriginState, SegmentSource } from "./types.js";

/** Listener map of every event the engine emits (see `Engine.on`). */
export interface HivecastEvents {
  /** Verified bytes were handed to the player. */
  segmentLoaded: (e: {
    url: string;
    source: SegmentSource;
    origin?: string;
    peerId?: string;
    bytes: number;
    ms: number;
  }) => void;
  /** A data channel to a peer opened and its handshake succeeded. */
  peerConnected: (e: { peerId: string }) => void;
  /** A peer went away. */
  peerDisconnected: (e: { peerId: string; reason: string }) => void;
  /** A peer was banned for the session (bad bytes or protocol violation). */
  peerBanned: (e: { peerId: string; reason: string }) => void;
  /** An origin's circuit breaker changed state. */
  originStateChanged: (e: { origin: string; state: OriginState }) => void;
  /** Bytes failed their SHA-256 check; they were discarded. */
  integrityFailure: (e: {
    url: string;
    source: "http" | "p2p";
    origin?: string;
    peerId?: string;
    expected: string;
    actual: string;
  }) => void;
  /** A non-fatal or fatal problem worth logging. */
  error: (e: HivecastError) => void;
}

type Listener = (...args: never[]) => void;

/**
 * Minimal typed event emitter (no Node `events` in browser code). A throwing listener
 * never breaks the emitter or other listeners.
 */
export class TypedEmitter<E extends { [K in keyof E]: Listener }> {
  private readonly listeners = new Map<keyof E, Set<Listener>>();

  /** Adds a listener. */
  on<K extends keyof E>(event: K, fn: E[K]): this {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(fn);
    return this;
  }

  /** Removes a listener. */
  off<K extends keyof E>(event: K, fn: E[K]): this {
    this.listeners.get(event)?.delete(fn);
    return this;
  }

  /** Calls every listener of `event`; exceptions from listeners are swallowed. */
  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as (...a: Parameters<E[K]>) => void)(...args);
      } catch {
        // A user's listener must not break loading.
      }
    }
  }

  /** Number of listeners, all events (used by destroy tests). */
  listenerCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  /** Drops every listener. */
  protected removeAllListeners(): void {
    this.listeners.clear();
  }
}
