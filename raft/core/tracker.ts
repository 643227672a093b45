/**
 * The membership configuration and what the leader tracks per member: replication progress,
 * votes in the current election, and the quorum arithmetic over them (a simple majority of the
 * voters; learners never count).
 */
import { assert } from './assert.js';
import { Progress } from './progress.js';
import type { ConfState } from './types.js';

export type VoteResult = 'won' | 'lost' | 'pending';

/** Majority size for `n` voters. */
export function quorumSize(n: number): number {
  return (n >> 1) + 1;
}

export class ProgressTracker {
  /** Voting members, sorted (a deterministic iteration order for messages). */
  voters: string[] = [];
  /** Non-voting members, sorted. Invariant: disjoint from `voters`. */
  learners: string[] = [];
  /** Progress of every member (voters and learners), keyed by id; nothing else. */
  readonly progress = new Map<string, Progress>();
  /** Votes received in the current (pre-)election: id -> granted. Only voters' votes count. */
  readonly votes = new Map<string, boolean>();
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
  /** Scratch space for committed(), reused so the hot path does not allocate. */
  private matchScratch: number[] = [];

  constructor(maxInflightMsgs: number, maxInflightBytes: number) {
    this.maxInflightMsgs = maxInflightMsgs;
    this.maxInflightBytes = maxInflightBytes;
  }

  isVoter(id: string): boolean {
    const pr = this.progress.get(id);
    return pr !== undefined && !pr.isLearner;
  }

  isMember(id: string): boolean {
    return this.progress.has(id);
  }

  /** Exactly one voter: commits and reads need no round trip. */
  isSingleton(): boolean {
    return this.voters.length === 1;
  }

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  /**
   * Replaces the configuration. Existing members keep their progress (a promoted learner becomes
   * a voter in place); new ones start probing at `nextIndex` and count as recently active.
   */
  setConfig(cs: ConfState, nextIndex: number): void {
    const voters = [...new Set(cs.voters)].sort();
    const learners = [...new Set(cs.learners)].sort();
    for (const id of learners) {
      assert(!voters.includes(id), () => `${id} is both voter and learner`);
    }
    for (const id of [...voters, ...learners]) assert(id.length > 0, 'empty member id');
    const keep = new Set([...voters, ...learners]);
    for (const id of [...this.progress.keys()]) {
      if (!keep.has(id)) this.progress.delete(id);
    }
    for (const id of voters) this.ensure(id, false, nextIndex);
    for (const id of learners) this.ensure(id, true, nextIndex);
    this.voters = voters;
    this.learners = learners;
    this.matchScratch = new Array<number>(voters.length).fill(0);
    for (const id of [...this.votes.keys()]) {
      if (!this.isVoter(id)) this.votes.delete(id);
    }
  }

  private ensure(id: string, isLearner: boolean, nextIndex: number): void {
    const pr = this.progress.get(id);
    if (pr !== undefined) {
      pr.isLearner = isLearner;
      return;
    }
    const fresh = new Progress(nextIndex, this.maxInflightMsgs, this.maxInflightBytes, isLearner);
    // A new member is considered active, or CheckQuorum could depose the leader right away.
    fresh.recentActive = true;
    this.progress.set(id, fresh);
  }

  /** Visits every member, voters first then learners, each in sorted order. */
  forEach(fn: (id: string, pr: Progress) => void): void {
    for (const id of this.voters) fn(id, this.progress.get(id)!);
    for (const id of this.learners) fn(id, this.progress.get(id)!);
  }

  /**
   * The largest index replicated on a majority of voters. 0 with no voters. Allocation-free:
   * insertion sort of the (few) voters' match indexes into a reused scratch array.
   */
  committed(): number {
    const n = this.voters.length;
    if (n === 0) return 0;
    const a = this.matchScratch;
    for (let i = 0; i < n; i++) {
      const v = this.progress.get(this.voters[i]!)!.match;
      let j = i - 1;
      while (j >= 0 && a[j]! < v) {
        a[j + 1] = a[j]!;
        j--;
      }
      a[j + 1] = v;
    }
    // Sorted descending: the quorum-th largest is replicated on a quorum.
    return a[quorumSize(n) - 1]!;
  }

  /** Whether a quorum of voters has been heard from recently (the leader always counts itself). */
  quorumActive(self: string): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)!.recentActive) active++;
    }
    return active >= quorumSize(this.voters.length);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records `id`'s vote unless it already voted in this election (first answer wins). */
  recordVote(id: string, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Outcome of the current election so far. */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: this.voteResult((id) => this.votes.get(id)) };
  }

  /**
   * Majority decision over the voters given each one's answer (true/false) or undefined if it has
   * not answered. 'won' with a majority of yes, 'lost' once a majority is out of reach.
   */
  voteResult(answer: (id: string) => boolean | undefined): VoteResult {
    const n = this.voters.length;
    if (n === 0) return 'won'; // an empty configuration agrees with everything (as etcd's)
    let yes = 0;
    let missing = 0;
    for (const id of this.voters) {
      const v = answer(id);
      if (v === undefined) missing++;
      else if (v) yes++;
    }
    const q = quorumSize(n);
    if (yes >= q) return 'won';
    if (yes + missing >= q) return 'pending';
    return 'lost';
  }
}
