/**
 * Plain-data types of the Raft core: log entries, messages, persistent state, snapshots and the
 * typed results of the node's operations.
 *
 * Everything here is plain data (objects, arrays, strings, numbers, booleans, Uint8Array): no
 * classes, Maps or Sets, so that a message or an entry encodes with msgpackr as it is and decodes
 * into something the core accepts again.
 *
 * Node ids are non-empty strings (actor names such as "etcd-1"). The empty string {@link NONE}
 * means "no node": no leader known, no vote cast.
 */

/** The id that means "no node" (no leader, no vote). Real node ids are never empty. */
export const NONE = '';

// ---------------------------------------------------------------------------------------------
// Log entries
// ---------------------------------------------------------------------------------------------

/**
 * `normal` entries carry application data (an empty `data` is the no-op a new leader appends);
 * `confChange` entries carry an encoded {@link ConfChange} (see `encodeConfChange`).
 */
export type EntryType = 'normal' | 'confChange';

/**
 * One log entry. Entries are immutable once created: the core shares the same object between its
 * log, the messages it sends and the Ready it hands out, so nobody may mutate one.
 */
export interface Entry {
  /** Term of the leader that created the entry. Invariant: terms never decrease along a log. */
  readonly term: number;
  /** Position in the log, starting at 1. Invariant: consecutive entries have consecutive indexes. */
  readonly index: number;
  readonly type: EntryType;
  /** Opaque payload; for `confChange` entries an encoded ConfChange. */
  readonly data: Uint8Array;
}

/**
 * Approximate encoded size of an entry's fixed fields, added to the payload size when bounding
 * message sizes (the msgpack map of term/index/type/data keys and small integers).
 */
export const ENTRY_OVERHEAD_BYTES = 24;

