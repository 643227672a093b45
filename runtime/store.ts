/**
 * The durable store an actor sees through `ctx.store`.
 *
 * Two implementations share one contract:
 * - `LmdbStore` (ThreadHost): an lmdb environment in a directory of the actor's own. A write
 *   batch is one synchronous lmdb transaction, on disk (fsync'd) when `write` returns, unless
 *   the store was opened with `sync: false` (then it survives a crash of the process, which is
 *   what the actor runtime injects, but not a power cut).
 * - `MemoryStore` (SimHost, and memory-only benchmarks): ordered in-memory tables with the same
 *   ordering and atomicity.
 *
 * Writes are synchronous on purpose: an actor reads its own writes at once, and the Raft
 * shell's "persist, then send" order is a plain sequence of statements.
 *
 * Keys in one table must be of one shape: all numbers, all strings, or all arrays of the same
 * element types (lmdb orders mixed types in its own way, which the memory twin does not copy).
 * Values are anything msgpack can carry. `LmdbStore` compresses values of 256 bytes and more with
 * LZ4 and a shared dictionary of the JSON a cluster stores (store-dictionary.ts): a pod's 1.5 KB
 * become about 270 bytes, so there is less to write and less of the memory map resident.
 * Values written before compression was on still read back.
 */
import { createRequire } from 'node:module';
import { open as openLmdb, asBinary } from 'lmdb';
import { Unpackr } from 'msgpackr';
import type * as BTreeModule from 'sorted-btree';
import { STORE_DICTIONARY } from './store-dictionary.js';

// sorted-btree is CommonJS with an `exports.default` class: load it the CommonJS way.
type BTreeT<K, V> = BTreeModule.default<K, V>;
type BTreeCtor = new <K, V>(entries: undefined, compare: (a: K, b: K) => number) => BTreeT<K, V>;
const BTree = (createRequire(import.meta.url)('sorted-btree') as { default: BTreeCtor }).default;

export type StoreKey = number | string | readonly (number | string)[];

export interface RangeOptions {
  /** Inclusive lower bound. */
  start?: StoreKey;
  /** Exclusive upper bound. */
  end?: StoreKey;
  limit?: number;
  reverse?: boolean;
}

export interface KvTable {
  get(key: StoreKey): unknown;
  /** Keys in order (reverse: descending from just below `start`... see RangeOptions). */
  range(options?: RangeOptions): Iterable<{ key: StoreKey; value: unknown }>;
  /** Only inside `DurableStore.write`. */
  put(key: StoreKey, value: unknown): void;
  /**
   * Puts the value whose msgpack encoding is `encoded` (reads return the decoded value). For
   * callers that encode a hot shape faster than the generic encoder; `encoded` is not kept
   * after the call. `last`: the key sorts after every key in the table, so lmdb can append
   * without searching (a hint only: a key that is not last is put the ordinary way). Only
   * inside `DurableStore.write`.
   */
  putEncoded(key: StoreKey, encoded: Uint8Array, last?: boolean): void;
  /** Only inside `DurableStore.write`. */
  remove(key: StoreKey): void;
}

export interface TableOptions {
  /**
   * Store values from 256 B on LZ4-compressed (default true). Without it new values are
   * written as they are; values compressed before still read back.
   */
  compress?: boolean;
}

export interface DurableStore {
  /** Directory on disk, or null for an in-memory store. */
  readonly dir: string | null;
  /** Whether `write` fsyncs (false: in memory, or opened with `sync: false`). */
  readonly sync: boolean;
  /** The table `name`, created on first use; its options are those of its first use. */
  table(name: string, options?: TableOptions): KvTable;
  /**
   * Runs `fn` (which calls put/remove on tables) as one atomic batch, durable when `write`
   * returns. If `fn` throws, nothing of the batch is applied and the error propagates.
   */
  write(fn: () => void): void;
  /** Forces writes of a `sync: false` store to disk. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Orders keys the way lmdb's ordered-binary does for homogeneous key shapes. */
export function compareKeys(a: StoreKey, b: StoreKey): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = compareKeys(a[i] as StoreKey, b[i] as StoreKey);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  // Mixed shapes: numbers < strings < arrays. Tables should not mix shapes.
  const rank = (k: StoreKey) => (typeof k === 'number' ? 0 : typeof k === 'string' ? 1 : 2);
  return rank(a) - rank(b);
}

/** Decodes `putEncoded` values for the memory twin; binary values are copied out of the caller's buffer. */
const decoder = new Unpackr({ copyBuffers: true });

interface UndoRecord {
  table: MemoryTable;
  key: StoreKey;
  had: boolean;
  value: unknown;
}

class MemoryTable implements KvTable {
  readonly tree: BTreeT<StoreKey, unknown> = new BTree<StoreKey, unknown>(undefined, compareKeys);
  constructor(private readonly owner: MemoryStore) {}

  get(key: StoreKey): unknown {
    return this.tree.get(key);
  }

