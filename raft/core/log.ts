/**
 * The node's view of its log: the durable part in {@link Storage} followed by the {@link Unstable}
 * tail, plus the commit and apply cursors.
 *
 * Invariants: applied <= committed <= lastIndex(); firstIndex() - 1 <= applied (the snapshot is
 * applied by definition); terms never decrease along the log.
 */
import { assert, isIndex } from './assert.js';
import { StorageError } from './errors.js';
import { type Storage, limitSizeEnd } from './storage.js';
import { type Entry, type Snapshot, entrySizeBytes } from './types.js';
import { TERM_UNKNOWN, Unstable } from './unstable.js';

/** Term lookup results below zero: the index is compacted, or past the end of the log. */
export const TERM_COMPACTED = -1;
export const TERM_UNAVAILABLE = -2;

const NO_ENTRIES: readonly Entry[] = Object.freeze([]) as readonly Entry[];

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known committed on a quorum. Never decreases. */
  committed: number;
  /**
   * Highest index handed out to the application in committedEntries (applied once advance()
   * returns). Invariant: applied <= applying <= committed.
   */
  applying: number;
  /** Highest index the application has applied. Never decreases. */
  applied: number;
  /** Upper bound on the bytes of committedEntries handed out in one Ready. */
  readonly maxApplyingEntsSizeBytes: number;

  constructor(storage: Storage, maxApplyingEntsSizeBytes: number) {
    assert(maxApplyingEntsSizeBytes > 0, 'maxApplyingEntsSizeBytes must be positive');
    this.storage = storage;
    this.maxApplyingEntsSizeBytes = maxApplyingEntsSizeBytes;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    assert(isIndex(first) && first >= 1 && isIndex(last) && last >= first - 1,
      () => `storage has invalid bounds first=${first} last=${last}`);
    this.unstable = new Unstable(last + 1);
    // Everything in the snapshot is committed and applied.
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    const i = this.unstable.maybeFirstIndex();
    return i !== TERM_UNKNOWN ? i : this.storage.firstIndex();
  }

  lastIndex(): number {
    const i = this.unstable.maybeLastIndex();
    return i !== TERM_UNKNOWN ? i : this.storage.lastIndex();
  }

  /** Term of the last entry. */
  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t >= 0, () => `term of last index ${this.lastIndex()} unknown`);
    return t;
  }

  /**
   * Term at `index`, or TERM_COMPACTED / TERM_UNAVAILABLE. The term at `firstIndex() - 1` is known
   * (from the snapshot) for matching purposes.
   */
  term(index: number): number {
    const t = this.unstable.maybeTerm(index);
    if (t !== TERM_UNKNOWN) return t;
    if (index + 1 < this.firstIndex()) return TERM_COMPACTED;
    if (index > this.lastIndex()) return TERM_UNAVAILABLE;
    try {
      return this.storage.term(index);
    } catch (err) {
      if (err instanceof StorageError && err.code === 'Compacted') return TERM_COMPACTED;
      if (err instanceof StorageError && err.code === 'Unavailable') return TERM_UNAVAILABLE;
      throw err;
    }
  }

  matchTerm(index: number, term: number): boolean {
    const t = this.term(index);
    return t >= 0 && t === term;
  }

  /** Raft's election restriction: is a log ending at (lastIndex, lastTerm) at least as up to date? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of MsgApp: if our log has `prevTerm` at `prevIndex`, append `ents` (truncating
   * any conflicting suffix), commit up to min(commit, last new index) and return the last new
   * index; otherwise return -1 and change nothing.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, ents: readonly Entry[]): number {
    if (!this.matchTerm(prevIndex, prevTerm)) return -1;
    const lastNew = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, () => `entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      const from = ci - (prevIndex + 1);
      assert(from >= 0 && from < ents.length, () => `conflict index ${ci} outside appended range`);
      this.appendFrom(ents, from);
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /**
   * Index of the first entry of `ents` that is missing from our log or has a different term; 0 if
   * our log already holds all of them.
   */
  findConflict(ents: readonly Entry[]): number {
    const last = this.lastIndex();
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      if (e.index > last || !this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term: the best guess of where
   * a log whose entry at `index` has term `term` stops matching ours (etcd's findConflictByTerm).
   * A term of 0 in the result means "not known" (compacted). Requires index <= lastIndex().
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    assert(index <= this.lastIndex(), () => `findConflictByTerm index ${index} > last ${this.lastIndex()}`);
    for (; index > 0; index--) {
      const ours = this.term(index);
      if (ours < 0) return { index, term: 0 };
      if (ours <= term) return { index, term: ours };
    }
    return { index: 0, term: 0 };
  }

  /** Appends entries (already stamped with term and index) at their indexes; returns lastIndex(). */
  append(ents: readonly Entry[]): number {
    if (ents.length > 0) this.appendFrom(ents, 0);
    return this.lastIndex();
  }

  private appendFrom(ents: readonly Entry[], from: number): void {
    const after = ents[from]!.index - 1;
    assert(after >= this.committed, () => `appending after ${after} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents, from);
  }

  /** Unstable entries not yet handed out in a Ready. */
  nextUnstableEnts(): Entry[] {
    return this.unstable.nextEntries();
  }

  hasNextUnstableEnts(): boolean {
    return this.unstable.hasNextEntries();
  }

  hasNextUnstableSnapshot(): boolean {
    return this.unstable.nextSnapshot() !== null;
  }

  /** True while a snapshot received from the leader awaits persistence. */
  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== null;
  }

  /**
   * Committed entries not yet handed out for applying (bounded by maxApplyingEntsSizeBytes). They
   * may include unstable entries: the shell persists a Ready's entries before applying its
   * committed entries. None while a received snapshot awaits persistence.
   */
  nextCommittedEnts(): Entry[] {
    if (this.hasPendingSnapshot()) return [];
    const lo = this.applying + 1;
    const hi = this.committed + 1;
    if (lo >= hi) return [];
    const ents = this.slice(lo, hi, this.maxApplyingEntsSizeBytes);
    assert(ents !== null, () => `committed entries [${lo}, ${hi}) compacted before being applied`);
    return ents;
  }

  hasNextCommittedEnts(): boolean {
    return !this.hasPendingSnapshot() && this.applying < this.committed;
  }

  /** The snapshot to send a follower: the pending incoming one, or storage's latest. */
  snapshot(): Snapshot {
    if (this.unstable.snapshot !== null) return this.unstable.snapshot;
    return this.storage.snapshot();
  }

  /** Raises the commit index. It never decreases and never passes the last index. */
  commitTo(commit: number): void {
    if (commit <= this.committed) return;
    assert(commit <= this.lastIndex(),
      () => `commit ${commit} is out of range [last index ${this.lastIndex()}]; log corrupted, truncated or lost?`);
    this.committed = commit;
  }

  /** Leader side: commit `index` if it is newer and its entry is from `term` (Raft §5.4.2). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Marks committed entries up to `index` as handed out for applying. */
  acceptApplying(index: number): void {
    assert(index >= this.applying && index <= this.committed,
      () => `applying ${index} outside [${this.applying}, ${this.committed}]`);
    this.applying = index;
  }

  /** The application applied everything up to `index`. */
  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index <= this.committed && index >= this.applied,
      () => `applied(${index}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`);
    this.applied = index;
    if (this.applying < index) this.applying = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** Index of the last entry known durable (the one before the unstable tail). */
  durableLastIndex(): number {
    if (this.unstable.snapshot !== null) return 0;
    return this.unstable.offset - 1;
  }

  /** Replaces the log with a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /**
   * Entries in `[lo, hi)` up to `maxSizeBytes` (at least one if lo < hi), or null if `lo` is
   * compacted. `hi` must not pass lastIndex() + 1.
   */
  slice(lo: number, hi: number, maxSizeBytes: number): Entry[] | null {
    assert(lo <= hi, () => `invalid slice ${lo} > ${hi}`);
    if (lo < this.firstIndex()) return null;
    assert(hi <= this.lastIndex() + 1, () => `slice[${lo},${hi}) out of bound [${this.firstIndex()},${this.lastIndex()}]`);
    if (lo === hi) return [];
    const offset = this.unstable.offset;
    if (lo >= offset) return this.limitUnstable(lo, hi, maxSizeBytes, 0);
    let ents: Entry[];
    try {
      ents = this.storage.entries(lo, Math.min(hi, offset), maxSizeBytes);
    } catch (err) {
      if (err instanceof StorageError && err.code === 'Compacted') return null;
      throw err;
    }
    assert(ents.length > 0, () => `storage returned no entries for [${lo}, ${Math.min(hi, offset)})`);
    if (hi <= offset || ents.length < offset - lo) return ents; // done, or stopped by the size limit
    let size = 0;
    for (let i = 0; i < ents.length; i++) size += entrySizeBytes(ents[i]!);
    const more = this.limitUnstable(offset, hi, maxSizeBytes - size, size);
    for (let i = 0; i < more.length; i++) ents.push(more[i]!);
    return ents;
  }

  /**
   * Unstable entries from `lo` within the byte budget. When `alreadyBytes` > 0 some entries were
   * taken before, so the "at least one entry" rule does not apply.
   */
  private limitUnstable(lo: number, hi: number, budgetBytes: number, alreadyBytes: number): Entry[] {
    const ents = this.unstable.entries;
    const base = this.unstable.offset;
    if (alreadyBytes === 0) {
      const end = limitSizeEnd(ents, lo - base, hi - base, budgetBytes);
      return ents.slice(lo - base, end);
    }
    let end = lo - base;
    let size = 0;
    while (end < hi - base) {
      size += entrySizeBytes(ents[end]!);
      if (size > budgetBytes) break;
      end++;
    }
    return ents.slice(lo - base, end);
  }

  /**
   * Entries from `lo` to the end, up to `maxSizeBytes`, or null if `lo` is compacted. The common
   * "nothing new" answer is a shared empty array, so asking costs no allocation.
   */
  entries(lo: number, maxSizeBytes: number): readonly Entry[] | null {
    const last = this.lastIndex();
    if (lo > last) return NO_ENTRIES;
    return this.slice(lo, last + 1, maxSizeBytes);
  }

  /** Every entry from firstIndex() to the end (for tests and debugging). */
  allEntries(): Entry[] {
    const ents = this.slice(this.firstIndex(), this.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
    assert(ents !== null, 'allEntries raced with compaction');
    return ents;
  }
}
