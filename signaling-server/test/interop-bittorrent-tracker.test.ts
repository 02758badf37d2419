import { afterEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import {
  Client,
  type AnnounceUpdate,
  type PeerConnection,
  type ScrapeData,
} from "bittorrent-tracker";
import { startSignalingServer, type SignalingServer } from "../src/index.js";

/**
 * Interop with the unmodified `bittorrent-tracker` client (the one WebTorrent and
 * p2p-media-loader use). In Node its simple-peer runs real WebRTC (node-datachannel), so two
 * clients really open a data channel through our server; `iceServers: []` keeps it local.
 */
let server: SignalingServer | undefined;
const trackerClients: Client[] = [];

afterEach(async () => {
  await Promise.all(
    trackerClients.splice(0).map((c) => new Promise<void>((r) => c.destroy(() => r()))),
  );
  await server?.close();
  server = undefined;
});

function makeClient(url: string, infoHash: string, numwant: number): Client {
  const c = new Client({
    infoHash,
    peerId: randomBytes(20),
    announce: [url],
    port: 6881,
    rtcConfig: { iceServers: [] },
    getAnnounceOpts: () => ({ numwant }),
  });
  c.on("warning", () => {});
  c.on("error", () => {});
  trackerClients.push(c);
  return c;
}

function connectedPeer(c: Client): Promise<PeerConnection> {
  return new Promise((resolve) => {
    c.on("peer", (peer) => {
      peer.on("error", () => {});
      if (peer.connected) resolve(peer);
      else peer.once("connect", () => resolve(peer));
    });
  });
}

describe("bittorrent-tracker client against our server", () => {
  it("announce gets interval and counts; scrape gets complete/incomplete", async () => {
    server = await startSignalingServer({ port: 0, host: "127.0.0.1", logLevel: "silent" });
    const infoHash = randomBytes(20).toString("hex");
    const a = makeClient(server.url, infoHash, 0);
    const update = new Promise<AnnounceUpdate>((r) => a.once("update", r));
    a.start();
    expect(await update).toMatchObject({
      infoHash,
      complete: 0,
      incomplete: 1,
      announce: server.url,
    });
    const scraped = new Promise<ScrapeData>((r) => a.once("scrape", r));
    a.scrape();
    expect(await scraped).toMatchObject({ infoHash, complete: 0, incomplete: 1 });
    const completed = new Promise<AnnounceUpdate>((r) => a.once("update", r));
    a.complete();
    expect(await completed).toMatchObject({ complete: 1, incomplete: 0 });
  });

  it("two clients open a real WebRTC data channel via offer/answer relayed by our server", async () => {
    server = await startSignalingServer({ port: 0, host: "127.0.0.1", logLevel: "silent" });
    const infoHash = randomBytes(20).toString("hex");
    const a = makeClient(server.url, infoHash, 0);
    const first = new Promise<AnnounceUpdate>((r) => a.once("update", r));
    const aPeer = connectedPeer(a);
    a.start();
    await first;
    const b = makeClient(server.url, infoHash, 5);
    const bPeer = connectedPeer(b);
    b.start();
    const [pa, pb] = await Promise.all([aPeer, bPeer]);
    const got = new Promise<string>((r) =>
      pa.once("data", (d: Uint8Array) => r(Buffer.from(d).toString())),
    );
    pb.send("hello over the data channel");
    expect(await got).toBe("hello over the data channel");
    expect(server.stats()).toMatchObject({ peers: 2, swarms: 1, answersRelayed: 1 });
    expect(server.stats().offersRelayed).toBeGreaterThanOrEqual(1);
  });
});
