import { test, expect, type Browser, type Page } from "@playwright/test";
import { labUnavailableReason, NetLab, type LabServers, type NatKind } from "./lab.js";
import { hivecastConfig, playerState, PLAYER_PAGE, type PlayerState } from "./page.js";
import {
  isRelayed,
  linkType,
  observePeerConnections,
  peerConnections,
  type PcRecord,
} from "./pc-stats.js";

/**
 * RELIABILITY r25: P2P across NATs, in a lab of network namespaces (see lab.ts). Two viewers,
 * each behind its own router namespace, play the simulated live stream with Hivecast; coturn,
 * the origins and the signaling server sit in the lab's public namespace. No host path exists
 * between viewers (their private subnets are not routed), so any P2P byte crossed the NATs over
 * srflx / prflx or relay candidates. Root only.
 *
 * Every case runs with the SDK's default ICE policy ("all"). Between two symmetric NATs the link
 * is prflx ↔ relay (a viewer's own NAT mapping straight to the other viewer's TURN relay); with
 * UDP blocked it is relay ↔ relay over TURN/TCP. Both used to fail here, and the specs forced
 * `iceTransportPolicy: "relay"`: the lab's public namespace had no default route, so coturn's
 * relay got ENETUNREACH when ICE also checked a relay → private host pair, and coturn 4.6 then
 * marks the relay socket to be closed (the allocation ignored every later packet, or was torn
 * down with "reason: general" about 1 s after its CHANNEL_BIND). On the internet such packets
 * are dropped silently; the lab now does the same (see lab.ts), and the defaults connect.
 */

const unavailable = labUnavailableReason();
test.skip(unavailable !== null, unavailable ?? "");
test.describe.configure({ timeout: 100_000 });

