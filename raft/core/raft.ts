/**
 * The Raft state machine (after etcd-io/raft's raft.go): roles, elections, replication, commit,
 * reads, snapshots, leadership transfer and membership. Deterministic and free of I/O: inputs are
 * tick(), step(message) and the application's calls; outputs accumulate in `msgs`, `readStates`
 * and the log, which {@link RawNode} turns into a Ready.
 *
 * Time is counted in ticks only. Randomness comes from `config.random`.
 */
import { AssertionError, assert, isIndex, unreachable } from './assert.js';
import { type ResolvedConfig } from './config.js';
import { applyConfChangeToState, decodeConfChange } from './confchange.js';
import { SnapshotTemporarilyUnavailableError } from './errors.js';
import { RaftLog } from './log.js';
import { type Progress } from './progress.js';
import { ReadOnly } from './readonly.js';
import { type Storage } from './storage.js';
import { ProgressTracker } from './tracker.js';
import {
  CAMPAIGN_TRANSFER,
  type ConfChange,
  type ConfState,
  type DropReason,
  type Entry,
  type EntryType,
  type HardState,
  type Message,
  type MessageType,
  NONE,
  type ProposeResult,
  type ReadState,
  type RequestCtx,
  type Role,
  type Snapshot,
  type SoftState,
  type Status,
  payloadSizeBytes,
} from './types.js';

type CampaignType = 'preElection' | 'election' | 'transfer';

const EMPTY_BYTES = new Uint8Array(0);
const NO_ENTRIES: readonly Entry[] = Object.freeze([]) as readonly Entry[];

export class Raft {
  readonly id: string;
  readonly cfg: ResolvedConfig;
  /** Current term; persisted (HardState). Never decreases. */
  term = 0;
  /** Whom this node voted for in `term`, or NONE; persisted. Set at most once per term. */
  vote = NONE;
  /** Leader of `term` as far as this node knows, or NONE. */
  lead = NONE;
  role: Role = 'follower';
  /** This node is a learner in the current configuration (never campaigns). */
  isLearner = false;
  readonly log: RaftLog;
  /** The configuration and, on the leader, every member's progress. */
  trk: ProgressTracker;
  /** Messages to send, in order; drained by RawNode.ready(). */
  msgs: Message[] = [];
  /** Confirmed read points; drained by RawNode.ready(). */
  readStates: ReadState[] = [];
  /**
   * Leader: ticks since the last CheckQuorum (reset every electionTicks). Others: ticks since the
   * last message from a valid leader (or granted vote). Invariant: >= 0.
   */
  electionElapsed = 0;
  /** Leader only: ticks since the last heartbeat broadcast. */
  heartbeatElapsed = 0;
  /** Election timeout in effect, drawn from [electionTicks, 2 * electionTicks). */
  randomizedElectionTicks = 0;
  /** Target of an ongoing leadership transfer, or NONE. Leader only. */
  leadTransferee = NONE;
  /**
   * Leader only: index of the latest conf change entry that may be unapplied. A new conf change
   * is refused while it is above `log.applied`, so at most one is in flight.
   */
  pendingConfIndex = 0;
  /** Leader only: payload bytes of entries appended in this term and not yet committed+applied. */
  uncommittedSizeBytes = 0;
  /** Leader only: ReadIndex requests awaiting their heartbeat round (safe option). */
  readOnly = new ReadOnly();
  /** Leader only: ReadIndex requests held until an entry of this term commits. */
  pendingReadIndexMessages: Message[] = [];
  /**
   * Leader only: followers may need MsgApp (new entries or a higher commit index). Sending is
   * deferred to the next Ready so that every proposal and acknowledgement stepped in between
   * shares one MsgApp per follower.
   */
  bcastPending = false;

  constructor(cfg: ResolvedConfig, storage: Storage) {
    this.id = cfg.id;
    this.cfg = cfg;
    const { hardState, confState } = storage.initialState();
    this.log = new RaftLog(storage, cfg.maxCommittedSizePerReadyBytes);
    this.trk = new ProgressTracker(cfg.maxInflightMsgs, cfg.maxInflightBytes);
    this.trk.setConfig(confState, this.log.lastIndex() + 1);
    this.isLearner = this.trk.progress.get(this.id)?.isLearner ?? false;
    this.loadState(hardState);
    // An `applied` at or below the snapshot adds nothing: the snapshot is applied by definition.
    if (cfg.applied > this.log.applied) this.log.appliedTo(cfg.applied);
    this.becomeFollower(this.term, NONE);
  }

