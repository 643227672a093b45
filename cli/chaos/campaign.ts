/**
 * The fault campaign: many short runs of a replicated store under faults, each judged by the
 * project's checkers (the VOPR's shape: a safety phase under faults, then a liveness phase after
 * healing that must converge within a bound).
 *
 * One run:
 * 1. Start the peers (SimHost from the run's seed, or real workers with lmdb in a temp dir) and
 *    wait for a leader.
 * 2. Safety phase: clients issue operations while the nemesis injects faults; a sampler records
 *    who leads in which term; a watch over the key prefix follows the commits.
 * 3. Heal: the network heals, paused peers resume, downed peers restart.
 * 4. Liveness: a write must commit within `livenessBoundMs` (the time it took is reported).
 * 5. Final reads of every key (recorded in the history too).
 * 6. Convergence: every member reaches the same applied index with the same state digest.
 * 7. Checks: linearizability per key, no acknowledged write lost, at most one leader per term,
 *    convergence, the watch stream, and no peer crashed on its own.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host } from '../../runtime/host.js';
import { SimHost } from '../../runtime/sim.js';
import { ThreadHost } from '../../runtime/thread-host.js';
import { Rng } from '../../runtime/rng.js';
import type { ActorSpec } from '../../runtime/actor.js';
import type { PeerArgs } from '../../actors/etcd-peer.js';
import { StoreClient } from '../../raft/client.js';
import type { PeerDigest, PeerStatus } from '../../raft/protocol.js';
import {
  HistoryRecorder,
  checkElectionSafety,
  checkLinearizability,
  checkLostWrites,
  type JsonValue,
} from '../../raft/check/index.js';
import { peerSpecs, superviseStore } from '../store-cluster.js';
import { Nemesis, DEFAULT_GAP_MS, DEFAULT_HOLD_MS, type Membership } from './nemesis.js';
import { Observer } from './observer.js';
import { WatchObserver } from './watcher.js';
import { Workload, historyKey } from './workload.js';
import type { CampaignOptions, CampaignSummary, RunResult, Violation } from './types.js';

export const KEY_PREFIX = '/chaos/';
const LIVENESS_KEY = `${KEY_PREFIX}~liveness`;
const SAMPLE_MS = 5;
const LEADER_WAIT_MS = 10_000;
/** Final reads use processes from here on, one per key. */
const FINAL_PROCESS = 1_000_000;
/** Search budget of the linearizability checker per key; beyond it the verdict is 'unknown'. */
const MAX_SEARCH_STEPS_PER_KEY = 2_000_000;
/** A threaded host that takes longer than this to shut down is reported (and left behind). */
const SHUTDOWN_LIMIT_MS = 15_000;
const SUPERVISION = { maxRestarts: 1_000, periodMs: 1_000, backoff: { initialMs: 5, maxMs: 100 } };

interface Timing {
  tryTimeoutMs: number;
  deadlineMs: number;
  thinkMs: number;
}

function timingFor(mode: 'sim' | 'threads'): Timing {
  return mode === 'sim' ? { tryTimeoutMs: 300, deadlineMs: 1_500, thinkMs: 15 } : { tryTimeoutMs: 500, deadlineMs: 2_000, thinkMs: 10 };
}

/** Runs `options.runs` runs one after the other; `onRun` sees each result as it completes. */
export async function runCampaign(options: CampaignOptions, onRun?: (r: RunResult) => void): Promise<{ results: RunResult[]; summary: CampaignSummary }> {
  const results: RunResult[] = [];
  const t0 = performance.now();
  for (let i = 0; i < options.runs; i++) {
    const r = await runOne(options, i);
    results.push(r);
    onRun?.(r);
  }
  return { results, summary: summarize(options, results, performance.now() - t0) };
}

