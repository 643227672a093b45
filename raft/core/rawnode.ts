/**
 * RawNode: the application-facing wrapper of {@link Raft} (as etcd-io/raft's RawNode). The shell
 * feeds it ticks, messages and proposals, and drains its work as {@link Ready} values.
 */
import { assert } from './assert.js';
import { type RaftConfig, type ResolvedConfig, resolveConfig } from './config.js';
import { encodeConfChange } from './confchange.js';
import { Raft } from './raft.js';
import { type Storage } from './storage.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  MESSAGE_TYPES,
  NONE,
  type ProposeResult,
  type ReadIndexResult,
  type ReadState,
  type RequestCtx,
  type Role,
  type Snapshot,
  type SoftState,
  type Status,
  type TransferResult,
  isLocalMessage,
  isResponseMessage,
  payloadSizeBytes,
} from './types.js';

/**
 * Work for the shell, produced by ready() and acknowledged by advance(). Handle it in this order:
 *
 * 1. Persist `snapshot` (if any), then `entries`, then `hardState` (if any): atomically, or in
 *    that order, fsync'd if `mustSync`. Mirror them into the MemoryStorage the node reads.
 * 2. Send `messages` (in order per recipient). Messages for which `canSendBeforePersist(m)`
 *    holds (a leader's MsgApp/MsgHeartbeat/MsgSnap) may be sent before step 1 completes.
 * 3. Apply `snapshot` to the state machine, then `committedEntries` in order; for a `confChange`
 *    entry call applyConfChange(decodeConfChange(entry.data)). Serve `readStates` once applied
 *    reaches their index.
 * 4. Call advance(ready).
 */
export interface Ready {
  /** New leader/role, if either changed since the last Ready. Not persisted. */
  readonly softState: SoftState | undefined;
  /** Term/vote/commit to persist, if changed since the last Ready. */
  readonly hardState: HardState | undefined;
  /** Entries to append to the durable log (replacing any conflicting suffix) before sending. */
  readonly entries: readonly Entry[];
  /** Snapshot from the leader to persist (it replaces the log) and then apply. */
  readonly snapshot: Snapshot | undefined;
  /**
   * Committed entries to apply, in order, after persisting this Ready. They may include entries
   * from `entries` of this same Ready.
   */
  readonly committedEntries: readonly Entry[];
  /** Messages to send after persisting (see canSendBeforePersist for the exceptions). */
  readonly messages: readonly Message[];
  /** Confirmed ReadIndex requests (this node's own, or answers to ones it forwarded). */
  readonly readStates: readonly ReadState[];
  /** Entries, a snapshot, or a new term/vote must hit the disk with an fsync. */
  readonly mustSync: boolean;
}

const EMPTY_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 };
const KNOWN_TYPES: ReadonlySet<string> = new Set(MESSAGE_TYPES);

/**
 * A Raft peer without I/O. Single-threaded and synchronous; every method returns at once.
 *
 * Contract: at most one Ready is outstanding; ready() must be followed by advance(ready) before
 * the next ready(). Between the two the shell may keep calling tick(), step(), propose() etc.;
 * their effects come out in the next Ready.
 */
export class RawNode {
  /** The state machine. Exposed for tests and diagnostics; the shell needs only the methods. */
  readonly raft: Raft;
  readonly config: ResolvedConfig;
  private readonly storage: Storage;
  /** Soft state as of the last Ready handed out. */
  private prevSoftState: SoftState;
  /** Hard state as of the last Ready handed out (initially the durable one). */
  private prevHardState: HardState;
  /** The Ready handed out and not yet advanced, if any. */
  private outstanding: Ready | null = null;

