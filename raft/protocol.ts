/**
 * What clients and peers send to a store peer, and what it answers. Plain data throughout.
 */
import type { Message } from './core/types.js';
import type { Command, KeyValue, MvccError, Proposal, RangeRequest, Response, WatchEvent } from './mvcc/commands.js';

export interface WatchCreate {
  key: string;
  rangeEnd?: string;
  startRevision?: number;
  prevKv?: boolean;
  progressNotify?: boolean;
}

export type PeerRequest =
  /** A write (put, deleteRange, txn, leases, compact), exactly once per (client, seq). */
  | { op: 'propose'; proposal: Proposal }
  /** A read; linearizable unless `serializable`. */
  | { op: 'read'; cmd: RangeRequest; serializable?: boolean }
  /** Events are sent to `watcher` as WatchNotice messages. */
  | { op: 'watch'; watcher: string; req: WatchCreate }
  | { op: 'cancelWatch'; watchId: number }
  | { op: 'keepAlive'; id: number }
  | { op: 'transferLeader'; to: string }
  | { op: 'member'; change: 'add' | 'addLearner' | 'remove'; id: string }
  | { op: 'status' }
  /** Read-only: a digest of the peer's state machine at its applied index (fault campaigns). */
  | { op: 'digest' };

export type PeerError =
  | { ok: false; error: 'NotLeader'; leaderHint: string }
  | { ok: false; error: 'ProposalDropped'; reason: string }
  | { ok: false; error: 'Unavailable'; reason: string }
  | { ok: false; error: 'BadRequest'; reason: string };

export type PeerReply = { ok: true; result: Response } | PeerError | { ok: false; error: 'Mvcc'; detail: MvccError };

export interface WatchNotice {
  t: 'watch';
  watchId: number;
  events: WatchEvent[];
  /** Store revision the notice is current to (a progress notice has no events). */
  revision: number;
  /** Set when the watch ended (compacted start, slow watcher, peer restart). */
  canceled?: string;
}

export interface PeerStatus {
  id: string;
  role: string;
  term: number;
  commit: number;
  applied: number;
  leader: string;
  /** ms since the last message from the leader (0 on the leader itself). */
  lastHeartbeatMs: number;
  revision: number;
  voters: string[];
  learners: string[];
  lastIndex: number;
  /** The log holds entries after this index (compaction or an installed snapshot). */
  compactedAt: number;
  /** Snapshots received from a leader and installed since this peer started. */
  snapshotsInstalled: number;
  /**
   * Cumulative Ready-loop work: batches, entries persisted and applied, the writes those applied
   * entries held (a batch entry counts once in entries, once per proposal in writes), and ms
   * spent persisting and applying.
   */
  work: { readies: number; entriesPersisted: number; entriesApplied: number; writesApplied: number; persistMs: number; applyMs: number };
}

/**
 * What `{op: 'digest'}` answers. Replicas at the same applied index must give equal hashes:
 * `kvHash` covers the live key-values, `stateHash` the whole MVCC snapshot (history, leases,
 * dedup table), whose encoding is identical on every replica at one applied index.
 */
export interface PeerDigest {
  id: string;
  applied: number;
  revision: number;
  keys: number;
  kvHash: string;
  stateHash: string;
}

/** Peer-to-peer traffic. */
export type PeerMessage =
  | { t: 'raft'; msgs: Message[] }
  | { t: 'snapChunk'; id: string; seq: number; total: number; bytes: Uint8Array; meta?: Omit<Message, 'snapshot'> & { snapMeta: unknown } }
  | { t: 'snapAck'; id: string; ok: boolean };

export type { Command, KeyValue, Proposal, RangeRequest, Response, WatchEvent };
