/**
 * A Raft peer's durable log on its own store: identity, hard state, entries and the metadata
 * of the last compaction point, every record checksummed. Loading verifies everything and
 * refuses a corrupted or foreign directory with an error that names it.
 *
 * The identity, compaction point and membership are records in the store's 'meta' table. Entries
 * and the hard state go to the write-ahead log (wal.ts) in `<store dir>/wal/` for a store on disk,
 * and to chunks in the store's 'log' table for an in-memory store.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { DurableStore, KvTable } from '../runtime/store.js';
import type { ConfState, Entry, HardState, SnapshotMetadata } from './core/types.js';
import { DataDirError, EMPTY_STATE, Wal, type WalContents } from './wal.js';

export { DataDirError };

/**
 * Chunks: one record per persisted batch, keyed by its first index, so a Ready of a thousand
 * entries is one put rather than a thousand. Each entry carries its own checksum:
 * [term, type (0 normal, 1 confChange), data, checksum].
 */
type EntryRecord = [number, 0 | 1, Uint8Array, number];

interface Chunk {
  first: number;
  last: number;
}

interface Identity {
  clusterId: string;
  memberId: string;
}

export interface LoadedLog {
  hardState: HardState;
  /** Compaction point: the log holds entries after `snapshot.index`. */
  snapshot: SnapshotMetadata | null;
  entries: Entry[];
  /** Membership recorded at the last applied conf change (or the bootstrap set). */
  confState: ConfState | null;
}

export interface DiskLogOptions {
  /** Size at which a write-ahead log segment is closed (default 16 MiB). */
  segmentBytes?: number;
}


function entryChecksum(index: number, term: number, type: number, data: Uint8Array): number {
  return crc32(data, ((index * 31 + term) * 7 + type) >>> 0);
}

function metaChecksum(value: unknown): number {
  return crc32(JSON.stringify(value));
}

/** Checksummed records of the 'meta' table. */
class MetaRecords {
  private readonly table: KvTable;

  constructor(
    store: DurableStore,
    private readonly where: string,
  ) {
    this.table = store.table('meta');
  }

  get<T>(key: string): T | undefined {
    const rec = this.table.get(key) as { v: T; c: number } | undefined;
    if (rec === undefined) return undefined;
    if (!rec || typeof rec !== 'object' || rec.c !== metaChecksum(rec.v)) {
      throw new DataDirError(`corrupted record "${key}" in ${this.where}/data.mdb: checksum mismatch; refusing to start`);
    }
    return rec.v;
  }

  /** Only inside a store write. */
  put(key: string, v: unknown): void {
    this.table.put(key, { v, c: metaChecksum(v) });
  }

  /** Only inside a store write. */
  remove(key: string): void {
    this.table.remove(key);
  }
}

/** Where a log keeps its entries and hard state. */
interface EntryStorage {
  load(snapIndex: number): WalContents;
  /** Durably: new entries (replacing any conflicting suffix) and the hard state. */
  append(hardState: HardState | undefined, entries: readonly Entry[]): void;
  /** Drops entries up to `index`; `recordMeta` writes the compaction point (inside a store write). */
  compact(index: number, recordMeta: () => void): void;
  /** Empties the log after `index`; `recordMeta` writes the snapshot's records (inside a store write). */
  reset(index: number, hardState: HardState | undefined, recordMeta: () => void): void;
  close(): void;
}

/** Entries in chunks of the store's 'log' table, the hard state in 'meta': one store write each. */
class ChunkStorage implements EntryStorage {
  private readonly log: KvTable;
  private lastIndex = 0;
  /** The chunks in the table, in index order (first of each = its key). */
  private chunks: Chunk[] = [];

  constructor(
    private readonly store: DurableStore,
    private readonly meta: MetaRecords,
    private readonly where: string,
  ) {
    this.log = store.table('log');
  }

  isEmpty(): boolean {
    for (const _ of this.log.range({ limit: 1 })) return false;
    return true;
  }

