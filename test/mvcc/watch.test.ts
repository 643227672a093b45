import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../runtime/store.js';
import { MvccStore } from '../../raft/mvcc/store.js';
import { WatchHub, type WatchCancelReason, type WatchRequest } from '../../raft/mvcc/watch.js';
import { inRange, prefixEnd, type Proposal, type WatchEvent } from '../../raft/mvcc/commands.js';
import { keys, step, toEntries, type Step } from './gen.js';
import { Model, plain } from './model.js';

const options = { dedupIdleRevisions: 12, maxDedupClients: 3, compactionBatchRecords: 2 };

interface Delivery {
  events: WatchEvent[];
  revision: number;
}

interface Tracked {
  id: number;
  req: WatchRequest;
  /** First revision the watcher must report. */
  from: number;
  deliveries: Delivery[];
  paused: boolean;
  cancelled?: WatchCancelReason;
}

type Action =
  | { kind: 'batch'; steps: Step[] }
  /** back: start this many revisions before the next one (negative: in the future); null: now. */
  | { kind: 'watch'; spec: { key: string; rangeEnd?: string }; back: number | null; prevKv: boolean; filter: 0 | 1 | 2 }
  | { kind: 'resume' }
  | { kind: 'pump' }
  | { kind: 'progress' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.array(step, { minLength: 1, maxLength: 6 }).map((steps) => ({ kind: 'batch' as const, steps })), weight: 6 },
  {
    arbitrary: fc.record({
      kind: fc.constant('watch' as const),
      spec: fc.oneof(
        fc.constantFrom(...keys).map((key) => ({ key })),
        fc.constantFrom(...keys).map((key) => ({ key, rangeEnd: prefixEnd(key) })),
        fc.constant({ key: 'a', rangeEnd: '\0' }),
      ),
      back: fc.oneof(fc.constant(null), fc.integer({ min: -3, max: 30 })),
      prevKv: fc.boolean(),
      filter: fc.constantFrom(0 as const, 0 as const, 1 as const, 2 as const),
    }),
    weight: 2,
  },
  { arbitrary: fc.constant({ kind: 'resume' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'pump' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'progress' as const }), weight: 1 },
);

function expectedEvents(model: Model, t: Tracked): WatchEvent[] {
  return model.events
    .filter((e) => e.kv.modRevision >= t.from && inRange(e.kv.key, t.req.key, t.req.rangeEnd))
    .filter((e) => !(t.req.filters?.includes('noPut') && e.type === 'put'))
    .filter((e) => !(t.req.filters?.includes('noDelete') && e.type === 'delete'))
    .map((e) => (t.req.prevKv && e.prevKv ? { type: e.type, kv: e.kv, prevKv: e.prevKv } : { type: e.type, kv: e.kv }));
}

