/**
 * The stable log as the core reads it ({@link Storage}), and {@link MemoryStorage}, an in-memory
 * implementation. The shell writes its durable log to disk and mirrors every write into a
 * MemoryStorage, which the core then reads; so the core never waits on a disk.
 */
import { AssertionError, assert, isIndex } from './assert.js';
import {
  CompactedError,
  SnapshotOutOfDateError,
  UnavailableError,
} from './errors.js';
import {
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  NONE,
  entrySizeBytes,
} from './types.js';

/** What a node starts from: its durable hard state and membership. */
export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

/**
 * Read access to the durable log, as etcd-io/raft's Storage. The log is the snapshot (everything
 * up to `firstIndex() - 1`) followed by the entries `[firstIndex(), lastIndex()]`.
 *
 * Methods throw the typed errors of `errors.ts` for expected conditions and nothing else; any
 * other exception is treated as fatal.
 */
export interface Storage {
  /** Durable hard state and membership (as of the last applied conf change the app recorded). */
  initialState(): InitialState;
  /**
   * Entries in `[lo, hi)`, at most `maxSizeBytes` in total (by `entrySizeBytes`) but always at
   * least one when `lo < hi`. Throws CompactedError if `lo < firstIndex()`, UnavailableError if
   * `hi > lastIndex() + 1`. The returned array is fresh (the caller may keep or extend it); the
   * entries in it are shared and must not be mutated.
   */
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[];
  /**
   * Term of the entry at `index`, for `index` in `[firstIndex() - 1, lastIndex()]` (the term at
   * `firstIndex() - 1` is the snapshot's, kept for matching). Throws CompactedError below that
   * range and UnavailableError above it.
   */
  term(index: number): number;
  /** Index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry; `firstIndex() - 1` when the log after the snapshot is empty. */
  lastIndex(): number;
  /**
   * The most recent snapshot. Throws SnapshotTemporarilyUnavailableError if it is being made;
   * the leader then retries later.
   */
  snapshot(): Snapshot;
}

/** Returns `end` such that `ents[lo, end)` is at most `maxSizeBytes` but holds at least one entry. */
export function limitSizeEnd(ents: readonly Entry[], lo: number, hi: number, maxSizeBytes: number): number {
  if (hi - lo <= 1) return hi;
  let size = entrySizeBytes(ents[lo]!);
  let end = lo + 1;
  while (end < hi) {
    size += entrySizeBytes(ents[end]!);
    if (size > maxSizeBytes) break;
    end++;
  }
  return end;
}

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_CONF_STATE: ConfState = { voters: [], learners: [] };

function emptySnapshot(confState: ConfState): Snapshot {
  return { metadata: { index: 0, term: 0, confState }, data: EMPTY_BYTES };
}

function copyConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}

/**
 * An in-memory {@link Storage}. Also the write side the shell (or a test) uses to make the log
 * durable: `append`, `setHardState`, `applySnapshot`, `createSnapshot`, `compact`.
 */
export class MemoryStorage implements Storage {
  /** Durable hard state as last set. */
  private hardState: HardState = { term: 0, vote: NONE, commit: 0 };
  /** Latest snapshot (applied from the leader or created locally). Index 0 means none. */
  private snap: Snapshot;
  /**
   * Membership reported by initialState(): whichever of the constructor, applySnapshot(),
   * createSnapshot() and setConfState() set it last.
   */
  private confState: ConfState;
  /**
   * `ents[0]` is a placeholder for the snapshot position (its term and index); `ents[i]` is the
   * entry at index `ents[0].index + i`. Invariant: length >= 1 and indexes are consecutive.
   */
  private ents: Entry[];

