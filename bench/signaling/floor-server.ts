/**
 * The floor for the signaling benchmark (`--floor`): the least a WebSocket tracker must do per
 * relay on Node + `ws`, to show how much of a relay's cost any such server pays. It reads and
 * parses each announce, replies to it and forwards each of its offers to a random other peer
 * of the swarm (not necessarily different peers), and nothing else: no validation, limits,
 * answer bookkeeping, metrics or cleanup.
 * Writes take the fastest path we have (a turn's frames per socket, our frame encoder, one
 * `socket.write`). Not a server to run: it trusts every byte it gets.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { encodeTextFrames } from "../../signaling-server/src/frames.js";

interface FloorConn {
  socket: Duplex;
  peerJson: string;
  out: string[] | null;
}

interface AnnounceShape {
  info_hash: string;
  peer_id: string;
  offers?: Array<{ offer: { sdp: string }; offer_id: string }>;
}

export async function startFloorServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const swarms = new Map<string, FloorConn[]>();
  const queued: FloorConn[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    for (const c of queued) {
      const out = c.out;
      c.out = null;
      if (out === null || c.socket.destroyed) continue;
      c.socket.write(encodeTextFrames(out));
    }
    queued.length = 0;
  };
  const send = (c: FloorConn, message: string): void => {
    if (c.out !== null) {
      c.out.push(message);
      return;
    }
    c.out = [message];
    queued.push(c);
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    clientTracking: false,
  });
  const http = createServer();
  http.on("upgrade", (req, socket: Duplex, head: Buffer) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      const c: FloorConn = { socket, peerJson: "", out: null };
      ws.on("message", (data: Buffer) => {
        const m = JSON.parse(data.toString()) as AnnounceShape;
        const hashJson = JSON.stringify(m.info_hash);
        let swarm = swarms.get(m.info_hash);
        if (swarm === undefined) swarms.set(m.info_hash, (swarm = []));
        if (c.peerJson === "") {
          c.peerJson = JSON.stringify(m.peer_id);
          swarm.push(c);
        }
        send(
          c,
          `{"action":"announce","interval":120,"info_hash":${hashJson},"complete":0,"incomplete":${swarm.length}}`,
        );
        if (m.offers === undefined || swarm.length < 2) return;
        for (const offer of m.offers) {
          const i = Math.floor(Math.random() * swarm.length);
          const target = swarm[i] === c ? swarm[(i + 1) % swarm.length] : swarm[i];
          if (target === undefined) continue;
          send(
            target,
            `{"action":"announce","info_hash":${hashJson},"peer_id":${c.peerJson},"offer_id":${JSON.stringify(offer.offer_id)},"offer":{"type":"offer","sdp":${JSON.stringify(offer.offer.sdp)}}}`,
          );
        }
      });
    }),
  );
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    port: (http.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
