/**
 * A deliberately simple model of the MVCC state machine for model-based tests: the whole key space
 * as a Map per revision (copy on write), leases and the dedup table as Maps. No index, no backend,
 * no sub-revisions. Static request validation is shared with the real store (`validateCommand`,
 * tested on its own in commands.test.ts).
 */
import {
  errors,
  inRange,
  validateCommand,
  type Command,
  type Compare,
  type KeyValue,
  type MvccError,
  type OpResponse,
  type Proposal,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
  type Response,
  type TxnRequest,
  type WatchEvent,
} from '../../raft/mvcc/commands.js';

const empty = new Uint8Array(0);

export interface ModelOptions {
  dedupIdleRevisions: number;
  maxDedupClients: number;
}

export interface ModelResult {
  index: number;
  client: string;
  seq: number;
  response: Response;
  events: WatchEvent[];
  revision: number;
  duplicate: boolean;
}

interface WriteTxn {
  work: Map<string, KeyValue>;
  changes: WatchEvent[];
  main: number;
}

export class Model {
  rev = 1;
  compactRev = 0;
  applied = 0;
  state = new Map<string, KeyValue>();
  readonly states = new Map<number, Map<string, KeyValue>>([[1, new Map()]]);
  readonly leases = new Map<number, { ttlSeconds: number; remainingTtlSeconds: number }>();
  readonly clients = new Map<string, { seq: number; revision: number; response: Response | null }>();
  /** Every event ever, in revision order. */
  readonly events: WatchEvent[] = [];
  private mutations = 0;

  constructor(private readonly opts: ModelOptions) {}

  apply(index: number, p: Proposal | null): ModelResult | null | 'skipped' {
    if (index <= this.applied) return 'skipped';
    if (index !== this.applied + 1) throw new Error('model: gap');
    this.applied = index;
    if (p === null) {
      this.evict();
      return null;
    }
    return this.applyProposal(index, p);
  }

  /** Proposals that share one log entry, applied in order under its index. */
  applyBatch(index: number, proposals: Proposal[]): ModelResult[] | 'skipped' {
    if (index <= this.applied) return 'skipped';
    if (index !== this.applied + 1) throw new Error('model: gap');
    this.applied = index;
    return proposals.map((p) => this.applyProposal(index, p));
  }

  private applyProposal(index: number, p: Proposal): ModelResult {
    const result = (response: Response, events: WatchEvent[], duplicate: boolean): ModelResult => ({
      index,
      client: p.client,
      seq: p.seq,
      response,
      events,
      revision: this.rev,
      duplicate,
    });
    const rec = p.client === '' ? undefined : this.clients.get(p.client);
    let out: ModelResult;
    if (rec && p.seq === rec.seq && rec.response !== null) {
      out = result(rec.response, [], true);
    } else if (rec && p.seq < rec.seq) {
      out = result(errors.staleSequence(p.client, p.seq, rec.seq), [], false);
    } else {
      const before = this.mutations;
      const events: WatchEvent[] = [];
      const response = this.execute(p.cmd, index, events);
      if (p.client !== '') {
        this.clients.delete(p.client);
        this.clients.set(p.client, {
          seq: p.seq,
          revision: this.rev,
          response: this.mutations !== before || p.cmd.type !== 'range' ? response : null,
        });
      }
      out = result(response, events, false);
    }
    this.evict();
    return out;
  }

  private evict(): void {
    for (const [c, r] of this.clients) {
      if (this.clients.size <= this.opts.maxDedupClients && r.revision >= this.rev - this.opts.dedupIdleRevisions) return;
      this.clients.delete(c);
    }
  }