  load(snapIndex: number): WalContents {
    const hardState = this.meta.get<HardState>('hardState');
    const entries: Entry[] = [];
    let expected = snapIndex + 1;
    this.chunks = [];
    for (const { key, value } of this.log.range()) {
      const first = key as number;
      const recs = value as EntryRecord[];
      if (!Array.isArray(recs) || recs.length === 0) {
        throw new DataDirError(`corrupted raft log chunk at entry ${first} in ${this.where}/data.mdb: not a list of entries; refusing to start`);
      }
      const last = first + recs.length - 1;
      this.chunks.push({ first, last });
      if (last <= snapIndex) continue; // compacted away, removed lazily
      for (let i = 0; i < recs.length; i++) {
        const index = first + i;
        if (index <= snapIndex) continue;
        const rec = recs[i]!;
        if (index !== expected) {
          throw new DataDirError(`raft log in ${this.where}/data.mdb has a gap: expected entry ${expected}, found ${index}; refusing to start`);
        }
        if (!Array.isArray(rec) || typeof rec[0] !== 'number' || !(rec[2] instanceof Uint8Array) || rec[3] !== entryChecksum(index, rec[0], rec[1], rec[2])) {
          throw new DataDirError(`corrupted raft log entry ${index} in ${this.where}/data.mdb: checksum mismatch; refusing to start`);
        }
        entries.push({ term: rec[0], index, type: rec[1] === 1 ? 'confChange' : 'normal', data: rec[2] });
        expected++;
      }
    }
    this.lastIndex = expected - 1;
    return { hardState, entries, lastIndex: this.lastIndex };
  }

  append(hardState: HardState | undefined, entries: readonly Entry[]): void {
    this.store.write(() => {
      if (entries.length > 0) {
        const first = entries[0]!.index;
        // A leader's new entries replace whatever this log held from `first` on.
        if (first <= this.lastIndex) this.truncateFrom(first);
        const recs: EntryRecord[] = new Array(entries.length);
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i]!;
          const type = e.type === 'confChange' ? 1 : 0;
          recs[i] = [e.term, type, e.data, entryChecksum(e.index, e.term, type, e.data)];
        }
        this.log.put(first, recs);
        this.chunks.push({ first, last: first + entries.length - 1 });
        this.lastIndex = first + entries.length - 1;
      }
      if (hardState) this.meta.put('hardState', hardState);
    });
  }

  /** Inside a write: removes every entry from `index` on, rewriting the chunk it falls in. */
  private truncateFrom(index: number): void {
    while (this.chunks.length > 0) {
      const c = this.chunks[this.chunks.length - 1]!;
      if (c.last < index) break;
      this.chunks.pop();
      const recs = this.log.get(c.first) as EntryRecord[];
      this.log.remove(c.first);
      if (c.first < index) {
        this.log.put(c.first, recs.slice(0, index - c.first));
        this.chunks.push({ first: c.first, last: index - 1 });
        break;
      }
    }
  }

  compact(index: number, recordMeta: () => void): void {
    this.store.write(() => {
      // A chunk that straddles the compaction point stays; load() skips its compacted head.
      while (this.chunks.length > 0 && this.chunks[0]!.last <= index) {
        this.log.remove(this.chunks[0]!.first);
        this.chunks.shift();
      }
      recordMeta();
    });
  }

  reset(index: number, hardState: HardState | undefined, recordMeta: () => void): void {
    this.store.write(() => {
      this.removeAll();
      recordMeta();
      if (hardState) this.meta.put('hardState', hardState);
    });
    this.lastIndex = index;
  }

  /** Inside a write: removes every chunk. */
  removeAll(): void {
    const keys = [...this.log.range()].map((r) => r.key);
    for (const key of keys) this.log.remove(key);
    this.chunks = [];
  }

  close(): void {
    /* nothing open */
  }
}

/** A reset under way: the log is emptied after `index` and begins again with `hardState`. */
interface WalReset {
  index: number;
  hardState: HardState;
}

/**
 * Entries and the hard state in the write-ahead log. The meta records stay in lmdb; a snapshot
 * install writes them together with a reset record that `load` finishes if a crash came between,
 * so stale entries never outlive the snapshot and the term and vote are never lost.
 */
class WalStorage implements EntryStorage {
  private readonly wal: Wal;
  /** The previous version's storage, read once to migrate. */
  private readonly chunks: ChunkStorage;

  constructor(
    private readonly store: DurableStore,
    private readonly meta: MetaRecords,
    where: string,
    options: DiskLogOptions,
  ) {
    this.wal = new Wal(join(store.dir!, 'wal'), { sync: store.sync, segmentBytes: options.segmentBytes });
    this.chunks = new ChunkStorage(store, meta, where);
  }

  load(snapIndex: number): WalContents {
    const absent = !existsSync(this.wal.dir);
    if (absent) {
      // A new directory, or one of the previous version with its entries in lmdb chunks.
      const old = this.chunks.load(snapIndex);
      Wal.create(this.wal.dir, snapIndex + 1, old.hardState ?? EMPTY_STATE, old.entries, this.store.sync);
    }
    // The previous version's records go once the log holds them (on the next start, if a crash came first).
    if (absent || !this.chunks.isEmpty()) {
      this.store.write(() => {
        this.chunks.removeAll();
        this.meta.remove('hardState');
      });
    }
    const reset = this.meta.get<WalReset>('walReset');
    if (reset) this.finishReset(reset);
    return this.wal.load(snapIndex);
  }

