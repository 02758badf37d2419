import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PendingOffers } from "../src/pending.js";

const any = (): boolean => true;

describe("PendingOffers", () => {
  it("keeps the newest `capacity` offers, oldest dropped first", () => {
    const p = new PendingOffers<string>(3);
    expect([p.add("o1", "a", "t", 1), p.add("o2", "a", "t", 2), p.add("o3", "a", "t", 3)]).toEqual([
      0, 0, 0,
    ]);
    expect(p.add("o4", "a", "t", 4)).toBe(1);
    expect(p.size).toBe(3);
    expect(p.take("o1", any)).toBeUndefined();
    expect(p.take("o2", any)).toEqual({ from: "a", to: "t", at: 2 });
    // A hole is not counted as an eviction when the ring moves over it.
    expect(p.add("o5", "a", "t", 5)).toBe(0);
    expect(p.add("o6", "a", "t", 6)).toBe(1); // o3
    expect(p.take("o3", any)).toBeUndefined();
    expect([p.take("o4", any)?.at, p.take("o5", any)?.at, p.take("o6", any)?.at]).toEqual([
      4, 5, 6,
    ]);
    expect(p.size).toBe(0);
  });

  it("answers each relay once, and only one that matches", () => {
    const p = new PendingOffers<string>(8);
    p.add("dup", "alice", "t", 1);
    p.add("dup", "bob", "t", 2);
    expect(p.take("dup", (from) => from === "carol")).toBeUndefined();
    expect(p.size).toBe(2);
    expect(p.take("dup", any)?.from).toBe("bob"); // newest first
    expect(p.take("dup", (from) => from === "bob")).toBeUndefined();
    expect(p.take("dup", any)?.from).toBe("alice");
    expect(p.take("dup", any)).toBeUndefined();
  });

  it("expires by age, oldest first, across holes and the wrap-around", () => {
    const p = new PendingOffers<string>(4);
    for (let i = 1; i <= 6; i++) p.add(`o${i}`, "a", "t", i * 10); // o3..o6 remain
    p.take("o4", any);
    expect(p.expire(45)).toBe(1); // o3; the hole o4 is passed over
    expect(p.size).toBe(2);
    expect(p.expire(45)).toBe(0);
    p.add("o7", "a", "t", 70);
    expect(p.expire(1000)).toBe(3);
    expect(p.size).toBe(0);
    p.add("o8", "a", "t", 80);
    expect(p.take("o8", any)?.at).toBe(80);
  });

  it("behaves like a list of the last `capacity` relays (model check)", () => {
    type Op =
      | { op: "add"; id: number; from: number }
      | { op: "take"; id: number; from: number | null }
      | { op: "expire"; age: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant("add" as const), id: fc.nat(5), from: fc.nat(2) }),
      fc.record({
        op: fc.constant("take" as const),
        id: fc.nat(5),
        from: fc.option(fc.nat(2), { nil: null }),
      }),
      fc.record({ op: fc.constant("expire" as const), age: fc.nat(6) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 80 }), (cap, ops) => {
        const p = new PendingOffers<number>(cap);
        // The model: every relay ever made, in order; `live` false once answered or dropped.
        const model: Array<{ id: string; from: number; at: number; live: boolean }> = [];
        let now = 0;
        for (const o of ops) {
          now++;
          if (o.op === "add") {
            const id = `id${o.id}`;
            const evicted = p.add(id, o.from, 0, now);
            // The ring holds the last `cap` relays: this one takes the slot of the cap-th last.
            const oldest = model.length >= cap ? model[model.length - cap] : undefined;
            expect(evicted).toBe(oldest?.live === true ? 1 : 0);
            if (oldest !== undefined) oldest.live = false;
            model.push({ id, from: o.from, at: now, live: true });
          } else if (o.op === "take") {
            const id = `id${o.id}`;
            const want = (from: number): boolean => o.from === null || from === o.from;
            const got = p.take(id, (from) => want(from));
            const hit = [...model].reverse().find((e) => e.live && e.id === id && want(e.from));
            expect(got?.at).toBe(hit?.at);
            if (hit !== undefined) hit.live = false;
          } else {
            const cutoff = now - o.age;
            // Entries before the first live one that is young enough go (oldest first).
            let dropped = 0;
            for (const e of model) {
              if (!e.live) continue;
              if (e.at >= cutoff) break;
              e.live = false;
              dropped++;
            }
            expect(p.expire(cutoff)).toBe(dropped);
          }
          expect(p.size).toBe(model.filter((e) => e.live).length);
        }
      }),
      { numRuns: 400 },
    );
  });
});
