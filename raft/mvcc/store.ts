/**
 * MvccStore: the replicated key-value state machine (etcd v3's mvcc + apply layer).
 *
 * Layout (etcd's design):
 * - an in-memory key index (`TreeIndex`): key → revisions still in the backend;
 * - backend table `kv`, keyed by revision `[main, sub]`, holding a `StoredRecord` per change
 *   (a delete writes a tombstone record) as a row (see rows.ts): a msgpack'd object would carry
 *   its six field names in every record, a third of a 100-byte value's record;
 * - backend table `meta`: `state` {revision, compactRevision, appliedIndex}, `lease/<id>` per
 *   lease, `client/<id>` per deduplicated client as of the last checkpoint of the dedup table,
 *   and `clientjournal/<n>`: each batch's client changes since then, in one record (see
 *   persistBatch).
 *
 * `applyEntries` applies committed log entries in ONE backend write batch, with the applied index
 * in the same batch, so a crash leaves either all of the batch or none of it; entries at or below
 * the applied index are skipped (replay after a restart). In-memory state is updated as the batch
 * runs; if the batch throws (a broken invariant — expected conditions are typed results, never
 * exceptions), memory and disk disagree, so the store refuses further use: the actor crashes and
 * its restart re-opens the store from disk.
 *
 * Exactly-once: per client id, the last applied seq and its response (the dedup table, part of
 * the state and of snapshots). A repeat of that seq gets the stored response; an older seq gets
 * `StaleSequence`. The table is bounded: after every entry, clients whose last command was
 * applied more than `dedupIdleRevisions` revisions ago are forgotten, and beyond
 * `maxDedupClients` the least recently active go first.
 *
 * Determinism: results depend only on the entries and the state; batch boundaries do not matter
 * (dedup eviction runs per entry; compaction's physical clean-up is invisible to reads and
 * excluded from snapshots). No clock, no randomness.
 */
import type { DurableStore, KvTable, StoreKey } from '../../runtime/store.js';
import {
  decodeEntryData,
  errors,
  isProposal,
  maxRequestBytes,
  validateCommand,
  type Command,
  type Compare,
  type CompactRequest,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type KeyValue,
  type LeaseCheckpointRequest,
  type LeaseGrantRequest,
  type LeaseRevokeRequest,
  type MvccError,
  type OpResponse,
  type Proposal,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type Response,
  type TxnRequest,
  type TxnResponse,
  type WatchEvent,
} from './commands.js';
import { assert, KeyIndex, TreeIndex } from './keyindex.js';
import { decodeSnapshot, encodeSnapshot, type SnapshotData } from './snapshot.js';
import { ClientTable } from './clients.js';
import { fromRow, readJournalRecord, RowWriter } from './rows.js';

/** A committed log entry: its payload as bytes (msgpack of a Proposal) or already decoded. */
export interface LogEntry {
  index: number;
  /**
   * One proposal, or a batch of them applied in order under this one index (see
   * `encodeProposalBatch`), as encoded bytes or decoded. null or empty bytes: a no-op entry
   * (e.g. a new leader's empty entry); only the index moves.
   */
  data: Uint8Array | Proposal | readonly unknown[] | null;
}

/**
 * Outcome of one applied proposal: one per proposal of a batch entry, in order. No-op entries
 * and entries at or below the applied index get none.
 * Results share objects with the store (and with the dedup table): treat them as read-only.
 */
export interface ApplyResult {
  index: number;
  client: string;
  seq: number;
  response: Response;
  /** Changes made by this entry, in revision order; empty for reads, errors and duplicates. */
  events: WatchEvent[];
  /** Store revision after this entry. */
  revision: number;
  /** The entry repeated an applied (client, seq): nothing ran again, `response` is the original. */
  duplicate: boolean;
}

/** A change as stored in the backend `kv` table. A tombstone has version 0 and an empty value. */
export interface StoredRecord extends KeyValue {
  tombstone?: true;
}


export interface LeaseInfo {
  id: number;
  ttlSeconds: number;
  /** Remaining TTL recorded by the last checkpoint, 0 when none. */
  remainingTtlSeconds: number;
  /** Keys attached to the lease (live keys only). */
  readonly keys: ReadonlySet<string>;
}

interface LeaseState extends LeaseInfo {
  readonly keys: Set<string>;
}

/**
 * Dedup record of one client. `response` is null for a plain range that changed nothing: a
 * retry then simply runs again, which is indistinguishable from one run at the retry's time, and
 * big read responses are never kept. Every other command keeps its response, even one that
 * changed nothing (a failed compare, an error): running it again could change the state after
 * its client was already answered.
 */
export interface ClientRecord {
  seq: number;
  /** Log index that applied `seq`: orders clients by last activity. */
  index: number;
  /** Position of `seq` among the proposals of that entry (absent: 0); breaks ties of `index`. */
  at?: number;
  /** Store revision after applying `seq`: the idleness clock. */
  revision: number;
  response: Response | null;
}

/** Persisted under meta `state`. */
interface MetaState {
  revision: number;
  compactRevision: number;
  appliedIndex: number;
}

/** Who hears about applied batches (the WatchHub). Called after the batch is durable. */
export interface MvccListener {
  applied(results: readonly ApplyResult[], revision: number): void;
  /** The whole state was replaced by a snapshot. */
  restored(): void;
  /**
   * Whether events on `key` should carry prevKv (some watcher asked for it). Asked on the write
   * path, so it must be cheap.
   */
  wantsPrevKv(key: string): boolean;
  /**
   * Whether `applied` will look at the results' events (someone watches); a listener without
   * this method always does. When every listener says no, writes build no events (empty in
   * the results): they cost objects on every replica and nobody would read them. Asked once
   * per `applyEntries`.
   */
  wantsEvents?(): boolean;
}

