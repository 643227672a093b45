import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { LmdbStore, MemoryStore, type DurableStore, type KvTable } from '../../runtime/store.js';
import { MvccStore, type ApplyResult, type MvccOptions } from '../../raft/mvcc/store.js';
import type { RangeResponse } from '../../raft/mvcc/commands.js';
import { batches, keys, sharedEntries, step, toEntries } from './gen.js';
import { plain } from './model.js';
import { WatchHub } from '../../raft/mvcc/watch.js';
import { readJournalRecord } from '../../raft/mvcc/rows.js';

// A small client journal: batches alternate between journaling and checkpointing the dedup table.
const options: MvccOptions = { dedupIdleRevisions: 12, maxDedupClients: 3, compactionBatchRecords: 2, clientJournalLimit: 4 };
const root = mkdtempSync(join(tmpdir(), 'mvcc-durability-'));
let dirs = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

function comparable(r: ApplyResult) {
  return plain({ ...r, events: r.events.map((e) => ({ type: e.type, kv: e.kv })) });
}

function everything(s: MvccStore) {
  const out: unknown[] = [s.revision, s.compactRevision, s.appliedIndex];
  for (let rev = Math.max(1, s.compactRevision); rev <= s.revision; rev++) {
    out.push((s.range({ type: 'range', key: keys[0]!, rangeEnd: '\0', revision: rev }) as RangeResponse).kvs);
  }
  out.push([...s.leases()].map((l) => ({ ...l, keys: [...l.keys].sort() })).sort((x, y) => x.id - y.id));
  return plain(out);
}

/** Wraps a store so that the n-th put of a batch throws, as a crash in the middle of it would. */
class FailingStore implements DurableStore {
  failAtPut = -1;
  private puts = 0;
  constructor(private readonly inner: DurableStore) {}
  get dir() {
    return this.inner.dir;
  }
  get sync() {
    return this.inner.sync;
  }
  table(name: string): KvTable {
    const t = this.inner.table(name);
    return {
      get: (k) => t.get(k),
      range: (o) => t.range(o),
      put: (k, v) => {
        if (this.puts++ === this.failAtPut) throw new Error('injected failure');
        t.put(k, v);
      },
      putEncoded: (k, v, last) => {
        if (this.puts++ === this.failAtPut) throw new Error('injected failure');
        t.putEncoded(k, v, last);
      },
      remove: (k) => t.remove(k),
    };
  }
  write(fn: () => void): void {
    this.puts = 0;
    this.inner.write(fn);
  }
  flush() {
    return this.inner.flush();
  }
  close() {
    return this.inner.close();
  }
}