  *range(options: RangeOptions = {}): Iterable<{ key: StoreKey; value: unknown }> {
    const limit = options.limit ?? Infinity;
    if (limit <= 0) return;
    let n = 0;
    if (!options.reverse) {
      const low = options.start ?? this.tree.minKey();
      if (low === undefined) return;
      for (const [key, value] of this.tree.entries(low)) {
        if (options.end !== undefined && compareKeys(key, options.end) >= 0) return;
        yield { key, value };
        if (++n >= limit) return;
      }
    } else {
      // lmdb's reverse range walks from `start` (inclusive) down to `end` (exclusive).
      const high = options.start ?? this.tree.maxKey();
      if (high === undefined) return;
      for (const [key, value] of this.tree.entriesReversed(high)) {
        if (options.end !== undefined && compareKeys(key, options.end) <= 0) return;
        yield { key, value };
        if (++n >= limit) return;
      }
    }
  }

  put(key: StoreKey, value: unknown): void {
    this.owner.recordUndo(this, key);
    this.tree.set(key, value);
  }

  putEncoded(key: StoreKey, encoded: Uint8Array): void {
    // Through a plain Uint8Array view, binary values decode as plain Uint8Array copies (as
    // `put` would have kept them), not as Buffers.
    this.put(key, decoder.unpack(new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength)));
  }

  remove(key: StoreKey): void {
    this.owner.recordUndo(this, key);
    this.tree.delete(key);
  }
}

/** In-memory store: the twin of LmdbStore for SimHost and memory-only runs. */
export class MemoryStore implements DurableStore {
  readonly dir = null;
  readonly sync = false;
  private readonly tables = new Map<string, MemoryTable>();
  private current: UndoRecord[] | null = null;

  table(name: string): KvTable {
    let t = this.tables.get(name);
    if (!t) {
      t = new MemoryTable(this);
      this.tables.set(name, t);
    }
    return t;
  }

  recordUndo(table: MemoryTable, key: StoreKey): void {
    if (!this.current) throw new Error('MemoryStore: put/remove outside write()');
    const had = table.tree.has(key);
    this.current.push({ table, key, had, value: had ? table.tree.get(key) : undefined });
  }

  write(fn: () => void): void {
    if (this.current) throw new Error('MemoryStore: nested write()');
    this.current = [];
    try {
      fn();
    } catch (err) {
      rollback(this.current);
      throw err;
    } finally {
      this.current = null;
    }
  }

  async flush(): Promise<void> {
    /* always current */
  }

  async close(): Promise<void> {
    /* nothing to release */
  }
}

function rollback(undo: UndoRecord[]): void {
  for (let i = undo.length - 1; i >= 0; i--) {
    const u = undo[i]!;
    if (u.had) u.table.tree.set(u.key, u.value);
    else u.table.tree.delete(u.key);
  }
}

/** LZ4 for values from this size on (smaller ones gain too little to pay for it), with the dictionary. */
const COMPRESSION = { threshold: 256, dictionary: STORE_DICTIONARY };
/** lmdb's MDB_APPEND: the key goes after the table's last one, with no search. */
const APPEND = { append: true };
/** A table without compression still decompresses what was written compressed: it just never compresses. */
const NO_COMPRESSION = { threshold: 2 ** 31, dictionary: STORE_DICTIONARY };

/** lmdb-backed store in `dir`. */
export class LmdbStore implements DurableStore {
  private readonly tables = new Map<string, KvTable>();
  private constructor(
    readonly dir: string,
    readonly sync: boolean,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    private readonly env: any,
  ) {}

  /** Opens (creating if needed) the store in `dir`. Synchronous. */
  static open(dir: string, options: { sync?: boolean } = {}): LmdbStore {
    const env = openLmdb({
      path: dir,
      compression: false,
      noSync: options.sync === false,
      // Raft and MVCC records are written once and read rarely: skip lmdb's read cache.
      cache: false,
      maxDbs: 32,
    });
    return new LmdbStore(dir, options.sync !== false, env);
  }

  table(name: string, options: TableOptions = {}): KvTable {
    let t = this.tables.get(name);
    if (!t) {
      const compression = options.compress === false ? NO_COMPRESSION : COMPRESSION;
      const db = this.env.openDB({ name, compression, cache: false });
      t = {
        get: (key) => db.get(key),
        range: (options = {}) => db.getRange(options),
        put: (key, value) => void db.putSync(key, value),
        putEncoded: (key, encoded, last) => {
          const value = asBinary(encoded);
          // An append refuses (returns false) a key that is not last, and writes nothing.
          if (!last || !db.putSync(key, value, APPEND)) db.putSync(key, value);
        },
        remove: (key) => void db.removeSync(key),
      };
      this.tables.set(name, t);
    }
    return t;
  }

  write(fn: () => void): void {
    this.env.transactionSync(fn);
  }

  flush(): Promise<void> {
    if (this.sync) return Promise.resolve(); // every write was fsync'd already
    // An fdatasync of the environment, on lmdb's own thread.
    return new Promise((resolve, reject) => this.env.sync((err: unknown) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}
