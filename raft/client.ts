/**
 * The store client. It talks to any peer, follows not-leader hints, and retries what is safe
 * to retry: reads always, writes with the same (client, seq) so the state machine applies them
 * once. Errors are typed (`StoreError` with a `code`). It is what the API server and the
 * benchmarks use; it runs wherever an `ask` function is available (an actor or the host).
 */
import type { Command, DeleteRangeRequest, KeyValue, MvccError, PutRequest, RangeRequest, Response, TxnRequest } from './mvcc/commands.js';
import { prefixEnd } from './mvcc/commands.js';
import type { PeerReply, PeerRequest, PeerStatus, WatchCreate } from './protocol.js';

export type Ask = (to: string, msg: unknown, options: { timeoutMs: number }) => Promise<unknown>;

export type StoreErrorCode =
  | MvccError['code']
  | 'NoLeader'
  | 'Timeout'
  | 'ProposalDropped'
  | 'BadRequest'
  /** The outcome of a write is unknown (every try timed out or the peer died mid-way). */
  | 'Indeterminate';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface ClientOptions {
  ask: Ask;
  peers: string[];
  /** Unique per client; together with a sequence number it makes retried writes apply once. */
  clientId: string;
  /** Per-try timeout (default 2,000 ms). */
  tryTimeoutMs?: number;
  /** Give up after this long in all (default 10,000 ms). */
  deadlineMs?: number;
  /** Clock for deadlines (an actor passes ctx.now). */
  now: () => number;
  /** Pause between retries (an actor passes a ctx timer; default resolves at once). */
  sleep?: (ms: number) => Promise<void>;
}

