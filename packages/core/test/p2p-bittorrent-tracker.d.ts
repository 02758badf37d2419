/** Minimal typings of the reference tracker server used as a compatibility fixture. */
declare module "bittorrent-tracker/server" {
  import type { AddressInfo } from "node:net";
  export default class Server {
    constructor(opts?: { udp?: boolean; http?: boolean; ws?: boolean; stats?: boolean });
    http: { address(): AddressInfo | string | null };
    listen(port: number, hostname: string, onListening: () => void): void;
    close(cb?: () => void): void;
    on(event: "warning" | "error", fn: (err: Error) => void): this;
  }
}