/** Size used to bound messages and Ready batches: payload plus a fixed per-entry overhead. */
export function entrySizeBytes(e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** Payload bytes of entries in `ents[lo, hi)`: what the uncommitted-size and inflight limits count. */
export function payloadSizeBytes(ents: readonly Entry[], lo = 0, hi = ents.length): number {
  let total = 0;
  for (let i = lo; i < hi; i++) total += ents[i]!.data.byteLength;
  return total;
}

// ---------------------------------------------------------------------------------------------
// Persistent state and configuration
// ---------------------------------------------------------------------------------------------

/** The state that must be durable before any message that depends on it is sent. */
export interface HardState {
  /** Latest term this node has seen. Never decreases. */
  readonly term: number;
  /** Candidate this node voted for in `term`, or NONE. At most one vote per term. */
  readonly vote: string;
  /** Highest log index known committed. Never decreases; never above the durable last index. */
  readonly commit: number;
}

/** The cluster membership: who votes and who only receives the log. Disjoint sets. */
export interface ConfState {
  /** Members that vote and count toward quorum. */
  readonly voters: readonly string[];
  /** Members that receive the log but neither vote nor count toward quorum. */
  readonly learners: readonly string[];
}

/** The metadata of a snapshot: the log position it replaces and the membership at that point. */
export interface SnapshotMetadata {
  /** Index of the last entry the snapshot includes. */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /** Membership as of `index`. */
  readonly confState: ConfState;
}

/** A state machine snapshot: replaces the log up to and including `metadata.index`. */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** Opaque application state. */
  readonly data: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Membership changes
// ---------------------------------------------------------------------------------------------

/**
 * `addNode` adds a voter or promotes a learner; `addLearner` adds a learner or demotes a voter;
 * `removeNode` removes a voter or a learner. One change at a time (no joint consensus).
 */
export type ConfChangeType = 'addNode' | 'addLearner' | 'removeNode';

/** A single membership change, proposed as a `confChange` entry and applied once committed. */
export interface ConfChange {
  readonly type: ConfChangeType;
  /** The member the change is about. Non-empty. */
  readonly nodeId: string;
  /** Opaque application data (for instance the new member's address). */
  readonly context?: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/**
 * Message types, as in etcd-io/raft.
 *
 * - `MsgHup` (local): start an election. Produced by tick() and campaign().
 * - `MsgBeat` (local): the leader should heartbeat. Produced by tick().
 * - `MsgCheckQuorum` (local): the leader checks it heard from a quorum recently.
 * - `MsgUnreachable` (local): reportUnreachable(); `MsgSnapStatus` (local): reportSnapshot().
 * - `MsgProp`: proposal; a follower forwards it to the leader (with term 0, like a local message).
 * - `MsgApp` / `MsgAppResp`: log replication and its acknowledgement or rejection.
 * - `MsgVote` / `MsgVoteResp`, `MsgPreVote` / `MsgPreVoteResp`: elections.
 * - `MsgHeartbeat` / `MsgHeartbeatResp`: leader liveness, commit propagation, ReadIndex rounds.
 * - `MsgSnap`: the leader sends a snapshot to a follower whose next entry it has compacted.
 * - `MsgTransferLeader`: ask the leader to hand leadership to `from`. `MsgTimeoutNow`: the leader
 *   tells the transferee to campaign at once.
 * - `MsgReadIndex` / `MsgReadIndexResp`: linearizable reads; a follower forwards to the leader.
 */
export type MessageType =
  | 'MsgHup'
  | 'MsgBeat'
  | 'MsgProp'
  | 'MsgApp'
  | 'MsgAppResp'
  | 'MsgVote'
  | 'MsgVoteResp'
  | 'MsgSnap'
  | 'MsgHeartbeat'
  | 'MsgHeartbeatResp'
  | 'MsgUnreachable'
  | 'MsgSnapStatus'
  | 'MsgCheckQuorum'
  | 'MsgTransferLeader'
  | 'MsgTimeoutNow'
  | 'MsgReadIndex'
  | 'MsgReadIndexResp'
  | 'MsgPreVote'
  | 'MsgPreVoteResp';

/** All message types, for validation of decoded messages. */
export const MESSAGE_TYPES: readonly MessageType[] = [
  'MsgHup', 'MsgBeat', 'MsgProp', 'MsgApp', 'MsgAppResp', 'MsgVote', 'MsgVoteResp', 'MsgSnap',
  'MsgHeartbeat', 'MsgHeartbeatResp', 'MsgUnreachable', 'MsgSnapStatus', 'MsgCheckQuorum',
  'MsgTransferLeader', 'MsgTimeoutNow', 'MsgReadIndex', 'MsgReadIndexResp', 'MsgPreVote',
  'MsgPreVoteResp',
];

/** Request context of a ReadIndex request: opaque to the core, compared by value. */
export type RequestCtx = Uint8Array | string;

/**
 * A Raft message. Plain data; absent optional fields mean 0 / false / empty.
 *
 * Which fields a type uses:
 * - MsgApp: `logTerm`/`index` = term and index of the entry before `entries`; `commit`.
 * - MsgAppResp: `index` = last index the follower now matches (accept) or the rejected `index`
 *   (reject, with `rejectHint` = the follower's guess of the last matching index and `logTerm` =
 *   its term there, 0 if unknown).
 * - MsgVote/MsgPreVote: `logTerm`/`index` = the candidate's last entry; `context` is
 *   "CampaignTransfer" when the election follows a leadership transfer.
 * - MsgVoteResp/MsgPreVoteResp: `reject`.
 * - MsgHeartbeat: `commit`; `context` carries a ReadIndex request context. MsgHeartbeatResp echoes
 *   `context`.
 * - MsgSnap: `snapshot`.
 * - MsgProp: `entries` (term and index 0 until the leader assigns them).
 * - MsgReadIndex: `context` = request context. MsgReadIndexResp: `index` = read index, `context`.
 */
export interface Message {
  readonly type: MessageType;
  /** Sender id. */
  readonly from: string;
  /** Recipient id. */
  readonly to: string;
  /**
   * Sender's term. 0 only for local messages and for forwarded MsgProp/MsgReadIndex, which the
   * leader treats like local requests whatever their origin's term.
   */
  readonly term: number;
  readonly logTerm?: number;
  readonly index?: number;
  readonly entries?: readonly Entry[];
  readonly commit?: number;
  readonly reject?: boolean;
  readonly rejectHint?: number;
  readonly snapshot?: Snapshot;
  readonly context?: RequestCtx;
}

/** Context of vote requests that follow a leadership transfer: they bypass the leader lease. */
export const CAMPAIGN_TRANSFER = 'CampaignTransfer';

/**
 * True for leader-originated replication messages (MsgApp, MsgHeartbeat, MsgSnap). The shell may
 * send these before the Ready that carries them is persisted: a leader counts its own log toward
 * the commit index only after advance(), so an early MsgApp can never let an entry commit that a
 * quorum has not made durable. Every other message must wait until the Ready is persisted.
 */
export function canSendBeforePersist(m: Message): boolean {
  return m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap';
}

/** Local messages never cross the network; RawNode.step() refuses them. */
export function isLocalMessage(t: MessageType): boolean {
  return (
    t === 'MsgHup' || t === 'MsgBeat' || t === 'MsgUnreachable' || t === 'MsgSnapStatus' ||
    t === 'MsgCheckQuorum'
  );
}

/** Responses are ignored when they come from a node outside the configuration. */
export function isResponseMessage(t: MessageType): boolean {
  return (
    t === 'MsgAppResp' || t === 'MsgVoteResp' || t === 'MsgHeartbeatResp' ||
    t === 'MsgUnreachable' || t === 'MsgPreVoteResp'
  );
}

// ---------------------------------------------------------------------------------------------
// Volatile state, reads, results
// ---------------------------------------------------------------------------------------------

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state worth reporting: who leads and what this node is. Not persisted. */
export interface SoftState {
  /** The leader this node knows of in its current term, or NONE. */
  readonly lead: string;
  readonly role: Role;
}

/**
 * The outcome of a ReadIndex request: once this node has applied up to `index`, a read of the
 * state machine is linearizable with respect to the request identified by `requestCtx`.
 */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: RequestCtx;
}

/** Why a proposal was refused although a leader exists. */
export type DropReason =
  /** maxUncommittedEntriesBytes would be exceeded; retry after some entries commit. */
  | 'UncommittedSizeExceeded'
  /** A leadership transfer is in progress; retry at the new leader. */
  | 'LeadershipTransferInProgress'
  /** A previous membership change is not applied yet. */
  | 'ConfChangePending'
  /** The membership change is invalid (it would remove the last voter, say). */
  | 'InvalidConfChange'
  /** This node is the leader but no longer a member of the configuration. */
  | 'NotInConfiguration';

/** The proposal was appended to the leader's log at `[firstIndex, lastIndex]` in `term`. */
export interface ProposeAppended {
  readonly ok: true;
  readonly forwardedTo: typeof NONE;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly term: number;
}

/** This node is a follower and forwarded the proposal to the leader `forwardedTo`. */
export interface ProposeForwarded {
  readonly ok: true;
  readonly forwardedTo: string;
}

/**
 * No leader to take the proposal: none is known (`leaderHint` is NONE) or this node is a
 * candidate. Retry later, or at `leaderHint`.
 */
export interface NotLeader {
  readonly ok: false;
  readonly error: 'NotLeader';
  readonly leaderHint: string;
}

/** The leader refused the proposal; nothing was appended. */
export interface ProposalDropped {
  readonly ok: false;
  readonly error: 'ProposalDropped';
  readonly reason: DropReason;
}

export type ProposeResult = ProposeAppended | ProposeForwarded | NotLeader | ProposalDropped;

/** ReadIndex requests are accepted (handled or forwarded) or refused for want of a leader. */
export type ReadIndexResult = { readonly ok: true } | NotLeader;

/** The leadership transfer was started or forwarded, or refused for want of a leader. */
export type TransferResult = { readonly ok: true } | NotLeader;

/** Replication state of one follower as the leader sees it. */
export type ProgressStateName = 'probe' | 'replicate' | 'snapshot';

/** A follower's replication progress, as reported by status(). */
export interface ProgressStatus {
  /** Highest index known replicated (durably) on the follower. */
  readonly match: number;
  /** Next index to send. Invariant: match < next. */
  readonly next: number;
  readonly state: ProgressStateName;
  /** Heard from within the current election timeout (checkQuorum). */
  readonly recentActive: boolean;
  readonly isLearner: boolean;
  /** Number of MsgApp in flight (replicate state). */
  readonly inflightMsgs: number;
  /** Snapshot index being sent (snapshot state), else 0. */
  readonly pendingSnapshot: number;
}

/** A snapshot of the node's state for observability. Plain data. */
export interface Status {
  readonly id: string;
  readonly term: number;
  readonly vote: string;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly lead: string;
  readonly role: Role;
  /** Target of an ongoing leadership transfer, or NONE. */
  readonly leadTransferee: string;
  readonly config: ConfState;
  /** Per-member progress; empty unless this node is the leader. */
  readonly progress: Readonly<Record<string, ProgressStatus>>;
}
