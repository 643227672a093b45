import { afterEach, describe, expect, it } from 'vitest';
import { Rng } from '../../runtime/rng.js';
import { SimHost } from '../../runtime/sim.js';
import { probeSpec } from './helpers.js';

type Tally = Record<string, number>;
type Arrival = [string, number, number, number];

let sim: SimHost;

function start(ids: string[], seed = 1): SimHost {
  sim = new SimHost({ seed });
  sim.supervise({ id: 'root', children: ids.map((id) => probeSpec(id, 'peer')) });
  return sim;
}

afterEach(async () => {
  await sim?.shutdown();
});

/** Every member sends `count` messages to every other member; returns who heard whom, how often. */
async function exchange(ids: string[], count = 5): Promise<Record<string, Tally>> {
  const before: Record<string, Tally> = {};
  for (const id of ids) before[id] = { ...(await sim.ask<Tally>(id, { cmd: 'tally' })) };
  for (const id of ids) await sim.ask(id, { cmd: 'fanout', to: ids.filter((x) => x !== id), count });
  await sim.sleep(50);
  const heard: Record<string, Tally> = {};
  for (const id of ids) {
    const now = await sim.ask<Tally>(id, { cmd: 'tally' });
    heard[id] = {};
    for (const from of ids) if (from !== id) heard[id]![from] = (now[from] ?? 0) - (before[id]![from] ?? 0);
  }
  return heard;
}

/** The directed pairs `from>to` that delivered anything. */
function links(heard: Record<string, Tally>): Set<string> {
  const out = new Set<string>();
  for (const [to, tally] of Object.entries(heard)) for (const [from, n] of Object.entries(tally)) if (n > 0) out.add(`${from}>${to}`);
  return out;
}

function allPairs(ids: string[]): string[] {
  return ids.flatMap((a) => ids.filter((b) => b !== a).map((b) => `${a}>${b}`));
}