export function summarize(options: Pick<CampaignOptions, 'plant'>, results: RunResult[], wallMs: number): CampaignSummary {
  const failed = results.filter((r) => r.violations.length > 0);
  const recoveries = results.map((r) => r.recoveryMs).filter((x): x is number => x !== null);
  const summary: CampaignSummary = {
    runs: results.length,
    ops: sum(results.map((r) => r.ops)),
    ok: sum(results.map((r) => r.ok)),
    fail: sum(results.map((r) => r.fail)),
    info: sum(results.map((r) => r.info)),
    violations: sum(results.map((r) => r.violations.length)),
    failedRuns: failed.length,
    failedSeeds: failed.map((r) => r.seed),
    lost_acked_writes: sum(results.map((r) => r.lostAckedWrites)),
    max_unavailable_ms: Math.max(0, ...results.map((r) => r.maxUnavailableMs)),
    max_recovery_ms: recoveries.length > 0 ? Math.max(...recoveries) : null,
    elections: sum(results.map((r) => r.elections)),
    wall_ms: Math.round(wallMs),
  };
  if (options.plant) {
    summary.planted = options.plant;
    summary.planted_detected = failed.length;
    summary.planted_total = results.length;
  }
  return summary;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** One run with seed `options.seed + index`. */
export async function runOne(options: CampaignOptions, index: number): Promise<RunResult> {
  const seed = options.seed + index;
  const wall0 = performance.now();
  const dataDir = options.mode === 'threads' ? mkdtempSync(join(tmpdir(), 'actorkube-chaos-')) : undefined;
  const host: Host =
    options.mode === 'sim'
      ? new SimHost({ seed })
      : new ThreadHost({ dataDir: dataDir!, seed, logLevel: options.logLevel ?? 'silent' });
  const rng = host instanceof SimHost ? host.prng : new Rng(seed);
  let result: RunResult;
  try {
    result = await new Run(host, rng, options, index, seed).execute(wall0);
  } catch (err) {
    // The campaign itself failed (a malformed history, an unexpected throw): report it with the
    // seed, and go on with the other runs.
    result = failedRun(options, index, seed, wall0, err);
  }
  if (!(await shutdownWithin(host, SHUTDOWN_LIMIT_MS))) {
    result.violations.push({ check: 'shutdown', message: `the host did not shut down within ${SHUTDOWN_LIMIT_MS} ms (a worker stuck in native code?)` });
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  return result;
}

/** Shuts the host down; false if that did not finish in time (real threads only can hang). */
async function shutdownWithin(host: Host, limitMs: number): Promise<boolean> {
  if (host.kind === 'sim') {
    await host.shutdown();
    return true;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), limitMs)));
  const done = await Promise.race([host.shutdown().then(() => true as const), expired]);
  clearTimeout(timer);
  return done;
}

/** One run's state, phase by phase. */
class Run {
  private readonly timing: Timing;
  private readonly founders: string[];
  private readonly extra: Partial<PeerArgs>;
  private readonly clusterId: string;
  /** Members clients and faults address; membership changes move it. */
  private members: string[];
  private readonly t0: number;
  private readonly recorder: HistoryRecorder;
  private readonly violations: Violation[] = [];
  private readonly observer: Observer;
  private readonly watch: WatchObserver | null;
  private readonly workload: Workload;
  private readonly nemesis: Nemesis;
  private readonly finals = new Map<string, JsonValue>();
  private safetyStart = 0;
  private healedAt = 0;
  private recoveryMs: number | null = null;
  private snapshotsInstalled = 0;

  constructor(
    private readonly host: Host,
    private readonly rng: Rng,
    private readonly options: CampaignOptions,
    private readonly index: number,
    private readonly seed: number,
  ) {
    this.timing = timingFor(options.mode);
    this.founders = Array.from({ length: options.peers }, (_, i) => `etcd-${i + 1}`);
    this.extra = { ...(options.peerArgs as Partial<PeerArgs>), ...(options.plant ? { plantedBug: options.plant } : {}) };
    this.clusterId = `chaos-${seed}`;
    this.members = [...this.founders];
    this.t0 = host.now();
    this.recorder = new HistoryRecorder(() => Math.round(this.clock() * 1e6));
    this.observer = new Observer(host, () => this.members, SAMPLE_MS);
    this.watch = options.watch ? new WatchObserver(host, rng, KEY_PREFIX, () => this.members) : null;
    this.workload = new Workload(host, rng, this.recorder, () => this.members, () => this.clock(), {
      clients: options.clients,
      keys: options.keys,
      prefix: KEY_PREFIX,
      ...this.timing,
    });
    const membership = options.nemeses.includes('member')
      ? newMembership(host, this.clusterId, this.founders, this.extra, () => this.members, (m) => (this.members = m), () => this.observer.leader, (p, id) => this.client(p, id), rng)
      : undefined;
    const nemesisOptions = { kinds: options.nemeses, gapMs: DEFAULT_GAP_MS, holdMs: DEFAULT_HOLD_MS, founding: this.founders.length };
    this.nemesis = new Nemesis(host, rng, () => this.clock(), () => this.members, () => this.observer.leader, nemesisOptions, membership);
  }