describe('MvccStore durability', () => {
  it('recovers the exact state after re-opening an lmdb store, and skips applied entries', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 10, maxLength: 80 }),
        fc.array(fc.integer({ min: 1, max: 10 }), { maxLength: 4 }),
        fc.integer({ min: 0, max: 79 }),
        fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }),
        async (steps, sizes, cutAt, shared) => {
          const dir = join(root, `db${dirs++}`);
          // With `shared`, entries hold several proposals each, as a leader batches them.
          const entries = (shared.length > 0 ? sharedEntries(steps, shared) : toEntries(steps)).map((e) => e.entry);
          const cut = Math.min(cutAt, entries.length);
          const reference = MvccStore.open(new MemoryStore(), options);
          reference.applyEntries(entries.slice(0, cut));

          let lmdb = LmdbStore.open(dir, { sync: false });
          let s = MvccStore.open(lmdb, options);
          for (const b of batches(entries.slice(0, cut), sizes)) s.applyEntries(b);
          expect(everything(s)).toEqual(everything(reference));
          await lmdb.close();

          lmdb = LmdbStore.open(dir, { sync: false });
          s = MvccStore.open(lmdb, options);
          expect(everything(s)).toEqual(everything(reference));
          expect(s.snapshot()).toEqual(reference.snapshot());
          // Replay from the start of the log: only the entries after the cut are applied.
          const got = s.applyEntries(entries);
          const want = reference.applyEntries(entries);
          expect(got.map(comparable)).toEqual(want.map(comparable));
          expect(everything(s)).toEqual(everything(reference));
          await lmdb.close();
        },
      ),
      { numRuns: 25 },
    );
  });

  it('stores records as compact rows, and reads directories written with full rows or with objects (and client journals of objects) the same', async () => {
    const entries = toEntries(fc.sample(fc.array(step, { minLength: 40, maxLength: 40 }), { numRuns: 1, seed: 7 })[0]!).map((e) => e.entry);
    const reference = MvccStore.open(new MemoryStore(), options);
    reference.applyEntries(entries.slice(0, 30));
    type Row = [string, Uint8Array, number, number, number, number, 1?];
    // How each earlier layout stored a record (the revision in the row; objects before rows).
    const layouts: Record<string, (row: Row, main: number) => unknown> = {
      'full rows': ([k, v, create, , version, lease, tomb], main) => [k, v, create === 0 && tomb !== 1 ? main : create, main, version, lease, ...(tomb === 1 ? [1] : [])],
      objects: ([k, v, create, , version, lease, tomb], main) => ({ key: k, value: v, createRevision: create === 0 && tomb !== 1 ? main : create, modRevision: main, version, lease, ...(tomb === 1 ? { tombstone: true } : {}) }),
    };
    for (const [layout, rewrite] of Object.entries(layouts)) {
      const dir = join(root, `db${dirs++}`);
      let lmdb = LmdbStore.open(dir, { sync: false });
      MvccStore.open(lmdb, options).applyEntries(entries.slice(0, 30));
      const kv = lmdb.table('kv');
      const rows = [...kv.range()];
      expect(rows.length).toBeGreaterThan(0);
      // Compact rows: the revision is the record's key, never written in the row.
      expect(rows.every((r) => Array.isArray(r.value) && (r.value as Row)[3] === 0)).toBe(true);
      // The client journal as it was written before its records were arrays: objects.
      const meta = lmdb.table('meta');
      const journal = [...meta.range({ start: 'clientjournal/', end: 'clientjournal0' })];
      expect(journal.length).toBeGreaterThan(0);
      lmdb.write(() => {
        for (const { key, value } of rows) kv.put(key, rewrite(value as Row, (key as number[])[0]!));
        for (const { key, value } of journal) meta.put(key, (value as unknown[]).map((x, i) => (i % 2 === 0 ? x : readJournalRecord(x))));
      });
      await lmdb.close();
      lmdb = LmdbStore.open(dir, { sync: false });
      const s = MvccStore.open(lmdb, options);
      expect(everything(s), layout).toEqual(everything(reference));
      expect(s.snapshot(), layout).toEqual(reference.snapshot());
      const ref = MvccStore.open(new MemoryStore(), options);
      ref.applyEntries(entries.slice(0, 30));
      expect(s.applyEntries(entries).map(comparable), layout).toEqual(ref.applyEntries(entries).map(comparable));
      expect(everything(s), layout).toEqual(everything(ref));
      await lmdb.close();
    }
  });

  it('applies a batch atomically: a failure in the middle leaves the state of the batch before', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 10, maxLength: 60 }),
        fc.integer({ min: 1, max: 59 }),
        fc.integer({ min: 0, max: 30 }),
        (steps, cutAt, failAt) => {
          const entries = toEntries(steps).map((e) => e.entry);
          const cut = Math.min(cutAt, entries.length - 1);
          const backend = new FailingStore(new MemoryStore());
          const s = MvccStore.open(backend, options);
          s.applyEntries(entries.slice(0, cut));
          const before = everything(s);
          const beforeSnapshot = s.snapshot();
          backend.failAtPut = failAt;
          let failed = false;
          try {
            s.applyEntries(entries.slice(cut));
          } catch {
            failed = true;
          }
          backend.failAtPut = -1;
          if (!failed) return;
          expect(() => s.range({ type: 'range', key: 'a' })).toThrow(/unusable/);
          const reopened = MvccStore.open(backend, options);
          expect(everything(reopened)).toEqual(before);
          expect(reopened.snapshot()).toEqual(beforeSnapshot);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('restores a snapshot into an lmdb store atomically, replacing what was there', async () => {
    const entries = toEntries(
      fc.sample(fc.array(step, { minLength: 60, maxLength: 60 }), { numRuns: 1, seed: 7 })[0]!,
    ).map((e) => e.entry);
    const source = MvccStore.open(new MemoryStore(), options);
    source.applyEntries(entries);
    const dir = join(root, `db${dirs++}`);
    let lmdb = LmdbStore.open(dir, { sync: false });
    let s = MvccStore.open(lmdb, options);
    s.applyEntries(entries.slice(0, 20));
    s.restore(source.snapshot());
    expect(everything(s)).toEqual(everything(source));
    await lmdb.close();
    lmdb = LmdbStore.open(dir, { sync: false });
    s = MvccStore.open(lmdb, options);
    expect(everything(s)).toEqual(everything(source));
    expect(s.snapshot()).toEqual(source.snapshot());
    await lmdb.close();
  });

  it('serves watch catch-up from the lmdb history after a restart', async () => {
    const entries = toEntries(
      fc.sample(fc.array(step, { minLength: 80, maxLength: 80 }), { numRuns: 1, seed: 11 })[0]!,
    ).map((e) => e.entry);
    const collect = (store: MvccStore) => {
      const got: unknown[] = [];
      const hub = new WatchHub(store, { deliver: (_id, events) => void got.push(...events), catchUpRecordsPerStep: 4 });
      hub.create({ key: 'a', rangeEnd: '\0', startRevision: store.compactRevision + 1, prevKv: true });
      while (hub.pump()) {
        /* catching up */
      }
      return plain(got);
    };
    const reference = MvccStore.open(new MemoryStore(), options);
    reference.applyEntries(entries);
    const dir = join(root, `db${dirs++}`);
    let lmdb = LmdbStore.open(dir, { sync: false });
    MvccStore.open(lmdb, options).applyEntries(entries);
    await lmdb.close();
    lmdb = LmdbStore.open(dir, { sync: false });
    const reopened = MvccStore.open(lmdb, options);
    const got = collect(reopened);
    expect((got as unknown[]).length).toBeGreaterThan(0);
    expect(got).toEqual(collect(reference));
    await lmdb.close();
  });

  it('refuses a corrupt snapshot and keeps its state', () => {
    const s = MvccStore.open(new MemoryStore());
    s.applyEntries([{ index: 1, data: { client: 'c', seq: 1, cmd: { type: 'put', key: 'k', value: new Uint8Array([1]) } } }]);
    const snap = s.snapshot();
    const bad = new Uint8Array(snap);
    bad[Math.floor(bad.length / 2)]! ^= 0xff;
    const t = MvccStore.open(new MemoryStore());
    expect(() => t.restore(bad)).toThrow(/checksum/);
    expect(t.revision).toBe(1);
    t.restore(snap);
    expect(t.get('k')?.value).toEqual(new Uint8Array([1]));
  });
});
