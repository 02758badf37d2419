import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { encodeTextFrame, encodeTextFrames } from "../src/frames.js";

describe("text frame encoding", () => {
  it("uses the 7-bit, 16-bit and 64-bit length forms at their boundaries", () => {
    const cases: Array<[number, number[]]> = [
      [0, [0x81, 0]],
      [125, [0x81, 125]],
      [126, [0x81, 126, 0, 126]],
      [65_535, [0x81, 126, 0xff, 0xff]],
      [65_536, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]],
    ];
    for (const [n, header] of cases) {
      const frame = encodeTextFrame("x".repeat(n));
      expect([...frame.subarray(0, header.length)]).toEqual(header);
      expect(frame.length).toBe(header.length + n);
      expect(frame.subarray(header.length).toString()).toBe("x".repeat(n));
    }
  });

  it("counts UTF-8 bytes, not UTF-16 units", () => {
    const text = "é€😀";
    const frame = encodeTextFrame(text);
    expect(frame[1]).toBe(Buffer.byteLength(text));
    expect(frame.subarray(2).toString()).toBe(text);
    expect(encodeTextFrames([text, "a"])).toEqual(
      Buffer.concat([encodeTextFrame(text), encodeTextFrame("a")]),
    );
  });

  describe("read back by a ws client", () => {
    let http: Server;
    let url = "";
    const sockets: Duplex[] = [];
    const wss = new WebSocketServer({ noServer: true });

    beforeAll(async () => {
      http = createServer();
      http.on("upgrade", (req, socket: Duplex, head: Buffer) =>
        wss.handleUpgrade(req, socket, head, () => sockets.push(socket)),
      );
      await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
      url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    });

    /** Opens a client, writes `buf` to its server-side socket, returns the messages it reads. */
    async function receive(buf: Buffer, count: number): Promise<string[]> {
      const ws = new WebSocket(url);
      const got: string[] = [];
      const done = new Promise<void>((resolve, reject) => {
        ws.on("message", (data, isBinary) => {
          if (isBinary) reject(new Error("binary frame"));
          got.push(String(data));
          if (got.length === count) resolve();
        });
        ws.on("error", reject);
      });
      await new Promise<void>((resolve) => ws.once("open", () => resolve()));
      sockets.at(-1)?.write(buf);
      if (count > 0) await done;
      ws.terminate();
      return got;
    }

    it("decodes every batch to the same messages in the same order", async () => {
      const message = fc.oneof(
        { weight: 4, arbitrary: fc.string({ unit: "grapheme", maxLength: 300 }) },
        // Lengths across the 126 and 65 536 byte boundaries.
        {
          weight: 1,
          arbitrary: fc
            .integer({ min: 100, max: 70_000 })
            .map((n) => "ab€".repeat(Math.ceil(n / 3)).slice(0, n)),
        },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 6 }), async (messages) => {
          const buf =
            messages.length === 1 ? encodeTextFrame(messages[0] ?? "") : encodeTextFrames(messages);
          expect(await receive(buf, messages.length)).toEqual(messages);
        }),
        { numRuns: 60 },
      );
    });
  });
});
