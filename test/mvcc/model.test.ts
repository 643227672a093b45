import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../runtime/store.js';
import { MvccStore, type ApplyResult, type MvccOptions } from '../../raft/mvcc/store.js';
import { encodeProposal, encodeProposalBatch, isError, type RangeResponse, type WatchEvent } from '../../raft/mvcc/commands.js';
import { batches, keys, step, toEntries } from './gen.js';
import { Model, plain, type ModelResult } from './model.js';

const options: Required<MvccOptions> = { dedupIdleRevisions: 12, maxDedupClients: 3, compactionBatchRecords: 2, clientJournalLimit: 4 };

function withoutPrevKv(events: WatchEvent[]): WatchEvent[] {
  return events.map((e) => ({ type: e.type, kv: e.kv }));
}

function comparable(r: ApplyResult | ModelResult) {
  return plain({ ...r, events: withoutPrevKv(r.events) });
}

/** Every key at every readable revision, read through the store, equals the model's history. */
function expectSameHistory(store: MvccStore, model: Model): void {
  expect(store.revision).toBe(model.rev);
  expect(store.compactRevision).toBe(model.compactRev);
  expect(store.appliedIndex).toBe(model.applied);
  for (let rev = Math.max(1, model.compactRev); rev <= model.rev; rev++) {
    const got = store.range({ type: 'range', key: keys[0]!, rangeEnd: '\0', revision: rev }) as RangeResponse;
    const want = [...model.states.get(rev)!.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
    expect(plain(got.kvs)).toEqual(plain(want));
  }
  if (model.compactRev > 1) {
    const r = store.range({ type: 'range', key: 'a', revision: model.compactRev - 1 });
    expect(r).toEqual({ type: 'error', code: 'Compacted', compactRevision: model.compactRev });
  }
}

describe('MvccStore against a model', () => {
  it('answers every command like the model, whatever the batching', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 20, maxLength: 120 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 6 }),
        (steps, sizes) => {
          const store = MvccStore.open(new MemoryStore(), options);
          const model = new Model(options);
          const entries = toEntries(steps);
          for (const batch of batches(entries, sizes)) {
            const got = store.applyEntries(batch.map((e) => e.entry));
            const want = batch
              .map((e) => model.apply(e.entry.index, e.proposal))
              .filter((r): r is ModelResult => r !== null && r !== 'skipped');
            expect(got.map(comparable)).toEqual(want.map(comparable));
          }
          expectSameHistory(store, model);
        },
      ),
      { numRuns: 250 },
    );
  });

  it('applies the proposals of a batch entry in order under its one index', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 20, maxLength: 120 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        (steps, sizes, encoded) => {
          const store = MvccStore.open(new MemoryStore(), options);
          const model = new Model(options);
          // A leader encodes only valid proposals; decoded ones may carry invalid commands too.
          const proposals = toEntries(steps).flatMap((e) => (e.proposal && !(encoded && isError(encodeProposal(e.proposal))) ? [e.proposal] : []));
          let index = 0;
          for (const group of batches(proposals, sizes)) {
            index++;
            const data = encoded ? encodeProposalBatch(group.map((p) => encodeProposal(p) as Uint8Array)) : group;
            const got = store.applyEntries([{ index, data }]);
            const want = model.applyBatch(index, group);
            expect(want).not.toBe('skipped');
            expect(got.map(comparable)).toEqual((want as ModelResult[]).map(comparable));
            expect(got.every((r) => r.index === index)).toBe(true);
          }
          expectSameHistory(store, model);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('skips entries at or below the applied index (replay)', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 80 }), fc.integer({ min: 1, max: 79 }), (steps, cut) => {
        const store = MvccStore.open(new MemoryStore(), options);
        const model = new Model(options);
        const entries = toEntries(steps);
        const k = Math.min(cut, entries.length - 1);
        store.applyEntries(entries.slice(0, k).map((e) => e.entry));
        for (const e of entries.slice(0, k)) model.apply(e.entry.index, e.proposal);
        // The whole log again: the first k entries must be ignored.
        const got = store.applyEntries(entries.map((e) => e.entry));
        const want = entries
          .slice(k)
          .map((e) => model.apply(e.entry.index, e.proposal))
          .filter((r): r is ModelResult => r !== null && r !== 'skipped');
        expect(got.map(comparable)).toEqual(want.map(comparable));
        expect(store.applyEntries(entries.map((e) => e.entry))).toEqual([]);
        expectSameHistory(store, model);
      }),
      { numRuns: 100 },
    );
  });

  it('restores a snapshot into a fresh store that then behaves identically', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 10, maxLength: 100 }),
        fc.integer({ min: 1, max: 99 }),
        (steps, cut) => {
          const a = MvccStore.open(new MemoryStore(), options);
          const entries = toEntries(steps);
          const k = Math.min(cut, entries.length - 1);
          a.applyEntries(entries.slice(0, k).map((e) => e.entry));
          const b = MvccStore.open(new MemoryStore(), options);
          b.applyEntries(toEntries(steps.slice(0, 3)).map((e) => e.entry)); // state to be replaced
          b.restore(a.snapshot());
          expect(b.appliedIndex).toBe(a.appliedIndex);
          expect(b.snapshot()).toEqual(a.snapshot());
          const rest = entries.slice(k).map((e) => e.entry);
          expect(b.applyEntries(rest).map(comparable)).toEqual(a.applyEntries(rest).map(comparable));
          expect(b.snapshot()).toEqual(a.snapshot());
        },
      ),
      { numRuns: 100 },
    );
  });

  it('produces the same snapshot whatever the batching and compaction clean-up progress', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 100 }), (steps) => {
        const entries = toEntries(steps).map((e) => e.entry);
        const one = MvccStore.open(new MemoryStore(), { ...options, compactionBatchRecords: 1 });
        const many = MvccStore.open(new MemoryStore(), { ...options, compactionBatchRecords: 1000 });
        for (const e of entries) one.applyEntries([e]);
        many.applyEntries(entries);
        expect(one.snapshot()).toEqual(many.snapshot());
      }),
      { numRuns: 100 },
    );
  });
});