interface Scenario {
  lab: NetLab;
  servers: LabServers;
  pages: Page[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A lab with one viewer per entry of `nats`, coturn (unless `turn` is false), the servers, and
 * one Chromium per viewer namespace playing the live stream. The signaling server serves
 * `iceUrls(lab)` on `GET /ice` (TURN credentials minted from coturn's secret) and the pages get
 * their ICE servers only from there (`p2p.iceServersUrl`); the second viewer joins once the
 * first plays. `body` runs, then everything is torn
 * down, also when it throws.
 */
async function withScenario(
  nats: NatKind[],
  turn: boolean,
  iceUrls: (lab: NetLab) => string[],
  body: (s: Scenario) => Promise<void>,
): Promise<void> {
  const lab = await NetLab.start(nats);
  try {
    if (turn) await lab.startTurn();
    const servers = await lab.startServers({
      pages: { "/play.html": PLAYER_PAGE },
      iceServers: iceUrls(lab),
      // Only with a TURN URL (the signaling server refuses a secret it cannot use).
      ...(iceUrls(lab).some((u) => u.startsWith("turn:")) ? { turnSecret: lab.turnSecret } : {}),
    });
    const browsers: Browser[] = await Promise.all(
      nats.map((_, i) => lab.launchBrowser(i, [servers.pages])),
    );
    const pages: Page[] = [];
    for (const [i, browser] of browsers.entries()) {
      const page = await (await browser.newContext()).newPage();
      page.on("console", (m) => {
        if (m.type() === "error") console.log(`[viewer ${i}] ${m.text()}`);
      });
      // An uncaught exception (say, the player page's script stopping before it built its
      // player) is not a console message: log it too, or a failed start says nothing.
      page.on("pageerror", (e) => console.log(`[viewer ${i}] uncaught: ${e.message}`));
      page.on("requestfailed", (r) => {
        const why = r.failure()?.errorText ?? "";
        // Aborts are the players' own doing (hedging, a switch, a seek), not a failure.
        if (why !== "net::ERR_ABORTED")
          console.log(`[viewer ${i}] request failed: ${r.url()} ${why}`);
      });
      await observePeerConnections(page);
      const cfg = {
        src: `${servers.origins[0]}live/master.m3u8`,
        hivecast: hivecastConfig({
          origins: servers.origins,
          tracker: servers.tracker,
          iceServersUrl: servers.ice,
        }),
      };
      await page.goto(`${servers.pages}/play.html?cfg=${encodeURIComponent(JSON.stringify(cfg))}`);
      await expect
        .poll(async () => (await playerState(page)).playing, { timeout: 20_000 })
        .toBe(true);
      pages.push(page);
    }
    await body({ lab, servers, pages });
  } finally {
    await lab.close();
  }
}

/** Plays on, then checks every page advanced by ≥ 0.7 × the wall time with no long stall. */
async function playFor(pages: Page[], seconds: number): Promise<PlayerState[]> {
  const before = await Promise.all(pages.map(playerState));
  await sleep(seconds * 1000);
  const after = await Promise.all(pages.map(playerState));
  for (const [i, a] of after.entries()) {
    const b = before[i]!;
    const note = `viewer ${i}: ${JSON.stringify(a)}`;
    expect(a.currentTime - b.currentTime, note).toBeGreaterThan(seconds * 0.7);
    expect(a.maxStallMs, note).toBeLessThan(2_500);
    expect(a.fatal, note).toEqual([]);
    expect(a.integrity, note).toBe(0);
  }
  return after;
}

const describeLinks = (pcs: PcRecord[]): string =>
  JSON.stringify(
    pcs.map((p) => ({
      state: p.state,
      type: linkType(p),
      proto: p.relayProtocol,
      local: p.localAddr,
      remote: p.remoteAddr,
      sent: p.bytesSent,
      recv: p.bytesReceived,
    })),
  );

test("two viewers behind endpoint-independent NATs, STUN only: a srflx link forms and they share verified segments", async () => {
  await withScenario(
    ["eim", "eim"],
    true,
    (lab) => lab.iceUrls([]),
    async ({ pages }) => {
      const states = await playFor(pages, 20);
      const p2p = states.reduce((a, s) => a + s.bytes.p2p, 0);
      const pcs = (await Promise.all(pages.map(peerConnections))).flat();
      const note = describeLinks(pcs);
      expect(p2p, note).toBeGreaterThan(0);
      const up = pcs.filter((p) => p.connectedMs !== null);
      expect(up.length, note).toBeGreaterThan(0);
      // Only STUN is configured and no host path exists: the pair is server- or peer-reflexive.
      for (const p of up) expect(["srflx", "prflx"], note).toContain(linkType(p));
      expect(
        up.reduce((a, p) => a + p.bytesReceived, 0),
        note,
      ).toBeGreaterThan(0);
    },
  );
});

test("two viewers behind symmetric NATs connect over TURN relay; with coturn stopped, playback goes on from HTTP", async () => {
  await withScenario(
    ["symmetric", "symmetric"],
    true,
    (lab) => lab.iceUrls(["udp", "tcp"]),
    async ({ lab, pages }) => {
      const states = await playFor(pages, 20);
      const pcs = (await Promise.all(pages.map(peerConnections))).flat();
      const note = describeLinks(pcs);
      expect(
        states.reduce((a, s) => a + s.bytes.p2p, 0),
        note,
      ).toBeGreaterThan(0);
      const relayed = pcs.filter((p) => p.connectedMs !== null && isRelayed(p));
      expect(relayed.length, note).toBeGreaterThan(0);
      // The pages' only TURN credentials came from the signaling server's `/ice`: coturn
      // accepted them (allocations of a REST username `<expiry>:<id>` succeeded).
      expect(lab.turnLog()).toMatch(
        /user <\d+:[^>]+>: incoming packet ALLOCATE processed, success/,
      );
      expect(
        relayed.reduce((a, p) => a + p.bytesReceived, 0),
        note,
      ).toBeGreaterThan(0);

      // TURN down mid-playback: the relayed links die; segments come over HTTP without a stall.
      await lab.stopTurn();
      const http = states.map((s) => s.bytes.http);
      const later = await playFor(pages, 15);
      for (const [i, s] of later.entries()) expect(s.bytes.http).toBeGreaterThan(http[i]!);
    },
  );
});

test("symmetric NATs with the TURN server down from the start: no link, playback from HTTP without a stall", async () => {
  await withScenario(
    ["symmetric", "symmetric"],
    false,
    (lab) => lab.iceUrls(["udp", "tcp"]),
    async ({ pages }) => {
      const states = await playFor(pages, 15);
      for (const s of states) expect(s.bytes.http).toBeGreaterThan(0);
      const pcs = (await Promise.all(pages.map(peerConnections))).flat();
      expect(
        pcs.filter((p) => p.connectedMs !== null),
        describeLinks(pcs),
      ).toEqual([]);
    },
  );
});

test("UDP blocked: viewers connect through TURN over TCP and share, with no stall", async () => {
  await withScenario(
    ["udp-blocked", "udp-blocked"],
    true,
    // What a deployment serves: STUN, TURN over UDP and TURN over TCP.
    (lab) => lab.iceUrls(["udp", "tcp"]),
    async ({ pages }) => {
      const states = await playFor(pages, 20);
      for (const s of states) expect(s.bytes.http).toBeGreaterThan(0);
      const pcs = (await Promise.all(pages.map(peerConnections))).flat();
      const note = describeLinks(pcs);
      const up = pcs.filter((p) => p.connectedMs !== null);
      expect(up.length, note).toBeGreaterThan(0);
      expect(
        states.reduce((a, s) => a + s.bytes.p2p, 0),
        note,
      ).toBeGreaterThan(0);
      for (const p of up) {
        expect(linkType(p), note).toBe("relay");
        // This side's allocation was made over TCP (UDP never leaves the viewer's network).
        if (p.localType === "relay") expect(p.relayProtocol, note).toBe("tcp");
      }
    },
    // The SDK's default gather wait (5 s) on each side of a non-trickle offer/answer never ended
    // here (the UDP allocation cannot complete): the answer landed at the 10 s connect timeout
    // and no link formed. The SDK now sends a description 300 ms after its first relay
    // candidate, so the defaults work (measured: 0 links before, 2 after).
  );
});
