/**
 * Commands, responses and typed errors of the replicated key-value state machine.
 *
 * Everything here is plain data (objects, arrays, strings, numbers, booleans, Uint8Array), so it
 * crosses the wire as msgpack and is stored as-is in the dedup table and in snapshots. No
 * classes, no Maps, no `undefined`-valued fields in what we persist.
 *
 * Semantics follow etcd v3 (mvcc + etcdserver apply), with these project choices:
 * - keys are strings, ordered by UTF-16 code units (JavaScript `<`); values are bytes;
 * - every command travels wrapped in a `Proposal {client, seq, cmd}` for exactly-once writes;
 * - `revision` in every response is the store revision after the operation (etcd's header
 *   revision).
 */
import { Packr, Unpackr, unpack } from 'msgpackr';
import { MsgpackWriter } from './msgpack-writer.js';

// ---------------------------------------------------------------------------------------------
// Limits (etcd defaults). They are part of the replicated semantics: every replica must use the
// same values.

/** A proposal whose msgpack encoding exceeds this is refused before it reaches the log. */
export const maxRequestBytes = 1.5 * 1024 * 1024;
/** Total operations in one txn, counted over all branches and nesting levels (compares apart). */
export const maxTxnOps = 128;
/** Compares in one txn, counted over all nesting levels. */
export const maxTxnCompares = 128;
/** Largest lease TTL accepted (etcd's MaxLeaseTTL). */
export const maxLeaseTtlSeconds = 9_000_000_000;

// ---------------------------------------------------------------------------------------------
// Data