/** The events of a write nobody watches: never pushed to (frozen, so a push would throw). */
const NO_EVENTS: WatchEvent[] = Object.freeze([]) as unknown as WatchEvent[];

/**
 * Limits that shape replicated behaviour: every replica must use the same values, since they
 * decide which clients are forgotten (and so which retries are deduplicated).
 */
export interface MvccOptions {
  /**
   * A client whose last applied command is more than this many revisions behind the current
   * revision is forgotten (checked after every entry). Default 5,000,000 (~50 s at 100k
   * writes/s, forever on an idle store).
   */
  dedupIdleRevisions?: number;
  /** At most this many clients are remembered; the least recently active goes first. */
  maxDedupClients?: number;
  /**
   * Compaction drops revisions from the index at once; its backend clean-up then examines at most
   * this many records per `applyEntries` call (and per `purge` call). Invisible to reads and
   * snapshots, so replicas may differ in its progress. Default 1,000.
   */
  compactionBatchRecords?: number;
  /**
   * Client changes the journal takes before the dedup table is checkpointed: every client changed
   * since the last checkpoint rewritten as its own record, and the journal emptied (see
   * persistBatch). Invisible to reads and snapshots. Default 65,536.
   */
  clientJournalLimit?: number;
}

const defaults: Required<MvccOptions> = {
  dedupIdleRevisions: 5_000_000,
  maxDedupClients: 10_000,
  compactionBatchRecords: 1_000,
  clientJournalLimit: 65_536,
};

const emptyValue = new Uint8Array(0);
const stateKey = 'state';
const restoredKey = 'restoredFrom';
const leasePrefix = 'lease/';
const clientPrefix = 'client/';
const journalPrefix = 'clientjournal/';
const journalKey = (n: number) => journalPrefix + n.toString(16).padStart(12, '0');
/** One past every key starting with a prefix ending in '/'. */
const prefixUpper = (p: string) => p.slice(0, -1) + '0';

export class MvccStore {
  readonly backend: DurableStore;
  private readonly kv: KvTable;
  private readonly meta: KvTable;
  private readonly rows = new RowWriter();
  private readonly lookupClient = (client: string) => this.clients.get(client);
  private readonly options: Required<MvccOptions>;
  /** The backend keeps value objects by reference (in-memory store): own them. */
  private readonly copiesValues: boolean;

  private readonly index = new TreeIndex();
  /** Store revision: main revision of the last write txn (1 for an empty store, as etcd). */
  private rev = 1;
  /** Reads below this revision are refused; 0 = never compacted. */
  private compactRev = 0;
  /** Last applied log index. */
  private applied = 0;
  private readonly leaseMap = new Map<number, LeaseState>();
  /** Lease of each live key attached to one. */
  private readonly keyLease = new Map<string, number>();
  /** Dedup table, in order of last activity (least recent first). */
  private readonly clients = new ClientTable();
  /**
   * Compaction drops revisions from the index at once; its clean-up then walks the backend from
   * this position up to the compaction revision, deleting records the index no longer holds, a
   * bounded number per batch (etcd's scheduled compaction). Null when there is nothing to do.
   * Not persisted: after a restart the walk starts over, as it does after each compaction.
   */
  private purgeCursor: [number, number] | null = null;
  /** Bumped by every lease change, so the lessor knows when to look again. */
  private leaseGeneration = 0;
  /** Bumped by every state change; tells a command that changed nothing. */
  private mutations = 0;

  // Write-txn in progress: changes get revision (rev + 1, sub); `sub` counts them.
  private sub = 0;
  // Per-batch sets of meta records to rewrite or remove.
  private readonly dirtyClients = new Set<string>();
  /** The client journal: its next record number, the changes it holds, and their clients. */
  private journalNext = 0;
  private journalChanges = 0;
  private readonly journaled = new Set<string>();
  private readonly dirtyLeases = new Set<number>();
  private readonly listeners: MvccListener[] = [];
  /** Whether the entries being applied build their watch events (see MvccListener.wantsEvents). */
  private collectEvents = true;
  private broken: Error | null = null;

  private constructor(backend: DurableStore, options: MvccOptions) {
    this.backend = backend;
    this.kv = backend.table('kv');
    // The client journal is the big value of every batch and is deleted at the next checkpoint:
    // compressing it cost more than the rest of the batch's backend writes.
    this.meta = backend.table('meta', { compress: false });
    this.options = { ...defaults, ...options };
    assert(this.options.dedupIdleRevisions > 0 && this.options.maxDedupClients > 0, 'dedup limits');
    assert(this.options.compactionBatchRecords > 0, 'compaction batch');
    this.copiesValues = backend.dir === null;
  }

  /** Opens the state machine over `backend`, rebuilding the key index from the `kv` table. */
  static open(backend: DurableStore, options: MvccOptions = {}): MvccStore {
    const s = new MvccStore(backend, options);
    s.load();
    return s;
  }

  get revision(): number {
    return this.rev;
  }

