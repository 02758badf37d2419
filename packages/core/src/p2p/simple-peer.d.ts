/** Minimal typings of the parts of `@thaunknown/simple-peer` the transport uses. */
declare module "@thaunknown/simple-peer/lite.js" {
  interface SimplePeerOptions {
    initiator?: boolean;
    trickle?: boolean;
    config?: RTCConfiguration;
    channelConfig?: RTCDataChannelInit;
    iceCompleteTimeout?: number;
    objectMode?: boolean;
  }
  /** simple-peer's signal payload (offer/answer; candidates only with trickle). */
  interface SimplePeerSignal {
    type?: string;
    sdp?: string;
  }
  class Peer {
    constructor(opts?: SimplePeerOptions);
    readonly bufferSize: number;
    readonly connected: boolean;
    readonly destroyed: boolean;
    signal(data: SimplePeerSignal): void;
    send(chunk: Uint8Array): void;
    destroy(err?: Error): void;
    on(event: "signal", fn: (data: SimplePeerSignal) => void): this;
    on(event: "connect" | "close", fn: () => void): this;
    on(event: "data", fn: (data: Uint8Array | string) => void): this;
    on(event: "error", fn: (err: Error) => void): this;
    removeAllListeners(event?: string): this;
  }
  export default Peer;
}
