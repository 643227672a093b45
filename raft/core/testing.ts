/**
 * A deterministic in-memory cluster of RawNodes for tests: a synchronous network that delivers
 * messages between nodes (with cuts, one-way cuts, loss, duplication and reordering drawn from a
 * seeded PRNG), a Ready loop per node that persists into a MemoryStorage exactly as a shell
 * would, crash/restart from that storage, and a tiny state machine (the list of applied payloads)
 * whose snapshots make compaction testable. It checks election safety as it goes.
 *
 * Nothing here reads a clock or global randomness: same seed and same calls, same trace.
 */
import { AssertionError, assert } from './assert.js';
import type { RaftConfig } from './config.js';
import { decodeConfChange } from './confchange.js';
import { RawNode, type Ready } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type MessageType,
  NONE,
  type ProposeResult,
  type ReadState,
  canSendBeforePersist,
} from './types.js';

/** mulberry32: a small, fast, seedable PRNG returning uniform numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

export function text(b: Uint8Array): string {
  return decoder.decode(b);
}

/** One applied normal entry of the test state machine. */
export interface AppliedEntry {
  readonly index: number;
  readonly term: number;
  readonly data: string;
}

export type NodeOptions = Partial<Omit<RaftConfig, 'id' | 'random'>>;

/** A member of the simulated cluster: its durable storage, its live node (if up), its app state. */
export class SimPeer {
  readonly id: string;
  /** Durable state; survives crashes. */
  readonly storage: MemoryStorage;
  /** The running node, or null while crashed. */
  node: RawNode | null = null;
  /** The state machine: applied non-empty normal entries, in order. Lost on crash (rebuilt). */
  applied: AppliedEntry[] = [];
  /** Index of the last applied entry (including no-ops and conf changes). */
  appliedIndex = 0;
  /** Membership as of appliedIndex. */
  confState: ConfState = { voters: [], learners: [] };
  /** ReadStates received, in order. */
  readStates: ReadState[] = [];
  /**
   * With Network.earlySend: the Ready whose early messages are on the wire while it is being
   * persisted (finished in the next round, so messages are delivered in between).
   */
  pendingReady: Ready | null = null;
  /** Rounds left before pendingReady is persisted (a slow disk). */
  pendingRounds = 0;
  /** Every applied entry of every incarnation, for state-machine-safety checks (index -> term/data). */
  readonly history = new Map<number, AppliedEntry>();
  readonly options: NodeOptions;

  constructor(id: string, storage: MemoryStorage, options: NodeOptions) {
    this.id = id;
    this.storage = storage;
    this.options = options;
  }

  get up(): boolean {
    return this.node !== null;
  }

  /** The live node; throws if crashed. */
  get n(): RawNode {
    assert(this.node !== null, () => `${this.id} is down`);
    return this.node;
  }
}

export interface NetworkOptions {
  /** Founding voters. */
  readonly peers: readonly string[];
  readonly seed?: number;
  /** Config shared by all nodes (electionTicks, preVote, ...). */
  readonly config?: NodeOptions;
  /** Per-node overrides. */
  readonly perNode?: Readonly<Record<string, NodeOptions>>;
  /**
   * How the founding membership is established. 'log' (default): every founder calls
   * RawNode.bootstrap(peers), putting it in the log as committed conf changes; joiners start
   * empty. 'confState': every storage, joiners' included, starts as
   * `new MemoryStorage({ voters: peers })`, the membership at index 0.
   */
  readonly bootstrap?: 'log' | 'confState';
}

/** Per-type message counters. */
export type MessageCounts = Partial<Record<MessageType, number>>;

