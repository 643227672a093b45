/**
 * A store peer: the Raft core, its durable log, and the MVCC state machine, as one actor.
 *
 * The loop is etcd's: messages and ticks step the core; once per turn the peer takes a Ready,
 * sends the leader's replication messages, persists entries and hard state (fsync), then sends
 * everything else, applies committed entries to the MVCC store, answers the clients whose
 * proposals or reads completed, and advances.
 */
import type { Actor, ActorContext } from '../runtime/actor.js';
import { encodeValue } from '../runtime/codec.js';
import { DataDirError, DiskLog } from '../raft/disk-log.js';
import {
  MemoryStorage,
  RawNode,
  canSendBeforePersist,
  encodeConfChange,
  decodeConfChange,
  SnapshotTemporarilyUnavailableError,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type Ready,
  type Snapshot,
  type SnapshotMetadata,
} from '../raft/core/index.js';
import { decodeEntryData, encodeProposal, encodeProposalBatch, isError, type Proposal, type Response } from '../raft/mvcc/commands.js';
import { MvccStore } from '../raft/mvcc/store.js';
import { CompactionPlanner } from '../raft/compaction.js';
import { WatchHub } from '../raft/mvcc/watch.js';
import { Lessor } from '../raft/mvcc/lessor.js';
import type { PeerDigest, PeerMessage, PeerReply, PeerRequest, PeerStatus, WatchNotice } from '../raft/protocol.js';
import { createHash } from 'node:crypto';

export interface PeerArgs {
  clusterId: string;
  /** The founding voters. A peer not among them starts empty and waits to be added. */
  peers: string[];
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  /** fsync the Raft log (default true). */
  durable?: boolean;
  /**
   * Compact the log every this many applied writes (default 10,000). Writes, not entries: an
   * entry that holds a batch of proposals counts each of them (see CompactionPlanner).
   */
  snapshotEveryEntries?: number;
  /** Writes whose entries are kept behind the compaction point for slow followers (default 5,000). */
  keepEntries?: number;
  readMode?: 'safe' | 'lease';
  /** Chunk size for InstallSnapshot (default 1 MiB). */
  snapshotChunkBytes?: number;
  maxUncommittedEntriesBytes?: number;
  /**
   * TEST ONLY: a deliberate bug, so fault campaigns can show they catch it (`npm run chaos --
   * --plant NAME`). Never set it outside tests and campaigns. See PlantedBug.
   */
  plantedBug?: PlantedBug;
  /**
   * TEST ONLY: every incarnation crashes the first time it reaches this point, to show recovery
   * from a crash there: `snapshot-install`, between replacing the state machine and resetting
   * the log.
   */
  crashAt?: 'snapshot-install';
}

/**
 * Bugs the fault campaigns plant to prove they detect them:
 * - `stale-read`: a follower serves linearizable reads from its local state, without ReadIndex;
 * - `early-ack`: a leader acknowledges a put or delete once proposed, before it commits;
 * - `forget-vote`: a restarted peer does not load its vote from the hard state;
 * - `commit-any-term`: the leader commits old-term entries by counting replicas (Figure 8).
 */
export type PlantedBug = 'stale-read' | 'early-ack' | 'forget-vote' | 'commit-any-term';

type Replier = { ok: (v: unknown) => void; error: (e: unknown) => void };
/** A client waiting for its proposal, `data` while it is not in the log yet. */
type Waiter = { client: string; seq: number; data: Uint8Array | null; reply: Replier };

const LEASE_CHECK_MS = 500;
/** The answer to a waiter whose entry the log replaced: its proposal may yet commit elsewhere. */
const UNKNOWN_OUTCOME: PeerReply = { ok: false, error: 'Unavailable', reason: 'the entry that held this write was replaced; it may still apply' };
/**
 * Proposals that arrive in one turn go into the log as one entry, up to this many bytes (a
 * larger proposal goes alone). The log's per-entry work (entry records, checksums, replication
 * messages, decoding on every follower) is then shared by the whole batch.
 */