  /** ms since the run started (virtual on SimHost). */
  private clock(): number {
    return this.host.now() - this.t0;
  }

  private client(peers: string[], id: string): StoreClient {
    const host = this.host;
    return new StoreClient({
      ask: (to, msg, o) => host.ask(to, msg, o),
      peers,
      clientId: id,
      now: () => host.now(),
      sleep: (ms) => host.sleep(ms),
      tryTimeoutMs: this.timing.tryTimeoutMs,
      deadlineMs: this.timing.deadlineMs,
    });
  }

  private violation(check: Violation['check'], message: string): void {
    if (!this.violations.some((v) => v.check === check && v.message === message)) this.violations.push({ check, message });
  }

  async execute(wall0: number): Promise<RunResult> {
    await this.start();
    await this.safetyPhase();
    await this.livenessPhase();
    await this.finalReads();
    // A run already shown unsafe (two leaders in a term) may never converge: it gets short
    // waits, so a broken peer's message storm does not stall the campaign.
    this.checkElections();
    const digests = await this.convergence();
    await this.watchStream(digests);
    this.watch?.stop();
    this.observer.stop();
    return this.judge(wall0);
  }

  private async start(): Promise<void> {
    const specs = peerSpecs(this.clusterId, this.founders, this.extra);
    if (this.host instanceof SimHost) await this.host.load(specs);
    superviseStore(this.host, specs, SUPERVISION);
    this.observer.start();
    if (!(await waitForLeaderSampled(this.host, this.observer, LEADER_WAIT_MS))) {
      this.violation('liveness', `no leader within ${LEADER_WAIT_MS} ms of starting`);
    }
    if (this.watch) await this.watch.start();
  }

  /** Clients run while the nemesis injects faults. */
  private async safetyPhase(): Promise<void> {
    this.safetyStart = this.clock();
    const end = this.safetyStart + this.options.durationMs;
    this.workload.start(end);
    await this.nemesis.run(end);
  }

  /** Everything heals; a write must then commit within the bound. */
  private async livenessPhase(): Promise<void> {
    await this.nemesis.healAll();
    this.healedAt = this.clock();
    const bound = this.options.livenessBoundMs;
    this.recoveryMs = await livenessWrite(this.host, this.client(this.members, `chaos-liveness-${this.seed}`), this.healedAt, () => this.clock(), bound);
    if (this.recoveryMs === null) this.violation('liveness', `no write committed within ${bound} ms of healing`);
    await this.workload.finished();
  }

  /** Every key read once more, recorded like any read, for the lost-write check. */
  private async finalReads(): Promise<void> {
    const reader = this.client(this.members, 'chaos-final');
    for (let k = 0; k < this.options.keys; k++) {
      const key = historyKey(k);
      const value = await finalRead(this.host, reader, this.recorder, FINAL_PROCESS + k, key, this.options.livenessBoundMs);
      if (value === undefined) this.violation('liveness', `final read of ${key} did not succeed within ${this.options.livenessBoundMs} ms`);
      else this.finals.set(key, value);
    }
  }

  private checkElections(): void {
    for (const v of checkElectionSafety(this.observer.roles)) this.violation('election-safety', v.message);
  }

