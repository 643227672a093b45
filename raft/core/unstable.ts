/**
 * The tail of the log that is not durable yet: entries (and possibly a snapshot) the core has
 * accepted but the shell has not persisted. A Ready hands them out; advance() marks them stable.
 */
import { assert } from './assert.js';
import type { Entry, Snapshot } from './types.js';

/** Term lookup result meaning "this part of the log does not know the index". */
export const TERM_UNKNOWN = -1;

export class Unstable {
  /** Incoming snapshot not yet persisted, if any. Invariant: if set, offset === index + 1. */
  snapshot: Snapshot | null = null;
  /** Entries not yet persisted; `entries[i]` has index `offset + i`. */
  entries: Entry[] = [];
  /** Index of `entries[0]` (or where the next one would go). Entries below it are in storage. */
  offset: number;
  /** The snapshot was handed out in a Ready whose advance() is pending. */
  snapshotInProgress = false;
  /**
   * Entries below this index were handed out in a Ready whose advance() is pending; the next
   * Ready hands out only entries at or above it. Invariant: offset <= offsetInProgress <= last + 1.
   */
  offsetInProgress: number;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** First index if a snapshot is pending (the one after it), else TERM_UNKNOWN. */
  maybeFirstIndex(): number {
    return this.snapshot !== null ? this.snapshot.metadata.index + 1 : TERM_UNKNOWN;
  }

  /** Last index held here (entries or snapshot), else TERM_UNKNOWN. */
  maybeLastIndex(): number {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    if (this.snapshot !== null) return this.snapshot.metadata.index;
    return TERM_UNKNOWN;
  }

  /** Term at `index` if held here, else TERM_UNKNOWN. */
  maybeTerm(index: number): number {
    if (index < this.offset) {
      if (this.snapshot !== null && this.snapshot.metadata.index === index) return this.snapshot.metadata.term;
      return TERM_UNKNOWN;
    }
    const i = index - this.offset;
    if (i >= this.entries.length) return TERM_UNKNOWN;
    return this.entries[i]!.term;
  }

  /** Entries not yet handed out in a Ready (fresh array; may be empty). */
  nextEntries(): Entry[] {
    const start = this.offsetInProgress - this.offset;
    if (start >= this.entries.length) return [];
    return this.entries.slice(start);
  }

  hasNextEntries(): boolean {
    return this.offsetInProgress - this.offset < this.entries.length;
  }

  /** The snapshot if it was not handed out yet. */
  nextSnapshot(): Snapshot | null {
    if (this.snapshot === null || this.snapshotInProgress) return null;
    return this.snapshot;
  }

  /** Marks everything currently held as handed out to the shell for persistence. */
  acceptInProgress(): void {
    if (this.entries.length > 0) this.offsetInProgress = this.offset + this.entries.length;
    if (this.snapshot !== null) this.snapshotInProgress = true;
  }

  /**
   * Entries up to `index` (whose term is `term`) are durable: drop them. Ignored if the entry was
   * replaced in the meantime (term differs) or is not held here.
   */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === TERM_UNKNOWN || index < this.offset || t !== term) return;
    const n = index + 1 - this.offset;
    this.entries = n === this.entries.length ? [] : this.entries.slice(n);
    this.offset = index + 1;
    if (this.offsetInProgress < this.offset) this.offsetInProgress = this.offset;
  }

  /** The snapshot at `index` is durable: drop it. */
  stableSnapTo(index: number): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === index) {
      this.snapshot = null;
      this.snapshotInProgress = false;
    }
  }

  /** Replaces everything with a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = s;
    this.snapshotInProgress = false;
  }

  /**
   * Appends `ents[from:]`, first truncating any held entries at or after their first index. The
   * caller guarantees there is no gap before them.
   */
  truncateAndAppend(ents: readonly Entry[], from = 0): void {
    assert(from < ents.length, 'truncateAndAppend of nothing');
    const fromIndex = ents[from]!.index;
    const end = this.offset + this.entries.length;
    if (fromIndex === end) {
      // The common case: appending right after the tail.
      for (let i = from; i < ents.length; i++) this.entries.push(ents[i]!);
      return;
    }
    if (fromIndex <= this.offset) {
      // Replacing everything held here, and possibly part of the stable log too.
      this.offset = fromIndex;
      this.offsetInProgress = fromIndex;
      this.entries = ents.slice(from);
      return;
    }
    assert(fromIndex < end, () => `gap in unstable log: appending ${fromIndex} after ${end - 1}`);
    // Truncate to fromIndex (exclusive) and append.
    this.entries.length = fromIndex - this.offset;
    for (let i = from; i < ents.length; i++) this.entries.push(ents[i]!);
    if (this.offsetInProgress > fromIndex) this.offsetInProgress = fromIndex;
  }

  /** Entries in `[lo, hi)`, which must lie inside `[offset, last + 1)`. Fresh array. */
  slice(lo: number, hi: number): Entry[] {
    assert(lo >= this.offset && hi <= this.offset + this.entries.length && lo <= hi,
      () => `unstable.slice[${lo},${hi}) out of bounds [${this.offset},${this.offset + this.entries.length})`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