export class StoreClient {
  private leader: string;
  private seq = 0;
  private readonly tryTimeoutMs: number;
  private readonly deadlineMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: ClientOptions) {
    if (options.peers.length === 0) throw new Error('StoreClient needs at least one peer');
    this.leader = options.peers[0]!;
    this.tryTimeoutMs = options.tryTimeoutMs ?? 2_000;
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.sleep = options.sleep ?? (() => Promise.resolve());
  }

  /** The peer this client believes leads. */
  get leaderHint(): string {
    return this.leader;
  }

  private nextPeer(after: string): string {
    const peers = this.options.peers;
    return peers[(peers.indexOf(after) + 1) % peers.length]!;
  }

  /** Sends `req` to the leader, following hints and retrying until the deadline. */
  private async call(req: PeerRequest, idempotent: boolean): Promise<Response> {
    const deadline = this.options.now() + this.deadlineMs;
    let target = this.leader;
    let lastError = 'no peer answered';
    let maybeApplied = false;
    // The first try needs no clock check: the deadline is ahead of it.
    for (let attempt = 0; attempt === 0 || this.options.now() < deadline; attempt++) {
      let reply: PeerReply;
      try {
        reply = (await this.options.ask(target, req, { timeoutMs: this.tryTimeoutMs })) as PeerReply;
      } catch (err) {
        const name = (err as Error).name;
        lastError = `${target}: ${(err as Error).message}`;
        if (name === 'AskTimeoutError' || name === 'ActorUnavailableError') maybeApplied = true;
        if (name === 'UnknownActorError') throw new StoreError('BadRequest', lastError);
        target = this.nextPeer(target);
        if (attempt >= this.options.peers.length) await this.sleep(Math.min(100, 10 * attempt));
        continue;
      }
      if (reply.ok) {
        this.leader = target;
        return reply.result;
      }
      switch (reply.error) {
        case 'NotLeader':
          lastError = `${target} is not the leader`;
          target = reply.leaderHint && reply.leaderHint !== target ? reply.leaderHint : this.nextPeer(target);
          if (!reply.leaderHint) await this.sleep(Math.min(100, 10 * (attempt + 1)));
          continue;
        case 'Unavailable':
          lastError = `${target}: ${reply.reason}`;
          maybeApplied = true;
          continue;
        case 'ProposalDropped':
          lastError = `${target}: proposal dropped (${reply.reason})`;
          await this.sleep(Math.min(100, 10 * (attempt + 1)));
          continue;
        case 'BadRequest':
          throw new StoreError('BadRequest', reply.reason);
        case 'Mvcc':
          throw new StoreError(reply.detail.code, describe(reply.detail), reply.detail);
      }
    }
    if (!idempotent && maybeApplied) {
      throw new StoreError('Indeterminate', `write outcome unknown after ${this.deadlineMs} ms: ${lastError}`);
    }
    throw new StoreError(maybeApplied ? 'Timeout' : 'NoLeader', `no answer within ${this.deadlineMs} ms: ${lastError}`);
  }

  /**
   * A write, exactly once: the same (client, seq) on every retry. A plain function returning
   * call's promise: an async wrapper would add a promise and a tick to every write.
   */
  write(cmd: Command): Promise<Response> {
    const proposal = { client: this.options.clientId, seq: ++this.seq, cmd };
    // Retrying the same proposal is safe: the state machine deduplicates it.
    return this.call({ op: 'propose', proposal }, false);
  }

  put(key: string, value: Uint8Array | string, opts?: Omit<PutRequest, 'type' | 'key' | 'value'>): Promise<Response> {
    try {
      const v = bytes(value);
      return this.write(opts === undefined ? { type: 'put', key, value: v } : ({ type: 'put', key, value: v, ...opts } as PutRequest));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  async delete(key: string, opts: Omit<DeleteRangeRequest, 'type' | 'key'> = {}) {
    return this.write({ type: 'deleteRange', key, ...opts } as DeleteRangeRequest);
  }

  async txn(txn: Omit<TxnRequest, 'type'>) {
    return this.write({ type: 'txn', ...txn } as TxnRequest);
  }

  async range(key: string, opts: Omit<RangeRequest, 'type' | 'key'> & { serializable?: boolean } = {}) {
    const { serializable, ...rest } = opts;
    return this.call({ op: 'read', cmd: { type: 'range', key, ...rest } as RangeRequest, serializable }, true);
  }

  /** The value of one key, or null. */
  async get(key: string, opts: { serializable?: boolean } = {}): Promise<KeyValue | null> {
    const r = (await this.range(key, opts)) as { kvs: KeyValue[] };
    return r.kvs[0] ?? null;
  }

  async prefix(prefix: string, opts: Omit<RangeRequest, 'type' | 'key' | 'rangeEnd'> = {}) {
    return this.range(prefix, { ...opts, rangeEnd: prefixEnd(prefix) });
  }

  async leaseGrant(ttlSeconds: number, id = 0) {
    return this.write({ type: 'leaseGrant', ttlSeconds, id } as Command);
  }

  async leaseRevoke(id: number) {
    return this.write({ type: 'leaseRevoke', id } as Command);
  }

  async leaseKeepAlive(id: number) {
    return this.call({ op: 'keepAlive', id }, true);
  }

  async compact(revision: number) {
    return this.write({ type: 'compact', revision } as Command);
  }

  /** Registers a watch; events arrive at `watcher` (an actor id) as WatchNotice messages. */
  async watch(watcher: string, req: WatchCreate): Promise<{ watchId: number; peer: string }> {
    const r = (await this.call({ op: 'watch', watcher, req }, true)) as unknown as { watchId: number };
    return { watchId: r.watchId, peer: this.leader };
  }

  async memberChange(change: 'add' | 'addLearner' | 'remove', id: string) {
    return this.call({ op: 'member', change, id }, false);
  }

  /** Status of one peer (no retries: a down peer is an answer). */
  async status(peer: string): Promise<PeerStatus> {
    return (await this.options.ask(peer, { op: 'status' } satisfies PeerRequest, { timeoutMs: this.tryTimeoutMs })) as PeerStatus;
  }
}

function bytes(v: Uint8Array | string): Uint8Array {
  return typeof v === 'string' ? new TextEncoder().encode(v) : v;
}

function describe(e: MvccError): string {
  switch (e.code) {
    case 'Compacted':
      return `required revision has been compacted (compact revision ${e.compactRevision})`;
    case 'FutureRevision':
      return `required revision is a future revision (current ${e.currentRevision})`;
    case 'LeaseNotFound':
      return `requested lease ${e.id} not found`;
    case 'TooManyOps':
      return `too many operations in txn request (limit ${e.limit})`;
    case 'RequestTooLarge':
      return `request is too large: ${e.bytes} bytes (limit ${e.limit})`;
    case 'UnknownOperation':
      return `unknown operation ${e.operation}`;
    default:
      return `${e.code}: ${JSON.stringify(e)}`;
  }
}