describe('SimHost partitions', () => {
  it('a partition drops exactly the cross-group traffic and heal restores it', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    start(ids);
    sim.faults.partition([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    const heard = await exchange(ids, 5);
    const cut = new Set(['a>c', 'a>d', 'b>c', 'b>d', 'c>a', 'c>b', 'd>a', 'd>b']);
    for (const pair of allPairs(ids)) {
      const [from, to] = pair.split('>') as [string, string];
      // Every message of a pair arrives, or none does (the sim's links are otherwise lossless).
      expect(heard[to]![from], pair).toBe(cut.has(pair) ? 0 : 5);
    }
    // The drops were counted at the receivers.
    expect((await sim.metrics('c')).faultDrops).toBe(10);

    sim.faults.heal();
    const healed = await exchange(ids, 5);
    for (const pair of allPairs(ids)) {
      const [from, to] = pair.split('>') as [string, string];
      expect(healed[to]![from], pair).toBe(5);
    }
  });

  it('a one-way block drops only that direction', async () => {
    const ids = ['a', 'b', 'c'];
    start(ids);
    sim.faults.block('a', 'b');
    expect(links(await exchange(ids))).toEqual(new Set(allPairs(ids).filter((p) => p !== 'a>b')));
    sim.faults.heal();
    expect(links(await exchange(ids))).toEqual(new Set(allPairs(ids)));
  });

  it('isolate cuts one member off from all the others, both ways', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    start(ids);
    sim.faults.isolate('b', ids);
    const expected = allPairs(ids).filter((p) => !p.includes('b'));
    expect(links(await exchange(ids))).toEqual(new Set(expected));
  });

  it('halves splits the members into two groups that cannot talk across', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    start(ids);
    const [small, big] = sim.faults.halves(ids, new Rng(5)) as [string[], string[]];
    expect(small.length).toBe(2);
    expect(big.length).toBe(3);
    expect([...small, ...big].sort()).toEqual(ids);
    const side = (x: string) => (small.includes(x) ? 0 : 1);
    const expected = allPairs(ids).filter((p) => {
      const [from, to] = p.split('>') as [string, string];
      return side(from) === side(to);
    });
    expect(links(await exchange(ids))).toEqual(new Set(expected));
  });

  for (const n of [3, 4, 5, 6, 7]) {
    it(`majoritiesRing of ${n}: each member hears exactly its view, a majority, and no two views are the same`, async () => {
      const ids = Array.from({ length: n }, (_, i) => `m${i}`);
      start(ids);
      const views = sim.faults.majoritiesRing(ids, new Rng(11));
      const majority = Math.floor(n / 2) + 1;
      const keys = new Set<string>();
      for (const id of ids) {
        const view = views[id]!;
        expect(view).toContain(id);
        expect(new Set(view).size, `view of ${id}`).toBe(majority);
        keys.add([...view].sort().join(','));
      }
      expect(keys.size, 'views must be pairwise different').toBe(n);
      // What each member actually hears is its view: a majority, counting itself.
      const heard = await exchange(ids);
      for (const id of ids) {
        const hears = [id, ...Object.entries(heard[id]!).filter(([, k]) => k > 0).map(([from]) => from)].sort();
        expect(hears, `${id} hears`).toEqual([...views[id]!].sort());
      }
    });
  }

  it('bridge leaves two halves that only the bridge member reaches both of', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    start(ids);
    const [left, bridge, right] = sim.faults.bridge(ids, new Rng(3));
    expect(left.length + right.length + 1).toBe(ids.length);
    expect(left.length).toBe(2);
    expect(right.length).toBe(2);
    expect([...left, bridge, ...right].sort()).toEqual(ids);
    const heard = await exchange(ids);
    const got = links(heard);
    for (const pair of allPairs(ids)) {
      const [from, to] = pair.split('>') as [string, string];
      const across = (left.includes(from) && right.includes(to)) || (right.includes(from) && left.includes(to));
      expect(got.has(pair), pair).toBe(!across);
    }
  });

  it('a partition set while messages are in flight drops them', async () => {
    sim = new SimHost({ seed: 1, latencyMs: [5, 5] });
    sim.supervise({ id: 'root', children: [probeSpec('a', 'peer'), probeSpec('b', 'peer')] });
    // The fanout reaches a at t=5 and its 20 messages would reach b at t=10.
    sim.send('a', { cmd: 'fanout', to: ['b'], count: 20 });
    await sim.sleep(7);
    expect((await sim.metrics('a')).msgsOut).toBe(20);
    expect((await sim.metrics('b')).msgsIn).toBe(0);
    sim.faults.partition([['a'], ['b']]);
    await sim.sleep(20);
    expect(await sim.ask<Tally>('b', { cmd: 'tally' })).toEqual({});
    expect((await sim.metrics('b')).faultDrops).toBe(20);
  });

  it('a partition set while messages are held by a delay drops them', async () => {
    start(['a', 'b']);
    sim.faults.delay('a', 'b', 10, 20);
    await sim.ask('a', { cmd: 'fanout', to: ['b'], count: 20 });
    await sim.sleep(5);
    sim.faults.block('a', 'b');
    await sim.sleep(50);
    expect(await sim.ask<Tally>('b', { cmd: 'tally' })).toEqual({});
    sim.faults.heal();
    await sim.ask('a', { cmd: 'fanout', to: ['b'], count: 20 });
    await sim.sleep(50);
    expect(await sim.ask<Tally>('b', { cmd: 'tally' })).toEqual({ a: 20 });
  });
});

