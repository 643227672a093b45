import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataDirError, DiskLog } from '../../raft/disk-log.js';
import type { Entry } from '../../raft/core/index.js';
import { LmdbStore, MemoryStore, type DurableStore } from '../../runtime/store.js';

const ents = (from: number, to: number, term: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ term, index: from + i, type: 'normal' as const, data: new Uint8Array([from + i, term]) }));

const summary = (es: Entry[]) => es.map((e) => `${e.index}@${e.term}`).join(' ');

describe('the durable raft log', () => {
  it('replaces a conflicting suffix in the middle of a chunk and reloads exactly what was written', () => {
    const store = new MemoryStore();
    const log = new DiskLog(store, 'mem');
    log.claim({ clusterId: 'c', memberId: 'm' });
    log.load();
    log.persist({ term: 1, vote: 'm', commit: 0 }, ents(1, 5, 1));
    log.persist(undefined, ents(6, 10, 1));
    // A new leader overwrites from 8 on (inside the second chunk).
    log.persist({ term: 2, vote: '', commit: 7 }, ents(8, 12, 2));
    const again = new DiskLog(store, 'mem').load();
    expect(summary(again.entries)).toBe(summary([...ents(1, 7, 1), ...ents(8, 12, 2)]));
    expect(again.hardState).toEqual({ term: 2, vote: '', commit: 7 });
  });

  it('compacts whole chunks, keeps a straddling one, and skips its compacted head on load', () => {
    const store = new MemoryStore();
    const log = new DiskLog(store, 'mem');
    log.load();
    log.persist({ term: 1, vote: '', commit: 0 }, ents(1, 4, 1));
    log.persist(undefined, ents(5, 9, 1));
    log.compact({ index: 6, term: 1, confState: { voters: ['m'], learners: [] } });
    const again = new DiskLog(store, 'mem').load();
    expect(again.snapshot?.index).toBe(6);
    expect(summary(again.entries)).toBe(summary(ents(7, 9, 1)));
    expect([...store.table('log').range()].map((r) => r.key)).toEqual([5]);
  });

  it('recovers the commit index from the applied index when only the commit moved before a crash', () => {
    const store = new MemoryStore();
    const log = new DiskLog(store, 'mem');
    log.load();
    log.persist({ term: 1, vote: 'm', commit: 0 }, ents(1, 3, 1));
    log.persist({ term: 1, vote: 'm', commit: 3 }, [], false); // no fsync: not written
    expect(new DiskLog(store, 'mem').load().hardState.commit).toBe(0);
    expect(new DiskLog(store, 'mem').load(3).hardState.commit).toBe(3);
  });

  it('refuses a corrupted entry and a foreign directory with errors naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'actorkube-log-'));
    try {
      const store: DurableStore = LmdbStore.open(dir);
      const log = new DiskLog(store, dir);
      log.claim({ clusterId: 'c', memberId: 'm' });
      log.load();
      log.persist({ term: 1, vote: '', commit: 0 }, ents(1, 3, 1));
      expect(() => new DiskLog(store, dir).claim({ clusterId: 'other', memberId: 'm' })).toThrow(
        /belongs to member "m" of cluster "c", not member "m" of cluster "other"/,
      );
      const table = store.table('log');
      const recs = table.get(1) as [number, number, Uint8Array, number][];
      recs[1] = [recs[1]![0], recs[1]![1], new Uint8Array([9, 9]), recs[1]![3]];
      store.write(() => table.put(1, recs));
      const err = (() => {
        try {
          new DiskLog(store, dir).load();
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(DataDirError);
      expect((err as Error).message).toBe(`corrupted raft log entry 2 in ${dir}/data.mdb: checksum mismatch; refusing to start`);
      void store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
