/**
 * # raft/core — a Raft consensus core without I/O
 *
 * A deterministic, synchronous Raft state machine in the style of etcd-io/raft. It never reads a
 * clock, draws randomness of its own, touches a disk or a socket: time is `tick()` calls,
 * randomness is the injected `config.random`, input is `step(message)` and the application's
 * calls, and output is a {@link Ready}. The shell around it (the store peer actor) does the I/O.
 *
 * Features: leader election with randomized timeouts, PreVote, CheckQuorum with a leader lease
 * for followers; log replication with fast conflict backtracking, optimistic pipelining with
 * per-follower flow control (probe / replicate / snapshot; inflight window by count and bytes;
 * MsgApp bounded by maxSizePerMsgBytes), batching of proposals and acknowledgements into shared
 * MsgApp messages; the uncommitted-size limit; ReadIndex (safe and lease); snapshots and log
 * compaction; single-step membership changes with learners; leadership transfer; proposal and
 * ReadIndex forwarding from followers.
 *
 * ## Starting a node
 *
 * ```ts
 * const storage = new MemoryStorage();          // mirror of the durable log
 * const node = new RawNode({ id: 'etcd-1', random: ctx.random }, storage);
 * if (brandNewCluster) node.bootstrap(['etcd-1', 'etcd-2', 'etcd-3']);
 * ```
 *
 * Membership at index 0 must be identical on every member, founders and later joiners alike.
 * Either (a) every founding member calls `bootstrap(peers)` on an empty storage (the founding
 * membership then lives in the log as committed `addNode` entries) and joiners start from an
 * empty `new MemoryStorage()` — etcd's way — or (b) every member, joiners included, starts from
 * `new MemoryStorage({ voters: founders, learners: [] })`. Mixing the two (founders with a
 * configuration at index 0, a joiner without one) makes the joiner rebuild the wrong membership
 * from the log.
 *
 * Restarting: load the durable snapshot, hard state and entries into a MemoryStorage
 * (`applySnapshot`, `setHardState`, `append`; `setConfState` if you pass `applied`) and build a
 * new RawNode on it. It recovers term, vote, commit and log; committed entries after `applied`
 * (default: the snapshot index) are handed out again to be applied.
 *
 * Ready fields that carry nothing this time are `undefined` (softState, hardState, snapshot) or
empty arrays; every Ready has the same shape.

## The loop
 *
 * ```ts
 * // inputs, any number, in any order:
 * node.tick();                 // every tick interval
 * node.step(msg);              // every Raft message received
 * node.propose(data);          // client writes (proposeBatch for many at once)
 * node.readIndex(ctx);         // linearizable reads
 * // then, once per turn:
 * if (node.hasReady()) {
 *   const rd = node.ready();
 *   send(rd.messages.filter(canSendBeforePersist));     // optional: leader appends in parallel
 *   persist(rd.snapshot, rd.entries, rd.hardState, rd.mustSync);
 *   mirror into storage: applySnapshot / append / setHardState;
 *   send(rd.messages.filter((m) => !canSendBeforePersist(m)));   // or all of them, here
 *   apply(rd.snapshot); apply(rd.committedEntries);   // conf changes: node.applyConfChange(...)
 *   serve(rd.readStates) once applied >= their index;
 *   node.advance(rd);
 * }
 * ```
 *
 * Contract: at most one Ready is outstanding (ready() then advance() before the next ready());
 * messages that depend on persisted state go out only after the Ready is durable (only the
 * leader's MsgApp / MsgHeartbeat / MsgSnap may leave earlier: the leader counts its own log
 * toward commit only after advance()). Committed entries are applied only after the Ready's
 * entries are durable, and in order. Messages between two members should be delivered in order
 * when possible; loss, duplication and reordering are tolerated.
 *
 * ## Results and errors
 *
 * Expected conditions are typed results: propose* return {@link ProposeResult} (`ok` with the
 * log position, `ok` forwarded to the leader, `NotLeader{leaderHint}`, or
 * `ProposalDropped{reason}`); readIndex/transferLeadership return `ok` or `NotLeader`. Storage
 * reports `CompactedError`, `UnavailableError`, `SnapshotTemporarilyUnavailableError` (the core
 * handles these). A broken invariant throws {@link AssertionError}: the actor should crash and
 * restart from durable state.
 *
 * ## Limits (defaults as etcd's)
 *
 * electionTicks 10, heartbeatTicks 1, maxSizePerMsgBytes 1 MiB, maxInflightMsgs 512,
 * maxInflightBytes 32 MiB, maxUncommittedEntriesBytes 64 MiB, maxPendingReadIndexMsgs 4096,
 * maxCommittedSizePerReadyBytes = maxSizePerMsgBytes.
 *
 * ## Testing
 *
 * `./testing.js` (not re-exported here) has a deterministic in-memory cluster: a synchronous
 * network with cuts, loss, duplication and reordering from a seeded PRNG; per-node Ready loops
 * that persist into MemoryStorage like a shell (optionally sending a leader's appends before
 * persisting, with slow disks and crashes in between); crash/restart; snapshots of a tiny state
 * machine; and running checks of election safety, log matching and state machine safety.
 */

export { AssertionError, assert } from './assert.js';
export {
  CompactedError,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  StorageError,
  UnavailableError,
} from './errors.js';
export { DEFAULTS, type RaftConfig, type ReadOnlyOption, type ResolvedConfig, resolveConfig } from './config.js';
export { applyConfChangeToState, decodeConfChange, encodeConfChange } from './confchange.js';
export { type InitialState, MemoryStorage, type Storage } from './storage.js';
export { RawNode, type Ready } from './rawnode.js';
export {
  CAMPAIGN_TRANSFER,
  type ConfChange,
  type ConfChangeType,
  type ConfState,
  type DropReason,
  ENTRY_OVERHEAD_BYTES,
  type Entry,
  type EntryType,
  type HardState,
  MESSAGE_TYPES,
  type Message,
  type MessageType,
  NONE,
  type NotLeader,
  type ProgressStateName,
  type ProgressStatus,
  type ProposalDropped,
  type ProposeAppended,
  type ProposeForwarded,
  type ProposeResult,
  type ReadIndexResult,
  type ReadState,
  type RequestCtx,
  type Role,
  type Snapshot,
  type SnapshotMetadata,
  type SoftState,
  type Status,
  type TransferResult,
  canSendBeforePersist,
  entrySizeBytes,
  isLocalMessage,
  isResponseMessage,
  payloadSizeBytes,
} from './types.js';
