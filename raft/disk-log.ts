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

interface EntryRecord {
  /** term, type (0 normal, 1 confChange), data, checksum */
  0: number;
  1: 0 | 1;
  2: Uint8Array;
  3: number;
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
    let expected = (snapshot?.index ?? 0) + 1;
    for (const { key, value } of this.log.range({ start: expected })) {
      const index = key as number;
      const rec = value as EntryRecord;
      if (index !== expected) {
        throw new DataDirError(`raft log in ${this.where}/data.mdb has a gap: expected entry ${expected}, found ${index}; refusing to start`);
      }
      if (!rec || typeof rec[0] !== 'number' || !(rec[2] instanceof Uint8Array) || rec[3] !== entryChecksum(index, rec[0], rec[1], rec[2])) {
        throw new DataDirError(`corrupted raft log entry ${index} in ${this.where}/data.mdb: checksum mismatch; refusing to start`);
      }
      entries.push({ term: rec[0], index, type: rec[1] === 1 ? 'confChange' : 'normal', data: rec[2] });
      expected++;
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
        for (let i = first; i <= this.lastIndex; i++) this.log.remove(i);
        for (const e of entries) {
          const type = e.type === 'confChange' ? 1 : 0;
          this.log.put(e.index, [e.term, type, e.data, entryChecksum(e.index, e.term, type, e.data)]);
        }
        this.lastIndex = entries[entries.length - 1]!.index;
      }
      if (hardState) this.writeMeta('hardState', hardState);
    });
  }

  /** Records the membership after an applied conf change. */
  saveConfState(cs: ConfState): void {
    this.store.write(() => this.writeMeta('confState', cs));
  }

  /** Drops entries up to `meta.index` (the state machine holds their effect durably). */
  compact(meta: SnapshotMetadata): void {
    const prev = this.readMeta<SnapshotMetadata>('snapshot');
    const from = (prev?.index ?? 0) + 1;
    this.store.write(() => {
      for (let i = from; i <= meta.index; i++) this.log.remove(i);
      this.writeMeta('snapshot', meta);
    });
  }

  /** A snapshot from the leader replaced the whole log. */
  resetToSnapshot(meta: SnapshotMetadata, hardState: HardState | undefined): void {
    const prev = this.readMeta<SnapshotMetadata>('snapshot');
    const from = (prev?.index ?? 0) + 1;
    this.store.write(() => {
      for (let i = from; i <= this.lastIndex; i++) this.log.remove(i);
      this.writeMeta('snapshot', meta);
      this.writeMeta('confState', meta.confState);
      if (hardState) this.writeMeta('hardState', hardState);
    });
    this.lastIndex = meta.index;
  }
}
