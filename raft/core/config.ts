/**
 * Configuration of a Raft node, its defaults (etcd's) and validation.
 */
import { assert } from './assert.js';

export type ReadOnlyOption = 'safe' | 'lease';

/** What the caller supplies; everything but `id` and `random` has a default. */
export interface RaftConfig {
  /** This node's id. Non-empty. */
  readonly id: string;
  /**
   * Ticks without hearing from a leader before a follower campaigns; the actual timeout is drawn
   * uniformly from [electionTicks, 2 * electionTicks) after every reset. Also the leader's
   * CheckQuorum period and the follower's leader lease. Default 10. Must exceed heartbeatTicks.
   */
  readonly electionTicks?: number;
  /** Ticks between leader heartbeats. Default 1. */
  readonly heartbeatTicks?: number;
  /** Uniform random numbers in [0, 1) for election jitter; inject a seeded one for determinism. */
  readonly random: () => number;
  /** Run a pre-election first, so a partitioned node cannot inflate terms. Default true. */
  readonly preVote?: boolean;
  /**
   * A leader steps down when it has not heard from a quorum within an election timeout, and
   * followers that heard from a leader within the timeout ignore (pre)votes. Default true.
   */
  readonly checkQuorum?: boolean;
  /** Upper bound on the entries' bytes in one MsgApp (at least one entry is sent). Default 1 MiB. */
  readonly maxSizePerMsgBytes?: number;
  /** Upper bound on committedEntries' bytes in one Ready. Default: maxSizePerMsgBytes. */
  readonly maxCommittedSizePerReadyBytes?: number;
  /** MsgApp messages in flight per follower in the replicate state. Default 512. */
  readonly maxInflightMsgs?: number;
  /** Payload bytes in flight per follower; 0 means no limit. Default 32 MiB. */
  readonly maxInflightBytes?: number;
  /**
   * Payload bytes of the leader's uncommitted log tail beyond which proposals are dropped
   * (ProposalDropped/UncommittedSizeExceeded); 0 means no limit. Default 64 MiB.
   */
  readonly maxUncommittedEntriesBytes?: number;
  /** ReadIndex requests queued on a leader; further ones are dropped. Default 4096. */
  readonly maxPendingReadIndexMsgs?: number;
  /**
   * `safe`: confirm leadership with a heartbeat round per ReadIndex batch. `lease`: trust the
   * leader lease (requires checkQuorum; relies on bounded clock drift). Default 'safe'.
   */
  readonly readOnlyOption?: ReadOnlyOption;
  /**
   * Last index the application has applied, when restarting: committed entries up to it are not
   * handed out again. The storage's initial ConfState must then reflect conf changes up to it.
   */
  readonly applied?: number;
  /** Followers refuse proposals (NotLeader with a hint) instead of forwarding them. Default false. */
  readonly disableProposalForwarding?: boolean;
  /**
   * TEST ONLY — a planted bug for the fault campaigns (`npm run chaos -- --plant
   * commit-any-term`). The leader commits whatever index a quorum holds even when that entry is
   * of an earlier term, skipping Raft's current-term rule (§5.4.2, Figure 8). Never set it
   * anywhere else: it loses committed entries. Default false.
   */
  readonly unsafeCommitAnyTerm?: boolean;
}

/** A validated configuration with every default filled in. */
export interface ResolvedConfig {
  readonly id: string;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly random: () => number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxSizePerMsgBytes: number;
  readonly maxCommittedSizePerReadyBytes: number;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
  readonly maxUncommittedEntriesBytes: number;
  readonly maxPendingReadIndexMsgs: number;
  readonly readOnlyOption: ReadOnlyOption;
  readonly applied: number;
  readonly disableProposalForwarding: boolean;
  /** TEST ONLY, see RaftConfig.unsafeCommitAnyTerm. */
  readonly unsafeCommitAnyTerm: boolean;
}

const MIB = 1024 * 1024;

export const DEFAULTS = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxSizePerMsgBytes: 1 * MIB,
  maxInflightMsgs: 512,
  maxInflightBytes: 32 * MIB,
  maxUncommittedEntriesBytes: 64 * MIB,
  maxPendingReadIndexMsgs: 4096,
  readOnlyOption: 'safe' as ReadOnlyOption,
} as const;

function positiveInt(n: number, name: string): number {
  assert(Number.isSafeInteger(n) && n > 0, () => `${name} must be a positive integer, got ${n}`);
  return n;
}

function nonNegativeInt(n: number, name: string): number {
  assert(Number.isSafeInteger(n) && n >= 0, () => `${name} must be a non-negative integer, got ${n}`);
  return n;
}

/** Fills in defaults and checks the configuration; throws AssertionError if it is invalid. */
export function resolveConfig(c: RaftConfig): ResolvedConfig {
  assert(typeof c.id === 'string' && c.id.length > 0, 'config.id must be a non-empty string');
  assert(typeof c.random === 'function', 'config.random must be a function');
  const electionTicks = positiveInt(c.electionTicks ?? DEFAULTS.electionTicks, 'electionTicks');
  const heartbeatTicks = positiveInt(c.heartbeatTicks ?? DEFAULTS.heartbeatTicks, 'heartbeatTicks');
  assert(electionTicks > heartbeatTicks, 'electionTicks must be greater than heartbeatTicks');
  const maxSizePerMsgBytes = positiveInt(c.maxSizePerMsgBytes ?? DEFAULTS.maxSizePerMsgBytes, 'maxSizePerMsgBytes');
  const checkQuorum = c.checkQuorum ?? DEFAULTS.checkQuorum;
  const readOnlyOption = c.readOnlyOption ?? DEFAULTS.readOnlyOption;
  assert(readOnlyOption === 'safe' || readOnlyOption === 'lease', () => `unknown readOnlyOption ${readOnlyOption}`);
  assert(readOnlyOption !== 'lease' || checkQuorum, "readOnlyOption 'lease' requires checkQuorum");
  return {
    id: c.id,
    electionTicks,
    heartbeatTicks,
    random: c.random,
    preVote: c.preVote ?? DEFAULTS.preVote,
    checkQuorum,
    maxSizePerMsgBytes,
    maxCommittedSizePerReadyBytes: positiveInt(
      c.maxCommittedSizePerReadyBytes ?? maxSizePerMsgBytes, 'maxCommittedSizePerReadyBytes'),
    maxInflightMsgs: positiveInt(c.maxInflightMsgs ?? DEFAULTS.maxInflightMsgs, 'maxInflightMsgs'),
    maxInflightBytes: nonNegativeInt(c.maxInflightBytes ?? DEFAULTS.maxInflightBytes, 'maxInflightBytes'),
    maxUncommittedEntriesBytes: nonNegativeInt(
      c.maxUncommittedEntriesBytes ?? DEFAULTS.maxUncommittedEntriesBytes, 'maxUncommittedEntriesBytes'),
    maxPendingReadIndexMsgs: positiveInt(
      c.maxPendingReadIndexMsgs ?? DEFAULTS.maxPendingReadIndexMsgs, 'maxPendingReadIndexMsgs'),
    readOnlyOption,
    applied: nonNegativeInt(c.applied ?? 0, 'applied'),
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    unsafeCommitAnyTerm: c.unsafeCommitAnyTerm ?? false,
  };
}