export class Network {
  readonly peers = new Map<string, SimPeer>();
  readonly rng: () => number;
  private readonly seed: number;
  private readonly baseConfig: NodeOptions;
  /** Messages sent and not yet delivered, oldest first. */
  queue: Message[] = [];
  /** Probability of losing each message. */
  dropRate = 0;
  /** Probability of delivering a message twice. */
  duplicateRate = 0;
  /** Probability that a delivery round is shuffled (reordering). */
  reorderRate = 0;
  /** Directed links that lose everything: "a->b". */
  private readonly cuts = new Set<string>();
  /** Return false to drop a message (applied after cuts). */
  filter: ((m: Message) => boolean) | null = null;
  /** Rewrites a message before delivery (to craft scenarios). */
  transform: ((m: Message) => Message) | null = null;
  /** Messages delivered, by type. */
  delivered: MessageCounts = {};
  /** Messages sent (handed out in Readies), by type. */
  sent: MessageCounts = {};
  /** MsgAppResp with reject=true delivered. */
  rejectedAppends = 0;
  /** Leader of each term ever observed (election safety: at most one per term). */
  readonly leaders = new Map<number, string>();
  /** Optional trace of delivered messages, for determinism checks. */
  trace: string[] | null = null;
  /**
   * Like a shell that writes the leader's log in parallel with replicating it: send the messages
   * for which canSendBeforePersist() holds at once, and persist the Ready (then send the rest,
   * apply, advance) only in the next round, after the messages in flight were delivered.
   */
  earlySend = false;
  /**
   * Probability that a node crashes while a Ready is being persisted: its early messages may be
   * out (with earlySend), but nothing of the Ready reached its disk.
   */
  crashBeforePersistRate = 0;
  /** With earlySend: a Ready takes 1 to 1 + this many delivery rounds to persist (random). */
  maxPersistDelayRounds = 0;

  /** Membership at index 0 of every new storage ('confState' bootstrap), else empty. */
  private readonly initialConfState: ConfState;

  constructor(opts: NetworkOptions) {
    this.seed = opts.seed ?? 1;
    this.rng = mulberry32(this.seed);
    this.baseConfig = opts.config ?? {};
    const inLog = (opts.bootstrap ?? 'log') === 'log';
    this.initialConfState = inLog ? { voters: [], learners: [] } : { voters: [...opts.peers], learners: [] };
    for (const id of opts.peers) {
      const p = new SimPeer(id, new MemoryStorage(this.initialConfState), { ...this.baseConfig, ...(opts.perNode?.[id] ?? {}) });
      this.peers.set(id, p);
      this.start(p);
      if (inLog) p.n.bootstrap(opts.peers);
    }
    this.stabilize();
  }

  private start(p: SimPeer): void {
    const snap = p.storage.snapshot();
    const applied = snap.metadata.index;
    p.node = new RawNode(
      { ...p.options, id: p.id, random: mulberry32(this.seed ^ hashString(p.id) ^ (p.history.size * 7919)), applied },
      p.storage,
    );
    p.applied = applied > 0 ? decodeAppState(snap.data) : [];
    p.appliedIndex = applied;
    p.confState = p.storage.initialState().confState;
    p.readStates = [];
  }

  /**
   * Adds a member that starts with an empty log (and the index-0 membership of the bootstrap
   * style, unless `initialConfState` overrides it); it must be added by a conf change.
   */
  addPeer(id: string, options: NodeOptions = {}, initialConfState: ConfState = this.initialConfState): SimPeer {
    assert(!this.peers.has(id), () => `${id} exists`);
    const p = new SimPeer(id, new MemoryStorage(initialConfState), { ...this.baseConfig, ...options });
    this.peers.set(id, p);
    this.start(p);
    return p;
  }

  peer(id: string): SimPeer {
    const p = this.peers.get(id);
    assert(p !== undefined, () => `no peer ${id}`);
    return p;
  }

  node(id: string): RawNode {
    return this.peer(id).n;
  }

  // ------------------------------------------------------------------------------------------
  // Faults
  // ------------------------------------------------------------------------------------------

  cut(a: string, b: string): void {
    this.cuts.add(`${a}->${b}`);
    this.cuts.add(`${b}->${a}`);
  }

  cutOneWay(from: string, to: string): void {
    this.cuts.add(`${from}->${to}`);
  }

  /** Cuts `id` off from everyone. */
  isolate(id: string): void {
    for (const other of this.peers.keys()) if (other !== id) this.cut(id, other);
  }

