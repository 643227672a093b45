/**
 * What the leader knows about one member's log, and the flow-control state machine that decides
 * what to send it next (as etcd-io/raft's tracker.Progress):
 *
 * - `probe`: we don't know where the follower's log ends; send one MsgApp at a time and wait for
 *   the answer (or a heartbeat response) before the next.
 * - `replicate`: the follower accepted our last probe; stream MsgApp optimistically, advancing
 *   `next` as we send, bounded by {@link Inflights}.
 * - `snapshot`: the follower needs entries we compacted; a snapshot is on its way, send nothing.
 */
import { assert } from './assert.js';
import { Inflights } from './inflights.js';
import type { ProgressStateName, ProgressStatus } from './types.js';

export class Progress {
  /** Highest index known to be in the follower's durable log. Invariant: match < next. */
  match: number;
  /** Index of the next entry to send. */
  next: number;
  state: ProgressStateName = 'probe';
  /**
   * Index of the snapshot being sent (snapshot state only, else 0). Once the follower reports an
   * index at or above it, the snapshot has been applied.
   */
  pendingSnapshot = 0;
  /**
   * The highest commit index sent to the follower (in MsgApp or MsgHeartbeat). Used to decide
   * whether an otherwise empty MsgApp is worth sending to move its commit index forward.
   */
  sentCommit = 0;
  /**
   * Heard from the follower since the last CheckQuorum (reset by the leader every election
   * timeout). New members start active so they are not counted as dead before a round trip.
   */
  recentActive = false;
  /**
   * In probe state: a probe is outstanding, wait. In replicate state: the inflights window is
   * full. Cleared by any response from the follower.
   */
  msgAppFlowPaused = false;
  /** MsgApp messages in flight (replicate state). */
  readonly inflights: Inflights;
  /** Learners receive the log but do not vote or count toward the commit quorum. */
  isLearner: boolean;

  constructor(next: number, maxInflightMsgs: number, maxInflightBytes: number, isLearner: boolean) {
    assert(next >= 1, () => `progress next must be >= 1, got ${next}`);
    this.match = 0;
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressStateName): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      // The snapshot may or may not have been applied: probe from after the better of the two.
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
    this.sentCommit = snapshotIndex;
  }

  /** Accounts for a MsgApp just sent with `entries` entries of `bytes` payload. */
  sentEntries(entries: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (entries > 0) {
        this.next += entries;
        this.inflights.add(this.next - 1, bytes);
      }
      // A message that fills the window is treated as a probe: wait for an answer.
      this.msgAppFlowPaused = this.inflights.full();
    } else {
      assert(this.state === 'probe', () => `sending entries in state ${this.state}`);
      if (entries > 0) this.msgAppFlowPaused = true;
    }
  }

  /** Whether sending `commit` would tell the follower something new that it can use. */
  canBumpCommit(commit: number): boolean {
    // The follower can only commit what it has (up to next - 1 once our messages arrive).
    return commit > this.sentCommit && this.sentCommit < this.next - 1;
  }

  sentCommitIndex(commit: number): void {
    this.sentCommit = commit;
  }

  /** The follower acknowledged up to `n`. Returns false if that is old news. */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    if (this.next < n + 1) this.next = n + 1;
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * The follower rejected a MsgApp whose previous index was `rejected`; `matchHint` is where our
   * logs probably match. Returns false if the rejection is stale and should be ignored.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // Stale if we already know it matches beyond the rejected index.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      this.sentCommit = Math.min(this.sentCommit, this.next - 1);
      return true;
    }
    // In probe state only the latest probe (at next - 1) is answered; others are stale.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Whether the leader should hold back MsgApp for now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
      case 'replicate':
        return this.msgAppFlowPaused;
      case 'snapshot':
        return true;
    }
  }

  status(): ProgressStatus {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      recentActive: this.recentActive,
      isLearner: this.isLearner,
      inflightMsgs: this.inflights.messages,
      pendingSnapshot: this.pendingSnapshot,
    };
  }
}
