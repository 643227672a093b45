import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirError, DiskLog } from '../../raft/disk-log.js';
import type { Entry } from '../../raft/core/index.js';
import { LmdbStore, MemoryStore, type DurableStore } from '../../runtime/store.js';

const ents = (from: number, to: number, term: number, bytes = 2): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ term, index: from + i, type: 'normal' as const, data: new Uint8Array(bytes).fill(from + i) }));

const summary = (es: Entry[]) => es.map((e) => `${e.index}@${e.term}`).join(' ');

const confState = { voters: ['m'], learners: [] };

const dirs: string[] = [];
const stores: DurableStore[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function lmdb(): { store: LmdbStore; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'actorkube-log-'));
  dirs.push(dir);
  const store = LmdbStore.open(dir);
  stores.push(store);
  return { store, dir };
}

/** The chunk storage on a real lmdb directory: what the previous version wrote. */
function legacy(store: LmdbStore): DurableStore {
  return { dir: null, sync: true, table: (n) => store.table(n), write: (fn) => store.write(fn), flush: () => store.flush(), close: async () => {} };
}

const backends: [string, () => { store: DurableStore; where: string }][] = [
  ['an in-memory store (lmdb chunks)', () => ({ store: new MemoryStore(), where: 'mem' })],
  [
    'an lmdb store (write-ahead log)',
    () => {
      const { store, dir } = lmdb();
      return { store, where: dir };
    },
  ],
];

describe.each(backends)('the durable raft log on %s', (_name, open) => {
  it('replaces a conflicting suffix in the middle of a batch and reloads exactly what was written', () => {
    const { store, where } = open();
    const log = new DiskLog(store, where);
    log.claim({ clusterId: 'c', memberId: 'm' });
    log.load();
    log.persist({ term: 1, vote: 'm', commit: 0 }, ents(1, 5, 1));
    log.persist(undefined, ents(6, 10, 1));
    // A new leader overwrites from 8 on (inside the second batch).
    log.persist({ term: 2, vote: '', commit: 7 }, ents(8, 12, 2));
    const again = new DiskLog(store, where);
    const loaded = again.load();
    expect(summary(loaded.entries)).toBe(summary([...ents(1, 7, 1), ...ents(8, 12, 2)]));
    expect(loaded.entries[9]!.data).toEqual(new Uint8Array([10, 10]));
    expect(loaded.hardState).toEqual({ term: 2, vote: '', commit: 7 });
    // Writing goes on after a reload, a conflict with what was loaded included.
    again.persist({ term: 3, vote: 'm', commit: 9 }, ents(10, 11, 3));
    const third = new DiskLog(store, where).load();
    expect(summary(third.entries)).toBe(summary([...ents(1, 7, 1), ...ents(8, 9, 2), ...ents(10, 11, 3)]));
    expect(third.hardState).toEqual({ term: 3, vote: 'm', commit: 9 });
  });

  it('compacts and reloads only the entries after the compaction point', () => {
    const { store, where } = open();
    const log = new DiskLog(store, where);
    log.load();
    log.persist({ term: 1, vote: '', commit: 0 }, ents(1, 4, 1));
    log.persist(undefined, ents(5, 9, 1));
    log.compact({ index: 6, term: 1, confState });
    const again = new DiskLog(store, where);
    const loaded = again.load();
    expect(loaded.snapshot?.index).toBe(6);
    expect(summary(loaded.entries)).toBe(summary(ents(7, 9, 1)));
    again.persist(undefined, ents(10, 10, 1));
    expect(summary(new DiskLog(store, where).load().entries)).toBe(summary(ents(7, 10, 1)));
  });

  it('recovers the commit index from the applied index when only the commit moved before a crash', () => {
    const { store, where } = open();
    const log = new DiskLog(store, where);
    log.load();
    log.persist({ term: 1, vote: 'm', commit: 0 }, ents(1, 3, 1));
    log.persist({ term: 1, vote: 'm', commit: 3 }, [], false); // no fsync: not written
    expect(new DiskLog(store, where).load().hardState.commit).toBe(0);
    expect(new DiskLog(store, where).load(3).hardState.commit).toBe(3);
  });

  it('replaces the whole log with a snapshot and reloads it empty after the snapshot', () => {
    const { store, where } = open();
    const log = new DiskLog(store, where);
    log.load();
    log.persist({ term: 1, vote: 'm', commit: 2 }, ents(1, 10, 1));
    log.resetToSnapshot({ index: 20, term: 3, confState: { voters: ['m', 'n'], learners: [] } }, { term: 3, vote: '', commit: 20 });
    const again = new DiskLog(store, where);
    let loaded = again.load();
    expect(loaded.snapshot).toEqual({ index: 20, term: 3, confState: { voters: ['m', 'n'], learners: [] } });
    expect(loaded.confState).toEqual({ voters: ['m', 'n'], learners: [] });
    expect(loaded.entries).toEqual([]);
    expect(loaded.hardState).toEqual({ term: 3, vote: '', commit: 20 });
    again.persist(undefined, ents(21, 22, 3));
    loaded = new DiskLog(store, where).load();
    expect(summary(loaded.entries)).toBe(summary(ents(21, 22, 3)));
  });
});

