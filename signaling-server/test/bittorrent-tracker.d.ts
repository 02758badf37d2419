// Minimal typings for the parts of bittorrent-tracker (plain JS) the tests use.
declare module "bittorrent-tracker" {
  import type { EventEmitter } from "node:events";

  export interface PeerConnection extends EventEmitter {
    id: string;
    connected: boolean;
    send(data: string | Uint8Array): void;
    destroy(): void;
  }

  export interface ClientOptions {
    infoHash: string | Uint8Array;
    peerId: string | Uint8Array;
    announce: string | string[];
    port?: number;
    rtcConfig?: { iceServers: unknown[] };
    getAnnounceOpts?: () => Record<string, unknown>;
  }

  export interface AnnounceUpdate {
    announce: string;
    infoHash: string;
    complete: number;
    incomplete: number;
    interval?: number;
  }

  export interface ScrapeData {
    announce: string;
    infoHash: string;
    complete: number;
    incomplete: number;
    downloaded: number;
  }

  export class Client extends EventEmitter {
    constructor(opts: ClientOptions);
    start(opts?: Record<string, unknown>): void;
    stop(opts?: Record<string, unknown>): void;
    complete(opts?: Record<string, unknown>): void;
    update(opts?: Record<string, unknown>): void;
    scrape(opts?: Record<string, unknown>): void;
    destroy(cb?: (err: Error | null) => void): void;
    on(event: "peer", listener: (peer: PeerConnection) => void): this;
    on(event: "update", listener: (data: AnnounceUpdate) => void): this;
    on(event: "scrape", listener: (data: ScrapeData) => void): this;
    on(event: "warning" | "error", listener: (err: Error) => void): this;
  }

  export class Server extends EventEmitter {
    constructor(opts: Record<string, unknown>);
    listen(port: number, hostname: string, cb?: () => void): void;
    close(cb?: () => void): void;
    ws: { address(): { port: number } } | null;
    http: import("node:http").Server | null;
  }

  export default Client;
}
