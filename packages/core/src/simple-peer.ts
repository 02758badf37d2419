/**
 * `@hivecast/core/simple-peer` — peer connections through `@thaunknown/simple-peer` instead of
 * the built-in transport on the browser's `RTCPeerConnection`. The built-in one is the default:
 * simple-peer and its stream layer add about 17 KiB min+gzip to a browser bundle. Use this entry
 * where simple-peer is already in your bundle or you prefer its WebRTC handling. Install
 * `@thaunknown/simple-peer` and `events` (optional peer dependencies), then:
 *
 * ```ts
 * import { simplePeerTransport } from "@hivecast/core/simple-peer";
 * const hivecast = new Hivecast({ ...config, p2p: { ...p2p, transport: simplePeerTransport() } });
 * ```
 * @packageDocumentation
 */
import type { PeerTransportFactory } from "./config.js";
import type { PeerSegmentSourceFactory } from "./p2p/contract.js";
import { createPeerSegmentSource } from "./p2p/peer-segment-source.js";
import {
  SimplePeerTransport,
  type SimplePeerTransportOptions,
} from "./p2p/simple-peer-transport.js";

export { SimplePeerTransport };
export type { SimplePeerTransportOptions };

/**
 * simple-peer connections as the config's `p2p.transport`. `iceCompleteTimeoutMs` defaults to
 * the config's `p2p.iceGatherTimeoutMs`.
 */
export function simplePeerTransport(opts: SimplePeerTransportOptions = {}): PeerTransportFactory {
  return ({ iceGatherTimeoutMs }) =>
    new SimplePeerTransport({
      iceCompleteTimeoutMs: opts.iceCompleteTimeoutMs ?? iceGatherTimeoutMs,
    });
}

/**
 * @deprecated Use `p2p: { transport: simplePeerTransport() }` in the config.
 * The P2P layer with simple-peer connections, as `EngineDeps.peerSourceFactory`.
 * `iceCompleteTimeoutMs` defaults to the config's `p2p.iceGatherTimeoutMs`.
 */
export function simplePeerSourceFactory(
  opts: SimplePeerTransportOptions = {},
): PeerSegmentSourceFactory {
  return (deps) =>
    createPeerSegmentSource({
      ...deps,
      transport: new SimplePeerTransport({
        iceCompleteTimeoutMs: opts.iceCompleteTimeoutMs ?? deps.config.p2p.iceGatherTimeoutMs,
      }),
    });
}