  /**
   * `initialConfState` sets the membership of a brand-new log, as if a snapshot at index 0 held
   * it. Leave it out for a node that joins an existing cluster or uses RawNode.bootstrap().
   */
  constructor(initialConfState: ConfState = EMPTY_CONF_STATE) {
    this.confState = copyConfState(initialConfState);
    this.snap = emptySnapshot(this.confState);
    this.ents = [{ term: 0, index: 0, type: 'normal', data: EMPTY_BYTES }];
  }

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.confState };
  }

  /** Records the durable hard state. Term and commit never move backwards. */
  setHardState(hs: HardState): void {
    assert(isIndex(hs.term) && isIndex(hs.commit), () => `bad hard state ${JSON.stringify(hs)}`);
    assert(hs.term >= this.hardState.term, () => `hard state term regressed ${this.hardState.term} -> ${hs.term}`);
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  /**
   * Records the membership to report from initialState(); the shell calls it when it makes an
   * applied conf change durable together with the applied index it passes as `config.applied`.
   */
  setConfState(cs: ConfState): void {
    this.confState = copyConfState(cs);
  }

  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    assert(lo <= hi, () => `invalid range [${lo}, ${hi})`);
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    const last = this.lastIndex();
    if (hi > last + 1) throw new UnavailableError(hi - 1, last);
    const start = lo - offset;
    const end = limitSizeEnd(this.ents, start, hi - offset, maxSizeBytes);
    return this.ents.slice(start, end);
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw new CompactedError(index, offset + 1);
    const i = index - offset;
    if (i >= this.ents.length) throw new UnavailableError(index, this.lastIndex());
    return this.ents[i]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /**
   * Replaces the log with a snapshot received from the leader (the Ready's `snapshot`). Throws
   * SnapshotOutOfDateError if it is not newer than the current one.
   */
  applySnapshot(snap: Snapshot): void {
    const current = this.snap.metadata.index;
    const index = snap.metadata.index;
    if (index <= current) throw new SnapshotOutOfDateError(index, current);
    this.snap = snap;
    this.confState = copyConfState(snap.metadata.confState);
    this.ents = [{ term: snap.metadata.term, index, type: 'normal', data: EMPTY_BYTES }];
  }

  /**
   * Makes a snapshot at `index` (which must be applied and in the log) holding `data` and the
   * membership `confState` as of `index`. It does not compact the log; call compact() for that,
   * usually to an index somewhat below the snapshot so slow followers can still catch up from
   * the log.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    const current = this.snap.metadata.index;
    if (index <= current) throw new SnapshotOutOfDateError(index, current);
    const offset = this.ents[0]!.index;
    assert(index <= this.lastIndex(), () => `snapshot ${index} is beyond last index ${this.lastIndex()}`);
    assert(index >= offset, () => `snapshot ${index} is below compaction point ${offset}`);
    const term = this.ents[index - offset]!.term;
    this.snap = { metadata: { index, term, confState: copyConfState(confState) }, data };
    this.confState = copyConfState(confState);
    return this.snap;
  }

  /**
   * Discards entries up to and including `compactIndex` (keeping its term for matching). The
   * caller must be able to produce a snapshot at or beyond `compactIndex` (createSnapshot first,
   * or a snapshot() that makes one on demand), or followers that need the discarded entries can
   * never catch up. Throws CompactedError if already compacted that far.
   */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw new CompactedError(compactIndex, offset + 1);
    assert(compactIndex <= this.lastIndex(), () => `compact ${compactIndex} is beyond last index ${this.lastIndex()}`);
    const i = compactIndex - offset;
    const kept: Entry[] = new Array<Entry>(this.ents.length - i);
    kept[0] = { term: this.ents[i]!.term, index: compactIndex, type: 'normal', data: EMPTY_BYTES };
    for (let j = 1; j < kept.length; j++) kept[j] = this.ents[i + j]!;
    this.ents = kept;
  }

  /**
   * Appends entries to the log, replacing any conflicting suffix. Entries at or below the
   * compaction point are ignored. The first new entry must not leave a gap after the last one.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const e0 = entries[0]!.index;
    const last = e0 + entries.length - 1;
    if (last < first) return; // all compacted away already
    let skip = 0;
    if (first > e0) skip = first - e0; // drop the compacted prefix
    const from = e0 + skip;
    const pos = from - this.ents[0]!.index;
    assert(pos <= this.ents.length, () => `missing log entries: last ${this.lastIndex()}, appending from ${from}`);
    if (pos < this.ents.length) this.ents.length = pos; // truncate the conflicting suffix
    for (let i = skip; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.index !== from + i - skip) throw new AssertionError(`non-contiguous append at ${e.index}`);
      this.ents.push(e);
    }
  }
}
