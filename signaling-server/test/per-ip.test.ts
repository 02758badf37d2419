/**
 * r22 (tracker side): many peer ids from one address. `maxPeersPerIp` refuses them beyond a
 * limit (public addresses only by default, so a demo on loopback or a LAN keeps working), and
 * offers are spread over addresses so one address cannot take every offer of an announce.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { clientIp, isPrivateIp, normalizeIp } from "../src/address.js";
import {
  parseCli,
  resolveConfig,
  startSignalingServer,
  type SignalingServer,
} from "../src/index.js";
import { Swarm, type SwarmConnection, type SwarmPeer } from "../src/swarm.js";
import { Started, TestClient, announce, binId, isOffer, isReply, type Msg } from "./helpers.js";

const started = new Started();
const server = (
  opts: Parameters<typeof startSignalingServer>[0] = {},
  random?: () => number,
): Promise<SignalingServer> => started.server(opts, random);
/** A client whose connection claims `forwardedFor` (honoured only from a trusted proxy). */
const client = (s: SignalingServer, forwardedFor?: string): Promise<TestClient> =>
  started.client(
    s.url,
    forwardedFor === undefined ? {} : { headers: { "x-forwarded-for": forwardedFor } },
  );

afterEach(() => started.closeAll());

const isFailure = (m: Msg): boolean => "failure reason" in m;
const TOO_MANY = "too many peers from your address in this swarm";

/** Announces `peerId` in `ih` and returns the reply or the failure. */
async function join(c: TestClient, ih: string, peerId: string, offers = 0): Promise<Msg> {
  c.send(announce(ih, peerId, offers));
  return c.next((m) => isReply(m) || isFailure(m));
}

describe("client addresses", () => {
  it("classifies shared (private) and public addresses", () => {
    for (const a of ["127.0.0.1", "::1", "10.1.2.3", "192.168.0.9", "100.64.0.1", "fe80::1", "x"])
      expect(isPrivateIp(a), a).toBe(true);
    for (const a of ["203.0.113.7", "198.51.100.9", "2001:db8::1", "::ffff:203.0.113.7"])
      expect(isPrivateIp(a), a).toBe(false);
    expect(normalizeIp("[::FFFF:203.0.113.7]")).toBe("203.0.113.7");
  });

  it("reads X-Forwarded-For only from a trusted proxy, right-most untrusted hop first", () => {
    const proxies = new Set(["127.0.0.1", "10.0.0.2"]);
    expect(clientIp("127.0.0.1", "203.0.113.7", proxies)).toBe("203.0.113.7");
    // A client-forged left entry is ignored: the proxy appended the real address.
    expect(clientIp("127.0.0.1", "1.2.3.4, 203.0.113.7", proxies)).toBe("203.0.113.7");
    expect(clientIp("127.0.0.1", "203.0.113.7, 10.0.0.2", proxies)).toBe("203.0.113.7");
    expect(clientIp("198.51.100.9", "203.0.113.7", proxies)).toBe("198.51.100.9");
    expect(clientIp("::ffff:127.0.0.1", undefined, proxies)).toBe("127.0.0.1");
    expect(clientIp("127.0.0.1", "203.0.113.7", new Set())).toBe("127.0.0.1");
  });

  it("validates the new options and reads them from flags", () => {
    expect(() => resolveConfig({ ipRuleScope: "some" as "all" })).toThrow(/ipRuleScope/);
    expect(() => resolveConfig({ trustedProxies: ["proxy.test"] })).toThrow(/trustedProxies/);
    expect(() => resolveConfig({ maxPeersPerIp: -1 })).toThrow(/maxPeersPerIp/);
    const req = parseCli(
      ["--max-peers-per-ip", "3", "--ip-rule-scope", "all", "--trusted-proxies", "127.0.0.1,::1"],
      {},
    );
    expect(req.kind === "run" && req.config).toMatchObject({
      maxPeersPerIp: 3,
      ipRuleScope: "all",
      trustedProxies: ["127.0.0.1", "::1"],
    });
  });
});

