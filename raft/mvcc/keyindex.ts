/**
 * The in-memory key index (etcd's treeIndex): key → the revisions of that key still in the
 * backend, in a B+ tree ordered by key for range queries (plus a hash map for point lookups).
 *
 * A revision is a pair (main, sub): `main` is the store revision of the write txn, `sub` the
 * position of the change inside it. The backend table `kv` is keyed by `[main, sub]`; the index
 * tells which of those records belong to which key, so reads never scan the backend.
 *
 * Generations: a key lives from a create to a delete (a tombstone revision); a re-create starts
 * a new generation. A tombstone is marked in place by storing `-1 - sub` as its sub.
 *
 * Memory: a key written once and never since (version 1, sub revision 0: most keys of a big
 * store) is held as the bare number of its revision, a small integer inside the tree's own
 * arrays, with no object at all. Any other key has a KeyIndex: the latest revision in the
 * object's fields, older revisions (kept until compaction) in a flat number array allocated on
 * the second write. No object per revision, no value.
 */
import { createRequire } from 'node:module';
import type * as BTreeModule from 'sorted-btree';

// sorted-btree is CommonJS with an `exports.default` class: load it the CommonJS way.
type BTreeT<K, V> = BTreeModule.default<K, V>;
type BTreeCtor = new <K, V>(entries: undefined, compare: (a: K, b: K) => number) => BTreeT<K, V>;
const BTree = (createRequire(import.meta.url)('sorted-btree') as { default: BTreeCtor }).default;

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`mvcc invariant broken: ${message}`);
}

export class KeyIndex {
  /** Latest revision: main, and sub (`-1 - sub` for a tombstone). */
  main: number;
  sub: number;
  /**
   * Older revisions still in the backend, as pairs main, sub ascending by main (a key changes at
   * most once per main), tombstones encoded alike; null when there are none.
   */
  older: number[] | null = null;
  /** Create revision of the current generation; 0 when the latest revision is a tombstone. */
  createRevision: number;
  /** Version of the key in the current generation; 0 when the latest revision is a tombstone. */
  version: number;

  constructor(main: number, sub: number, createRevision: number, version: number) {
    this.main = main;
    this.sub = sub;
    this.createRevision = createRevision;
    this.version = version;
  }

  /** The key exists at the latest revision. */
  get live(): boolean {
    return this.sub >= 0;
  }

  get lastMain(): number {
    return this.main;
  }

  /** Sub of the latest revision (decoded if it is a tombstone). */
  get lastSub(): number {
    return this.sub >= 0 ? this.sub : -1 - this.sub;
  }

  /** Revisions held: older ones plus the latest. */
  get count(): number {
    return this.older === null ? 1 : (this.older.length >> 1) + 1;
  }

  /** Main revision of the i-th revision held (0 = oldest, count - 1 = latest). */
  mainOf(i: number): number {
    return this.older === null || i === this.older.length >> 1 ? this.main : this.older[i * 2]!;
  }

  /** Sub revision, still encoded (negative for a tombstone), of the i-th revision held. */
  rawSubOf(i: number): number {
    return this.older === null || i === this.older.length >> 1 ? this.sub : this.older[i * 2 + 1]!;
  }