  /** Same applied index and the same state digest on every member. */
  private async convergence(): Promise<PeerDigest[] | null> {
    const bound = this.violations.length > 0 ? Math.min(500, this.options.livenessBoundMs) : this.options.livenessBoundMs;
    const digests = await converge(this.host, this.members, bound);
    const statuses = await Promise.all(this.members.map((id) => this.host.ask<PeerStatus>(id, { op: 'status' }, { timeoutMs: 500 }).catch(() => null)));
    this.snapshotsInstalled = statuses.reduce((n, st) => n + (st?.snapshotsInstalled ?? 0), 0);
    if (typeof digests === 'string') {
      this.violation('convergence', digests);
      return null;
    }
    return digests;
  }

  /**
   * The watch stream against the committed events read back from the leader, once the members
   * converged (a lagging peer's history is a prefix, not the reference).
   */
  private async watchStream(digests: PeerDigest[] | null): Promise<void> {
    if (!this.watch || !digests) return;
    const leader = digests[0]!;
    const result = await this.watch.check(leader.id, leader.revision, this.violations.length > 0 ? 500 : 3_000);
    if (result === null) this.violation('watch', `could not read the committed events back from ${leader.id}`);
    else for (const v of result.violations.slice(0, 5)) this.violation('watch', v.message);
  }

  /** The checks over the history, and the run's result. */
  private judge(wall0: number): RunResult {
    const operations = this.recorder.operations();
    const lin = checkLinearizability(operations, { maxStepsPerKey: MAX_SEARCH_STEPS_PER_KEY });
    if (lin.verdict === 'not-linearizable') this.violation('linearizability', `key ${lin.key}: ${lin.explanation ?? 'not linearizable'}`);
    const lost = checkLostWrites(operations, this.finals);
    for (const v of lost.violations) this.violation('lost-writes', v.message);
    this.checkElections();
    for (const c of this.observer.selfCrashes.slice(0, 5)) this.violation('peer-crash', `a peer crashed on its own: ${c}`);

    const lines = this.recorder.toJsonLines();
    let historyFile: string | undefined;
    if (this.options.historyDir) {
      mkdirSync(this.options.historyDir, { recursive: true });
      historyFile = join(this.options.historyDir, `run-${String(this.index).padStart(4, '0')}-seed-${this.seed}.jsonl`);
      writeFileSync(historyFile, lines);
    }
    const livenessEnd = this.healedAt + (this.recoveryMs ?? this.options.livenessBoundMs);
    // Counted over the whole history (final reads included), so ops = ok + fail + info.
    const stats = { ok: 0, fail: 0, info: 0 };
    for (const op of operations) stats[op.status]++;
    const result: RunResult = {
      index: this.index,
      seed: this.seed,
      mode: this.options.mode,
      ...(this.options.plant ? { plant: this.options.plant } : {}),
      ops: operations.length,
      ok: stats.ok,
      fail: stats.fail,
      info: stats.info,
      elections: this.observer.elections,
      maxUnavailableMs: Math.round(longestGap(this.workload.okTimes, this.safetyStart, livenessEnd)),
      recoveryMs: this.recoveryMs === null ? null : Math.round(this.recoveryMs),
      snapshotsInstalled: this.snapshotsInstalled,
      lostAckedWrites: lost.lostWrites.length,
      linearizable: lin.verdict,
      violations: this.violations,
      nemesis: this.nemesis.events,
      historyHash: createHash('sha256').update(lines).digest('hex').slice(0, 16),
      wallMs: Math.round(performance.now() - wall0),
      coveredMs: Math.round(this.clock()),
      ...(historyFile ? { historyFile } : {}),
    };
    if (this.host instanceof SimHost) result.traceHash = this.host.traceHash;
    return result;
  }
}