  private loadState(hs: HardState): void {
    assert(isIndex(hs.term) && isIndex(hs.commit) && typeof hs.vote === 'string', () => `bad hard state ${JSON.stringify(hs)}`);
    if (hs.term === 0 && hs.vote === NONE && hs.commit === 0) return;
    assert(hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(),
      () => `hard state commit ${hs.commit} out of range [${this.log.committed}, ${this.log.lastIndex()}]`);
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  // -------------------------------------------------------------------------------------------
  // Sending
  // -------------------------------------------------------------------------------------------

  private send(m: Message): void {
    assert(m.to !== this.id, () => `sending ${m.type} to self`);
    this.msgs.push(m);
  }

  /**
   * Sends `to` a MsgApp with the entries from its `next` (or a snapshot when they are compacted).
   * Returns whether a message was sent. Empty appends (carrying only the commit index) go out
   * only with `sendIfEmpty`.
   */
  maybeSendAppend(to: string, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    assert(pr !== undefined, () => `no progress for ${to}`);
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm < 0) return this.maybeSendSnapshot(to, pr);
    let ents: readonly Entry[] = NO_ENTRIES;
    // With a full window send only empty appends: if every inflight message was lost, one of them
    // reaching the follower is what unblocks replication.
    if (pr.state !== 'replicate' || !pr.inflights.full()) {
      const got = this.log.entries(pr.next, this.cfg.maxSizePerMsgBytes);
      if (got === null) return this.maybeSendSnapshot(to, pr);
      ents = got;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    const commit = this.log.committed;
    this.send({
      type: 'MsgApp', from: this.id, to, term: this.term,
      logTerm: prevTerm, index: prevIndex, entries: ents, commit,
    });
    pr.sentEntries(ents.length, payloadSizeBytes(ents));
    pr.sentCommitIndex(commit);
    return true;
  }

  sendAppend(to: string): void {
    this.maybeSendAppend(to, true);
  }

  private maybeSendSnapshot(to: string, pr: Progress): boolean {
    // A follower we have not heard from lately is probably down; don't ship it a snapshot.
    if (!pr.recentActive) return false;
    let snapshot: Snapshot;
    try {
      snapshot = this.log.snapshot();
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) return false;
      throw err;
    }
    assert(snapshot.metadata.index > 0, () => `need a non-empty snapshot for ${to} (next ${pr.next})`);
    this.send({ type: 'MsgSnap', from: this.id, to, term: this.term, snapshot });
    pr.becomeSnapshot(snapshot.metadata.index);
    return true;
  }

  private sendHeartbeat(to: string, ctx: RequestCtx | undefined): void {
    const pr = this.trk.progress.get(to)!;
    // Never tell a follower to commit past what it is known to hold.
    const commit = Math.min(pr.match, this.log.committed);
    const m: Message = ctx === undefined
      ? { type: 'MsgHeartbeat', from: this.id, to, term: this.term, commit }
      : { type: 'MsgHeartbeat', from: this.id, to, term: this.term, commit, context: ctx };
    this.send(m);
    pr.sentCommitIndex(commit);
  }

  private bcastHeartbeat(ctx: RequestCtx | undefined): void {
    this.trk.forEach((id) => {
      if (id !== this.id) this.sendHeartbeat(id, ctx);
    });
  }