/** A seeded Lehmer (MINSTD) generator: the same picks on every run. `seed` in 1 … 2³¹ − 2. */
function lehmer(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 48271) % 2147483647) - 1) / 2147483646;
}

describe("Swarm.pickRandom spreads offers over addresses", () => {
  const conn = (ip: string): SwarmConnection => ({ ip, send: () => true });

  function swarmOf(ips: string[]): { swarm: Swarm; peers: SwarmPeer[] } {
    const swarm = new Swarm(binId("pick"));
    const peers = ips.map((ip, i) => swarm.add(binId(`p${i}`), conn(ip), false));
    return { swarm, peers };
  }

  it("r22 one address with many ids cannot take every offer", () => {
    // Six sybil ids on one address joined first, one honest viewer, then us.
    const { swarm, peers } = swarmOf([...Array<string>(6).fill("203.0.113.7"), "198.51.100.9"]);
    const self = swarm.add(binId("self"), conn("192.0.2.1"), false);
    const honest = peers[6];
    // random() = 0 walks the peer array in order: the sybils come first.
    for (const random of [() => 0, () => 0.5, () => 0.999]) {
      const out: Array<SwarmPeer | undefined> = [];
      const k = swarm.pickRandom(2, self, random, out);
      expect(k).toBe(2);
      expect(out.slice(0, k)).toContain(honest);
    }
    expect(swarm.peersAt("203.0.113.7")).toBe(6);
  });

  it("r22 still fills every offer from one address when no other exists, and never picks self", () => {
    const { swarm } = swarmOf(Array<string>(4).fill("127.0.0.1"));
    const self = swarm.add(binId("self"), conn("127.0.0.1"), false);
    const out: Array<SwarmPeer | undefined> = [];
    const k = swarm.pickRandom(3, self, () => 0, out);
    expect(k).toBe(3);
    expect(new Set(out.slice(0, k)).size).toBe(3);
    expect(out.slice(0, k)).not.toContain(self);
  });

  it("r22 peers on the announcer's own address are not put aside (one LAN meets itself)", () => {
    const { swarm } = swarmOf(["10.0.0.5", "10.0.0.5", "10.0.0.5", "203.0.113.7", "203.0.113.7"]);
    const self = swarm.add(binId("self"), conn("10.0.0.5"), false);
    const out: Array<SwarmPeer | undefined> = [];
    const k = swarm.pickRandom(4, self, () => 0, out);
    const ips = out.slice(0, k).map((p) => p?.conn.ip);
    expect(ips.filter((ip) => ip === "10.0.0.5")).toHaveLength(3);
    expect(ips.filter((ip) => ip === "203.0.113.7")).toHaveLength(1);
  });

  it("r22 each address gets an equal share of offers, whatever its number of ids", () => {
    // 20 sybil ids on one address, four honest viewers on four others.
    const { swarm, peers } = swarmOf([
      ...Array<string>(20).fill("203.0.113.7"),
      "198.51.100.1",
      "198.51.100.2",
      "198.51.100.3",
      "198.51.100.4",
    ]);
    const self = swarm.add(binId("self"), conn("192.0.2.1"), false);
    const random = lehmer(1);
    const got = new Map<string, number>();
    const out: Array<SwarmPeer | undefined> = [];
    for (let i = 0; i < 2000; i++) {
      const k = swarm.pickRandom(2, self, random, out);
      for (const p of out.slice(0, k))
        got.set(p?.conn.ip ?? "", (got.get(p?.conn.ip ?? "") ?? 0) + 1);
    }
    // 4000 offers over 5 addresses: ~800 each (a uniform pick over ids would give the sybil ~3300).
    for (const ip of ["203.0.113.7", "198.51.100.1", "198.51.100.4"])
      expect(got.get(ip), ip).toBeGreaterThan(650);
    expect(got.get("203.0.113.7")).toBeLessThan(950);
    expect(peers).toHaveLength(24);
  });

  it("r22 keeps its address groups right through joins and leaves (random walk)", () => {
    const swarm = new Swarm(binId("walk"));
    const random = lehmer(7);
    const live: SwarmPeer[] = [];
    for (let step = 0; step < 3000; step++) {
      if (live.length > 0 && random() < 0.45) {
        const [p] = live.splice(Math.floor(random() * live.length), 1);
        if (p) swarm.remove(p);
      } else {
        const ip = `203.0.113.${1 + Math.floor(random() * 6)}`;
        live.push(swarm.add(binId(`w${step}`), conn(ip), false));
      }
      const self = live.length > 0 && random() < 0.8 ? (live[0] ?? null) : null;
      const out: Array<SwarmPeer | undefined> = [];
      const count = 1 + Math.floor(random() * 8);
      const k = swarm.pickRandom(count, self, random, out);
      const picks = out.slice(0, k);
      expect(k).toBe(Math.min(count, live.length - (self ? 1 : 0)));
      expect(new Set(picks).size).toBe(k);
      for (const p of picks) expect(p !== self && p !== undefined && live.includes(p)).toBe(true);
    }
    for (let i = 1; i <= 6; i++) {
      const ip = `203.0.113.${i}`;
      expect(swarm.peersAt(ip)).toBe(live.filter((p) => p.conn.ip === ip).length);
    }
    expect(swarm.addresses).toBe(new Set(live.map((p) => p.conn.ip)).size);
  });

  it("never picks a skipped peer, and still fills every offer the others can take (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 30 }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 2 ** 31 - 2 }),
        (addrs, selfAt, skipAt, count, seed0) => {
          const swarm = new Swarm(binId("skip-prop"));
          const peers = addrs.map((a, i) =>
            swarm.add(binId(`q${i}`), conn(`203.0.113.${a}`), false),
          );
          const self =
            selfAt === undefined || peers.length === 0 ? null : peers[selfAt % peers.length]!;
          // Indices past the swarm stand for ids the server does not know (left, or made up).
          const skip = skipAt.map((i) =>
            i % 40 < peers.length ? peers[i % 40]!.peerId : binId(`gone${i}`),
          );
          const skipped = new Set(skip);
          const random = lehmer(seed0);
          const out: Array<SwarmPeer | undefined> = [];
          const k = swarm.pickRandom(count, self, random, out, skip);
          const picks = out.slice(0, k);
          const eligible = peers.filter((p) => p !== self && !skipped.has(p.peerId)).length;
          expect(k).toBe(Math.min(count, eligible));
          expect(new Set(picks).size).toBe(k);
          for (const p of picks) {
            expect(p).toBeDefined();
            expect(p === self || skipped.has(p?.peerId ?? "")).toBe(false);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("an address whose picked id is skipped offers another of its ids: its share stays one address's", () => {
    // One address with five ids, four of them skipped, and four addresses with one id each.
    const { swarm, peers } = swarmOf([
      ...Array<string>(5).fill("203.0.113.7"),
      "198.51.100.1",
      "198.51.100.2",
      "198.51.100.3",
      "198.51.100.4",
    ]);
    const self = swarm.add(binId("self"), conn("192.0.2.1"), false);
    const skip = peers.slice(0, 4).map((p) => p.peerId);
    const random = lehmer(3);
    let shared = 0;
    const out: Array<SwarmPeer | undefined> = [];
    for (let i = 0; i < 2000; i++) {
      expect(swarm.pickRandom(1, self, random, out, skip)).toBe(1);
      expect(skip).not.toContain(out[0]?.peerId);
      if (out[0] === peers[4]) shared++;
    }
    // One address in five: ~400 (giving up on the address when its first pick is skipped: ~80).
    expect(shared).toBeGreaterThan(320);
    expect(shared).toBeLessThan(480);
  });

  it("r22 forgets an address's count when its peers leave", () => {
    const { swarm, peers } = swarmOf(["203.0.113.7", "203.0.113.7"]);
    for (const p of peers) swarm.remove(p);
    expect(swarm.peersAt("203.0.113.7")).toBe(0);
  });
});

describe("maxPeersPerIp", () => {
  it("r22 shared address (loopback) with the default scope: every viewer of the demo gets in", async () => {
    const s = await server({ maxPeersPerIp: 2 });
    const ih = binId("demo");
    for (let i = 0; i < 5; i++)
      expect(await join(await client(s), ih, binId(`v${i}`))).toMatchObject({ complete: 0 });
    expect(s.stats().peers).toBe(5);
  });

  it("r22 scope all applies it to loopback too; a peer leaving makes room", async () => {
    const s = await server({ maxPeersPerIp: 2, ipRuleScope: "all" });
    const ih = binId("all");
    const [a, b, c] = [await client(s), await client(s), await client(s)];
    await join(a, ih, binId("a"));
    await join(b, ih, binId("b"));
    expect(await join(c, ih, binId("c"))).toEqual({
      action: "announce",
      "failure reason": TOO_MANY,
      info_hash: ih,
    });
    // Another swarm is another count.
    expect(await join(c, binId("other"), binId("c"))).toMatchObject({ incomplete: 1 });
    a.send(announce(ih, binId("a"), 0, { event: "stopped" }));
    await a.next(isReply);
    expect(await join(c, ih, binId("c"))).toMatchObject({ incomplete: 2 });
    expect(await s.metrics()).toMatch(/reason="too_many_peers_per_ip"} 1/);
  });

  it("r22 public addresses behind a trusted proxy: limited per address; private ones exempt", async () => {
    const s = await server({ maxPeersPerIp: 2, trustedProxies: ["127.0.0.1"] });
    const ih = binId("pub");
    await join(await client(s, "203.0.113.7"), ih, binId("s1"));
    await join(await client(s, "203.0.113.7"), ih, binId("s2"));
    expect(await join(await client(s, "203.0.113.7"), ih, binId("s3"))).toMatchObject({
      "failure reason": TOO_MANY,
    });
    // A forged left-hand entry does not help: the proxy's hop is the one read.
    expect(await join(await client(s, "198.51.100.1, 203.0.113.7"), ih, binId("s4"))).toMatchObject(
      { "failure reason": TOO_MANY },
    );
    expect(await join(await client(s, "198.51.100.9"), ih, binId("h"))).toMatchObject({
      incomplete: 3,
    });
    // A classroom behind one private address (a proxy on its LAN) is not limited.
    for (let i = 0; i < 3; i++)
      expect(await join(await client(s, "10.0.0.5"), ih, binId(`lan${i}`))).toMatchObject({
        complete: 0,
      });
    expect(s.stats().peers).toBe(6);
  });

  it("r22 an untrusted connection's X-Forwarded-For is ignored (loopback, exempt)", async () => {
    const s = await server({ maxPeersPerIp: 1 });
    const ih = binId("forged");
    await join(await client(s, "203.0.113.7"), ih, binId("f1"));
    expect(await join(await client(s, "203.0.113.7"), ih, binId("f2"))).toMatchObject({
      incomplete: 2,
    });
  });

  it("r22 an announce's offers reach the honest viewer even when sybil ids outnumber it", async () => {
    // random() = 0: without spreading, the first two peers of the swarm (sybils) get both offers.
    const s = await server({ trustedProxies: ["127.0.0.1"] }, () => 0);
    const ih = binId("sybil");
    const sybil = await client(s, "203.0.113.7");
    for (let i = 0; i < 4; i++) await join(sybil, ih, binId(`sybil${i}`));
    const honest = await client(s, "198.51.100.9");
    await join(honest, ih, binId("honest"));
    const viewer = await client(s, "192.0.2.1");
    await join(viewer, ih, binId("viewer"), 2);
    expect(await honest.next(isOffer)).toMatchObject({ peer_id: binId("viewer") });
    await sybil.sync();
    expect(sybil.messages.filter(isOffer)).toHaveLength(1);
  });
});