  private execute(cmd: Command, index: number, events: WatchEvent[]): Response {
    const invalid = validateCommand(cmd);
    if (invalid) return invalid;
    switch (cmd.type) {
      case 'put': {
        const e = this.checkPut(cmd);
        if (e) return e;
        const t = this.begin();
        const r = this.put(t, cmd);
        this.end(t, events);
        return r;
      }
      case 'range':
        return this.checkRange(cmd) ?? this.range(cmd, this.state, this.rev);
      case 'deleteRange': {
        const t = this.begin();
        const r = this.deleteRange(t, cmd.key, cmd.rangeEnd, cmd.prevKv === true);
        this.end(t, events);
        return { ...r, revision: this.rev };
      }
      case 'txn': {
        const path: boolean[] = [];
        this.path(cmd, path);
        const e = this.checkTxn(cmd, path, { at: 0 });
        if (e) return e;
        const t = this.begin();
        const r = this.txn(t, cmd, path, { at: 0 });
        this.end(t, events);
        return { ...r, revision: this.rev };
      }
      case 'leaseGrant': {
        let id = cmd.id ?? 0;
        if (id === 0) {
          id = index;
          while (this.leases.has(id)) id++;
        } else if (this.leases.has(id)) return errors.leaseExists(id);
        this.leases.set(id, { ttlSeconds: cmd.ttlSeconds, remainingTtlSeconds: 0 });
        this.mutations++;
        return { type: 'leaseGrant', revision: this.rev, id, ttlSeconds: cmd.ttlSeconds };
      }
      case 'leaseRevoke': {
        if (!this.leases.has(cmd.id)) return errors.leaseNotFound(cmd.id);
        const t = this.begin();
        const keys = [...t.work.values()].filter((kv) => kv.lease === cmd.id).map((kv) => kv.key).sort();
        for (const k of keys) this.deleteRange(t, k, undefined, false);
        this.end(t, events);
        this.leases.delete(cmd.id);
        this.mutations++;
        return { type: 'leaseRevoke', revision: this.rev };
      }
      case 'leaseCheckpoint': {
        for (const c of cmd.checkpoints) {
          const l = this.leases.get(c.id);
          if (l && l.remainingTtlSeconds !== c.remainingTtlSeconds) {
            l.remainingTtlSeconds = c.remainingTtlSeconds;
            this.mutations++;
          }
        }
        return { type: 'leaseCheckpoint', revision: this.rev };
      }
      case 'compact':
        if (cmd.revision <= this.compactRev) return errors.compacted(this.compactRev);
        if (cmd.revision > this.rev) return errors.futureRevision(this.rev);
        this.compactRev = cmd.revision;
        this.mutations++;
        return { type: 'compact', revision: this.rev };
    }
  }

  private begin(): WriteTxn {
    return { work: new Map(this.state), changes: [], main: this.rev + 1 };
  }

  private end(t: WriteTxn, events: WatchEvent[]): void {
    if (t.changes.length === 0) return;
    this.rev = t.main;
    this.state = t.work;
    this.states.set(this.rev, t.work);
    this.mutations++;
    events.push(...t.changes);
    this.events.push(...t.changes);
  }

  private checkPut(op: PutRequest): MvccError | null {
    if (op.lease && !this.leases.has(op.lease)) return errors.leaseNotFound(op.lease);
    if ((op.ignoreValue || op.ignoreLease) && !this.state.has(op.key)) return errors.keyNotFound(op.key);
    return null;
  }

  private checkRange(op: RangeRequest): MvccError | null {
    const at = op.revision ?? 0;
    if (at > this.rev) return errors.futureRevision(this.rev);
    if (at !== 0 && at < this.compactRev) return errors.compacted(this.compactRev);
    return null;
  }

  private put(t: WriteTxn, op: PutRequest): OpResponse {
    const prev = t.work.get(op.key);
    const kv: KeyValue = {
      key: op.key,
      value: op.ignoreValue ? prev!.value : op.value!,
      createRevision: prev ? prev.createRevision : t.main,
      modRevision: t.main,
      version: prev ? prev.version + 1 : 1,
      lease: op.ignoreLease ? prev!.lease : (op.lease ?? 0),
    };
    t.work.set(op.key, kv);
    t.changes.push(prev ? { type: 'put', kv, prevKv: prev } : { type: 'put', kv });
    return op.prevKv && prev ? { type: 'put', revision: t.main, prevKv: prev } : { type: 'put', revision: t.main };
  }

  private deleteRange(t: WriteTxn, key: string, rangeEnd: string | undefined, wantPrev: boolean): OpResponse {
    const keys = [...t.work.keys()].filter((k) => inRange(k, key, rangeEnd)).sort(cmp);
    const prevKvs: KeyValue[] = [];
    for (const k of keys) {
      const prev = t.work.get(k)!;
      t.work.delete(k);
      prevKvs.push(prev);
      const kv: KeyValue = { key: k, value: empty, createRevision: 0, modRevision: t.main, version: 0, lease: 0 };
      t.changes.push({ type: 'delete', kv, prevKv: prev });
    }
    const view = t.changes.length > 0 ? t.main : this.rev;
    return wantPrev
      ? { type: 'deleteRange', revision: view, deleted: keys.length, prevKvs }
      : { type: 'deleteRange', revision: view, deleted: keys.length };
  }