  /**
   * Sends the deferred broadcast: every follower gets its pending entries (as many MsgApp as
   * flow control allows) or, if it has none, an empty MsgApp when that moves its commit index.
   */
  flushBcast(): void {
    if (!this.bcastPending) return;
    this.bcastPending = false;
    if (this.role !== 'leader') return;
    const commit = this.log.committed;
    this.trk.forEach((id, pr) => {
      if (id === this.id) return;
      if (!this.maybeSendAppend(id, pr.canBumpCommit(commit))) return;
      while (this.maybeSendAppend(id, false)) { /* pipeline up to the inflight limits */ }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Role changes
  // -------------------------------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      assert(term > this.term, () => `term regressed ${this.term} -> ${term}`);
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const next = this.log.lastIndex() + 1;
    const durable = this.log.durableLastIndex();
    this.trk.forEach((id, pr) => {
      pr.match = 0;
      pr.next = next;
      pr.state = 'probe';
      pr.pendingSnapshot = 0;
      pr.sentCommit = 0;
      pr.recentActive = false;
      pr.msgAppFlowPaused = false;
      pr.inflights.reset();
      if (id === this.id) pr.match = durable;
    });
    this.pendingConfIndex = 0;
    this.uncommittedSizeBytes = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndexMessages = [];
    this.bcastPending = false;
  }

  private resetRandomizedElectionTimeout(): void {
    const r = this.cfg.random();
    assert(r >= 0 && r < 1, () => `config.random() returned ${r}, outside [0, 1)`);
    this.randomizedElectionTicks = this.cfg.electionTicks + Math.floor(r * this.cfg.electionTicks);
  }

  becomeFollower(term: number, lead: string): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition [leader -> candidate]');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition [leader -> pre-candidate]');
    // Neither the term nor the vote changes: a pre-election is only a poll.
    this.trk.resetVotes();
    this.lead = NONE;
    this.role = 'preCandidate';
  }