  /** Splits the cluster: links between the groups are cut both ways. */
  partition(...groups: readonly string[][]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        for (const a of groups[i]!) for (const b of groups[j]!) this.cut(a, b);
      }
    }
  }

  /** Restores every link and clears loss, duplication, reordering, filters and transforms. */
  heal(): void {
    this.cuts.clear();
    this.dropRate = 0;
    this.duplicateRate = 0;
    this.reorderRate = 0;
    this.filter = null;
    this.transform = null;
    this.crashBeforePersistRate = 0;
  }

  /** Kills a node: its unpersisted state, app state and inbound messages are lost. */
  crash(id: string): void {
    const p = this.peer(id);
    p.node = null;
    p.pendingReady = null;
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
  }

  /** Restarts a crashed node from its storage. */
  restart(id: string): void {
    const p = this.peer(id);
    assert(p.node === null, () => `${id} is up`);
    this.start(p);
  }

  // ------------------------------------------------------------------------------------------
  // Driving
  // ------------------------------------------------------------------------------------------

  /** Ticks every live node `n` times, stabilizing after each tick. */
  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const p of this.peers.values()) p.node?.tick();
      this.stabilize();
    }
  }

  /** Ticks only the given node. */
  tickNode(id: string, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).tick();
      this.stabilize();
    }
  }

  /** Ticks until `pred` holds; returns the ticks taken. Throws after `maxTicks`. */
  tickUntil(pred: () => boolean, maxTicks = 1000): number {
    for (let i = 0; i < maxTicks; i++) {
      if (pred()) return i;
      this.tick();
    }
    if (pred()) return maxTicks;
    throw new AssertionError(`condition not reached in ${maxTicks} ticks`);
  }

  /** Ticks until some live node leads (the latest term's leader); returns its id. */
  electLeader(maxTicks = 1000): string {
    this.tickUntil(() => this.leader() !== NONE, maxTicks);
    return this.leader();
  }

  /** Makes `id` campaign now and stabilizes. */
  campaign(id: string): void {
    this.node(id).campaign();
    this.stabilize();
  }

  propose(id: string, data: string): ProposeResult {
    const r = this.node(id).propose(bytes(data));
    this.stabilize();
    return r;
  }

  proposeConfChange(id: string, cc: ConfChange): ProposeResult {
    const r = this.node(id).proposeConfChange(cc);
    this.stabilize();
    return r;
  }

  /** Injects a message as if sent by `m.from`. */
  send(m: Message): void {
    this.queue.push(m);
  }

  /**
   * Processes Readies and delivers messages until nothing moves. Throws if it does not settle in
   * `maxRounds` rounds (a livelock).
   */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      for (const p of this.peers.values()) this.processReady(p);
      if (this.queue.length === 0 && ![...this.peers.values()].some((p) => p.pendingReady !== null)) return;
      let batch = this.queue;
      this.queue = [];
      if (this.reorderRate > 0 && this.rng() < this.reorderRate) batch = shuffle(batch, this.rng);
      for (const m of batch) {
        this.deliver(m);
        if (this.duplicateRate > 0 && this.rng() < this.duplicateRate) this.deliver(m);
      }
    }
    throw new AssertionError(`network did not stabilize in ${maxRounds} rounds`);
  }

  private deliver(m: Message): void {
    const to = this.peers.get(m.to);
    const from = this.peers.get(m.from);
    const lost =
      to === undefined || to.node === null ||
      this.cuts.has(`${m.from}->${m.to}`) ||
      (this.filter !== null && !this.filter(m)) ||
      (this.dropRate > 0 && this.rng() < this.dropRate);
    if (lost) {
      if (m.type === 'MsgSnap') from?.node?.reportSnapshot(m.to, false);
      return;
    }
    const msg = this.transform !== null ? this.transform(m) : m;
    this.delivered[msg.type] = (this.delivered[msg.type] ?? 0) + 1;
    if (msg.type === 'MsgAppResp' && msg.reject) this.rejectedAppends++;
    if (this.trace !== null) this.trace.push(formatMessage(msg));
    to.node!.step(msg);
    if (msg.type === 'MsgSnap') from?.node?.reportSnapshot(m.to, true);
  }

  /** The shell's Ready loop: persist, send, apply, advance. */
  processReady(p: SimPeer): void {
    if (p.node === null) return;
    if (p.pendingReady !== null) {
      if (p.pendingRounds-- > 0) return; // still being written; its node keeps stepping messages
      const rd = p.pendingReady;
      p.pendingReady = null;
      if (!this.finishReady(p, rd)) return;
    }
    const node = p.node;
    while (node.hasReady()) {
      const rd = node.ready();
      if (node.role === 'leader') this.recordLeader(node.term, p.id);
      for (const m of rd.messages) this.sent[m.type] = (this.sent[m.type] ?? 0) + 1;
      if (this.earlySend) {
        for (const m of rd.messages) if (canSendBeforePersist(m)) this.queue.push(m);
        p.pendingReady = rd; // persisted in a later round, after the early messages were delivered
        p.pendingRounds = this.maxPersistDelayRounds > 0 ? Math.floor(this.rng() * (this.maxPersistDelayRounds + 1)) : 0;
        return;
      }
      if (!this.finishReady(p, rd)) return;
    }
  }

  /** Persists a Ready, sends its (remaining) messages, applies and advances. False if it crashed. */
  private finishReady(p: SimPeer, rd: Ready): boolean {
    if (this.crashBeforePersistRate > 0 && this.rng() < this.crashBeforePersistRate) {
      const early = this.earlySend ? this.queue.filter((m) => m.from === p.id && canSendBeforePersist(m)) : [];
      this.crash(p.id);
      for (const m of early) this.queue.push(m); // already on the wire
      return false;
    }
    if (rd.snapshot !== undefined) {
      p.storage.applySnapshot(rd.snapshot);
      p.applied = decodeAppState(rd.snapshot.data);
      p.appliedIndex = rd.snapshot.metadata.index;
      p.confState = rd.snapshot.metadata.confState;
      for (const e of p.applied) this.recordApplied(p, e);
    }
    p.storage.append(rd.entries);
    if (rd.hardState !== undefined) p.storage.setHardState(rd.hardState);
    for (const m of rd.messages) if (!this.earlySend || !canSendBeforePersist(m)) this.queue.push(m);
    for (const e of rd.committedEntries) this.apply(p, e);
    for (const rs of rd.readStates) p.readStates.push(rs);
    p.n.advance(rd);
    return true;
  }

  private apply(p: SimPeer, e: Entry): void {
    assert(e.index === p.appliedIndex + 1, () => `${p.id} applies ${e.index} after ${p.appliedIndex}`);
    p.appliedIndex = e.index;
    if (e.type === 'confChange') {
      p.confState = p.n.applyConfChange(decodeConfChange(e.data));
      return;
    }
    if (e.data.length === 0) return;
    const a: AppliedEntry = { index: e.index, term: e.term, data: text(e.data) };
    p.applied.push(a);
    this.recordApplied(p, a);
  }

  private recordLeader(term: number, id: string): void {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id) {
      throw new AssertionError(`election safety violated: ${prev} and ${id} both lead term ${term}`);
    }
    this.leaders.set(term, id);
  }

  /** State machine safety: an index is applied with the same entry everywhere, always. */
  private recordApplied(p: SimPeer, a: AppliedEntry): void {
    for (const other of this.peers.values()) {
      const seen = other.history.get(a.index);
      if (seen !== undefined && (seen.term !== a.term || seen.data !== a.data)) {
        throw new AssertionError(
          `state machine safety violated at index ${a.index}: ${other.id} applied ${JSON.stringify(seen)}, ${p.id} applies ${JSON.stringify(a)}`);
      }
    }
    p.history.set(a.index, a);
  }

  // ------------------------------------------------------------------------------------------
  // Snapshots
  // ------------------------------------------------------------------------------------------

  /**
   * Snapshots `id`'s state machine at its applied index and compacts its log, keeping `keep`
   * entries before the snapshot point for slow followers.
   */
  compact(id: string, keep = 0): void {
    const p = this.peer(id);
    const index = p.appliedIndex;
    if (index <= p.storage.snapshot().metadata.index) return;
    p.storage.createSnapshot(index, p.confState, encodeAppState(p.applied));
    const to = index - keep;
    if (to >= p.storage.firstIndex()) p.storage.compact(to);
  }

  // ------------------------------------------------------------------------------------------
  // Observations and checks
  // ------------------------------------------------------------------------------------------

  /** The live leader with the highest term, or NONE. */
  leader(): string {
    let best = NONE;
    let bestTerm = -1;
    for (const p of this.peers.values()) {
      if (p.node !== null && p.node.role === 'leader' && p.node.term > bestTerm) {
        best = p.id;
        bestTerm = p.node.term;
      }
    }
    return best;
  }

  /** Live nodes that currently believe they lead. */
  currentLeaders(): string[] {
    return [...this.peers.values()].filter((p) => p.node?.role === 'leader').map((p) => p.id);
  }

  /** The applied payloads of a node. */
  appliedData(id: string): string[] {
    return this.peer(id).applied.map((a) => a.data);
  }

  /**
   * Checks log matching among live nodes (same index and term ⇒ identical prefixes) and that
   * every node's applied sequence is consistent with every other's.
   */
  checkInvariants(): void {
    const live = [...this.peers.values()].filter((p) => p.node !== null);
    const logs = live.map((p) => ({ id: p.id, log: p.n.raft.log, first: p.n.raft.log.firstIndex(), last: p.n.raft.log.lastIndex() }));
    for (let i = 0; i < logs.length; i++) {
      for (let j = i + 1; j < logs.length; j++) {
        const a = logs[i]!;
        const b = logs[j]!;
        const lo = Math.max(a.first, b.first);
        const hi = Math.min(a.last, b.last);
        // Find the highest common index with equal terms; everything from lo to it must match.
        let top = -1;
        for (let k = hi; k >= lo; k--) {
          if (a.log.term(k) === b.log.term(k)) { top = k; break; }
        }
        for (let k = lo; k <= top; k++) {
          const ea = a.log.slice(k, k + 1, Number.MAX_SAFE_INTEGER)![0]!;
          const eb = b.log.slice(k, k + 1, Number.MAX_SAFE_INTEGER)![0]!;
          if (ea.term !== eb.term || ea.type !== eb.type || text(ea.data) !== text(eb.data)) {
            throw new AssertionError(`log matching violated between ${a.id} and ${b.id} at ${k} (match at ${top})`);
          }
        }
      }
    }
    for (const p of live) {
      for (const q of live) {
        const n = Math.min(p.applied.length, q.applied.length);
        for (let k = 0; k < n; k++) {
          const x = p.applied[k]!;
          const y = q.applied[k]!;
          if (x.index !== y.index || x.term !== y.term || x.data !== y.data) {
            throw new AssertionError(`applied sequences of ${p.id} and ${q.id} diverge at position ${k}`);
          }
        }
      }
    }
  }
}

