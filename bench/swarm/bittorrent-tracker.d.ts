/** The part of bittorrent-tracker's (untyped) server API the swarm bench uses. */
declare module "bittorrent-tracker" {
  import type { Server as HttpServer } from "node:http";

  /** Options of bittorrent-tracker's `Server`. */
  export interface ServerOptions {
    udp?: boolean;
    http?: boolean;
    ws?: boolean;
    stats?: boolean;
  }

  /** WebTorrent/BitTorrent tracker server. */
  export class Server {
    constructor(opts?: ServerOptions);
    /** The HTTP server carrying the WebSocket endpoint (created when `http` is false and `ws` true). */
    http: HttpServer | null;
    listen(port: number, hostname: string, onListening: () => void): void;
    close(cb?: () => void): void;
  }
}