  private path(txn: TxnRequest, out: boolean[]): void {
    const ok = txn.compare.every((c) => this.compare(c));
    out.push(ok);
    for (const op of ok ? txn.success : txn.failure) if (op.type === 'txn') this.path(op, out);
  }

  private compare(c: Compare): boolean {
    const kvs = [...this.state.values()].filter((kv) => inRange(kv.key, c.key, c.rangeEnd));
    if (kvs.length === 0) {
      if (c.target === 'value') return false;
      return holds(c.result, 0 - c.operand);
    }
    return kvs.every((kv) => {
      switch (c.target) {
        case 'value':
          return holds(c.result, compareBytes(kv.value, c.operand));
        case 'version':
          return holds(c.result, kv.version - c.operand);
        case 'createRevision':
          return holds(c.result, kv.createRevision - c.operand);
        case 'modRevision':
          return holds(c.result, kv.modRevision - c.operand);
        case 'lease':
          return holds(c.result, kv.lease - c.operand);
      }
    });
  }

  private checkTxn(txn: TxnRequest, path: boolean[], cur: { at: number }): MvccError | null {
    for (const op of path[cur.at++] ? txn.success : txn.failure) {
      const e =
        op.type === 'put'
          ? this.checkPut(op)
          : op.type === 'range'
            ? this.checkRange(op)
            : op.type === 'txn'
              ? this.checkTxn(op, path, cur)
              : null;
      if (e) return e;
    }
    return null;
  }

  private txn(t: WriteTxn, txn: TxnRequest, path: boolean[], cur: { at: number }): OpResponse {
    const succeeded = path[cur.at++]!;
    const responses: OpResponse[] = [];
    for (const op of succeeded ? txn.success : txn.failure) responses.push(this.op(t, op, path, cur));
    return { type: 'txn', revision: t.changes.length > 0 ? t.main : this.rev, succeeded, responses };
  }

  private op(t: WriteTxn, op: RequestOp, path: boolean[], cur: { at: number }): OpResponse {
    switch (op.type) {
      case 'put':
        return this.put(t, op);
      case 'range':
        return this.range(op, t.work, t.changes.length > 0 ? t.main : this.rev);
      case 'deleteRange':
        return this.deleteRange(t, op.key, op.rangeEnd, op.prevKv === true);
      case 'txn':
        return this.txn(t, op, path, cur);
    }
  }

  /** A range over `view` (the state seen at revision `viewRev`), or at `op.revision`. */
  range(op: RangeRequest, view: Map<string, KeyValue>, viewRev: number): OpResponse {
    const map = op.revision ? this.states.get(op.revision)! : view;
    let kvs = [...map.values()].filter((kv) => inRange(kv.key, op.key, op.rangeEnd)).sort((a, b) => cmp(a.key, b.key));
    const count = kvs.length;
    const target = op.sortTarget ?? 'key';
    let order = op.sortOrder ?? 'none';
    if (target !== 'key' && order === 'none') order = 'ascend';
    if (order !== 'none') {
      const key = (kv: KeyValue): number | Uint8Array | string =>
        target === 'key'
          ? kv.key
          : target === 'version'
            ? kv.version
            : target === 'createRevision'
              ? kv.createRevision
              : target === 'modRevision'
                ? kv.modRevision
                : kv.value;
      kvs = kvs
        .map((kv, i) => ({ kv, i }))
        .sort((a, b) => {
          const x = key(a.kv);
          const y = key(b.kv);
          const c =
            x instanceof Uint8Array ? compareBytes(x, y as Uint8Array) : typeof x === 'string' ? cmp(x, y as string) : x - (y as number);
          return c !== 0 ? c : a.i - b.i;
        })
        .map((e) => e.kv);
      if (order === 'descend') kvs.reverse();
    }
    const limit = op.limit ?? 0;
    if (op.countOnly) kvs = [];
    if (limit > 0) kvs = kvs.slice(0, limit);
    if (op.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: empty }));
    return { type: 'range', revision: viewRev, kvs, more: !op.countOnly && limit > 0 && count > limit, count };
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function holds(result: Compare['result'], d: number): boolean {
  return result === '=' ? d === 0 : result === '!=' ? d !== 0 : result === '<' ? d < 0 : d > 0;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Plain, comparable form: bytes become hex strings, undefined fields vanish. */
export function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return 'hex:' + Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');
  if (Array.isArray(x)) return x.map(plain);
  if (x && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = plain(v);
    return out;
  }
  return x;
}