describe('SimHost lossy links', () => {
  it('drop 0.3 loses 30% ± 3% of 10,000 messages and counts them', async () => {
    start(['a', 'b', 'c']);
    sim.faults.drop('a', 'b', 0.3);
    await sim.ask('a', { cmd: 'fanout', to: ['b', 'c'], count: 10_000 });
    await sim.sleep(20);
    const got = (await sim.ask<Tally>('b', { cmd: 'tally' })).a ?? 0;
    expect(got / 10_000).toBeGreaterThan(0.67);
    expect(got / 10_000).toBeLessThan(0.73);
    expect((await sim.metrics('b')).faultDrops).toBe(10_000 - got);
    // The rule is per directed link: a>c is untouched.
    expect((await sim.ask<Tally>('c', { cmd: 'tally' })).a).toBe(10_000);
  });

  it('duplicate 0.2 delivers 20% ± 3% of 10,000 messages twice', async () => {
    start(['a', 'b']);
    sim.faults.duplicate('a', 'b', 0.2);
    await sim.ask('a', { cmd: 'fanout', to: ['b'], count: 10_000 });
    await sim.sleep(20);
    const log = await sim.ask<Arrival[]>('b', { cmd: 'log' });
    const copies = new Map<number, number>();
    for (const [, seq] of log) copies.set(seq, (copies.get(seq) ?? 0) + 1);
    expect(copies.size).toBe(10_000); // nothing lost
    expect(Math.max(...copies.values())).toBe(2);
    const twice = [...copies.values()].filter((k) => k === 2).length;
    expect(twice / 10_000).toBeGreaterThan(0.17);
    expect(twice / 10_000).toBeLessThan(0.23);
  });

  it('delay [20, 50] ms holds every message within that range on top of the latency', async () => {
    start(['a', 'b']);
    sim.faults.delay('a', 'b', 20, 50);
    await sim.ask('a', { cmd: 'fanout', to: ['b'], count: 2_000 });
    await sim.sleep(100);
    const log = await sim.ask<Arrival[]>('b', { cmd: 'log' });
    expect(log.length).toBe(2_000);
    const delays = log.map(([, , sentAt, arrivedAt]) => arrivedAt - sentAt);
    const lo = Math.min(...delays);
    const hi = Math.max(...delays);
    // Default latency is [0.1, 1] ms; the delay comes on top of it.
    expect(lo).toBeGreaterThanOrEqual(20);
    expect(hi).toBeLessThanOrEqual(51);
    // The whole range is used, not one fixed value.
    expect(lo).toBeLessThan(22);
    expect(hi).toBeGreaterThan(48);
  });

  it('reorder produces out-of-order arrivals while a link without faults stays FIFO', async () => {
    start(['a', 'b', 'c']);
    sim.faults.reorder('a', 'b', 0.5, 5);
    await sim.ask('a', { cmd: 'fanout', to: ['b', 'c'], count: 1_000 });
    await sim.sleep(50);
    const inversions = (log: Arrival[]) => log.filter((x, i) => i > 0 && x[1] < log[i - 1]![1]).length;
    const onB = await sim.ask<Arrival[]>('b', { cmd: 'log' });
    const onC = await sim.ask<Arrival[]>('c', { cmd: 'log' });
    expect(onB.length).toBe(1_000);
    expect(new Set(onB.map((x) => x[1])).size).toBe(1_000); // reordered, not lost or doubled
    expect(inversions(onB)).toBeGreaterThan(50);
    expect(onC.map((x) => x[1])).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
  });

  it('link rules reject probabilities outside [0, 1] and inverted delay ranges', () => {
    start(['a']);
    expect(() => sim.faults.drop('a', 'b', 1.5)).toThrow(RangeError);
    expect(() => sim.faults.duplicate('a', 'b', -0.1)).toThrow(RangeError);
    expect(() => sim.faults.delay('a', 'b', 10, 5)).toThrow(RangeError);
  });

  it('a wildcard rule applies to every link and heal removes it', async () => {
    start(['a', 'b', 'c']);
    sim.faults.drop('*', '*', 1);
    await sim.ask('a', { cmd: 'fanout', to: ['b', 'c'], count: 10 }).catch(() => undefined);
    await sim.sleep(20);
    sim.faults.heal();
    expect(await sim.ask<Tally>('b', { cmd: 'tally' })).toEqual({});
    expect(await sim.ask<Tally>('c', { cmd: 'tally' })).toEqual({});
    expect(sim.faults.state).toEqual({ blocked: [], links: [] });
  });
});