function formatCtx(ctx: Message['context']): string {
  if (ctx === undefined) return '';
  return typeof ctx === 'string' ? ` ctx=${ctx}` : ` ctx=0x${[...ctx].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function formatEntries(ents: readonly Entry[] | undefined): string {
  if (ents === undefined || ents.length === 0) return '[]';
  const one = (e: Entry) => `${e.index}@${e.term}${e.type === 'confChange' ? 'cc' : ''}`;
  if (ents.length <= 4) return `[${ents.map(one).join(' ')}]`;
  return `[${one(ents[0]!)} .. ${one(ents[ents.length - 1]!)} (${ents.length})]`;
}

/** One line per message, for traces and golden files: "from->to Type tTERM details". */
export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'MsgApp':
      return `${head} prev=${m.index ?? 0}@${m.logTerm ?? 0} commit=${m.commit ?? 0} entries=${formatEntries(m.entries)}`;
    case 'MsgAppResp':
      return m.reject
        ? `${head} reject index=${m.index ?? 0} hint=${m.rejectHint ?? 0}@${m.logTerm ?? 0}`
        : `${head} index=${m.index ?? 0}`;
    case 'MsgVote':
    case 'MsgPreVote':
      return `${head} last=${m.index ?? 0}@${m.logTerm ?? 0}${formatCtx(m.context)}`;
    case 'MsgVoteResp':
    case 'MsgPreVoteResp':
      return `${head} ${m.reject ? 'rejected' : 'granted'}`;
    case 'MsgHeartbeat':
      return `${head} commit=${m.commit ?? 0}${formatCtx(m.context)}`;
    case 'MsgHeartbeatResp':
      return `${head}${formatCtx(m.context)}`;
    case 'MsgSnap':
      return `${head} snapshot=${m.snapshot?.metadata.index ?? 0}@${m.snapshot?.metadata.term ?? 0}`;
    case 'MsgProp':
      return `${head} entries=${m.entries?.length ?? 0}`;
    case 'MsgReadIndex':
      return `${head}${formatCtx(m.context)}`;
    case 'MsgReadIndexResp':
      return `${head} index=${m.index ?? 0}${formatCtx(m.context)}`;
    default:
      return head;
  }
}

function shuffle<T>(xs: T[], rng: () => number): T[] {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

function encodeAppState(applied: readonly AppliedEntry[]): Uint8Array {
  return bytes(JSON.stringify(applied));
}

function decodeAppState(data: Uint8Array): AppliedEntry[] {
  if (data.length === 0) return [];
  return JSON.parse(text(data)) as AppliedEntry[];
}