function failedRun(options: CampaignOptions, index: number, seed: number, wall0: number, err: unknown): RunResult {
  return {
    index,
    seed,
    mode: options.mode,
    ...(options.plant ? { plant: options.plant } : {}),
    ops: 0,
    ok: 0,
    fail: 0,
    info: 0,
    elections: 0,
    maxUnavailableMs: 0,
    recoveryMs: null,
    snapshotsInstalled: 0,
    lostAckedWrites: 0,
    linearizable: 'unknown',
    violations: [{ check: 'campaign-error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }],
    nemesis: [],
    historyHash: '',
    wallMs: Math.round(performance.now() - wall0),
    coveredMs: 0,
  };
}

/** The longest stretch in [from, to] with no successful operation. */
export function longestGap(okTimes: readonly number[], from: number, to: number): number {
  let last = from;
  let longest = 0;
  for (const t of okTimes) {
    if (t < from) continue;
    if (t > to) break;
    longest = Math.max(longest, t - last);
    last = t;
  }
  return Math.max(longest, to - last);
}

async function waitForLeaderSampled(host: Host, observer: Observer, timeoutMs: number): Promise<boolean> {
  const deadline = host.now() + timeoutMs;
  while (host.now() < deadline) {
    if (observer.leader !== undefined) return true;
    await host.sleep(10);
  }
  return false;
}

/** Time from `healedAt` until a write commits, or null if none within `boundMs`. */
async function livenessWrite(host: Host, client: StoreClient, healedAt: number, clock: () => number, boundMs: number): Promise<number | null> {
  while (clock() - healedAt < boundMs) {
    try {
      await client.put(LIVENESS_KEY, `after-heal-${Math.round(clock())}`);
      return clock() - healedAt;
    } catch {
      await host.sleep(10);
    }
  }
  return null;
}

async function finalRead(host: Host, client: StoreClient, recorder: HistoryRecorder, process: number, key: string, boundMs: number): Promise<JsonValue | undefined> {
  const deadline = host.now() + boundMs;
  while (host.now() < deadline) {
    const op = recorder.invoke(process, 'read', key, null);
    try {
      const kv = await client.get(`${KEY_PREFIX}${key}`);
      const value = kv ? new TextDecoder().decode(kv.value) : null;
      recorder.ok(op, value);
      return value;
    } catch {
      recorder.fail(op);
      await host.sleep(10);
    }
  }
  return undefined;
}

/**
 * Waits until every member of the leader's configuration (voters and learners) applied the
 * leader's commit index, then compares their state digests. Returns the digests (leader first)
 * or a description of what did not converge.
 */
async function converge(host: Host, members: string[], boundMs: number): Promise<PeerDigest[] | string> {
  const deadline = host.now() + boundMs;
  const statusOf = (id: string) => host.ask<PeerStatus>(id, { op: 'status' }, { timeoutMs: 200 }).catch(() => null);
  let last = '';
  while (host.now() < deadline) {
    // The members as the campaign knows them, and whoever their configuration names: a member
    // change whose outcome the nemesis could not learn may have committed (and its new member
    // may even lead).
    const named = new Set(members);
    const first = await Promise.all(members.map(statusOf));
    for (const st of first) for (const id of [...(st?.voters ?? []), ...(st?.learners ?? []), st?.leader ?? '']) if (id && host.isKnown(id)) named.add(id);
    const others = [...named].filter((id) => !members.includes(id));
    const seen = [...first, ...(await Promise.all(others.map(statusOf)))];
    const leader = seen.find((s) => s?.role === 'leader');
    if (leader) {
      const config = [...new Set([...leader.voters, ...leader.learners])].filter((id) => host.isKnown(id)).sort();
      const statuses = await Promise.all(config.map(statusOf));
      const up = statuses.filter((s): s is PeerStatus => s !== null);
      last = `${config.map((id, i) => (statuses[i] ? `${id} ${statuses[i]!.role} term ${statuses[i]!.term} commit ${statuses[i]!.commit} applied ${statuses[i]!.applied}` : `${id} down`)).join('; ')}`;
      if (up.length === config.length && up.every((s) => s.applied === leader.commit)) {
        const digests = await Promise.all(config.map((id) => host.ask<PeerDigest>(id, { op: 'digest' }, { timeoutMs: 500 }).catch(() => null)));
        if (digests.every((d): d is PeerDigest => d !== null) && digests.every((d) => d.applied === digests[0]!.applied)) {
          const ordered = [...digests.filter((d) => d.id === leader.id), ...digests.filter((d) => d.id !== leader.id)];
          const ref = ordered[0]!;
          const differ = ordered.filter((d) => d.revision !== ref.revision || d.kvHash !== ref.kvHash || d.stateHash !== ref.stateHash);
          if (differ.length === 0 && ref.id === leader.id) return ordered;
          if (differ.length > 0) {
            return `replicas differ at applied index ${ref.applied}: ${ordered.map((d) => `${d.id} rev ${d.revision} keys ${d.keys} kv ${d.kvHash.slice(0, 8)} state ${d.stateHash.slice(0, 8)}`).join('; ')}`;
          }
        }
      }
    } else {
      const ids = [...members, ...others];
      last = seen.map((s, i) => (s ? `${s.id} ${s.role} term ${s.term} commit ${s.commit} applied ${s.applied} leader ${s.leader || 'none'}` : `${ids[i]} down`)).join('; ');
    }
    await host.sleep(20);
  }
  return `members did not reach the same applied index within ${boundMs} ms: ${last || 'no status'}`;
}

/** True when a member that answers no longer lists `id` as voter or learner. */
async function removedFromConfig(host: Host, askAt: string[], id: string): Promise<boolean> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const statuses = await Promise.all(askAt.map((m) => host.ask<PeerStatus>(m, { op: 'status' }, { timeoutMs: 200 }).catch(() => null)));
    const leader = statuses.find((s) => s?.role === 'leader');
    if (leader) return !leader.voters.includes(id) && !leader.learners.includes(id);
    await host.sleep(50);
  }
  return false;
}