describe('WatchHub', () => {
  it('delivers every matching event once, in revision order, through catch-up, live and pauses', () => {
    fc.assert(
      fc.property(
        fc.array(action, { minLength: 5, maxLength: 60 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 7 }),
        fc.integer({ min: 1, max: 6 }),
        (actions, pausePattern, catchUpRecordsPerStep) => {
          const store = MvccStore.open(new MemoryStore(), options);
          const model = new Model(options);
          const tracked = new Map<number, Tracked>();
          let pauseAt = 0;
          const hub = new WatchHub(store, {
            deliver(id, events, revision) {
              const t = tracked.get(id)!;
              expect(t.paused).toBe(false);
              t.deliveries.push({ events, revision });
              t.paused = pausePattern[pauseAt++ % pausePattern.length]!;
              return !t.paused;
            },
            cancelled(id, reason) {
              tracked.get(id)!.cancelled = reason;
            },
            catchUpRecordsPerStep,
            maxBufferedEvents: 1_000_000,
          });
          let index = 1;
          const lastSeq = new Map<string, number>();
          for (const a of actions) {
            if (a.kind === 'batch') {
              // Number the entries and clients' seqs across batches.
              const entries = toEntries(a.steps, index).map((e) => {
                if (e.proposal === null || e.proposal.client === '') return e;
                const seq = (lastSeq.get(e.proposal.client) ?? 0) + 1;
                lastSeq.set(e.proposal.client, seq);
                const proposal: Proposal = { ...e.proposal, seq };
                return { entry: { index: e.entry.index, data: proposal }, proposal };
              });
              index += entries.length;
              store.applyEntries(entries.map((e) => e.entry));
              for (const e of entries) model.apply(e.entry.index, e.proposal);
            } else if (a.kind === 'watch') {
              const start = a.back === null ? 0 : Math.max(1, model.rev + 1 - a.back);
              const req: WatchRequest = {
                ...a.spec,
                startRevision: start,
                prevKv: a.prevKv,
                filters: a.filter === 1 ? ['noPut'] : a.filter === 2 ? ['noDelete'] : [],
              };
              const id = hub.create(req);
              if (start !== 0 && start <= model.compactRev) {
                expect(id).toEqual({ type: 'error', code: 'Compacted', compactRevision: model.compactRev });
                continue;
              }
              expect(typeof id).toBe('number');
              tracked.set(id as number, { id: id as number, req, from: start || model.rev + 1, deliveries: [], paused: false });
            } else if (a.kind === 'resume') {
              for (const t of tracked.values()) {
                if (t.paused && !t.cancelled) {
                  t.paused = false;
                  hub.resume(t.id);
                }
              }
            } else if (a.kind === 'pump') {
              hub.pump();
            } else {
              hub.progress();
            }
          }
          // Drain: resume everyone until nobody is behind.
          for (let round = 0; round < 10_000; round++) {
            let busy = hub.pump();
            for (const t of tracked.values()) {
              if (t.paused && !t.cancelled) {
                busy = true;
                t.paused = false;
                hub.resume(t.id);
              }
            }
            if (!busy) break;
          }
          for (const t of tracked.values()) {
            const got = t.deliveries.flatMap((d) => d.events);
            const want = expectedEvents(model, t);
            if (t.cancelled) {
              expect(t.cancelled.code).toBe('Compacted');
              expect(plain(got)).toEqual(plain(want.slice(0, got.length)));
            } else {
              expect(plain(got)).toEqual(plain(want));
            }
            // Deliveries: revisions never go back, and a revision is never split between two.
            let through = t.from - 1;
            for (const d of t.deliveries) {
              expect(d.revision).toBeGreaterThanOrEqual(through);
              for (const e of d.events) {
                expect(e.kv.modRevision).toBeGreaterThan(through);
                expect(e.kv.modRevision).toBeLessThanOrEqual(d.revision);
              }
              through = d.revision;
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  function put(index: number, key: string, v = 1) {
    return { index, data: { client: '', seq: 0, cmd: { type: 'put' as const, key, value: new Uint8Array([v]) } } };
  }

  it('numbers watches from firstId, so a restarted peer never reuses an id of its earlier life', () => {
    const store = MvccStore.open(new MemoryStore());
    const first = new WatchHub(store, { deliver: () => {} });
    const again = new WatchHub(store, { deliver: () => {}, firstId: 1_000_001 });
    expect(first.create({ key: 'a' })).toBe(1);
    expect(again.create({ key: 'a' })).toBe(1_000_001);
    expect(again.create({ key: 'b' })).toBe(1_000_002);
  });

  it('refuses a start revision at or below the compaction point', () => {
    const store = MvccStore.open(new MemoryStore());
    const hub = new WatchHub(store, { deliver: () => {} });
    store.applyEntries([put(1, 'a'), put(2, 'a'), put(3, 'a')]); // revisions 2, 3, 4
    store.applyEntries([{ index: 4, data: { client: '', seq: 0, cmd: { type: 'compact', revision: 3 } } }]);
    expect(hub.create({ key: 'a', startRevision: 3 })).toEqual({ type: 'error', code: 'Compacted', compactRevision: 3 });
    expect(typeof hub.create({ key: 'a', startRevision: 4 })).toBe('number');
  });

  it('cancels a watcher whose catch-up is overtaken by compaction', () => {
    const store = MvccStore.open(new MemoryStore());
    const cancelled: [number, WatchCancelReason][] = [];
    const seen: WatchEvent[] = [];
    const hub = new WatchHub(store, {
      deliver: (_id, events) => {
        seen.push(...events);
        return false; // pause after the first delivery
      },
      cancelled: (id, reason) => cancelled.push([id, reason]),
      catchUpRecordsPerStep: 1,
    });
    store.applyEntries([put(1, 'a'), put(2, 'a'), put(3, 'a')]);
    const id = hub.create({ key: 'a', startRevision: 2 }) as number;
    hub.pump(); // delivers revision 2, then pauses
    store.applyEntries([{ index: 4, data: { client: '', seq: 0, cmd: { type: 'compact', revision: 4 } } }]);
    hub.resume(id);
    expect(seen.map((e) => e.kv.modRevision)).toEqual([2]);
    expect(cancelled).toEqual([[id, { code: 'Compacted', compactRevision: 4 }]]);
  });

  it('cancels a paused watcher whose buffer overflows', () => {
    const store = MvccStore.open(new MemoryStore());
    const cancelled: WatchCancelReason[] = [];
    let deliveries = 0;
    const hub = new WatchHub(store, {
      deliver: () => {
        deliveries++;
        return false;
      },
      cancelled: (_id, reason) => cancelled.push(reason),
      maxBufferedEvents: 3,
    });
    hub.create({ key: 'k', rangeEnd: '\0' });
    let i = 1;
    store.applyEntries([put(i++, 'k')]); // delivered; the consumer pauses
    for (let n = 0; n < 3; n++) store.applyEntries([put(i++, 'k')]); // buffered: 3, at the limit
    expect(cancelled).toEqual([]);
    store.applyEntries([put(i++, 'k')]);
    expect(cancelled).toEqual([{ code: 'SlowWatcher', bufferedEvents: 4, limit: 3 }]);
    expect(deliveries).toBe(1);
    expect(hub.size).toBe(0);
  });

  it('sends progress notifications only to synced watchers that asked', () => {
    const store = MvccStore.open(new MemoryStore());
    const got: [number, number, number][] = [];
    const hub = new WatchHub(store, { deliver: (id, events, revision) => void got.push([id, events.length, revision]) });
    store.applyEntries([put(1, 'a'), put(2, 'b')]);
    const quiet = hub.create({ key: 'a' }) as number;
    const asked = hub.create({ key: 'zzz', progressNotify: true }) as number;
    const behind = hub.create({ key: 'a', startRevision: 2, progressNotify: true }) as number;
    hub.progress();
    expect(got).toEqual([[asked, 0, 3]]);
    got.length = 0;
    hub.progress(quiet);
    expect(got).toEqual([[quiet, 0, 3]]);
    got.length = 0;
    hub.pump();
    hub.progress();
    expect(got).toEqual([
      [behind, 1, 3],
      [asked, 0, 3],
      [behind, 0, 3],
    ]);
  });

  it('gives prevKv to the watchers that asked for it, live and from history', () => {
    const store = MvccStore.open(new MemoryStore());
    const got = new Map<number, WatchEvent[]>();
    const hub = new WatchHub(store, { deliver: (id, events) => void got.set(id, [...(got.get(id) ?? []), ...events]) });
    const withPrev = hub.create({ key: 'a', prevKv: true }) as number;
    const without = hub.create({ key: 'a' }) as number;
    store.applyEntries([put(1, 'a', 1), put(2, 'a', 2)]);
    store.applyEntries([{ index: 3, data: { client: '', seq: 0, cmd: { type: 'deleteRange', key: 'a' } } }]);
    const history = hub.create({ key: 'a', prevKv: true, startRevision: 2 }) as number;
    hub.pump();
    const summary = (evs: WatchEvent[]) => evs.map((e) => [e.type, e.kv.modRevision, e.prevKv?.value[0] ?? null]);
    expect(summary(got.get(withPrev)!)).toEqual([
      ['put', 2, null],
      ['put', 3, 1],
      ['delete', 4, 2],
    ]);
    expect(summary(got.get(without)!)).toEqual([
      ['put', 2, null],
      ['put', 3, null],
      ['delete', 4, null],
    ]);
    expect(got.get(history)).toEqual(got.get(withPrev));
  });

  it('resumes every watcher from the new backend after a snapshot restore', () => {
    const leader = MvccStore.open(new MemoryStore());
    const follower = MvccStore.open(new MemoryStore());
    const entries = [put(1, 'a', 1), put(2, 'b', 2), put(3, 'a', 3)];
    leader.applyEntries(entries);
    follower.applyEntries(entries.slice(0, 1));
    const got: WatchEvent[] = [];
    const hub = new WatchHub(follower, { deliver: (_id, events) => void got.push(...events) });
    hub.create({ key: 'a', rangeEnd: '\0' });
    follower.restore(leader.snapshot());
    hub.pump();
    expect(got.map((e) => [e.kv.key, e.kv.modRevision])).toEqual([
      ['b', 3],
      ['a', 4],
    ]);
  });
});