  /** Index of the latest revision with main <= `rev`, or -1 when all are newer. */
  positionAt(rev: number): number {
    if (this.main <= rev) return this.count - 1; // the common case: reading the latest
    const older = this.older;
    if (older === null) return -1;
    let lo = 0;
    let hi = (older.length >> 1) - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (older[mid * 2]! <= rev) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** Index of the revision visible at `rev` when the key is live then, else -1. */
  visibleAt(rev: number): number {
    const i = this.positionAt(rev);
    return i >= 0 && this.rawSubOf(i) >= 0 ? i : -1;
  }

  /** Whether the backend record (main, sub) belongs to this key's retained revisions. */
  holds(main: number, sub: number): boolean {
    const i = this.positionAt(main);
    if (i < 0 || this.mainOf(i) !== main) return false;
    const s = this.rawSubOf(i);
    return (s >= 0 ? s : -1 - s) === sub;
  }

  put(main: number, sub: number): void {
    assert(sub >= 0, 'sub revision is non-negative');
    if (this.live) {
      this.version++;
    } else {
      this.createRevision = main;
      this.version = 1;
    }
    this.push(main, sub);
  }

  tombstone(main: number, sub: number): void {
    assert(this.live, 'only a live key can be deleted');
    this.push(main, -1 - sub);
    this.createRevision = 0;
    this.version = 0;
  }

  /** Appends a revision (rebuild path: fields come from the backend record). */
  append(main: number, rawSub: number, createRevision: number, version: number): void {
    this.push(main, rawSub);
    this.createRevision = createRevision;
    this.version = version;
  }

  private push(main: number, rawSub: number): void {
    assert(main > this.main, 'a key changes at most once per revision, in revision order');
    if (this.older === null) this.older = [this.main, this.sub];
    else this.older.push(this.main, this.sub);
    this.main = main;
    this.sub = rawSub;
  }

  /**
   * Drops revisions older than `atRev`, keeping the latest revision <= atRev when it is not a
   * tombstone (the key's value at atRev) and everything after. Returns false when nothing is
   * left: the key leaves the index.
   */
  compact(atRev: number): boolean {
    const i = this.positionAt(atRev);
    if (i < 0) return true; // all revisions are newer
    const keepFrom = this.rawSubOf(i) >= 0 ? i : i + 1;
    if (keepFrom === 0) return true;
    const n = this.count;
    if (keepFrom >= n) return false;
    this.older = keepFrom === n - 1 ? null : this.older!.slice(keepFrom * 2);
    return true;
  }
}

/**
 * What the tree holds per key: a KeyIndex, or the main revision of a key's only revision when it
 * is (main, 0), live, created there (version 1). Compaction turns keys back into numbers.
 */
type Slot = KeyIndex | number;

/** The KeyIndex a bare revision stands for (a fresh object: changes to it go nowhere). */
function expand(slot: Slot): KeyIndex {
  return typeof slot === 'number' ? new KeyIndex(slot, 0, slot, 1) : slot;
}

/** The bare revision a KeyIndex can be held as, or null. */
function shrink(ki: KeyIndex): number | null {
  return ki.older === null && ki.sub === 0 && ki.version === 1 && ki.createRevision === ki.main ? ki.main : null;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Visits keys in [key, rangeEnd) order; return false to stop. */
export type IndexVisitor = (key: string, ki: KeyIndex) => boolean | void;

/**
 * Keys in a B+ tree for ordered ranges, and in a hash map for point lookups: the write path looks
 * a key up on every put, and string compares down a tree of long common prefixes
 * ("/registry/pods/...") cost more than one hash (cached on the string after the first use).
 *
 * `get` and `forRange` hand out KeyIndex objects to read; changes go through `put`, `tombstone`
 * and `restore` (a key held as a bare revision gets a fresh object that the index does not keep).
 */
export class TreeIndex {
  /**
   * The keys in order, for ranges: a sorted set (a B+ tree whose values are all undefined
   * shares one values array, 8 bytes a key less than a map would take).
   */
  private tree: BTreeT<string, undefined> = new BTree<string, undefined>(undefined, compareStrings);
  /** Key → slot, for point lookups (a hash lookup; a tree lookup compares long keys char by char). */
  private readonly map = new Map<string, Slot>();
  private readonly pair: [string, undefined] = ['', undefined];

  get size(): number {
    return this.map.size;
  }

  get(key: string): KeyIndex | undefined {
    const slot = this.map.get(key);
    return slot === undefined ? undefined : expand(slot);
  }

  private insert(key: string, slot: Slot): void {
    this.map.set(key, slot);
    this.tree.set(key, undefined);
  }

  /** The key's KeyIndex, kept by the index from now on (a bare revision becomes an object). */
  private held(key: string): KeyIndex | undefined {
    const slot = this.map.get(key);
    if (slot === undefined || typeof slot !== 'number') return slot;
    const ki = expand(slot);
    this.map.set(key, ki);
    return ki;
  }

  /** Records a put of `key` at (main, sub); returns the key's index entry after it. */
  put(key: string, main: number, sub: number): KeyIndex {
    const ki = this.held(key);
    if (ki === undefined) {
      const created = new KeyIndex(main, sub, main, 1);
      this.insert(key, sub === 0 ? main : created);
      return created;
    }
    ki.put(main, sub);
    return ki;
  }

  /** Rebuild path: inserts a revision with the fields its backend record holds. */
  restore(key: string, main: number, sub: number, tombstone: boolean, createRevision: number, version: number): void {
    const ki = this.held(key);
    const s = tombstone ? -1 - sub : sub;
    if (ki !== undefined) ki.append(main, s, createRevision, version);
    else {
      const created = new KeyIndex(main, s, createRevision, version);
      this.insert(key, shrink(created) ?? created);
    }
  }

  tombstone(key: string, main: number, sub: number): void {
    const ki = this.held(key);
    assert(ki !== undefined, 'deleting a key the index does not know');
    ki.tombstone(main, sub);
  }

  /**
   * Calls `visit` for every indexed key in the range (etcd conventions for rangeEnd), in key
   * order, or in reverse order when `reverse`. Keys whose revisions are all tombstoned are
   * visited too; the caller decides liveness at its revision.
   */
  forRange(key: string, rangeEnd: string | undefined, reverse: boolean, visit: IndexVisitor): void {
    if (rangeEnd === undefined || rangeEnd === '') {
      const ki = this.get(key);
      if (ki !== undefined) visit(key, ki);
      return;
    }
    const all = rangeEnd === '\0';
    if (!all && rangeEnd <= key) return;
    const pair = this.pair;
    const map = this.map;
    if (!reverse) {
      const it = this.tree.entries(key, pair as unknown as (string | undefined)[]);
      for (let r = it.next(); !r.done; r = it.next()) {
        const k = r.value[0];
        if (!all && k >= rangeEnd) return;
        if (visit(k, expand(map.get(k)!)) === false) return;
      }
    } else {
      const high = all ? this.tree.maxKey() : rangeEnd;
      if (high === undefined) return;
      const it = this.tree.entriesReversed(high, pair as unknown as (string | undefined)[]);
      for (let r = it.next(); !r.done; r = it.next()) {
        const k = r.value[0];
        if (!all && k >= rangeEnd) continue;
        if (k < key) return;
        if (visit(k, expand(map.get(k)!)) === false) return;
      }
    }
  }

  /**
   * Compacts every key at `atRev`, removing keys with nothing left (see KeyIndex.compact) and
   * holding keys left with one fresh revision as bare numbers again.
   */
  compact(atRev: number): void {
    // Deleting the entry being visited and replacing values are both allowed while iterating a Map.
    for (const [k, slot] of this.map) {
      if (typeof slot === 'number') continue; // one live revision: compaction keeps it
      if (!slot.compact(atRev)) {
        this.map.delete(k);
        this.tree.delete(k);
        continue;
      }
      const bare = shrink(slot);
      if (bare !== null) this.map.set(k, bare);
    }
  }

  clear(): void {
    this.tree = new BTree<string, undefined>(undefined, compareStrings);
    this.map.clear();
  }
}