  get compactRevision(): number {
    return this.compactRev;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** Keys in the index (live or with retained history). */
  get indexedKeys(): number {
    return this.index.size;
  }

  /** Compaction's clean-up of the backend has not finished. */
  get purgePending(): boolean {
    return this.purgeCursor !== null;
  }

  get leaseChanges(): number {
    return this.leaseGeneration;
  }

  addListener(listener: MvccListener): void {
    this.listeners.push(listener);
  }

  removeListener(listener: MvccListener): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  // -------------------------------------------------------------------------------------------
  // Applying the log

  applyEntries(entries: readonly LogEntry[]): ApplyResult[] {
    this.checkUsable();
    const results: ApplyResult[] = [];
    if (entries.length === 0 || entries[entries.length - 1]!.index <= this.applied) return results;
    // With no listener at all, the caller reads the events from the results.
    this.collectEvents = this.listeners.length === 0;
    for (const l of this.listeners) if (l.wantsEvents?.() ?? true) this.collectEvents = true;
    try {
      this.backend.write(() => {
        for (let i = 0; i < entries.length; i++) {
          const entry = entries[i]!;
          if (entry.index <= this.applied) continue;
          assert(entry.index === this.applied + 1, `entry ${entry.index} follows applied index ${this.applied}`);
          this.applied = entry.index;
          this.applyEntry(entry, results);
        }
        this.purgeSome(this.options.compactionBatchRecords);
        this.persistBatch();
      });
    } catch (err) {
      this.broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    }
    for (const l of this.listeners) l.applied(results, this.rev);
    return results;
  }

  private applyEntry(entry: LogEntry, results: ApplyResult[]): void {
    const index = entry.index;
    let data = entry.data;
    if (data === null || (data instanceof Uint8Array && data.length === 0)) return;
    if (data instanceof Uint8Array) {
      const bytes = data.length;
      try {
        data = decodeEntryData(data);
      } catch {
        results.push(this.result(index, '', 0, errors.unknownOperation('undecodable entry'), NO_EVENTS, false));
        return;
      }
      // A batch's proposals were each held to the limit when they were encoded.
      if (!Array.isArray(data) && bytes > maxRequestBytes) {
        const p = data as Proposal;
        results.push(this.result(index, p.client, p.seq, errors.requestTooLarge(bytes), NO_EVENTS, false));
        return;
      }
    }
    if (Array.isArray(data)) {
      for (let at = 0; at < data.length; at++) this.applyProposal(index, at, data[at], results);
    } else this.applyProposal(index, 0, data, results);
  }

  private applyProposal(index: number, at: number, p: unknown, results: ApplyResult[]): void {
    results.push(isProposal(p) ? this.applyOne(index, at, p) : this.result(index, '', 0, errors.unknownOperation('malformed proposal'), NO_EVENTS, false));
    this.evictClients();
  }

  private applyOne(index: number, at: number, p: Proposal): ApplyResult {
    const client = p.client;
    let record: ClientRecord | undefined;
    if (client !== '') {
      record = this.clients.get(client);
      if (record !== undefined) {
        if (p.seq === record.seq && record.response !== null) {
          return this.result(index, client, p.seq, record.response, NO_EVENTS, true);
        }
        if (p.seq < record.seq) {
          return this.result(index, client, p.seq, errors.staleSequence(client, p.seq, record.seq), NO_EVENTS, false);
        }
      }
    }
    const before = this.mutations;
    const events = this.collectEvents ? [] : NO_EVENTS;
    const response = this.execute(p.cmd, index, events);
    if (client !== '') {
      const changed = this.mutations !== before;
      // Only a plain range may run again on a retry: any other command answers its retry with
      // its first outcome even when that changed nothing (a txn whose compare failed could
      // succeed if run again, after its client was told it failed).
      const keep = changed || p.cmd.type !== 'range';
      const r: ClientRecord = { seq: p.seq, index, revision: this.rev, response: keep ? response : null };
      if (at > 0) r.at = at;
      this.clients.set(client, r);
      this.dirtyClients.add(client);
    }
    return this.result(index, client, p.seq, response, events, false);
  }

  private result(
    index: number,
    client: string,
    seq: number,
    response: Response,
    events: WatchEvent[],
    duplicate: boolean,
  ): ApplyResult {
    return { index, client, seq, response, events, revision: this.rev, duplicate };
  }

  /** Forgets clients idle for too many revisions, and the least recent beyond the cap. */
  private evictClients(): void {
    const clients = this.clients;
    if (clients.size === 0) return;
    const oldestAllowed = this.rev - this.options.dedupIdleRevisions;
    const max = this.options.maxDedupClients;
    // The common case, decided without looking anyone up: nobody is over the cap or idle.
    if (clients.size <= max && clients.minRevision() >= oldestAllowed) return;
    for (let client = clients.oldest(); client !== undefined; client = clients.oldest()) {
      if (clients.size <= max && clients.get(client)!.revision >= oldestAllowed) return;
      clients.delete(client);
      this.dirtyClients.add(client);
    }
  }

  private execute(cmd: Command, index: number, events: WatchEvent[]): Response {
    const invalid = validateCommand(cmd);
    if (invalid) return invalid;
    switch (cmd.type) {
      case 'put': {
        const e = this.checkPut(cmd);
        if (e) return e;
        this.sub = 0;
        const r = this.putOp(cmd, events);
        this.endWrite();
        return r;
      }
      case 'range': {
        const e = this.checkRangeRevision(cmd);
        return e ?? this.rangeOp(cmd);
      }
      case 'deleteRange': {
        this.sub = 0;
        const r = this.deleteRangeOp(cmd, events);
        this.endWrite();
        r.revision = this.rev;
        return r;
      }
      case 'txn':
        return this.txn(cmd, events);
      case 'leaseGrant':
        return this.leaseGrant(cmd, index);
      case 'leaseRevoke':
        return this.leaseRevoke(cmd, events);
      case 'leaseCheckpoint':
        return this.leaseCheckpoint(cmd);
      case 'compact':
        return this.compact(cmd);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Writes. Every write op runs inside a write txn: its changes get main revision rev + 1 and
  // sub revisions 0, 1, 2...; `endWrite` makes rev + 1 current if anything changed.

  /** The revision a read inside the current write txn sees (its own writes included). */
  private get viewRevision(): number {
    return this.sub > 0 ? this.rev + 1 : this.rev;
  }

  private endWrite(): void {
    if (this.sub > 0) {
      this.rev++;
      this.mutations++;
      this.sub = 0;
    }
  }

  /** State checks of a put, against the state before the txn (etcd's checkRequestPut). */
  private checkPut(op: PutRequest): MvccError | null {
    const lease = op.lease ?? 0;
    if (lease !== 0 && !this.leaseMap.has(lease)) return errors.leaseNotFound(lease);
    if (op.ignoreValue || op.ignoreLease) {
      const ki = this.index.get(op.key);
      if (ki === undefined || !ki.live) return errors.keyNotFound(op.key);
    }
    return null;
  }

  private checkRangeRevision(op: RangeRequest): MvccError | null {
    const at = op.revision ?? 0;
    if (at > this.rev) return errors.futureRevision(this.rev);
    if (at !== 0 && at < this.compactRev) return errors.compacted(this.compactRev);
    return null;
  }

  private putOp(op: PutRequest, events: WatchEvent[]): PutResponse {
    const key = op.key;
    const main = this.rev + 1;
    const sub = this.sub++;
    // The index first (one lookup): the key's latest revision before this put is then the one
    // before its last, and its record is still in the backend.
    const ki = this.index.put(key, main, sub);
    const n = ki.count;
    const prevSub = n >= 2 ? ki.rawSubOf(n - 2) : -1; // negative: a tombstone, or no key
    let prev: KeyValue | undefined;
    if (prevSub >= 0 && (op.prevKv || op.ignoreValue || this.wantsPrevKv(key))) prev = this.readRecord(ki.mainOf(n - 2), prevSub);
    const value = op.ignoreValue ? prev!.value : this.ownValue(op.value!);
    const oldLease = this.keyLease.size === 0 ? 0 : (this.keyLease.get(key) ?? 0);
    const lease = op.ignoreLease ? oldLease : (op.lease ?? 0);
    this.kv.putEncoded([main, sub], this.rows.live(key, value, ki.createRevision, main, ki.version, lease), true);
    if (lease !== oldLease) {
      if (oldLease !== 0) this.detach(key, oldLease);
      if (lease !== 0) this.attach(key, lease);
    }
    if (events !== NO_EVENTS) {
      const kv: KeyValue = { key, value, createRevision: ki.createRevision, modRevision: main, version: ki.version, lease };
      events.push(prev === undefined ? { type: 'put', kv } : { type: 'put', kv, prevKv: prev });
    }
    return op.prevKv && prev !== undefined ? { type: 'put', revision: main, prevKv: prev } : { type: 'put', revision: main };
  }

  private deleteRangeOp(op: DeleteRangeRequest, events: WatchEvent[]): DeleteRangeResponse {
    const victims: string[] = [];
    this.index.forRange(op.key, op.rangeEnd, false, (key, ki) => {
      if (ki.live) victims.push(key);
    });
    const prevKvs: KeyValue[] | undefined = op.prevKv ? [] : undefined;
    for (const key of victims) {
      const prev = this.deleteKey(key, op.prevKv === true, events);
      if (prevKvs !== undefined) prevKvs.push(prev!);
    }
    const r: DeleteRangeResponse = { type: 'deleteRange', revision: this.viewRevision, deleted: victims.length };
    if (prevKvs !== undefined) r.prevKvs = prevKvs;
    return r;
  }

  /** Deletes one live key in the current write txn; returns its prior kv when asked. */
  private deleteKey(key: string, wantPrev: boolean, events: WatchEvent[]): KeyValue | undefined {
    const ki = this.index.get(key)!;
    assert(ki !== undefined && ki.live, 'deleting a live key');
    let prev: KeyValue | undefined;
    if (wantPrev || this.wantsPrevKv(key)) prev = this.readRecord(ki.lastMain, ki.lastSub);
    const main = this.rev + 1;
    const sub = this.sub++;
    this.index.tombstone(key, main, sub);
    this.kv.putEncoded([main, sub], this.rows.tombstone(key), true);
    const lease = this.keyLease.get(key);
    if (lease !== undefined) this.detach(key, lease);
    if (events !== NO_EVENTS) {
      const kv: KeyValue = { key, value: emptyValue, createRevision: 0, modRevision: main, version: 0, lease: 0 };
      events.push(prev === undefined ? { type: 'delete', kv } : { type: 'delete', kv, prevKv: prev });
    }
    return prev;
  }

  private attach(key: string, lease: number): void {
    const l = this.leaseMap.get(lease);
    assert(l !== undefined, 'attaching a key to a missing lease');
    l.keys.add(key);
    this.keyLease.set(key, lease);
  }

  private detach(key: string, lease: number): void {
    const l = this.leaseMap.get(lease);
    assert(l !== undefined && this.keyLease.get(key) === lease, 'detaching a key from its lease');
    l.keys.delete(key);
    this.keyLease.delete(key);
  }

  private wantsPrevKv(key: string): boolean {
    for (let i = 0; i < this.listeners.length; i++) if (this.listeners[i]!.wantsPrevKv(key)) return true;
    return false;
  }

  private ownValue(value: Uint8Array): Uint8Array {
    // A decoded value may be a view into a whole log entry or frame: an in-memory backend would
    // keep all of it alive. lmdb copies on write, so only the memory store needs this.
    if (!this.copiesValues) return value;
    if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) return value;
    return new Uint8Array(value);
  }

  // -------------------------------------------------------------------------------------------
  // Txn

  private txn(req: TxnRequest, events: WatchEvent[]): Response {
    const path: boolean[] = [];
    this.comparePath(req, path);
    const e = this.checkTxn(req, path, { at: 0 });
    if (e) return e;
    this.sub = 0;
    const r = this.runTxn(req, path, { at: 0 }, events);
    this.endWrite();
    r.revision = this.rev;
    return r;
  }

  /** Outcome of every compare, nested txns included (preorder), before any op runs (etcd). */
  private comparePath(req: TxnRequest, path: boolean[]): void {
    let ok = true;
    for (const c of req.compare) {
      if (!this.compareHolds(c)) {
        ok = false;
        break;
      }
    }
    path.push(ok);
    for (const op of ok ? req.success : req.failure) if (op.type === 'txn') this.comparePath(op, path);
  }

  private checkTxn(req: TxnRequest, path: boolean[], cursor: { at: number }): MvccError | null {
    const ops = path[cursor.at++] ? req.success : req.failure;
    for (const op of ops) {
      let e: MvccError | null = null;
      if (op.type === 'put') e = this.checkPut(op);
      else if (op.type === 'range') e = this.checkRangeRevision(op);
      else if (op.type === 'txn') e = this.checkTxn(op, path, cursor);
      if (e) return e;
    }
    return null;
  }

  private runTxn(req: TxnRequest, path: boolean[], cursor: { at: number }, events: WatchEvent[]): TxnResponse {
    const succeeded = path[cursor.at++]!;
    const ops = succeeded ? req.success : req.failure;
    const responses: OpResponse[] = [];
    for (const op of ops) responses.push(this.runOp(op, path, cursor, events));
    return { type: 'txn', revision: this.viewRevision, succeeded, responses };
  }

  private runOp(op: RequestOp, path: boolean[], cursor: { at: number }, events: WatchEvent[]): OpResponse {
    switch (op.type) {
      case 'put':
        return this.putOp(op, events);
      case 'range':
        return this.rangeOp(op);
      case 'deleteRange':
        return this.deleteRangeOp(op, events);
      case 'txn':
        return this.runTxn(op, path, cursor, events);
    }
  }

  private compareHolds(c: Compare): boolean {
    let matched = 0;
    let holds = true;
    this.index.forRange(c.key, c.rangeEnd, false, (key, ki) => {
      if (!ki.live) return true;
      matched++;
      if (!this.compareKey(c, key, ki)) {
        holds = false;
        return false;
      }
      return true;
    });
    if (!holds) return false;
    if (matched > 0) return true;
    // No key: compare against a zero key-value; a value compare always fails (etcd).
    return c.target === 'value' ? false : compareResult(c.result, 0 - c.operand);
  }

  private compareKey(c: Compare, key: string, ki: KeyIndex): boolean {
    switch (c.target) {
      case 'value': {
        const kv = this.readRecord(ki.lastMain, ki.lastSub);
        return compareResult(c.result, compareBytes(kv.value, c.operand));
      }
      case 'version':
        return compareResult(c.result, ki.version - c.operand);
      case 'createRevision':
        return compareResult(c.result, ki.createRevision - c.operand);
      case 'modRevision':
        return compareResult(c.result, ki.lastMain - c.operand);
      case 'lease':
        return compareResult(c.result, (this.keyLease.get(key) ?? 0) - c.operand);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  /** Serves a range at the current state (or at `revision`), outside of the log. */
  range(req: RangeRequest): RangeResponse | MvccError {
    this.checkUsable();
    const invalid = validateCommand({ ...req, type: 'range' });
    if (invalid) return invalid;
    return this.checkRangeRevision(req) ?? this.rangeOp(req);
  }

  /** The live key-value of `key` at the current revision. */
  get(key: string): KeyValue | undefined {
    this.checkUsable();
    const ki = this.index.get(key);
    return ki !== undefined && ki.live ? this.readRecord(ki.lastMain, ki.lastSub) : undefined;
  }

  private rangeOp(op: RangeRequest): RangeResponse {
    const view = this.viewRevision;
    const at = op.revision || view;
    const limit = op.limit ?? 0;
    const target = op.sortTarget ?? 'key';
    let order = op.sortOrder ?? 'none';
    // Results come in key order; a non-key target with no order means ascend (etcd).
    if (target === 'key' && order === 'ascend') order = 'none';
    if (target !== 'key' && order === 'none') order = 'ascend';
    const byKeyOnly = target === 'key';
    const reverse = byKeyOnly && order === 'descend';
    // With a non-key sort everything is fetched, sorted, then cut (etcd).
    const keep = op.countOnly ? 0 : byKeyOnly && limit > 0 ? limit : Infinity;
    const found: number[] = []; // pairs main, sub of the kvs to return
    let count = 0;
    this.index.forRange(op.key, op.rangeEnd, reverse, (_key, ki) => {
      const i = ki.visibleAt(at);
      if (i < 0) return;
      count++;
      if (count <= keep) found.push(ki.mainOf(i), ki.rawSubOf(i));
    });
    let kvs: KeyValue[] = [];
    for (let i = 0; i < found.length; i += 2) kvs.push(this.readRecord(found[i]!, found[i + 1]!));
    if (!byKeyOnly && order !== 'none') {
      kvs = sortKvs(kvs, target);
      if (order === 'descend') kvs.reverse();
    }
    if (limit > 0 && kvs.length > limit) kvs.length = limit;
    if (op.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: emptyValue }));
    return { type: 'range', revision: view, kvs, more: !op.countOnly && limit > 0 && count > limit, count };
  }

  private readRecord(main: number, sub: number): KeyValue {
    const v = this.kv.get([main, sub]);
    assert(v !== undefined, `backend record [${main}, ${sub}] exists`);
    const r = fromRow(v, main);
    assert(r.modRevision === main, `backend record [${main}, ${sub}] has its revision`);
    return r;
  }

  /**
   * Backend records with main revision in [from, to], in revision order (watch catch-up). Call
   * with from > compactRevision; returns at most `maxRecords` plus the rest of the last revision,
   * so a revision is never split.
   */
  history(from: number, to: number, maxRecords: number): StoredRecord[] {
    this.checkUsable();
    assert(from > this.compactRev, 'history above the compaction point');
    const out: StoredRecord[] = [];
    let lastMain = 0;
    for (const { key, value } of this.kv.range({ start: [from, 0], end: [to + 1, 0] })) {
      const main = (key as readonly number[])[0]!;
      if (out.length >= maxRecords && main !== lastMain) break;
      out.push(fromRow(value, main));
      lastMain = main;
    }
    return out;
  }

  /** The live key-value of `key` at `revision` (>= compactRevision), for watch prevKv. */
  getAt(key: string, revision: number): KeyValue | undefined {
    this.checkUsable();
    if (revision < this.compactRev || revision > this.rev) return undefined;
    const ki = this.index.get(key);
    if (ki === undefined) return undefined;
    const i = ki.visibleAt(revision);
    return i < 0 ? undefined : this.readRecord(ki.mainOf(i), ki.rawSubOf(i));
  }

  // -------------------------------------------------------------------------------------------
  // Leases

  lease(id: number): LeaseInfo | undefined {
    return this.leaseMap.get(id);
  }

  leases(): IterableIterator<LeaseInfo> {
    return this.leaseMap.values();
  }

  private leaseGrant(req: LeaseGrantRequest, index: number): Response {
    let id = req.id ?? 0;
    if (id === 0) {
      // Derived from the log index: the same on every replica; skip ids already taken.
      id = index;
      while (this.leaseMap.has(id)) id++;
    } else if (this.leaseMap.has(id)) {
      return errors.leaseExists(id);
    }
    this.leaseMap.set(id, { id, ttlSeconds: req.ttlSeconds, remainingTtlSeconds: 0, keys: new Set() });
    this.leaseChanged(id);
    return { type: 'leaseGrant', revision: this.rev, id, ttlSeconds: req.ttlSeconds };
  }

  private leaseRevoke(req: LeaseRevokeRequest, events: WatchEvent[]): Response {
    const lease = this.leaseMap.get(req.id);
    if (lease === undefined) return errors.leaseNotFound(req.id);
    // All attached keys go in one revision, in key order (etcd).
    const keys = [...lease.keys].sort();
    this.sub = 0;
    for (const key of keys) this.deleteKey(key, false, events);
    this.endWrite();
    assert(lease.keys.size === 0, 'revoke detached every key');
    this.leaseMap.delete(req.id);
    this.leaseChanged(req.id);
    return { type: 'leaseRevoke', revision: this.rev };
  }

  private leaseCheckpoint(req: LeaseCheckpointRequest): Response {
    for (const c of req.checkpoints) {
      const lease = this.leaseMap.get(c.id);
      if (lease === undefined || lease.remainingTtlSeconds === c.remainingTtlSeconds) continue;
      lease.remainingTtlSeconds = c.remainingTtlSeconds;
      this.leaseChanged(c.id);
    }
    return { type: 'leaseCheckpoint', revision: this.rev };
  }

  private leaseChanged(id: number): void {
    this.dirtyLeases.add(id);
    this.leaseGeneration++;
    this.mutations++;
  }

  // -------------------------------------------------------------------------------------------
  // Compaction

  private compact(req: CompactRequest): Response {
    if (req.revision <= this.compactRev) return errors.compacted(this.compactRev);
    if (req.revision > this.rev) return errors.futureRevision(this.rev);
    this.compactRev = req.revision;
    this.mutations++;
    this.index.compact(this.compactRev);
    this.purgeCursor = [0, 0];
    return { type: 'compact', revision: this.rev };
  }

  /**
   * Walks up to `maxRecords` more backend records of compaction's clean-up, in its own write
   * batch; for the shell to call when the log is idle. Returns whether work remains.
   */
  purge(maxRecords: number): boolean {
    this.checkUsable();
    if (this.purgeCursor === null) return false;
    try {
      this.backend.write(() => this.purgeSome(maxRecords));
    } catch (err) {
      this.broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    }
    return this.purgeCursor !== null;
  }

  private purgeSome(maxRecords: number): void {
    if (this.purgeCursor === null) return;
    const doomed: StoreKey[] = [];
    let next: [number, number] | null = null;
    let seen = 0;
    for (const { key, value } of this.kv.range({ start: this.purgeCursor, end: [this.compactRev + 1, 0] })) {
      const [main, sub] = key as readonly [number, number];
      if (seen++ === maxRecords) {
        next = [main, sub];
        break;
      }
      const ki = this.index.get(fromRow(value, main).key);
      if (ki === undefined || !ki.holds(main, sub)) doomed.push(key);
    }
    // Removed after the walk: neither backend promises a stable iterator across deletes.
    for (const k of doomed) this.kv.remove(k);
    this.purgeCursor = next;
  }

  // -------------------------------------------------------------------------------------------
  // Persistence

  private persistBatch(): void {
    this.meta.put(stateKey, {
      revision: this.rev,
      compactRevision: this.compactRev,
      appliedIndex: this.applied,
    } satisfies MetaState);
    // One record for all of the batch's client changes: with a client per write, a record per
    // client would double the backend writes of the apply path.
    if (this.dirtyClients.size > 0) {
      if (this.journalChanges + this.dirtyClients.size > this.options.clientJournalLimit) this.checkpointClients();
      else {
        for (const client of this.dirtyClients) this.journaled.add(client);
        this.meta.putEncoded(journalKey(this.journalNext++), this.rows.journal(this.dirtyClients, this.dirtyClients.size, this.lookupClient));
        this.journalChanges += this.dirtyClients.size;
      }
    }
    this.dirtyClients.clear();
    for (const id of this.dirtyLeases) {
      const l = this.leaseMap.get(id);
      if (l === undefined) this.meta.remove(leasePrefix + id);
      else this.meta.put(leasePrefix + id, { id, ttlSeconds: l.ttlSeconds, remainingTtlSeconds: l.remainingTtlSeconds });
    }
    this.dirtyLeases.clear();
  }

  /** Forgets the journal's bookkeeping (its records are gone, or about to be read again). */
  private resetJournal(): void {
    this.journalNext = 0;
    this.journalChanges = 0;
    this.journaled.clear();
  }

  /** Rewrites every client changed since the last checkpoint as its own record; empties the journal. */
  private checkpointClients(): void {
    for (const client of this.dirtyClients) this.journaled.add(client);
    for (const client of this.journaled) {
      const r = this.clients.get(client);
      if (r === undefined) this.meta.remove(clientPrefix + client);
      else this.meta.put(clientPrefix + client, r);
    }
    for (let n = 0; n < this.journalNext; n++) this.meta.remove(journalKey(n));
    this.resetJournal();
  }

  private load(): void {
    const state = this.meta.get(stateKey) as MetaState | undefined;
    const records = this.kv.range({}) as Iterable<{ key: StoreKey; value: unknown }>;
    this.loadState(state ?? { revision: 1, compactRevision: 0, appliedIndex: 0 }, records, this.readMetaLeases(), this.readMetaClients());
  }

  private readMetaLeases(): { id: number; ttlSeconds: number; remainingTtlSeconds: number }[] {
    const out: { id: number; ttlSeconds: number; remainingTtlSeconds: number }[] = [];
    for (const { value } of this.meta.range({ start: leasePrefix, end: prefixUpper(leasePrefix) })) {
      out.push(value as { id: number; ttlSeconds: number; remainingTtlSeconds: number });
    }
    return out;
  }

  /** The checkpointed dedup table with the journal's changes replayed over it, in order. */
  private readMetaClients(): [string, ClientRecord][] {
    const table = new Map<string, ClientRecord>();
    for (const { key, value } of this.meta.range({ start: clientPrefix, end: prefixUpper(clientPrefix) })) {
      table.set((key as string).slice(clientPrefix.length), value as ClientRecord);
    }
    this.resetJournal();
    for (const { key, value } of this.meta.range({ start: journalPrefix, end: prefixUpper(journalPrefix) })) {
      assert(key === journalKey(this.journalNext), `client journal record ${String(key)} follows record ${this.journalNext - 1}`);
      const rows = value as unknown[];
      for (let i = 0; i < rows.length; i += 2) {
        const client = rows[i] as string;
        const r = readJournalRecord(rows[i + 1]);
        if (r === null) table.delete(client);
        else table.set(client, r);
        this.journaled.add(client);
      }
      this.journalNext++;
      this.journalChanges += rows.length / 2;
    }
    return [...table];
  }

  /** Rebuilds every in-memory structure from persisted pieces (open and restore). */
  private loadState(
    state: MetaState,
    records: Iterable<{ key: StoreKey; value: unknown }>,
    leases: readonly { id: number; ttlSeconds: number; remainingTtlSeconds: number }[],
    clients: readonly (readonly [string, ClientRecord])[],
  ): void {
    this.index.clear();
    this.leaseMap.clear();
    this.keyLease.clear();
    this.clients.clear();
    this.purgeCursor = null;
    this.rev = state.revision;
    this.compactRev = state.compactRevision;
    this.applied = state.appliedIndex;
    for (const { key, value } of records) {
      const [main, sub] = key as readonly [number, number];
      const r = fromRow(value, main);
      assert(r.modRevision === main && main <= this.rev, 'backend record matches its revision');
      this.index.restore(r.key, main, sub, r.tombstone === true, r.createRevision, r.version);
      // The latest record of a key decides its lease: records come in revision order.
      if (r.tombstone !== true && r.lease !== 0) this.keyLease.set(r.key, r.lease);
      else this.keyLease.delete(r.key);
    }
    for (const l of leases) {
      this.leaseMap.set(l.id, { id: l.id, ttlSeconds: l.ttlSeconds, remainingTtlSeconds: l.remainingTtlSeconds, keys: new Set() });
    }
    for (const [key, id] of this.keyLease) {
      const l = this.leaseMap.get(id);
      assert(l !== undefined, `key ${key} is attached to existing lease ${id}`);
      l.keys.add(key);
    }
    // Least recently active first, as applying left them (eviction depends on this order).
    const ordered = [...clients].sort((a, b) => a[1].index - b[1].index || (a[1].at ?? 0) - (b[1].at ?? 0));
    for (const [client, r] of ordered) this.clients.set(client, r);
    // Records compaction dropped but had not deleted yet: drop them from the index again, and
    // walk the backend again to delete them.
    if (this.compactRev > 0) {
      this.index.compact(this.compactRev);
      this.purgeCursor = [0, 0];
    }
    this.leaseGeneration++;
  }

  // -------------------------------------------------------------------------------------------
  // Snapshots (Raft InstallSnapshot)

  /** Everything needed to rebuild this state machine, as msgpack bytes (an exact-size copy). */
  snapshot(): Uint8Array {
    this.checkUsable();
    return encodeSnapshot(this.snapshotData());
  }

  private snapshotData(): SnapshotData {
    const records: StoredRecord[] = [];
    const subs: number[] = [];
    for (const { key, value } of this.kv.range({})) {
      const [main, sub] = key as readonly [number, number];
      const r = fromRow(value, main);
      // Skip what compaction dropped but did not delete yet: snapshots are equal on all replicas.
      if (main <= this.compactRev) {
        const ki = this.index.get(r.key);
        if (ki === undefined || !ki.holds(main, sub)) continue;
      }
      records.push(r);
      subs.push(sub);
    }
    return {
      format: 1,
      revision: this.rev,
      compactRevision: this.compactRev,
      appliedIndex: this.applied,
      records,
      subs,
      leases: [...this.leaseMap.values()]
        .map((l) => ({ id: l.id, ttlSeconds: l.ttlSeconds, remainingTtlSeconds: l.remainingTtlSeconds }))
        .sort((x, y) => x.id - y.id),
      clients: this.clients.entries(),
    };
  }

  /**
   * What the last `restore` was given as its origin (the Raft snapshot's metadata), written in
   * the same batch as the restored state; null if the state never came from a snapshot.
   */
  get restoredFrom(): unknown {
    return this.meta.get(restoredKey) ?? null;
  }

  /**
   * Replaces the whole state with a snapshot's, in one atomic backend batch. `origin` is kept
   * with it (see restoredFrom): whoever must finish the install after a crash can tell where the
   * state came from.
   */
  restore(bytes: Uint8Array, origin: unknown = null): void {
    this.checkUsable();
    const data = decodeSnapshot(bytes);
    const kvKeys = [...this.kv.range({})].map((e) => e.key);
    const metaKeys = [...this.meta.range({})].map((e) => e.key);
    try {
      this.backend.write(() => {
        for (const k of kvKeys) this.kv.remove(k);
        for (const k of metaKeys) this.meta.remove(k);
        // In revision order into an emptied table: every row is appended.
        data.records.forEach((r, i) => this.kv.putEncoded([r.modRevision, data.subs[i]!], this.rows.record(r), true));
        const state: MetaState = {
          revision: data.revision,
          compactRevision: data.compactRevision,
          appliedIndex: data.appliedIndex,
        };
        this.meta.put(stateKey, state);
        if (origin !== null) this.meta.put(restoredKey, origin);
        for (const l of data.leases) this.meta.put(leasePrefix + l.id, l);
        for (const [client, r] of data.clients) this.meta.put(clientPrefix + client, r);
        const records = data.records.map((r, i) => ({ key: [r.modRevision, data.subs[i]!] as StoreKey, value: r as unknown }));
        this.loadState(state, records, data.leases, data.clients);
      });
    } catch (err) {
      this.broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    }
    this.dirtyClients.clear();
    this.dirtyLeases.clear();
    this.resetJournal(); // the restore removed every meta record, the journal's included
    for (const l of this.listeners) l.restored();
  }

  private checkUsable(): void {
    if (this.broken) throw new Error(`mvcc store unusable after a failed batch (re-open it): ${this.broken.message}`);
  }
}

// ---------------------------------------------------------------------------------------------

function compareResult(result: Compare['result'], diff: number): boolean {
  switch (result) {
    case '=':
      return diff === 0;
    case '!=':
      return diff !== 0;
    case '<':
      return diff < 0;
    case '>':
      return diff > 0;
  }
}

/** Lexicographic byte order (bytes.Compare). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Stable sort by a non-key target over kvs already in key order: ties stay in key order. */
function sortKvs(kvs: KeyValue[], target: Exclude<RangeRequest['sortTarget'], undefined>): KeyValue[] {
  switch (target) {
    case 'version':
      return kvs.sort((a, b) => a.version - b.version);
    case 'createRevision':
      return kvs.sort((a, b) => a.createRevision - b.createRevision);
    case 'modRevision':
      return kvs.sort((a, b) => a.modRevision - b.modRevision);
    case 'value':
      return kvs.sort((a, b) => compareBytes(a.value, b.value));
    case 'key':
      return kvs;
  }
}