describe('the durable raft log in memory', () => {
  it('compacts whole chunks, keeps a straddling one, and skips its compacted head on load', () => {
    const store = new MemoryStore();
    const log = new DiskLog(store, 'mem');
    log.load();
    log.persist({ term: 1, vote: '', commit: 0 }, ents(1, 4, 1));
    log.persist(undefined, ents(5, 9, 1));
    log.compact({ index: 6, term: 1, confState });
    const again = new DiskLog(store, 'mem').load();
    expect(again.snapshot?.index).toBe(6);
    expect(summary(again.entries)).toBe(summary(ents(7, 9, 1)));
    expect([...store.table('log').range()].map((r) => r.key)).toEqual([5]);
  });
});

interface Rec {
  start: number;
  end: number;
  type: number;
  index: number;
}

/** The records of a segment, by their framing. */
function records(file: string): Rec[] {
  const buf = readFileSync(file);
  const out: Rec[] = [];
  for (let at = 0; at + 8 <= buf.length; ) {
    const len = buf.readUInt32LE(at);
    if (len === 0) break; // the zeros a segment is extended with
    const end = at + 8 + len;
    const type = buf[at + 8]!;
    out.push({ start: at, end, type, index: type === 1 ? buf.readDoubleLE(at + 9) : 0 });
    at = end;
  }
  return out;
}

function flip(file: string, at: number): void {
  const buf = readFileSync(file);
  buf[at] = buf[at]! ^ 0xff;
  writeFileSync(file, buf);
}

const segments = (dir: string) => readdirSync(join(dir, 'wal')).sort();
const segment = (dir: string, first: number) => join(dir, 'wal', `${first.toString(16).padStart(16, '0')}.wal`);

function loadError(store: DurableStore, dir: string): Error {
  try {
    new DiskLog(store, dir).load();
  } catch (e) {
    return e as Error;
  }
  throw new Error('load succeeded');
}