function newMembership(
  host: Host,
  clusterId: string,
  founders: string[],
  extra: Partial<PeerArgs>,
  members: () => string[],
  setMembers: (m: string[]) => void,
  leader: () => string | undefined,
  admin: (peers: string[], id: string) => StoreClient,
  rng: Rng,
): Membership {
  let next = founders.length + 1;
  let seq = 0;
  return {
    size: () => members().length,
    async add() {
      const id = `etcd-${next++}`;
      const [spec] = peerSpecs(clusterId, founders, extra).map((s): ActorSpec => ({ ...s, id }));
      if (host instanceof SimHost) await host.load([spec!]);
      superviseStore(host, [spec!], SUPERVISION);
      const client = admin(members(), `chaos-member-${seq++}`);
      try {
        await client.memberChange('addLearner', id);
      } catch {
        /* outcome unknown: promotion below tells */
      }
      // Let the learner catch up before it votes.
      const deadline = host.now() + 1_000;
      while (host.now() < deadline) {
        const st = await host.ask<PeerStatus>(id, { op: 'status' }, { timeoutMs: 200 }).catch(() => null);
        if (st && st.learners.includes(id) && st.applied > 0) break;
        await host.sleep(20);
      }
      try {
        await client.memberChange('add', id);
        setMembers([...members(), id]);
        return `add ${id}: learner, then voter`;
      } catch (err) {
        // Unknown: count it in only if a peer lists it as a voter.
        const st = await host.ask<PeerStatus>(leader() ?? members()[0]!, { op: 'status' }, { timeoutMs: 200 }).catch(() => null);
        if (st?.voters.includes(id)) {
          setMembers([...members(), id]);
          return `add ${id}: voter (promotion outcome was unknown)`;
        }
        return `add ${id}: not promoted (${(err as Error).message})`;
      }
    },
    async remove() {
      const l = leader();
      const candidates = members().filter((m) => m !== l);
      if (candidates.length === 0 || members().length <= 3) return 'remove skipped';
      const victim = rng.pick(candidates);
      const client = admin(members(), `chaos-member-${seq++}`);
      try {
        await client.memberChange('remove', victim);
      } catch (err) {
        // Unknown outcome: the removal may still have committed. Ask the members.
        const gone = await removedFromConfig(host, members().filter((m) => m !== victim), victim);
        if (!gone) return `remove ${victim} failed (${(err as Error).message})`;
      }
      setMembers(members().filter((m) => m !== victim));
      // A removed member stops for good (it stays known to the host, so asks fail fast).
      if (host.isRunning(victim)) host.crash(victim, { restart: 'manual' });
      return `remove ${victim}`;
    },
  };
}