export interface KeyValue {
  key: string;
  value: Uint8Array;
  /** Main revision that created the current generation of the key. */
  createRevision: number;
  /** Main revision of the last change to the key. */
  modRevision: number;
  /** 1 on creation, +1 on every put; a deleted key has version 0. */
  version: number;
  /** Lease the key is attached to, 0 for none. */
  lease: number;
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface PutRequest {
  type: 'put';
  key: string;
  /** Required unless `ignoreValue`. */
  value?: Uint8Array;
  /** Lease to attach; 0 or absent detaches the key from any lease (unless `ignoreLease`). */
  lease?: number;
  /** Return the key-value before the put. */
  prevKv?: boolean;
  /** Keep the current value (the key must exist; `value` must be absent or empty). */
  ignoreValue?: boolean;
  /** Keep the current lease (the key must exist; `lease` must be absent or 0). */
  ignoreLease?: boolean;
}

export type SortOrder = 'none' | 'ascend' | 'descend';
export type SortTarget = 'key' | 'version' | 'createRevision' | 'modRevision' | 'value';

export interface RangeRequest {
  type: 'range';
  key: string;
  /** Absent or '' = the single key; '\0' = every key >= key; otherwise [key, rangeEnd). */
  rangeEnd?: string;
  /** At most this many kvs (0 or absent = no limit); `more` tells whether some were left out. */
  limit?: number;
  /** Read at this revision (0 or absent = current). */
  revision?: number;
  countOnly?: boolean;
  keysOnly?: boolean;
  /** 'none' keeps key order. Descend is the exact reverse of ascend. */
  sortOrder?: SortOrder;
  /** Default 'key'. Ties in other targets are broken by key. */
  sortTarget?: SortTarget;
}

export interface DeleteRangeRequest {
  type: 'deleteRange';
  key: string;
  rangeEnd?: string;
  prevKv?: boolean;
}

export type CompareResult = '=' | '!=' | '<' | '>';

/**
 * A compare holds for a range when it holds for every key of it. A missing key compares as a
 * zero key-value (version 0, revisions 0, lease 0), except that a value compare on a missing key
 * always fails (etcd).
 */
export type Compare =
  | { key: string; rangeEnd?: string; target: 'value'; result: CompareResult; operand: Uint8Array }
  | {
      key: string;
      rangeEnd?: string;
      target: 'version' | 'createRevision' | 'modRevision' | 'lease';
      result: CompareResult;
      operand: number;
    };

export type RequestOp = PutRequest | RangeRequest | DeleteRangeRequest | TxnRequest;

/**
 * All compares, nested ones included, are evaluated against the state before the txn (etcd's
 * `compareToPath`); then the chosen ops run in order, each seeing the writes of the ones before.
 * A txn that writes bumps the revision once; its writes get sub-revisions 0, 1, 2...
 */
export interface TxnRequest {
  type: 'txn';
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface LeaseGrantRequest {
  type: 'leaseGrant';
  /** Chosen by the proposer; 0 or absent derives one from the log index. */
  id?: number;
  ttlSeconds: number;
}

export interface LeaseRevokeRequest {
  type: 'leaseRevoke';
  id: number;
}

/** Remaining TTLs recorded by the leader, so a new leader does not restart leases from full. */
export interface LeaseCheckpointRequest {
  type: 'leaseCheckpoint';
  checkpoints: { id: number; remainingTtlSeconds: number }[];
}

export interface CompactRequest {
  type: 'compact';
  revision: number;
}

export type Command =
  | PutRequest
  | RangeRequest
  | DeleteRangeRequest
  | TxnRequest
  | LeaseGrantRequest
  | LeaseRevokeRequest
  | LeaseCheckpointRequest
  | CompactRequest;

/**
 * What goes into a log entry. `(client, seq)` makes retries exactly-once: the state machine keeps,
 * per client, the last applied seq and its response. A client keeps at most one write in flight
 * per client id (use several ids for concurrency) and numbers its commands 1, 2, 3... An empty
 * client id opts out of deduplication (internal commands such as lease expiry).
 */
export interface Proposal {
  client: string;
  seq: number;
  cmd: Command;
}

// ---------------------------------------------------------------------------------------------
// Responses

export interface PutResponse {
  type: 'put';
  revision: number;
  prevKv?: KeyValue;
}

export interface RangeResponse {
  type: 'range';
  revision: number;
  kvs: KeyValue[];
  /** More keys matched than `limit` let through. */
  more: boolean;
  /** Keys in the range at the read revision, regardless of limit. */
  count: number;
}

export interface DeleteRangeResponse {
  type: 'deleteRange';
  revision: number;
  deleted: number;
  prevKvs?: KeyValue[];
}

export interface TxnResponse {
  type: 'txn';
  revision: number;
  succeeded: boolean;
  responses: OpResponse[];
}

export interface LeaseGrantResponse {
  type: 'leaseGrant';
  revision: number;
  id: number;
  ttlSeconds: number;
}

export interface LeaseRevokeResponse {
  type: 'leaseRevoke';
  revision: number;
}

export interface LeaseCheckpointResponse {
  type: 'leaseCheckpoint';
  revision: number;
}

export interface CompactResponse {
  type: 'compact';
  revision: number;
}

export type OpResponse = PutResponse | RangeResponse | DeleteRangeResponse | TxnResponse;

export type Response =
  | OpResponse
  | LeaseGrantResponse
  | LeaseRevokeResponse
  | LeaseCheckpointResponse
  | CompactResponse
  | MvccError;

// ---------------------------------------------------------------------------------------------
// Typed errors (results, never exceptions). Factories live here, in one place.

export type MvccError =
  /** Reading (or watching, or compacting) at a revision that compaction removed. */
  | { type: 'error'; code: 'Compacted'; compactRevision: number }
  /** Reading at (or compacting to) a revision the store has not reached. */
  | { type: 'error'; code: 'FutureRevision'; currentRevision: number }
  | { type: 'error'; code: 'LeaseNotFound'; id: number }
  | { type: 'error'; code: 'LeaseExists'; id: number }
  | { type: 'error'; code: 'TooManyOps'; limit: number }
  | { type: 'error'; code: 'RequestTooLarge'; bytes: number; limit: number }
  /** A txn writes one key twice, or puts a key inside one of its delete ranges (etcd). */
  | { type: 'error'; code: 'DuplicateKey'; key: string }
  /** ignoreValue / ignoreLease on a key that does not exist. */
  | { type: 'error'; code: 'KeyNotFound'; key: string }
  | { type: 'error'; code: 'UnknownOperation'; operation: string }
  /** Malformed request: empty key, negative limit, value with ignoreValue, bad TTL... */
  | { type: 'error'; code: 'InvalidRequest'; reason: string }
  /**
   * `(client, seq)` is older than the client's last applied seq: its response is gone and
   * whether it was applied is unknown to the caller (treat as an indeterminate outcome).
   */
  | { type: 'error'; code: 'StaleSequence'; client: string; seq: number; lastSeq: number }
  /** Lease keep-alive on a member whose lessor is not the primary (not the leader). */
  | { type: 'error'; code: 'NotPrimary' };

export type MvccErrorCode = MvccError['code'];

export const errors = {
  compacted: (compactRevision: number): MvccError => ({ type: 'error', code: 'Compacted', compactRevision }),
  futureRevision: (currentRevision: number): MvccError => ({
    type: 'error',
    code: 'FutureRevision',
    currentRevision,
  }),
  leaseNotFound: (id: number): MvccError => ({ type: 'error', code: 'LeaseNotFound', id }),
  leaseExists: (id: number): MvccError => ({ type: 'error', code: 'LeaseExists', id }),
  tooManyOps: (): MvccError => ({ type: 'error', code: 'TooManyOps', limit: maxTxnOps }),
  requestTooLarge: (bytes: number): MvccError => ({
    type: 'error',
    code: 'RequestTooLarge',
    bytes,
    limit: maxRequestBytes,
  }),
  duplicateKey: (key: string): MvccError => ({ type: 'error', code: 'DuplicateKey', key }),
  keyNotFound: (key: string): MvccError => ({ type: 'error', code: 'KeyNotFound', key }),
  unknownOperation: (operation: string): MvccError => ({ type: 'error', code: 'UnknownOperation', operation }),
  invalidRequest: (reason: string): MvccError => ({ type: 'error', code: 'InvalidRequest', reason }),
  staleSequence: (client: string, seq: number, lastSeq: number): MvccError => ({
    type: 'error',
    code: 'StaleSequence',
    client,
    seq,
    lastSeq,
  }),
  notPrimary: (): MvccError => ({ type: 'error', code: 'NotPrimary' }),
} as const;

export function isError(r: unknown): r is MvccError {
  return typeof r === 'object' && r !== null && (r as { type?: unknown }).type === 'error';
}

// ---------------------------------------------------------------------------------------------
// Watch events (produced by applyEntries, delivered by the WatchHub)

export interface WatchEvent {
  type: 'put' | 'delete';
  /**
   * For a delete: the key with modRevision = the deleting revision, empty value, version 0,
   * createRevision 0, lease 0 (etcd's tombstone).
   */
  kv: KeyValue;
  /** The key-value before this event, when the watcher asked for it and it still exists. */
  prevKv?: KeyValue;
}

// ---------------------------------------------------------------------------------------------
// Key ranges

/** The end of the range holding every key that starts with `prefix` ('\0' = all keys). */
export function prefixEnd(prefix: string): string {
  // Drop trailing code units that cannot be incremented, then increment the last one.
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix.charCodeAt(i);
    if (c < 0xffff) return prefix.slice(0, i) + String.fromCharCode(c + 1);
  }
  return '\0';
}

/** Whether `key` falls in the range (key, rangeEnd) with etcd's conventions. */
export function inRange(key: string, start: string, rangeEnd: string | undefined): boolean {
  if (rangeEnd === undefined || rangeEnd === '') return key === start;
  if (rangeEnd === '\0') return key >= start;
  return key >= start && key < rangeEnd;
}

// ---------------------------------------------------------------------------------------------
// Validation of a request on its own (no state). The state machine repeats it at apply time, so
// a proposal that skipped it still gets the same deterministic answer on every replica.

export function validateCommand(cmd: Command): MvccError | null {
  if (typeof cmd !== 'object' || cmd === null) return errors.unknownOperation(String(cmd));
  switch (cmd.type) {
    case 'put':
    case 'range':
    case 'deleteRange':
      return validateOp(cmd);
    case 'txn': {
      const counts = { ops: 0, compares: 0 };
      const shape = validateTxnShape(cmd, counts, 0);
      if (shape) return shape;
      if (counts.ops > maxTxnOps || counts.compares > maxTxnCompares) return errors.tooManyOps();
      return validateTxnOps(cmd);
    }
    case 'leaseGrant':
      if (cmd.id !== undefined && !isNonNegativeInteger(cmd.id)) return errors.invalidRequest('lease id');
      if (!Number.isSafeInteger(cmd.ttlSeconds) || cmd.ttlSeconds <= 0 || cmd.ttlSeconds > maxLeaseTtlSeconds) {
        return errors.invalidRequest('lease ttlSeconds');
      }
      return null;
    case 'leaseRevoke':
      return isPositiveInteger(cmd.id) ? null : errors.invalidRequest('lease id');
    case 'leaseCheckpoint':
      if (!Array.isArray(cmd.checkpoints)) return errors.invalidRequest('checkpoints');
      for (const c of cmd.checkpoints) {
        if (!c || !isPositiveInteger(c.id) || !isNonNegativeInteger(c.remainingTtlSeconds)) {
          return errors.invalidRequest('checkpoint');
        }
      }
      return null;
    case 'compact':
      return isPositiveInteger(cmd.revision) ? null : errors.invalidRequest('compact revision');
    default:
      return errors.unknownOperation(String((cmd as { type?: unknown }).type));
  }
}

/**
 * The record shapes of proposals in the log, by id (0x40, 0x41): a proposal and a plain put,
 * the shapes of nearly every entry. A record names its fields once, here, instead of in every
 * proposal, and decodes three times faster than a map. Part of the log format: ids never
 * change, a new shape goes at the end. Other shapes are written as maps.
 */
const PROPOSAL_RECORDS = [
  ['client', 'seq', 'cmd'],
  ['type', 'key', 'value'],
] as const;
const recordOptions = () => ({
  structures: PROPOSAL_RECORDS.map((r) => [...r]),
  maxSharedStructures: PROPOSAL_RECORDS.length,
  maxOwnStructures: 0,
  moreTypes: false,
});
const proposalPackr = new Packr(recordOptions());
const proposalUnpackr = new Unpackr({ ...recordOptions(), mapsAsObjects: true });

/**
 * Writes the proposal of a plain put (`{client, seq, cmd: {type: 'put', key, value}}`, those
 * fields only, in that order) as its two records, the bytes proposalPackr writes for it,
 * without the generic encoder's per-call work. Nearly every write is one.
 */
class PutProposalWriter extends MsgpackWriter {
  write(client: string, seq: number, key: string, value: Uint8Array): Uint8Array {
    this.begin(1 + 5 + client.length * 3 + 9 + 1 + 4 + 5 + key.length * 3 + 5 + value.length);
    const buf = this.buf;
    buf[this.pos++] = 0x40; // ['client', 'seq', 'cmd']
    this.str(client);
    this.uint(seq);
    buf[this.pos++] = 0x41; // ['type', 'key', 'value']
    buf[this.pos++] = 0xa3; // 'put'
    buf[this.pos++] = 0x70;
    buf[this.pos++] = 0x75;
    buf[this.pos++] = 0x74;
    this.str(key);
    this.bin(value);
    return this.written();
  }
}
const putWriter = new PutProposalWriter();

/** Whether `o` has exactly the own enumerable keys `a`, `b`, `c`, in that order. */
function hasKeys(o: object, a: string, b: string, c: string): boolean {
  let i = 0;
  for (const k in o) {
    if (!Object.hasOwn(o, k)) return false;
    if ((i === 0 && k !== a) || (i === 1 && k !== b) || (i === 2 && k !== c) || i > 2) return false;
    i++;
  }
  return i === 3;
}

/**
 * First bytes of a batch entry written with PROPOSAL_RECORDS: 0xc1, a byte msgpack never
 * uses, then the layout version. Entries without it (from before records) are plain msgpack,
 * where 0x40-0x7f are small integers, not records: they decode the plain way.
 */
const BATCH_MARK = 0xc1;
const BATCH_FORMAT = 1;

/**
 * Validates and encodes a proposal for the log: the bytes, or the error to answer with. The
 * bytes only make sense inside `encodeProposalBatch` (they use its records). They may share
 * their ArrayBuffer with other small allocations (Node's buffer pool).
 */
export function encodeProposal(proposal: Proposal): Uint8Array | MvccError {
  const invalid = validateCommand(proposal.cmd);
  if (invalid) return invalid;
  const cmd = proposal.cmd;
  const view =
    cmd.type === 'put' &&
    cmd.value instanceof Uint8Array &&
    typeof proposal.client === 'string' &&
    Number.isSafeInteger(proposal.seq) &&
    proposal.seq >= 0 &&
    hasKeys(proposal, 'client', 'seq', 'cmd') &&
    hasKeys(cmd, 'type', 'key', 'value')
      ? putWriter.write(proposal.client, proposal.seq, cmd.key, cmd.value)
      : proposalPackr.pack(proposal);
  if (view.length > maxRequestBytes) return errors.requestTooLarge(view.length);
  // Both encoders return a view into a buffer they reuse: copy it out. A typed array of its own
  // above 64 bytes costs an ArrayBuffer backing store (about 0.5 µs to allocate and to
  // collect); a pooled Buffer costs a tenth of that.
  const out = Buffer.allocUnsafe(view.length);
  out.set(view);
  return out;
}

/**
 * One log entry for one or more proposals, from their `encodeProposal` bytes: the batch mark,
 * then a msgpack array whose elements are those bytes as they are (a leader proposes what
 * arrived in one turn as one entry, so the log's per-entry work is shared by the whole batch).
 * A fresh buffer of exactly the entry's size.
 */
export function encodeProposalBatch(encoded: readonly Uint8Array[]): Uint8Array {
  let size = 7;
  for (const e of encoded) size += e.byteLength;
  const out = new Uint8Array(size);
  out[0] = BATCH_MARK;
  out[1] = BATCH_FORMAT;
  out[2] = 0xdd; // array 32
  new DataView(out.buffer).setUint32(3, encoded.length);
  let at = 7;
  for (const e of encoded) {
    out.set(e, at);
    at += e.byteLength;
  }
  return out;
}

/**
 * Decodes a log entry's payload: the proposals of a batch in order, or (entries from before
 * batches) one proposal. Throws on bytes that are neither; a batch element that is not a
 * proposal is returned as it is, for the state machine to answer with an error.
 */
export function decodeEntryData(bytes: Uint8Array): Proposal | unknown[] {
  if (bytes[0] === BATCH_MARK) {
    if (bytes[1] !== BATCH_FORMAT) throw new Error(`mvcc: log entry of unknown format ${bytes[1]}`);
    const list = proposalUnpackr.unpack(bytes.subarray(2)) as unknown;
    if (!Array.isArray(list)) throw new Error('mvcc: batch entry is not a list');
    return list;
  }
  const p = unpack(bytes) as unknown;
  if (Array.isArray(p)) return p;
  if (!isProposal(p)) throw new Error('mvcc: log entry is not a proposal');
  return p;
}

/** The envelope is well-formed (the command inside is checked by `validateCommand`). */
export function isProposal(p: unknown): p is Proposal {
  if (typeof p !== 'object' || p === null) return false;
  const { client, seq } = p as { client?: unknown; seq?: unknown };
  return typeof client === 'string' && typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0;
}

function isPositiveInteger(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0;
}

function isNonNegativeInteger(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function validKey(key: unknown): key is string {
  return typeof key === 'string' && key.length > 0;
}

function validRangeEnd(end: unknown): boolean {
  return end === undefined || typeof end === 'string';
}

function validateOp(op: PutRequest | RangeRequest | DeleteRangeRequest): MvccError | null {
  if (!validKey(op.key)) return errors.invalidRequest('key is empty');
  switch (op.type) {
    case 'put': {
      if (op.value !== undefined && !(op.value instanceof Uint8Array)) return errors.invalidRequest('value');
      if (op.lease !== undefined && !isNonNegativeInteger(op.lease)) return errors.invalidRequest('lease');
      if (op.ignoreValue && op.value !== undefined && op.value.length > 0) {
        return errors.invalidRequest('value provided with ignoreValue');
      }
      if (!op.ignoreValue && op.value === undefined) return errors.invalidRequest('value missing');
      if (op.ignoreLease && op.lease !== undefined && op.lease !== 0) {
        return errors.invalidRequest('lease provided with ignoreLease');
      }
      return null;
    }
    case 'range':
      if (!validRangeEnd(op.rangeEnd)) return errors.invalidRequest('rangeEnd');
      if (op.limit !== undefined && !isNonNegativeInteger(op.limit)) return errors.invalidRequest('limit');
      if (op.revision !== undefined && !isNonNegativeInteger(op.revision)) return errors.invalidRequest('revision');
      if (op.sortOrder !== undefined && !['none', 'ascend', 'descend'].includes(op.sortOrder)) {
        return errors.invalidRequest('sortOrder');
      }
      if (
        op.sortTarget !== undefined &&
        !['key', 'version', 'createRevision', 'modRevision', 'value'].includes(op.sortTarget)
      ) {
        return errors.invalidRequest('sortTarget');
      }
      return null;
    case 'deleteRange':
      return validRangeEnd(op.rangeEnd) ? null : errors.invalidRequest('rangeEnd');
  }
}

const compareTargets = new Set(['value', 'version', 'createRevision', 'modRevision', 'lease']);
const compareResults = new Set(['=', '!=', '<', '>']);

/** Shapes of ops and compares, and the op/compare counts; depth is bounded by the op count. */
function validateTxnShape(txn: TxnRequest, counts: { ops: number; compares: number }, depth: number): MvccError | null {
  if (!Array.isArray(txn.compare) || !Array.isArray(txn.success) || !Array.isArray(txn.failure)) {
    return errors.invalidRequest('txn shape');
  }
  if (depth > maxTxnOps) return errors.tooManyOps();
  counts.compares += txn.compare.length;
  for (const c of txn.compare) {
    if (!c || !validKey(c.key) || !validRangeEnd(c.rangeEnd)) return errors.invalidRequest('compare key');
    if (!compareTargets.has(c.target) || !compareResults.has(c.result)) return errors.invalidRequest('compare');
    if (c.target === 'value' ? !(c.operand instanceof Uint8Array) : typeof c.operand !== 'number') {
      return errors.invalidRequest('compare operand');
    }
  }
  for (const branch of [txn.success, txn.failure]) {
    for (const op of branch) {
      counts.ops++;
      if (counts.ops > maxTxnOps) return errors.tooManyOps();
      if (!op || typeof op !== 'object') return errors.unknownOperation(String(op));
      if (op.type === 'txn') {
        const e = validateTxnShape(op, counts, depth + 1);
        if (e) return e;
      } else if (op.type === 'put' || op.type === 'range' || op.type === 'deleteRange') {
        const e = validateOp(op);
        if (e) return e;
      } else {
        return errors.unknownOperation(String((op as { type?: unknown }).type));
      }
    }
  }
  return null;
}

/** etcd's checkIntervals, applied to each branch of the top-level txn. */
function validateTxnOps(txn: TxnRequest): MvccError | null {
  const a = checkIntervals(txn.success);
  if (typeof a === 'string') return errors.duplicateKey(a);
  const b = checkIntervals(txn.failure);
  if (typeof b === 'string') return errors.duplicateKey(b);
  return null;
}

interface Interval {
  key: string;
  rangeEnd: string | undefined;
}

interface Writes {
  puts: Set<string>;
  dels: Interval[];
}

function intersects(dels: Interval[], key: string): boolean {
  for (const d of dels) if (inRange(key, d.key, d.rangeEnd)) return true;
  return false;
}

/**
 * Puts and deletes of one list of ops (children included), or the duplicated key. Mirrors etcd:
 * a put may not repeat a put, nor fall in a delete range, of the same level or of nested txns;
 * deletes may overlap each other; a key put in both branches of one nested txn is fine (the
 * branches exclude each other).
 */
function checkIntervals(ops: RequestOp[]): Writes | string {
  const dels: Interval[] = [];
  for (const op of ops) if (op.type === 'deleteRange') dels.push({ key: op.key, rangeEnd: op.rangeEnd });
  const puts = new Set<string>();
  for (const op of ops) {
    if (op.type !== 'txn') continue;
    const then = checkIntervals(op.success);
    if (typeof then === 'string') return then;
    const otherwise = checkIntervals(op.failure);
    if (typeof otherwise === 'string') return otherwise;
    // Stricter than etcd: a nested delete may not cover a key put by an earlier nested txn
    // either, so no key ever changes twice in one revision.
    for (const d of [...then.dels, ...otherwise.dels]) {
      for (const k of puts) if (inRange(k, d.key, d.rangeEnd)) return k;
    }
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, k)) return k;
    }
    for (const k of otherwise.puts) {
      if (puts.has(k) || intersects(dels, k)) return k;
    }
    for (const k of then.puts) puts.add(k);
    for (const k of otherwise.puts) puts.add(k);
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    if (op.type !== 'put') continue;
    if (puts.has(op.key) || intersects(dels, op.key)) return op.key;
    puts.add(op.key);
  }
  return { puts, dels };
}