describe('the write-ahead log', () => {
  it('starts a new segment once one is full, never before a suffix that goes back into it, and compaction deletes exactly the segments wholly compacted', () => {
    const { store, dir } = lmdb();
    const log = new DiskLog(store, dir, { segmentBytes: 100 });
    log.load();
    log.persist({ term: 1, vote: 'm', commit: 0 }, ents(1, 5, 1));
    log.persist(undefined, ents(6, 10, 1));
    log.persist(undefined, ents(11, 15, 1));
    log.persist(undefined, ents(16, 20, 1));
    // A new leader goes back to 14, before the current segment's first index: it stays there.
    log.persist({ term: 2, vote: 'n', commit: 13 }, ents(14, 18, 2));
    log.persist(undefined, ents(19, 20, 2));
    expect(segments(dir)).toEqual([1, 6, 11, 16, 19].map((i) => `${i.toString(16).padStart(16, '0')}.wal`));
    // Every segment begins with the hard state.
    for (const name of segments(dir)) expect(records(join(dir, 'wal', name))[0]!.type).toBe(2);
    // Only the segment being written runs on in zeros; the others were cut to their records.
    const files = segments(dir).map((name) => join(dir, 'wal', name));
    for (const f of files.slice(0, -1)) expect(statSync(f).size).toBe(records(f).at(-1)!.end);
    expect(statSync(files.at(-1)!).size).toBeGreaterThan(records(files.at(-1)!).at(-1)!.end);
    const all = summary([...ents(1, 13, 1), ...ents(14, 20, 2)]);
    expect(summary(new DiskLog(store, dir).load().entries)).toBe(all);

    const step = (index: number, left: number[], kept: string) => {
      const log = new DiskLog(store, dir, { segmentBytes: 100 });
      log.load();
      log.compact({ index, term: 1, confState });
      expect(segments(dir).map((n) => parseInt(n, 16))).toEqual(left);
      const loaded = new DiskLog(store, dir).load();
      expect(summary(loaded.entries)).toBe(kept);
      expect(loaded.hardState).toEqual({ term: 2, vote: 'n', commit: 13 });
    };
    step(10, [11, 16, 19], summary([...ents(11, 13, 1), ...ents(14, 20, 2)]));
    step(14, [11, 16, 19], summary(ents(15, 20, 2)));
    step(15, [16, 19], summary(ents(16, 20, 2)));
    // The hard state was written to segment 16; segment 19 begins with it.
    step(18, [19], summary(ents(19, 20, 2)));
    step(20, [19], '');
  });

  it('cuts off a write torn by a power loss and keeps every record before it', () => {
    const { store, dir } = lmdb();
    const log = new DiskLog(store, dir);
    log.load();
    log.persist({ term: 1, vote: 'm', commit: 0 }, ents(1, 3, 1));
    log.persist({ term: 1, vote: 'm', commit: 3 }, ents(4, 6, 1, 40));
    const file = segment(dir, 1);
    const recs = records(file);
    const whole = recs[recs.length - 1]!.end;
    // The segment is extended with zeros ahead of its records.
    expect(statSync(file).size).toBeGreaterThan(whole);
    const e6 = recs.find((r) => r.index === 6)!;

    // The final hard state record half written: the entries before it stay, the previous hard state wins.
    truncateSync(file, whole - 3);
    let loaded = new DiskLog(store, dir).load();
    expect(summary(loaded.entries)).toBe(summary(ents(1, 6, 1)));
    expect(loaded.hardState).toEqual({ term: 1, vote: 'm', commit: 0 });
    expect(statSync(file).size).toBe(e6.end);

    // An entry cut in the middle of its data.
    truncateSync(file, e6.end - 10);
    loaded = new DiskLog(store, dir).load();
    expect(summary(loaded.entries)).toBe(summary(ents(1, 5, 1)));
    expect(statSync(file).size).toBe(e6.start);

    // A cut inside the record header.
    truncateSync(file, e6.start + 5);
    const again = new DiskLog(store, dir);
    expect(summary(again.load().entries)).toBe(summary(ents(1, 5, 1)));
    // The log goes on from there.
    again.persist({ term: 1, vote: 'm', commit: 5 }, ents(6, 7, 1));
    loaded = new DiskLog(store, dir).load();
    expect(summary(loaded.entries)).toBe(summary(ents(1, 7, 1)));
    expect(loaded.hardState).toEqual({ term: 1, vote: 'm', commit: 5 });

    // The file grew but the data never reached the disk: zeros.
    const recordsEnd = records(file).at(-1)!.end;
    appendFileSync(file, Buffer.alloc(100));
    expect(summary(new DiskLog(store, dir).load().entries)).toBe(summary(ents(1, 7, 1)));
    expect(statSync(file).size).toBe(recordsEnd);
  });

  it('cuts off a final record with a sector of zeros, and refuses one with a flipped byte', () => {
    const { store, dir } = lmdb();
    const log = new DiskLog(store, dir);
    log.load();
    log.persist({ term: 1, vote: 'm', commit: 0 }, ents(1, 2, 1));
    log.persist(undefined, ents(3, 3, 1, 2000));
    const file = segment(dir, 1);
    const e3 = records(file).find((r) => r.index === 3)!;
    const buf = readFileSync(file);
    const sector = Math.ceil((e3.start + 100) / 512) * 512;
    buf.fill(0, sector, sector + 512);
    writeFileSync(file, buf);
    expect(summary(new DiskLog(store, dir).load().entries)).toBe(summary(ents(1, 2, 1)));
    expect(statSync(file).size).toBe(e3.start);

    const again = new DiskLog(store, dir);
    again.load();
    again.persist(undefined, ents(3, 3, 1, 2000));
    flip(file, e3.start + 1000);
    expect(loadError(store, dir).message).toBe(`corrupted raft log entry 3 in ${file}: checksum mismatch; refusing to start`);
  });

  it('refuses a flipped byte in the data of an entry before the last, naming the segment and the entry', () => {
    const { store, dir } = lmdb();
    const log = new DiskLog(store, dir);
    log.claim({ clusterId: 'c', memberId: 'm' });
    log.load();
    log.persist({ term: 1, vote: '', commit: 0 }, ents(1, 5, 1));
    expect(() => new DiskLog(store, dir).claim({ clusterId: 'other', memberId: 'm' })).toThrow(
      /belongs to member "m" of cluster "c", not member "m" of cluster "other"/,
    );
    const file = segment(dir, 1);
    flip(file, records(file).find((r) => r.index === 3)!.end - 1);
    const err = loadError(store, dir);
    expect(err).toBeInstanceOf(DataDirError);
    expect(err.message).toBe(`corrupted raft log entry 3 in ${file}: checksum mismatch; refusing to start`);
  });

  it('refuses a segment before the last that ends in the middle of a record, naming the byte', () => {
    const { store, dir } = lmdb();
    const log = new DiskLog(store, dir, { segmentBytes: 10 });
    log.load();
    log.persist({ term: 1, vote: '', commit: 0 }, ents(1, 3, 1));
    log.persist(undefined, ents(4, 6, 1));
    const file = segment(dir, 1);
    const e3 = records(file).find((r) => r.index === 3)!;
    truncateSync(file, e3.end - 1);
    const err = loadError(store, dir);
    expect(err).toBeInstanceOf(DataDirError);
    expect(err.message).toBe(`corrupted raft log record at byte ${e3.start} in ${file}: record of ${e3.end - e3.start - 8} bytes runs past the end of the file; refusing to start`);
  });

  it('moves the entries of a directory of the previous version (lmdb chunks) into a new log', () => {
    const { store, dir } = lmdb();
    const old = new DiskLog(legacy(store), dir);
    old.claim({ clusterId: 'c', memberId: 'm' });
    old.load();
    old.persist({ term: 1, vote: 'm', commit: 0 }, ents(1, 5, 1));
    old.persist(undefined, ents(6, 8, 1));
    old.persist({ term: 2, vote: 'n', commit: 6 }, ents(7, 9, 2));
    old.compact({ index: 5, term: 1, confState });
    const before = new DiskLog(legacy(store), dir).load();
    expect([...store.table('log').range()].length).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'wal'))).toBe(false);

    const log = new DiskLog(store, dir);
    expect(log.claim({ clusterId: 'c', memberId: 'm' })).toBe('existing');
    const plain = (l: typeof before) => ({ ...l, entries: l.entries.map((e) => ({ ...e, data: [...e.data] })) });
    expect(plain(log.load())).toEqual(plain(before));
    expect(summary(before.entries)).toBe(summary([...ents(6, 6, 1), ...ents(7, 9, 2)]));
    expect([...store.table('log').range()]).toEqual([]);
    expect(store.table('meta').get('hardState')).toBeUndefined();
    expect(segments(dir)).toEqual(['0000000000000006.wal']);
    log.persist(undefined, ents(10, 10, 2));
    const loaded = new DiskLog(store, dir).load();
    expect(summary(loaded.entries)).toBe(summary([...ents(6, 6, 1), ...ents(7, 10, 2)]));
    expect(loaded.hardState).toEqual({ term: 2, vote: 'n', commit: 6 });
    // Chunks left behind by a crash right after the log was created are ignored and removed.
    store.write(() => store.table('log').put(1, [[1, 0, new Uint8Array([1]), 0]]));
    expect(summary(new DiskLog(store, dir).load().entries)).toBe(summary(loaded.entries));
    expect([...store.table('log').range()]).toEqual([]);
  });

  it('refuses to move a corrupted chunk of the previous version, naming the lmdb file', () => {
    const { store, dir } = lmdb();
    const old = new DiskLog(legacy(store), dir);
    old.load();
    old.persist({ term: 1, vote: '', commit: 0 }, ents(1, 3, 1));
    const table = store.table('log');
    const recs = table.get(1) as [number, number, Uint8Array, number][];
    recs[1] = [recs[1]![0], recs[1]![1], new Uint8Array([9, 9]), recs[1]![3]];
    store.write(() => table.put(1, recs));
    const err = loadError(store, dir);
    expect(err).toBeInstanceOf(DataDirError);
    expect(err.message).toBe(`corrupted raft log entry 2 in ${dir}/data.mdb: checksum mismatch; refusing to start`);
    expect(existsSync(join(dir, 'wal'))).toBe(false);
  });

  it('finishes a snapshot install that a crash interrupted: no entry of the old log survives, the term and vote do', () => {
    const { store, dir } = lmdb();
    const log = new DiskLog(store, dir, { segmentBytes: 10 });
    log.load();
    log.persist({ term: 2, vote: 'n', commit: 3 }, ents(1, 10, 2));
    log.persist(undefined, ents(11, 30, 2));
    // What resetToSnapshot writes to lmdb before it touches the log.
    const put = (key: string, v: unknown) => store.table('meta').put(key, { v, c: crc32(JSON.stringify(v)) });
    store.write(() => {
      put('snapshot', { index: 20, term: 2, confState });
      put('walReset', { index: 20, hardState: { term: 2, vote: 'n', commit: 3 } });
    });
    const again = new DiskLog(store, dir);
    const loaded = again.load();
    expect(loaded.snapshot?.index).toBe(20);
    expect(loaded.entries).toEqual([]);
    expect(loaded.hardState).toEqual({ term: 2, vote: 'n', commit: 3 });
    expect(segments(dir)).toEqual(['0000000000000015.wal']);
    expect(store.table('meta').get('walReset')).toBeUndefined();
    // A reset without a new hard state keeps the current one.
    again.persist(undefined, ents(21, 21, 2));
    again.resetToSnapshot({ index: 40, term: 2, confState }, undefined);
    expect(new DiskLog(store, dir).load().hardState).toEqual({ term: 2, vote: 'n', commit: 3 });
  });

  it('keeps one open log per directory: a later load closes an earlier one that never stopped', () => {
    const { store, dir } = lmdb();
    const first = new DiskLog(store, dir);
    first.load();
    first.persist({ term: 1, vote: '', commit: 0 }, ents(1, 1, 1));
    const second = new DiskLog(store, dir);
    second.load();
    expect(() => first.persist(undefined, ents(2, 2, 1))).toThrow(/write-ahead log .* is not open/);
    second.persist(undefined, ents(2, 2, 1));
    second.close();
    expect(() => second.persist(undefined, ents(3, 3, 1))).toThrow(/is not open/);
    expect(summary(new DiskLog(store, dir).load().entries)).toBe(summary(ents(1, 2, 1)));
  });
});
