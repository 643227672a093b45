/**
 * A Raft peer's durable log on its own store: identity, hard state, entries and the metadata
 * of the last compaction point, every record checksummed. Loading verifies everything and
 * refuses a corrupted or foreign directory with an error that names it.
 */
import { crc32 } from 'node:zlib';
import type { DurableStore, KvTable } from '../runtime/store.js';
import type { ConfState, Entry, HardState, SnapshotMetadata } from './core/types.js';

export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirError';
  }
}

/**
 * Entries are stored in chunks: one record per persisted batch, keyed by its first index, so a
 * Ready of a thousand entries is one lmdb put rather than a thousand. Each entry carries its
 * own checksum: [term, type (0 normal, 1 confChange), data, checksum].
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

function entryChecksum(index: number, term: number, type: number, data: Uint8Array): number {
  return crc32(data, ((index * 31 + term) * 7 + type) >>> 0);
}

function metaChecksum(value: unknown): number {
  return crc32(JSON.stringify(value));
}

export class DiskLog {
  private readonly log: KvTable;
  private readonly meta: KvTable;
  private lastIndex = 0;
  /** The chunks on disk, in index order (first of each = its key). */
  private chunks: Chunk[] = [];
  /** A hard state whose only news was the commit index, not yet written. */
  private unsavedHardState: HardState | undefined;

  /** `where` names the directory in errors. */
  constructor(
    private readonly store: DurableStore,
    private readonly where: string,
  ) {
    this.log = store.table('log');
    this.meta = store.table('meta');
  }

  /**
   * First start: records the identity. Later starts: refuses a directory that belongs to
   * another cluster or member.
   */
  claim(identity: Identity): 'new' | 'existing' {
    const found = this.readMeta<Identity>('identity');
    if (!found) {
      this.store.write(() => this.writeMeta('identity', identity));
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

  private readMeta<T>(key: string): T | undefined {
    const rec = this.meta.get(key) as { v: T; c: number } | undefined;
    if (rec === undefined) return undefined;
    if (!rec || typeof rec !== 'object' || rec.c !== metaChecksum(rec.v)) {
      throw new DataDirError(`corrupted record "${key}" in ${this.where}/data.mdb: checksum mismatch; refusing to start`);
    }
    return rec.v;
  }

  private writeMeta(key: string, v: unknown): void {
    this.meta.put(key, { v, c: metaChecksum(v) });
  }

  /**
   * Reads and verifies everything. `appliedIndex` is what the state machine holds durably:
   * those entries were committed, so the commit index is at least that (it may not have been
   * written, see `persist`).
   */
  load(appliedIndex = 0): LoadedLog {
    const stored = this.readMeta<HardState>('hardState') ?? { term: 0, vote: '', commit: 0 };
    const snapshot = this.readMeta<SnapshotMetadata>('snapshot') ?? null;
    const confState = this.readMeta<ConfState>('confState') ?? null;
    const entries: Entry[] = [];
    const snapIndex = snapshot?.index ?? 0;
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
    const commit = Math.max(stored.commit, Math.min(appliedIndex, this.lastIndex));
    const hardState = commit === stored.commit ? stored : { ...stored, commit };
    return { hardState, snapshot, entries, confState };
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
      if (hardState) this.writeMeta('hardState', hardState);
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

  /** Inside a write: removes chunks that lie wholly at or below `index`. */
  private dropThrough(index: number): void {
    while (this.chunks.length > 0 && this.chunks[0]!.last <= index) {
      this.log.remove(this.chunks[0]!.first);
      this.chunks.shift();
    }
  }

  /** Records the membership after an applied conf change. */
  saveConfState(cs: ConfState): void {
    this.store.write(() => this.writeMeta('confState', cs));
  }

  /** Drops entries up to `meta.index` (the state machine holds their effect durably). */
  compact(meta: SnapshotMetadata): void {
    this.store.write(() => {
      // A chunk that straddles the compaction point stays; load() skips its compacted head.
      this.dropThrough(meta.index);
      this.writeMeta('snapshot', meta);
    });
  }

  /** A snapshot from the leader replaced the whole log. */
  resetToSnapshot(meta: SnapshotMetadata, hardState: HardState | undefined): void {
    this.store.write(() => {
      for (const c of this.chunks) this.log.remove(c.first);
      this.writeMeta('snapshot', meta);
      this.writeMeta('confState', meta.confState);
      if (hardState) this.writeMeta('hardState', hardState);
    });
    this.chunks = [];
    this.lastIndex = meta.index;
  }
}