  constructor(config: RaftConfig, storage: Storage) {
    this.config = resolveConfig(config);
    this.storage = storage;
    this.raft = new Raft(this.config, storage);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  /**
   * Initializes a brand-new cluster member's log with one `addNode` conf change per peer (the
   * same on every initial member: peers are sorted), committed at term 1. Call once, on an empty
   * storage, on each of the cluster's initial members only; members added later start empty and
   * receive the log from the leader. The first Ready carries the entries to persist and apply.
   */
  bootstrap(peers: readonly string[]): void {
    assert(peers.length > 0, 'bootstrap needs at least one peer');
    assert(this.storage.lastIndex() === 0 && this.raft.log.lastIndex() === 0, "can't bootstrap a non-empty storage");
    const sorted = [...new Set(peers)].sort();
    assert(sorted.length === peers.length, 'bootstrap peers must be distinct');
    // Nothing is persisted yet: the first Ready reports the whole hard state.
    this.prevHardState = EMPTY_HARD_STATE;
    const r = this.raft;
    r.becomeFollower(1, NONE);
    const ents: Entry[] = sorted.map((id, i) => ({
      term: 1,
      index: i + 1,
      type: 'confChange' as const,
      data: encodeConfChange({ type: 'addNode', nodeId: id }),
    }));
    r.log.append(ents);
    r.log.committed = ents.length;
    // Apply now too, so the node can campaign before the shell applies them (re-applying an
    // addNode of a voter is a no-op).
    for (const id of sorted) r.applyConfChange({ type: 'addNode', nodeId: id });
  }

  /** Advances logical time by one tick (election and heartbeat timers). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (a pre-vote first if enabled). No-op for leaders and non-voters. */
  campaign(): void {
    this.raft.step({ type: 'MsgHup', from: this.raft.id, to: this.raft.id, term: 0 });
  }

  /** Proposes one normal entry. See proposeBatch. */
  propose(data: Uint8Array): ProposeResult {
    return this.proposeItems([{ type: 'normal', data }]);
  }

  /**
   * Proposes several normal entries at once: on the leader they are appended together and go
   * out in shared MsgApp messages. On a follower they are forwarded to the leader if one is known
   * (the result then says only that they were forwarded; they may still be lost).
   */
  proposeBatch(data: readonly Uint8Array[]): ProposeResult {
    assert(data.length > 0, 'proposeBatch of nothing');
    const items = new Array<{ type: 'normal'; data: Uint8Array }>(data.length);
    for (let i = 0; i < data.length; i++) items[i] = { type: 'normal', data: data[i]! };
    return this.proposeItems(items);
  }

  /**
   * Proposes a membership change. The leader refuses it (ConfChangePending) while a previous one
   * is not yet applied, and refuses invalid ones (InvalidConfChange).
   */
  proposeConfChange(cc: ConfChange): ProposeResult {
    return this.proposeItems([{ type: 'confChange', data: encodeConfChange(cc) }]);
  }

  private proposeItems(items: { type: 'normal' | 'confChange'; data: Uint8Array }[]): ProposeResult {
    for (const it of items) assert(it.data instanceof Uint8Array, 'proposal data must be a Uint8Array');
    const r = this.raft;
    switch (r.role) {
      case 'leader':
        return r.proposeAsLeader(items, false);
      case 'follower': {
        if (r.lead === NONE) return { ok: false, error: 'NotLeader', leaderHint: NONE };
        if (r.cfg.disableProposalForwarding) return { ok: false, error: 'NotLeader', leaderHint: r.lead };
        const entries: Entry[] = items.map((it) => ({ term: 0, index: 0, type: it.type, data: it.data }));
        r.step({ type: 'MsgProp', from: r.id, to: r.id, term: 0, entries });
        return { ok: true, forwardedTo: r.lead };
      }
      case 'candidate':
      case 'preCandidate':
        return { ok: false, error: 'NotLeader', leaderHint: NONE };
    }
  }

  /**
   * Applies a committed membership change (from a `confChange` entry) and returns the new
   * configuration. Call it for every such entry, in log order, when applying committedEntries.
   * An invalid change (one that would remove the last voter) leaves the configuration as it is,
   * identically on every member.
   */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * Processes a message from a peer. Messages must be addressed to this node; local message
   * types are refused (they are produced internally). Responses from non-members are ignored.
   */
  step(m: Message): void {
    assert(m !== null && typeof m === 'object', 'message must be an object');
    assert(KNOWN_TYPES.has(m.type), () => `unknown message type ${String(m.type)}`);
    assert(!isLocalMessage(m.type), () => `cannot step local message ${m.type}`);
    assert(m.to === this.raft.id, () => `message for ${m.to} stepped into ${this.raft.id}`);
    assert(typeof m.from === 'string' && m.from.length > 0, 'message without sender');
    if (isResponseMessage(m.type) && !this.raft.trk.isMember(m.from)) return;
    this.raft.step(m);
  }

  /**
   * Requests a linearizable read point for `requestCtx` (which must be unique among requests in
   * flight, e.g. node id + counter). The answer arrives as a ReadState with the same context in
   * a later Ready; a request can be lost (leader change, message loss), so the shell retries on
   * a timeout.
   */
  readIndex(requestCtx: RequestCtx): ReadIndexResult {
    const r = this.raft;
    if (r.role === 'leader' || (r.role === 'follower' && r.lead !== NONE)) {
      r.step({ type: 'MsgReadIndex', from: r.id, to: r.id, term: 0, context: requestCtx });
      return { ok: true };
    }
    return { ok: false, error: 'NotLeader', leaderHint: NONE };
  }

  /**
   * Asks the leader to hand leadership to `transferee` (forwarded if this node is a follower).
   * Proposals are dropped while the transfer runs; it is abandoned after an election timeout.
   */
  transferLeadership(transferee: string): TransferResult {
    const r = this.raft;
    assert(transferee.length > 0, 'transferee must be a node id');
    if (r.role === 'leader' || (r.role === 'follower' && r.lead !== NONE)) {
      r.step({ type: 'MsgTransferLeader', from: transferee, to: r.id, term: 0 });
      return { ok: true };
    }
    return { ok: false, error: 'NotLeader', leaderHint: NONE };
  }

  /** The transport could not reach `id`: the leader re-probes it instead of streaming. */
  reportUnreachable(id: string): void {
    const r = this.raft;
    if (r.role !== 'leader') return;
    r.step({ type: 'MsgUnreachable', from: id, to: r.id, term: 0 });
  }

  /** The snapshot sent to `id` was delivered (`ok`) or failed; the leader resumes probing. */
  reportSnapshot(id: string, ok: boolean): void {
    const r = this.raft;
    if (r.role !== 'leader') return;
    r.step({ type: 'MsgSnapStatus', from: id, to: r.id, term: 0, reject: !ok });
  }

  /** Whether ready() would return work. False while a Ready is outstanding. */
  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const r = this.raft;
    r.flushBcast();
    const soft = this.prevSoftState;
    if (r.lead !== soft.lead || r.role !== soft.role) return true;
    if (this.hardStateChanged()) return true;
    const log = r.log;
    return (
      log.hasNextUnstableSnapshot() ||
      r.msgs.length > 0 ||
      log.hasNextUnstableEnts() ||
      log.hasNextCommittedEnts() ||
      r.readStates.length > 0
    );
  }