const MAX_BATCH_BYTES = 256 * 1024;
/**
 * A snapshot transfer not acknowledged within base + per-chunk time failed (a chunk or the ack
 * was lost, the follower was down): the core then probes and sends a new one. Messages are lost
 * silently, so this timer is the only failure signal; it must not be long (it was 30 s, which
 * kept a follower behind for that long after one lost chunk).
 */
const SNAPSHOT_ACK_BASE_MS = 2_000;
const SNAPSHOT_ACK_PER_CHUNK_MS = 100;

export default function etcdPeer(rawArgs: unknown): Actor {
  const args = rawArgs as PeerArgs;
  const tickMs = args.tickMs ?? 10;
  const snapshotEvery = args.snapshotEveryEntries ?? 10_000;
  const keepEntries = args.keepEntries ?? 5_000;
  const compaction = new CompactionPlanner(snapshotEvery, keepEntries);
  const chunkBytes = args.snapshotChunkBytes ?? 1024 * 1024;

  let ctx: ActorContext;
  let log: DiskLog;
  let storage: MemoryStorage;
  let node: RawNode;
  let mvcc: MvccStore;
  let watches: WatchHub;
  let lessor: Lessor;
  let readyScheduled = false;
  let applied = 0;
  let compactedAt = 0;
  let confState: ConfState = { voters: [], learners: [] };
  let lead = '';
  let role = 'follower';
  let lastLeaderContact = 0;
  /** Membership changes waiting to apply, by `conf:${nodeId}:${type}`. */
  const pendingChanges = new Map<string, Replier>();
  /** Clients waiting for their proposals to apply, by the index of the entry that holds them. */
  const pendingWrites = new Map<number, Waiter[]>();
  /** Proposals of this turn, proposed as one log entry when the turn ends (`proposeBatch`). */
  let batch: Waiter[] = [];
  let batchBytes = 0;
  /** Reads waiting for a read index. */
  let readsUnsent: { cmd: PeerRequest & { op: 'read' }; reply: Replier }[] = [];
  const readsByCtx = new Map<string, { cmd: PeerRequest & { op: 'read' }; reply: Replier }[]>();
  /** Reads whose index is known, waiting for apply to reach it. */
  const readsWaiting: { index: number; batch: { cmd: PeerRequest & { op: 'read' }; reply: Replier }[] }[] = [];
  let readSeq = 0;
  /** Watch ids owned by each watcher actor. */
  const watchOwners = new Map<number, string>();
  /** Incoming snapshot chunks, by transfer id. */
  const incoming = new Map<string, { chunks: Uint8Array[]; got: number; meta: unknown }>();
  /** Outgoing snapshot transfers awaiting an ack, by transfer id. */
  const outgoing = new Map<string, { to: string; timer: number }>();
  let snapSeq = 0;
  let snapshotsInstalled = 0;
  /** A compaction waits for the state machine's fsync. */
  let compacting = false;
  /** Where the Ready loop's time goes (cumulative; served in status for benchmarks). */
  const work = { readies: 0, entriesPersisted: 0, entriesApplied: 0, writesApplied: 0, persistMs: 0, applyMs: 0 };

  function schedule(): void {
    if (readyScheduled) return;
    readyScheduled = true;
    // Once every message already waiting is stepped: one Ready (one fsync) for all of them.
    ctx.afterTurn(processReady);
  }

  function send(to: string, msgs: Message[]): void {
    try {
      ctx.send(to, { t: 'raft', msgs } satisfies PeerMessage);
    } catch {
      node.reportUnreachable(to);
    }
  }

  function sendMessages(msgs: readonly Message[]): void {
    const byPeer = new Map<string, Message[]>();
    for (const m of msgs) {
      if (m.type === 'MsgSnap') {
        sendSnapshot(m);
        continue;
      }
      let list = byPeer.get(m.to);
      if (!list) byPeer.set(m.to, (list = []));
      list.push(m);
    }
    for (const [to, list] of byPeer) send(to, list);
  }

  /** InstallSnapshot in chunks; the follower steps the MsgSnap once it has every chunk. */
  function sendSnapshot(m: Message): void {
    const snap = m.snapshot!;
    const id = `${ctx.self}:${ctx.incarnation}:${++snapSeq}`;
    const total = Math.max(1, Math.ceil(snap.data.byteLength / chunkBytes));
    const { snapshot: _omit, ...rest } = m;
    for (let seq = 0; seq < total; seq++) {
      const bytes = snap.data.subarray(seq * chunkBytes, (seq + 1) * chunkBytes);
      const msg: PeerMessage = { t: 'snapChunk', id, seq, total, bytes, ...(seq === 0 ? { meta: { ...rest, snapMeta: snap.metadata } } : {}) };
      try {
        ctx.send(m.to, msg);
      } catch {
        break;
      }
    }
    const timer = ctx.setTimer(SNAPSHOT_ACK_BASE_MS + total * SNAPSHOT_ACK_PER_CHUNK_MS, () => {
      if (outgoing.delete(id)) node.reportSnapshot(m.to, false);
    });
    outgoing.set(id, { to: m.to, timer });
  }

  function onSnapChunk(from: string, m: PeerMessage & { t: 'snapChunk' }): void {
    let t = incoming.get(m.id);
    if (!t) {
      // A leader sends one snapshot at a time: a new transfer from it abandons any earlier one
      // (whose lost chunks will never come), so unfinished transfers cannot pile up.
      for (const id of incoming.keys()) if (id.startsWith(`${from}:`)) incoming.delete(id);
      incoming.set(m.id, (t = { chunks: new Array(m.total), got: 0, meta: undefined }));
    }
    if (!t.chunks[m.seq]) {
      t.chunks[m.seq] = m.bytes;
      t.got++;
    }
    if (m.meta) t.meta = m.meta;
    if (t.got < m.total || !t.meta) return;
    incoming.delete(m.id);
    const size = t.chunks.reduce((n, c) => n + c.byteLength, 0);
    const data = new Uint8Array(size);
    let off = 0;
    for (const c of t.chunks) {
      data.set(c, off);
      off += c.byteLength;
    }
    const { snapMeta, ...msg } = t.meta as Message & { snapMeta: Snapshot['metadata'] };
    node.step({ ...msg, snapshot: { metadata: snapMeta, data } } as Message);
    ctx.send(from, { t: 'snapAck', id: m.id, ok: true } satisfies PeerMessage);
    schedule();
  }

  function processReady(): void {
    readyScheduled = false;
    proposeBatch();
    // Reads that arrived this turn share one ReadIndex round.
    if (readsUnsent.length > 0) requestReadIndex();
    if (!node.hasReady()) return;
    const rd: Ready = node.ready();
    if (rd.softState) {
      const wasLeader = role === 'leader';
      lead = rd.softState.lead;
      role = rd.softState.role;
      if (role === 'leader' && !wasLeader) lessor.promote(ctx.now());
      if (wasLeader && role !== 'leader') failPending(lead);
    }
    // The leader's replication messages may leave before its own log is on disk.
    const early = rd.messages.filter(canSendBeforePersist);
    const late = rd.messages.filter((m) => !canSendBeforePersist(m));
    if (role === 'leader') {
      sendMessages(early);
      // Post them now: the followers append and fsync while this peer fsyncs the same entries.
      if (early.length > 0) ctx.flush();
    }
    if (rd.snapshot && rd.snapshot.metadata.index > 0) installSnapshot(rd.snapshot, rd.hardState);
    const tPersist = ctx.now();
    log.persist(rd.hardState, rd.entries, rd.mustSync);
    const tApply = ctx.now();
    work.persistMs += tApply - tPersist;
    work.entriesPersisted += rd.entries.length;
    if (rd.hardState) storage.setHardState(rd.hardState);
    if (rd.entries.length > 0) storage.append(rd.entries);
    const after = role === 'leader' ? late : rd.messages;
    sendMessages(after);
    if (rd.committedEntries.length > 0) {
      // A follower's acknowledgements leave now, not after the apply below: the leader commits
      // (and the next round starts) while this peer applies.
      if (after.length > 0) ctx.flush();
      applyEntries(rd.committedEntries);
    }
    work.applyMs += ctx.now() - tApply;
    work.entriesApplied += rd.committedEntries.length;
    work.readies++;
    for (const rs of rd.readStates) {
      const key = typeof rs.requestCtx === 'string' ? rs.requestCtx : Buffer.from(rs.requestCtx).toString();
      const batch = readsByCtx.get(key);
      if (!batch) continue;
      readsByCtx.delete(key);
      readsWaiting.push({ index: rs.index, batch });
    }
    node.advance(rd);
    serveReads();
    maybeCompact();
    if (readsUnsent.length > 0 || node.hasReady()) schedule();
  }

  function installSnapshot(snap: Snapshot, hs: Ready['hardState']): void {
    // The state machine first, with the snapshot's metadata: a crash before the log is reset is
    // finished on the next start (see onStart).
    mvcc.restore(snap.data, snap.metadata);
    if (args.crashAt === 'snapshot-install' && snapshotsInstalled === 0) throw new Error('injected crash inside a snapshot install');
    log.resetToSnapshot(snap.metadata, hs);
    storage.applySnapshot(snap);
    applied = snap.metadata.index;
    compactedAt = snap.metadata.index;
    confState = snap.metadata.confState;
    snapshotsInstalled++;
    ctx.log.info({ index: snap.metadata.index }, 'installed snapshot');
  }

  function applyEntries(entries: readonly Entry[]): void {
    const normal: { index: number; data: Proposal | unknown[] | Uint8Array }[] = [];
    const flushNormal = () => {
      if (normal.length === 0) return;
      // One result per proposal, in order, a batch entry's included: the waiters of an entry
      // are answered in the order they were proposed.
      let waiters: Waiter[] | undefined;
      let at = 0;
      let index = 0;
      for (const r of mvcc.applyEntries(normal)) {
        if (r.index !== index) {
          if (waiters !== undefined) answerLeftOver(waiters, at);
          index = r.index;
          waiters = pendingWrites.get(index);
          if (waiters !== undefined) pendingWrites.delete(index);
          at = 0;
        }
        if (waiters === undefined) continue;
        const w = waiters[at++];
        if (w === undefined) continue;
        if (w.client !== r.client || w.seq !== r.seq) w.reply.ok(UNKNOWN_OUTCOME);
        else w.reply.ok(isError(r.response) ? ({ ok: false, error: 'Mvcc', detail: r.response } satisfies PeerReply) : ({ ok: true, result: r.response } satisfies PeerReply));
      }
      if (waiters !== undefined) answerLeftOver(waiters, at);
      normal.length = 0;
    };
    for (const e of entries) {
      if (e.index <= applied) continue;
      let writes = 1;
      if (e.type === 'confChange') {
        flushNormal();
        const cc = decodeConfChange(e.data);
        confState = node.applyConfChange(cc);
        storage.setConfState(confState);
        log.saveConfState(confState);
        mvcc.applyEntries([{ index: e.index, data: null }]);
        const waiter = pendingChanges.get(`conf:${cc.nodeId}:${cc.type}`);
        if (waiter) {
          pendingChanges.delete(`conf:${cc.nodeId}:${cc.type}`);
          waiter.ok({ ok: true, result: { type: 'member', confState } } as unknown as PeerReply);
        }
      } else if (e.data.byteLength === 0) {
        flushNormal();
        mvcc.applyEntries([{ index: e.index, data: null }]); // a new leader's no-op
      } else {
        let data: Proposal | unknown[] | Uint8Array;
        try {
          data = decodeEntryData(e.data);
        } catch {
          data = e.data; // the state machine answers an undecodable entry with an error
        }
        normal.push({ index: e.index, data });
        if (Array.isArray(data)) writes = data.length;
      }
      compaction.applied(e.index, writes);
      work.writesApplied += writes;
      applied = e.index;
    }
    flushNormal();
  }

  function failPending(leaderHint: string): void {
    // These writes are in the log already and may still commit under the next leader: their
    // outcome is unknown, not refused (a NotLeader here would let a client report a definite
    // failure for a write that later takes effect). The client retries with the same sequence.
    const unknown: PeerReply = { ok: false, error: 'Unavailable', reason: `leadership lost before the write committed (leader now ${leaderHint || 'unknown'})` };
    for (const r of pendingChanges.values()) r.ok(unknown);
    pendingChanges.clear();
    for (const list of pendingWrites.values()) for (const w of list) w.reply.ok(unknown);
    pendingWrites.clear();
    const reads = [...readsUnsent, ...[...readsByCtx.values()].flat(), ...readsWaiting.flatMap((w) => w.batch)];
    readsUnsent = [];
    readsByCtx.clear();
    readsWaiting.length = 0;
    failReads(reads, leaderHint);
  }

  function failReads(reads: { reply: Replier }[], leaderHint: string): void {
    for (const r of reads) r.reply.ok({ ok: false, error: 'NotLeader', leaderHint } satisfies PeerReply);
  }

  function requestReadIndex(): void {
    const key = `${ctx.self}:${ctx.incarnation}:r${++readSeq}`;
    const batch = readsUnsent;
    readsByCtx.set(key, batch);
    readsUnsent = [];
    const res = node.readIndex(key);
    if (!res.ok) {
      readsByCtx.delete(key);
      failReads(batch, res.leaderHint);
    }
  }

  function serveReads(): void {
    while (readsWaiting.length > 0 && readsWaiting[0]!.index <= applied) {
      const { batch } = readsWaiting.shift()!;
      for (const r of batch) r.reply.ok(rangeReply(r.cmd));
    }
  }

  function rangeReply(req: PeerRequest & { op: 'read' }): PeerReply {
    const r = mvcc.range(req.cmd);
    return isError(r) ? { ok: false, error: 'Mvcc', detail: r } : { ok: true, result: r };
  }

  function maybeCompact(): void {
    if (compacting) return;
    const index = compaction.due(compactedAt);
    if (index === 0) return;
    const meta = { index, term: storage.term(index), confState };
    if (mvcc.backend.sync) return compactLog(meta);
    // The state machine's writes skip fsync (the log is what makes them durable): the log may
    // drop entries only once their effect is on disk, or a machine crash could lose both.
    compacting = true;
    const resume = (fn: () => void) => {
      try {
        ctx.setTimer(0, fn);
      } catch {
        /* this incarnation is gone */
      }
    };
    mvcc.backend.flush().then(
      () =>
        resume(() => {
          compacting = false;
          if (meta.index > compactedAt) compactLog(meta);
        }),
      (err) =>
        resume(() => {
          throw err;
        }),
    );
  }

  function compactLog(meta: SnapshotMetadata): void {
    log.compact(meta);
    storage.compact(meta.index);
    compactedAt = meta.index;
  }

  /** The core asks for a snapshot only to catch up a follower: make one of the applied state. */
  function snapshotNow(): Snapshot {
    const index = applied;
    if (index === 0) throw new SnapshotTemporarilyUnavailableError();
    return { metadata: { index, term: storage.term(index), confState }, data: mvcc.snapshot() };
  }

  function propose(req: PeerRequest & { op: 'propose' }, reply: Replier): void {
    const data = encodeProposal(req.proposal);
    if (isError(data)) return reply.ok({ ok: false, error: 'Mvcc', detail: data } satisfies PeerReply);
    if (role !== 'leader') return reply.ok({ ok: false, error: 'NotLeader', leaderHint: lead } satisfies PeerReply);
    if (batchBytes + data.byteLength > MAX_BATCH_BYTES) proposeBatch();
    batch.push({ client: req.proposal.client, seq: req.proposal.seq, data, reply });
    batchBytes += data.byteLength;
    schedule();
  }

  /** Proposes the proposals that arrived this turn as one log entry. */
  function proposeBatch(): void {
    if (batch.length === 0) return;
    const list = batch;
    batch = [];
    batchBytes = 0;
    const res = node.propose(encodeProposalBatch(list.map((p) => p.data!)));
    if (!res.ok) {
      const r: PeerReply = res.error === 'NotLeader' ? { ok: false, error: 'NotLeader', leaderHint: res.leaderHint } : { ok: false, error: 'ProposalDropped', reason: res.reason };
      for (const p of list) p.reply.ok(r);
      return;
    }
    if (!('firstIndex' in res)) {
      // This peer stepped down during the turn and the core passed the entry on: it may still
      // commit, so its outcome is unknown here (the client retries with the same sequence).
      for (const p of list) p.reply.ok({ ok: false, error: 'Unavailable', reason: `forwarded to the new leader ${res.forwardedTo}` } satisfies PeerReply);
      return;
    }
    for (const p of list) p.data = null;
    pendingWrites.set(res.firstIndex, list);
  }

  /** Waiters of an entry that held fewer proposals than they were (another leader's entry). */
  function answerLeftOver(waiters: Waiter[], from: number): void {
    for (let i = from; i < waiters.length; i++) waiters[i]!.reply.ok(UNKNOWN_OUTCOME);
  }

  function memberChange(req: PeerRequest & { op: 'member' }, reply: Replier): void {
    if (role !== 'leader') return reply.ok({ ok: false, error: 'NotLeader', leaderHint: lead } satisfies PeerReply);
    const cc: ConfChange = { type: req.change === 'add' ? 'addNode' : req.change === 'addLearner' ? 'addLearner' : 'removeNode', nodeId: req.id };
    const res = node.proposeConfChange(cc);
    if (!res.ok) return reply.ok(res.error === 'NotLeader' ? ({ ok: false, error: 'NotLeader', leaderHint: res.leaderHint } satisfies PeerReply) : ({ ok: false, error: 'ProposalDropped', reason: res.reason } satisfies PeerReply));
    pendingChanges.set(`conf:${cc.nodeId}:${cc.type}`, reply);
    schedule();
  }

  function notifyWatcher(watchId: number, notice: WatchNotice): boolean {
    const owner = watchOwners.get(watchId);
    if (!owner) return true;
    try {
      ctx.send(owner, notice);
    } catch {
      watchOwners.delete(watchId);
      queueMicrotask(() => watches.cancel(watchId));
    }
    return true;
  }

  function status(): PeerStatus {
    const s = node.status();
    // Role, leader and term are read from the core together: the shell's own copies change
    // only when the next Ready is processed, and a status taken in between would pair a new
    // term with an old role.
    return {
      id: ctx.self,
      role: node.role,
      term: s.term,
      commit: s.commit,
      applied,
      leader: node.lead,
      lastHeartbeatMs: node.role === 'leader' ? 0 : Math.round(ctx.now() - lastLeaderContact),
      revision: mvcc.revision,
      voters: [...confState.voters],
      learners: [...confState.learners],
      lastIndex: storage.lastIndex(),
      compactedAt,
      snapshotsInstalled,
      work: { ...work, persistMs: Math.round(work.persistMs), applyMs: Math.round(work.applyMs) },
    };
  }

  let ticks = 0;
  function tick(): void {
    node.tick();
    ticks++;
    // Catch up watchers that started from an old revision, a bounded step at a time.
    if (ticks % 5 === 0) watches.pump();
    if (ticks % 100 === 0) watches.progress();
    schedule();
    ctx.setTimer(tickMs, tick);
  }

  function checkLeases(): void {
    if (role === 'leader') {
      for (const id of lessor.expired(ctx.now())) {
        const data = encodeProposal({ client: '', seq: 0, cmd: { type: 'leaseRevoke', id } });
        if (!isError(data)) node.propose(encodeProposalBatch([data]));
      }
      schedule();
    }
    ctx.setTimer(LEASE_CHECK_MS, checkLeases);
  }

  /** The state machine at the applied index, hashed (fault campaigns compare replicas). */
  function digest(): PeerDigest {
    const kvs = mvcc.range({ type: 'range', key: '\0', rangeEnd: '\0' });
    const h = createHash('sha256');
    const live = isError(kvs) ? [] : kvs.kvs;
    for (const kv of live) {
      h.update(`${kv.key}\0${kv.createRevision}:${kv.modRevision}:${kv.version}:${kv.lease}:${kv.value.byteLength}\0`);
      h.update(kv.value);
    }
    const stateHash = createHash('sha256').update(mvcc.snapshot()).digest('hex');
    return { id: ctx.self, applied, revision: mvcc.revision, keys: live.length, kvHash: h.digest('hex'), stateHash };
  }

  /** TEST ONLY, planted bug 'early-ack': a put or delete is acknowledged as soon as it is proposed. */
  function proposeAckingEarly(req: PeerRequest & { op: 'propose' }, reply: Replier): void {
    const cmd = req.proposal.cmd;
    if (cmd.type !== 'put' && cmd.type !== 'deleteRange') return propose(req, reply);
    let answered = false;
    const once = (v: unknown) => {
      if (!answered) reply.ok(v);
      answered = true;
    };
    propose(req, { ok: once, error: once });
    if (answered) return; // refused at once: that answer stands
    const revision = mvcc.revision + 1;
    once({ ok: true, result: cmd.type === 'put' ? { type: 'put', revision } : { type: 'deleteRange', revision, deleted: 1 } } satisfies PeerReply);
  }

  function onRequest(from: string, req: PeerRequest, reply: Replier): void {
    switch (req.op) {
      case 'propose':
        if (args.plantedBug === 'early-ack') return proposeAckingEarly(req, reply);
        return propose(req, reply);
      case 'read':
        if (req.serializable) return reply.ok(rangeReply(req));
        if (args.plantedBug === 'stale-read' && role !== 'leader') return reply.ok(rangeReply(req));
        if (role !== 'leader' && !lead) return reply.ok({ ok: false, error: 'NotLeader', leaderHint: '' } satisfies PeerReply);
        readsUnsent.push({ cmd: req, reply });
        schedule();
        return;
      case 'watch': {
        const res = watches.create(req.req);
        if (typeof res !== 'number') return reply.ok({ ok: false, error: 'Mvcc', detail: res } satisfies PeerReply);
        watchOwners.set(res, req.watcher);
        watches.pump();
        return reply.ok({ ok: true, result: { type: 'watch', watchId: res, revision: mvcc.revision } as unknown as Response });
      }
      case 'cancelWatch':
        watches.cancel(req.watchId);
        watchOwners.delete(req.watchId);
        return reply.ok({ ok: true, result: { type: 'cancelWatch' } as unknown as Response });
      case 'keepAlive': {
        if (role !== 'leader') return reply.ok({ ok: false, error: 'NotLeader', leaderHint: lead } satisfies PeerReply);
        const ttl = lessor.keepAlive(req.id, ctx.now());
        if (!isError(ttl)) return reply.ok({ ok: true, result: { type: 'keepAlive', id: req.id, ttl: ttl.ttlSeconds } as unknown as Response });
        if (isError(ttl)) return reply.ok({ ok: false, error: 'Mvcc', detail: ttl } satisfies PeerReply);
        return reply.ok({ ok: true, result: { type: 'keepAlive', id: req.id, ttl } as unknown as Response });
      }
      case 'transferLeader':
        node.transferLeadership(req.to);
        schedule();
        return reply.ok({ ok: true, result: { type: 'transferLeader' } as unknown as Response });
      case 'member':
        return memberChange(req, reply);
      case 'status':
        return reply.ok(status());
      case 'digest':
        return reply.ok(digest());
      default:
        void from;
        return reply.ok({ ok: false, error: 'BadRequest', reason: `unknown operation ${JSON.stringify((req as { op?: unknown }).op)}` } satisfies PeerReply);
    }
  }

  return {
    onStart(c) {
      ctx = c;
      const raftStore = ctx.store('raft', { sync: args.durable !== false });
      log = new DiskLog(raftStore, `${raftStore.dir ?? 'memory'}`);
      const fresh = log.claim({ clusterId: args.clusterId, memberId: ctx.self }) === 'new';
      mvcc = MvccStore.open(ctx.store('mvcc', { sync: false }));
      let loaded = log.load(mvcc.appliedIndex);
      const restored = mvcc.restoredFrom as SnapshotMetadata | null;
      if (restored && restored.index === mvcc.appliedIndex && loaded.hardState.commit < restored.index) {
        // The state machine holds a snapshot the log does not know of: a crash came between the
        // two halves of its install. Finish it: the log restarts at the snapshot.
        ctx.log.warn({ index: restored.index, commit: loaded.hardState.commit }, 'finishing a snapshot install a crash interrupted');
        log.resetToSnapshot(restored, { ...loaded.hardState, commit: restored.index });
        loaded = log.load(mvcc.appliedIndex);
      }
      watches = new WatchHub(mvcc, {
        // Ids unique across restarts: a notice from a watch of an earlier incarnation, still in
        // flight, can never be mistaken for one of this incarnation's watches.
        firstId: ctx.incarnation * 1_000_000 + 1,
        deliver: (watchId, events, revision) => notifyWatcher(watchId, { t: 'watch', watchId, events, revision }),
        cancelled: (watchId, reason) => {
          notifyWatcher(watchId, { t: 'watch', watchId, events: [], revision: mvcc.revision, canceled: JSON.stringify(reason) });
          watchOwners.delete(watchId);
        },
      });
      lessor = new Lessor(mvcc);
      // Every member, a later joiner too, starts from the founding membership: the log's first
      // entries were written under it, and a joiner that replays them must count the right
      // quorum (it is not a voter itself until a conf change makes it one).
      confState = loaded.confState ?? loaded.snapshot?.confState ?? { voters: [...args.peers], learners: [] };
      if (fresh) log.saveConfState(confState);
      storage = new MemoryStorage(confState);
      if (loaded.snapshot) {
        storage.applySnapshot({ metadata: loaded.snapshot, data: new Uint8Array(0) });
        compactedAt = loaded.snapshot.index;
      }
      storage.setConfState(confState);
      // TEST ONLY planted bug 'forget-vote': the vote cast before the restart is forgotten.
      storage.setHardState(args.plantedBug === 'forget-vote' ? { ...loaded.hardState, vote: '' } : loaded.hardState);
      storage.append(loaded.entries);
      // The core reads snapshots of the applied state, made on demand.
      storage.snapshot = snapshotNow;
      if (mvcc.appliedIndex < compactedAt) {
        // Compaction and snapshot installs keep the state machine at or past the log's start, so
        // it lost writes that were not on disk (a machine crash): the entries that would rebuild
        // them are gone. Starting anyway would serve a state missing those writes.
        throw new DataDirError(
          `the key-value state in ${mvcc.backend.dir ?? 'memory'} holds entries up to index ${mvcc.appliedIndex}, ` +
            `but the raft log in ${raftStore.dir ?? 'memory'} starts after index ${compactedAt}: the entries between are gone; ` +
            `refusing to start (remove this member's directory and add the member again to rebuild it from the others)`,
        );
      }
      applied = mvcc.appliedIndex;
      node = new RawNode(
        {
          id: ctx.self,
          electionTicks: args.electionTicks ?? 15,
          heartbeatTicks: args.heartbeatTicks ?? 3,
          random: () => ctx.random(),
          preVote: true,
          checkQuorum: true,
          readOnlyOption: args.readMode ?? 'safe',
          applied,
          ...(args.maxUncommittedEntriesBytes ? { maxUncommittedEntriesBytes: args.maxUncommittedEntriesBytes } : {}),
          ...(args.plantedBug === 'commit-any-term' ? { unsafeCommitAnyTerm: true } : {}),
        },
        storage,
      );
      ctx.log.info({ applied, lastIndex: storage.lastIndex(), term: loaded.hardState.term, fresh }, 'peer started');
      ctx.setTimer(tickMs, tick);
      ctx.setTimer(LEASE_CHECK_MS, checkLeases);
    },

    onMessage(_c, from, raw) {
      const msg = raw as PeerMessage | PeerRequest;
      if ('t' in msg) {
        if (msg.t === 'raft') {
          for (const m of msg.msgs) {
            if (m.from === lead) lastLeaderContact = ctx.now();
            node.step(m);
          }
          schedule();
        } else if (msg.t === 'snapChunk') onSnapChunk(from, msg);
        else if (msg.t === 'snapAck') {
          const out = outgoing.get(msg.id);
          if (out) {
            outgoing.delete(msg.id);
            ctx.cancelTimer(out.timer);
            node.reportSnapshot(out.to, msg.ok);
            schedule();
          }
        }
        return;
      }
      const r = ctx.replier();
      const reply: Replier = r ?? { ok: () => {}, error: () => {} };
      onRequest(from, msg, reply);
    },

    onStop() {
      failPending(lead);
      log.close();
    },

    status: () => status() as unknown as Record<string, unknown>,
  };
}

export { encodeConfChange, encodeValue };