  append(hardState: HardState | undefined, entries: readonly Entry[]): void {
    this.wal.append(hardState, entries);
  }

  compact(index: number, recordMeta: () => void): void {
    // Segments go only once the compaction point is durable.
    this.store.write(recordMeta);
    this.wal.compact(index);
  }

  reset(index: number, hardState: HardState | undefined, recordMeta: () => void): void {
    const reset: WalReset = { index, hardState: hardState ?? this.wal.hardState };
    this.store.write(() => {
      recordMeta();
      this.meta.put('walReset', reset);
    });
    this.finishReset(reset);
  }

  private finishReset({ index, hardState }: WalReset): void {
    this.wal.reset(index, hardState);
    this.store.write(() => this.meta.remove('walReset'));
  }

  close(): void {
    this.wal.close();
  }
}

export class DiskLog {
  private readonly meta: MetaRecords;
  private readonly entries: EntryStorage;
  /** A hard state whose only news was the commit index, not yet written. */
  private unsavedHardState: HardState | undefined;

  /** `where` names the directory in errors. */
  constructor(
    private readonly store: DurableStore,
    private readonly where: string,
    options: DiskLogOptions = {},
  ) {
    this.meta = new MetaRecords(store, where);
    this.entries = store.dir === null ? new ChunkStorage(store, this.meta, where) : new WalStorage(store, this.meta, where, options);
  }

  /**
   * First start: records the identity. Later starts: refuses a directory that belongs to
   * another cluster or member.
   */
  claim(identity: Identity): 'new' | 'existing' {
    const found = this.meta.get<Identity>('identity');
    if (!found) {
      this.store.write(() => this.meta.put('identity', identity));
      return 'new';
    }
    if (found.clusterId !== identity.clusterId || found.memberId !== identity.memberId) {
      throw new DataDirError(
        `data directory ${this.where} belongs to member "${found.memberId}" of cluster "${found.clusterId}", ` +
          `not member "${identity.memberId}" of cluster "${identity.clusterId}"; refusing to start`,
      );
    }
    return 'existing';
  }

  /**
   * Reads and verifies everything. `appliedIndex` is what the state machine holds durably:
   * those entries were committed, so the commit index is at least that (it may not have been
   * written, see `persist`). Must come before any write.
   */
  load(appliedIndex = 0): LoadedLog {
    const snapshot = this.meta.get<SnapshotMetadata>('snapshot') ?? null;
    const confState = this.meta.get<ConfState>('confState') ?? null;
    const stored = this.entries.load(snapshot?.index ?? 0);
    const hs = stored.hardState ?? EMPTY_STATE;
    const commit = Math.max(hs.commit, Math.min(appliedIndex, stored.lastIndex));
    const hardState = commit === hs.commit ? hs : { ...hs, commit };
    return { hardState, snapshot, entries: stored.entries, confState };
  }

  /**
   * Persists one Ready's worth: new entries (replacing any conflicting suffix) and the hard
   * state, atomically and durably. A Ready whose only change is the commit index
   * (`mustSync` false) costs no fsync: the commit index rides along with the next write, and
   * `load()` recovers it from the applied index if a crash came first.
   */
  persist(hardState: HardState | undefined, entries: readonly Entry[], mustSync = true): void {
    if (hardState) this.unsavedHardState = hardState;
    if (entries.length === 0 && !mustSync) return;
    hardState = this.unsavedHardState;
    if (!hardState && entries.length === 0) return;
    this.unsavedHardState = undefined;
    this.entries.append(hardState, entries);
  }

  /** Records the membership after an applied conf change. */
  saveConfState(cs: ConfState): void {
    this.store.write(() => this.meta.put('confState', cs));
  }

  /** Drops entries up to `meta.index` (the state machine holds their effect durably). */
  compact(meta: SnapshotMetadata): void {
    this.entries.compact(meta.index, () => this.meta.put('snapshot', meta));
  }

  /** A snapshot from the leader replaced the whole log. */
  resetToSnapshot(meta: SnapshotMetadata, hardState: HardState | undefined): void {
    this.entries.reset(meta.index, hardState, () => {
      this.meta.put('snapshot', meta);
      this.meta.put('confState', meta.confState);
    });
  }

  /** Closes the write-ahead log's file. After a crash, the next `load` in the same thread closes it. */
  close(): void {
    this.entries.close();
  }
}