  /** The hard state differs from the last one handed out (and is not the empty one). */
  private hardStateChanged(): boolean {
    const r = this.raft;
    const prev = this.prevHardState;
    if (r.term === prev.term && r.vote === prev.vote && r.log.committed === prev.commit) return false;
    return r.term !== 0 || r.vote !== NONE || r.log.committed !== 0;
  }

  /** Hands out the pending work. Must be followed by advance(ready) before the next call. */
  ready(): Ready {
    assert(this.outstanding === null, 'ready() called again before advance()');
    const r = this.raft;
    r.flushBcast();
    const log = r.log;
    const entries = log.nextUnstableEnts();
    const committedEntries = log.nextCommittedEnts();
    const snapshot = log.unstable.nextSnapshot();
    const messages = r.msgs;
    const readStates = r.readStates;
    r.msgs = [];
    r.readStates = [];
    const prevHard = this.prevHardState;
    const softChanged = r.lead !== this.prevSoftState.lead || r.role !== this.prevSoftState.role;
    const hardChanged = this.hardStateChanged();
    const soft = softChanged ? r.softState() : this.prevSoftState;
    const hard = hardChanged ? r.hardState() : prevHard;
    const mustSync =
      entries.length > 0 || snapshot !== null || hard.term !== prevHard.term || hard.vote !== prevHard.vote;
    // Always the same shape (absent parts are undefined): cheaper to build and to read.
    const rd: Ready = {
      softState: softChanged ? soft : undefined,
      hardState: hardChanged ? hard : undefined,
      entries,
      snapshot: snapshot ?? undefined,
      committedEntries,
      messages,
      readStates,
      mustSync,
    };
    // Accept the Ready: what it hands out is not handed out again.
    log.unstable.acceptInProgress();
    if (committedEntries.length > 0) log.acceptApplying(committedEntries[committedEntries.length - 1]!.index);
    if (softChanged) this.prevSoftState = soft;
    if (hardChanged) this.prevHardState = hard;
    this.outstanding = rd;
    return rd;
  }

  /**
   * The shell has persisted, sent and applied `rd` (see {@link Ready}). Marks its entries and
   * snapshot durable and its committed entries applied.
   */
  advance(rd: Ready): void {
    assert(this.outstanding !== null && rd === this.outstanding, 'advance() with a Ready that is not the outstanding one');
    this.outstanding = null;
    const r = this.raft;
    const log = r.log;
    if (rd.snapshot !== undefined) {
      log.stableSnapTo(rd.snapshot.metadata.index);
      log.appliedTo(rd.snapshot.metadata.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      log.stableTo(last.index, last.term);
    }
    const ce = rd.committedEntries;
    if (ce.length > 0) {
      log.appliedTo(ce[ce.length - 1]!.index);
      r.reduceUncommittedSize(payloadSizeBytes(ce));
    }
    r.onLocalLogDurable();
  }

  /** A snapshot of the node's state (allocates; not for the hot path). */
  status(): Status {
    return this.raft.status();
  }

  /** This node's id. */
  get id(): string {
    return this.raft.id;
  }

  /** Current term (cheap). */
  get term(): number {
    return this.raft.term;
  }

  /** Known leader of the current term, or NONE (cheap). */
  get lead(): string {
    return this.raft.lead;
  }

  /** Current role (cheap). */
  get role(): Role {
    return this.raft.role;
  }

  /** Commit index (cheap). */
  get commitIndex(): number {
    return this.raft.log.committed;
  }

  /** Last applied index as acknowledged by advance() (cheap). */
  get appliedIndex(): number {
    return this.raft.log.applied;
  }

  /** Whether a ready() is outstanding. */
  get readyOutstanding(): boolean {
    return this.outstanding !== null;
  }
}