  private becomeLeader(): void {
    assert(this.role !== 'follower', 'invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const pr = this.trk.progress.get(this.id);
    assert(pr !== undefined && !pr.isLearner, 'leader must be a voter');
    pr.state = 'replicate';
    pr.recentActive = true;
    // There may or may not be an unapplied conf change in the log; assuming there is one until
    // everything up to here is applied is safe and avoids scanning the log.
    this.pendingConfIndex = this.log.lastIndex();
    const ok = this.appendEntries([{ type: 'normal', data: EMPTY_BYTES }]);
    assert(ok >= 0, 'empty entry must always be accepted');
    this.bcastPending = true;
  }

  // -------------------------------------------------------------------------------------------
  // Ticks and elections
  // -------------------------------------------------------------------------------------------

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.hup(this.cfg.preVote ? 'preElection' : 'election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.checkQuorum();
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastPendingRequestCtx());
    }
  }

  private checkQuorum(): void {
    if (!this.trk.quorumActive(this.id)) {
      this.becomeFollower(this.term, NONE);
      return;
    }
    this.trk.forEach((id, pr) => {
      if (id !== this.id) pr.recentActive = false;
    });
  }

  /** A voter that is not waiting on a snapshot may campaign. */
  promotable(): boolean {
    return this.trk.isVoter(this.id) && !this.log.hasPendingSnapshot();
  }

  hup(t: CampaignType): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // Campaigning with a configuration that committed entries are about to change is unsafe.
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(t);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const ents = this.log.slice(this.log.applied + 1, this.log.committed + 1, Number.MAX_SAFE_INTEGER);
    assert(ents !== null, 'unapplied committed entries were compacted');
    for (let i = 0; i < ents.length; i++) if (ents[i]!.type === 'confChange') return true;
    return false;
  }

  campaign(t: CampaignType): void {
    let term: number;
    let voteType: MessageType;
    if (t === 'preElection') {
      this.becomePreCandidate();
      voteType = 'MsgPreVote';
      // Pre-votes are requested for the term we would campaign in, without moving to it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = 'MsgVote';
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      // A single-voter cluster: our own vote is a quorum.
      if (t === 'preElection') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.trk.voters) {
      if (id === this.id) continue;
      const m: Message = t === 'transfer'
        ? { type: voteType, from: this.id, to: id, term, index: lastIndex, logTerm: lastTerm, context: CAMPAIGN_TRANSFER }
        : { type: voteType, from: this.id, to: id, term, index: lastIndex, logTerm: lastTerm };
      this.send(m);
    }
  }

  private poll(id: string, granted: boolean): 'won' | 'lost' | 'pending' {
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  // -------------------------------------------------------------------------------------------
  // Step
  // -------------------------------------------------------------------------------------------

  /** Processes one message (local or from a peer). */
  step(m: Message): void {
    assert(isIndex(m.term), () => `message term ${m.term} invalid`);
    if (m.term === 0) {
      // Local message, or a forwarded proposal/read: not subject to term checks.
    } else if (m.term > this.term) {
      if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
        const force = m.context === CAMPAIGN_TRANSFER;
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTicks;
        // We heard from a live leader within the minimum election timeout: this candidate is
        // probably a disruptive node (partitioned, or removed); don't even answer.
        if (!force && inLease) return;
      }
      if (m.type === 'MsgPreVote') {
        // Never change our term in response to a pre-vote.
      } else if (m.type === 'MsgPreVoteResp' && !m.reject) {
        // Pre-vote grants carry the future term; we move to it only when we win.
      } else if (m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
        // A stale leader (its followers moved on without it, but with CheckQuorum/PreVote it may
        // never learn our term otherwise): tell it our term so it steps down.
        this.send({ type: 'MsgAppResp', from: this.id, to: m.from, term: this.term });
      } else if (m.type === 'MsgPreVote') {
        // Reject so a pre-candidate behind us does not wait forever.
        this.send({ type: 'MsgPreVoteResp', from: this.id, to: m.from, term: this.term, reject: true });
      }
      return;
    }

    switch (m.type) {
      case 'MsgHup':
        this.hup(this.cfg.preVote ? 'preElection' : 'election');
        return;
      case 'MsgVote':
      case 'MsgPreVote':
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
      default:
        unreachable(this.role, 'role');
    }
  }

  private handleVoteRequest(m: Message): void {
    const respType: MessageType = m.type === 'MsgVote' ? 'MsgVoteResp' : 'MsgPreVoteResp';
    // We can vote if we already voted for this candidate, or have voted for nobody and know no
    // leader in this term, or it is a pre-vote for a future term.
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === 'MsgPreVote' && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index ?? 0, m.logTerm ?? 0)) {
      // Grants answer with the request's term (the pre-candidate's future term).
      this.send({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === 'MsgVote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private stepCandidate(m: Message): void {
    const myRespType: MessageType = this.role === 'preCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp';
    switch (m.type) {
      case 'MsgApp':
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case 'MsgHeartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'MsgSnap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'MsgVoteResp':
      case 'MsgPreVoteResp': {
        if (m.type !== myRespType) return;
        const res = this.poll(m.from, !m.reject);
        if (res === 'won') {
          if (this.role === 'preCandidate') this.campaign('election');
          else this.becomeLeader();
        } else if (res === 'lost') {
          // A pre-vote response carries a future term; stay in ours.
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        // Proposals, reads and transfers are refused at the RawNode; others are ignored.
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'MsgProp':
        if (this.lead === NONE || this.cfg.disableProposalForwarding) return;
        this.send({ ...m, to: this.lead, from: m.from === NONE ? this.id : m.from, term: 0 });
        return;
      case 'MsgApp':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case 'MsgHeartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'MsgSnap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'MsgTransferLeader':
        if (this.lead === NONE) return;
        this.send({ type: 'MsgTransferLeader', from: m.from, to: this.lead, term: this.term });
        return;
      case 'MsgTimeoutNow':
        // Transfers skip the pre-vote: no partition to guard against, and it saves a round trip.
        this.hup('transfer');
        return;
      case 'MsgReadIndex':
        if (this.lead === NONE) return;
        this.send({ type: 'MsgReadIndex', from: m.from, to: this.lead, term: 0, context: m.context! });
        return;
      case 'MsgReadIndexResp':
        if (m.context === undefined) return;
        this.readStates.push({ index: m.index ?? 0, requestCtx: m.context });
        return;
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'MsgBeat':
        this.bcastHeartbeat(this.readOnly.lastPendingRequestCtx());
        return;
      case 'MsgCheckQuorum':
        this.checkQuorum();
        return;
      case 'MsgProp':
        this.stepLeaderProposal(m);
        return;
      case 'MsgReadIndex':
        this.stepLeaderReadIndex(m);
        return;
      default:
        break;
    }
    const pr = this.trk.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case 'MsgAppResp':
        this.handleAppendResponse(m, pr);
        return;
      case 'MsgHeartbeatResp':
        this.handleHeartbeatResponse(m, pr);
        return;
      case 'MsgSnapStatus':
        if (pr.state !== 'snapshot') return;
        if (m.reject) pr.pendingSnapshot = 0; // failed: probe from match + 1 instead
        pr.becomeProbe();
        // Wait for a heartbeat response (failure) or the follower's MsgAppResp before probing.
        pr.msgAppFlowPaused = true;
        return;
      case 'MsgUnreachable':
        // Optimistic replication to an unreachable node has probably lost messages: re-probe.
        if (pr.state === 'replicate') pr.becomeProbe();
        return;
      case 'MsgTransferLeader':
        this.handleTransferLeader(m.from, pr);
        return;
      default:
        return;
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    const index = m.index ?? 0;
    if (m.reject) {
      // The follower's hint (rejectHint, logTerm) says where its log probably stops matching
      // ours; jump there in one step instead of walking back one entry per round trip.
      let nextProbe = Math.min(m.rejectHint ?? 0, this.log.lastIndex());
      const hintTerm = m.logTerm ?? 0;
      if (hintTerm > 0) nextProbe = this.log.findConflictByTerm(nextProbe, hintTerm).index;
      if (pr.maybeDecrTo(index, nextProbe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    if (!pr.maybeUpdate(index) && !(pr.match === index && pr.state === 'probe')) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      // The follower caught up (through the snapshot or otherwise) to where our log begins.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastPending = true;
    } else if (pr.canBumpCommit(this.log.committed)) {
      // The follower lags on the commit index: tell it with the next flush, where it shares a
      // MsgApp with whatever new entries arrive meanwhile.
      this.bcastPending = true;
    }
    while (this.maybeSendAppend(m.from, false)) { /* fill the window */ }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // A paused or lagging follower gets a MsgApp (possibly empty) on every heartbeat response.
    if (pr.match < this.log.lastIndex() || pr.canBumpCommit(this.log.committed)) this.sendAppend(m.from);
    if (this.cfg.readOnlyOption !== 'safe' || m.context === undefined) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === null) return;
    if (this.trk.voteResult((id) => (acks.has(id) ? true : undefined)) !== 'won') return;
    for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.req, rs.index);
  }

  private handleTransferLeader(transferee: string, pr: Progress): void {
    if (pr.isLearner) return;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return; // already under way
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return;
    // The transfer must finish within an election timeout or it is abandoned.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  private sendTimeoutNow(to: string): void {
    this.send({ type: 'MsgTimeoutNow', from: this.id, to, term: this.term });
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  private handleAppendEntries(m: Message): void {
    const prevIndex = m.index ?? 0;
    const prevTerm = m.logTerm ?? 0;
    const ents = m.entries ?? NO_ENTRIES;
    checkAppendedEntries(m, prevIndex, prevTerm, ents);
    if (prevIndex < this.log.committed) {
      // Everything up to our commit index matches by the Log Matching property.
      this.send({ type: 'MsgAppResp', from: this.id, to: m.from, term: this.term, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(prevIndex, prevTerm, m.commit ?? 0, ents);
    if (lastNew >= 0) {
      this.send({ type: 'MsgAppResp', from: this.id, to: m.from, term: this.term, index: lastNew });
      return;
    }
    // Our log does not have (prevIndex, prevTerm). Hint the leader at the last (index, term) that
    // could match: the largest index <= prevIndex whose term is <= prevTerm. Entries after it in
    // our log have terms above prevTerm and cannot be in the leader's log at those positions.
    const hint = this.log.findConflictByTerm(Math.min(prevIndex, this.log.lastIndex()), prevTerm);
    this.send({
      type: 'MsgAppResp', from: this.id, to: m.from, term: this.term,
      index: prevIndex, reject: true, rejectHint: hint.index, logTerm: hint.term,
    });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit ?? 0);
    const resp: Message = m.context === undefined
      ? { type: 'MsgHeartbeatResp', from: this.id, to: m.from, term: this.term }
      : { type: 'MsgHeartbeatResp', from: this.id, to: m.from, term: this.term, context: m.context };
    this.send(resp);
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    assert(s !== undefined, 'MsgSnap without snapshot');
    const index = this.restore(s) ? this.log.lastIndex() : this.log.committed;
    this.send({ type: 'MsgAppResp', from: this.id, to: m.from, term: this.term, index });
  }

  /** Installs a snapshot from the leader. Returns false if it brings nothing new. */
  private restore(s: Snapshot): boolean {
    const { index, term, confState } = s.metadata;
    if (index <= this.log.committed) return false;
    if (this.role !== 'follower') {
      // Only followers receive snapshots; step down rather than risk anything.
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    if (this.log.matchTerm(index, term)) {
      // We already have the snapshot's last entry: just fast-forward the commit index.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(s);
    const trk = new ProgressTracker(this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
    trk.setConfig(confState, this.log.lastIndex() + 1);
    this.trk = trk;
    this.isLearner = trk.progress.get(this.id)?.isLearner ?? false;
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Proposals and commit
  // -------------------------------------------------------------------------------------------

  /**
   * Appends entries proposed to this leader, stamping term and index. Returns the index of the
   * first one, or -1 if the uncommitted-size limit refuses them.
   */
  private appendEntries(items: readonly { type: EntryType; data: Uint8Array }[]): number {
    const first = this.log.lastIndex() + 1;
    let bytes = 0;
    for (let i = 0; i < items.length; i++) bytes += items[i]!.data.byteLength;
    if (!this.increaseUncommittedSize(bytes)) return -1;
    const ents: Entry[] = new Array<Entry>(items.length);
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      ents[i] = { term: this.term, index: first + i, type: it.type, data: it.data };
    }
    this.log.append(ents);
    return first;
  }

  /** The uncommitted tail may grow by `bytes`? An empty log tail always accepts one proposal. */
  private increaseUncommittedSize(bytes: number): boolean {
    const limit = this.cfg.maxUncommittedEntriesBytes;
    if (limit > 0 && this.uncommittedSizeBytes > 0 && bytes > 0 && this.uncommittedSizeBytes + bytes > limit) {
      return false;
    }
    this.uncommittedSizeBytes += bytes;
    return true;
  }

  /** Committed entries were applied: they no longer count against the uncommitted limit. */
  reduceUncommittedSize(bytes: number): void {
    this.uncommittedSizeBytes = bytes > this.uncommittedSizeBytes ? 0 : this.uncommittedSizeBytes - bytes;
  }

  /**
   * Leader: validates and appends proposed entries. Conf changes are refused while another one
   * is unapplied or when invalid; a refused conf change inside a forwarded batch becomes an empty
   * entry (as in etcd) so the rest of the batch still goes through.
   */
  proposeAsLeader(items: { type: EntryType; data: Uint8Array }[], forwarded: boolean): ProposeResult {
    assert(this.role === 'leader', 'proposeAsLeader on a non-leader');
    assert(items.length > 0, 'empty proposal');
    if (!this.trk.isMember(this.id)) return dropped('NotInConfiguration');
    if (this.leadTransferee !== NONE) return dropped('LeadershipTransferInProgress');
    let pendingConf = this.pendingConfIndex;
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it.type !== 'confChange') continue;
      const refusal = this.confChangeRefusal(it.data, pendingConf);
      if (refusal !== null) {
        if (!forwarded) return dropped(refusal);
        items[i] = { type: 'normal', data: EMPTY_BYTES };
      } else {
        pendingConf = this.log.lastIndex() + i + 1;
      }
    }
    const first = this.appendEntries(items);
    if (first < 0) return dropped('UncommittedSizeExceeded');
    this.pendingConfIndex = pendingConf;
    this.bcastPending = true;
    return { ok: true, forwardedTo: NONE, firstIndex: first, lastIndex: first + items.length - 1, term: this.term };
  }

  private confChangeRefusal(data: Uint8Array, pendingConf: number): DropReason | null {
    if (pendingConf > this.log.applied) return 'ConfChangePending';
    let cc: ConfChange;
    try {
      cc = decodeConfChange(data);
    } catch {
      return 'InvalidConfChange';
    }
    return typeof applyConfChangeToState(this.trk.confState(), cc) === 'string' ? 'InvalidConfChange' : null;
  }

  private stepLeaderProposal(m: Message): void {
    const ents = m.entries ?? NO_ENTRIES;
    if (ents.length === 0) return;
    const items = ents.map((e) => ({ type: e.type, data: e.data }));
    this.proposeAsLeader(items, true); // a refused forwarded proposal is dropped silently
  }

  /** Advances the commit index to what a quorum durably holds, if that entry is of our term. */
  maybeCommit(): boolean {
    const index = this.trk.committed();
    // TEST ONLY planted bug (config.unsafeCommitAnyTerm): count replicas of an old-term entry.
    if (this.cfg.unsafeCommitAnyTerm && index > this.log.committed) return this.log.maybeCommit(index, this.log.term(index));
    return this.log.maybeCommit(index, this.term);
  }

  /** The shell made our log durable up to durableLastIndex(): count it toward the commit. */
  onLocalLogDurable(): void {
    if (this.role !== 'leader') return;
    const pr = this.trk.progress.get(this.id);
    if (pr === undefined) return;
    if (pr.maybeUpdate(this.log.durableLastIndex()) && this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastPending = true;
    }
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  // -------------------------------------------------------------------------------------------
  // ReadIndex
  // -------------------------------------------------------------------------------------------

  private stepLeaderReadIndex(m: Message): void {
    if (m.context === undefined) return;
    if (this.trk.isSingleton()) {
      this.respondToReadIndex(m, this.log.committed);
      return;
    }
    // Our commit index is only known to be current once an entry of our term has committed.
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReadIndexMessages.length < this.cfg.maxPendingReadIndexMsgs) this.pendingReadIndexMessages.push(m);
      return;
    }
    this.sendReadIndexResponse(m);
  }

  private sendReadIndexResponse(m: Message): void {
    if (this.cfg.readOnlyOption === 'lease') {
      this.respondToReadIndex(m, this.log.committed);
      return;
    }
    if (this.readOnly.size >= this.cfg.maxPendingReadIndexMsgs) return;
    this.readOnly.addRequest(this.log.committed, m);
    this.readOnly.recvAck(this.id, m.context!);
    this.bcastHeartbeat(m.context);
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return;
    if (!this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendReadIndexResponse(m);
  }

  private respondToReadIndex(req: Message, index: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, requestCtx: req.context! });
      return;
    }
    this.send({ type: 'MsgReadIndexResp', from: this.id, to: req.from, term: this.term, index, context: req.context! });
  }

  // -------------------------------------------------------------------------------------------
  // Membership
  // -------------------------------------------------------------------------------------------

  /** Applies a committed conf change; returns the resulting configuration. */
  applyConfChange(cc: ConfChange): ConfState {
    const next = applyConfChangeToState(this.trk.confState(), cc);
    if (typeof next === 'string') return this.trk.confState(); // refused the same way everywhere
    this.switchToConfig(next);
    return this.trk.confState();
  }

  private switchToConfig(cs: ConfState): void {
    this.trk.setConfig(cs, this.log.lastIndex() + 1);
    const pr = this.trk.progress.get(this.id);
    this.isLearner = pr?.isLearner ?? false;
    if ((pr === undefined || this.isLearner) && this.role === 'leader') {
      // Removed or demoted: stop leading. The remaining voters elect a new leader.
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.role !== 'leader' || cs.voters.length === 0) return;
    // The quorum changed: the commit index may move; new members need the log.
    if (this.maybeCommit()) this.releasePendingReadIndexMessages();
    this.bcastPending = true;
    if (this.leadTransferee !== NONE && !this.trk.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
  }

  // -------------------------------------------------------------------------------------------
  // Observability
  // -------------------------------------------------------------------------------------------

  status(): Status {
    const progress: Record<string, ReturnType<Progress['status']>> = {};
    if (this.role === 'leader') this.trk.forEach((id, pr) => { progress[id] = pr.status(); });
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      lead: this.lead,
      role: this.role,
      leadTransferee: this.leadTransferee,
      config: this.trk.confState(),
      progress,
    };
  }
}

function dropped(reason: DropReason): ProposeResult {
  return { ok: false, error: 'ProposalDropped', reason };
}

/** A MsgApp's entries must follow (prevIndex, prevTerm) contiguously with non-decreasing terms. */
function checkAppendedEntries(m: Message, prevIndex: number, prevTerm: number, ents: readonly Entry[]): void {
  let index = prevIndex;
  let term = prevTerm;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i]!;
    if (e.index !== index + 1 || e.term < term || e.term > m.term) {
      throw new AssertionError(`malformed MsgApp from ${m.from}: entry (${e.index}, ${e.term}) after (${index}, ${term}), msg term ${m.term}`);
    }
    index = e.index;
    term = e.term;
  }
}
