// Randomized safety and liveness: fast-check drives a simulated cluster through random
// proposals, partitions, lossy links, crashes (also between a leader sending its appends and
// persisting them), restarts, compactions, transfers, reads and learner changes. Safety is checked after every step (election safety, log matching, state
// machine safety); after healing everything, the cluster must converge (liveness).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NONE } from '../../raft/core/index.js';
import { Network, bytes } from '../../raft/core/testing.js';

/** More runs for soak testing: RAFT_PROPERTY_RUNS=5000 npx vitest run test/raft/core-property.test.ts */
const RUNS = Number(process.env.RAFT_PROPERTY_RUNS ?? 0) || 0;

type Action =
  | { t: 'tick'; n: number }
  | { t: 'propose'; node: number; count: number }
  | { t: 'partition'; mask: number }
  | { t: 'isolate'; node: number }
  | { t: 'heal' }
  | { t: 'crash'; node: number }
  | { t: 'restart'; node: number }
  | { t: 'lossy'; drop: number; dup: number; reorder: number }
  | { t: 'compact'; node: number; keep: number }
  | { t: 'transfer'; to: number }
  | { t: 'read'; node: number }
  | { t: 'learner'; add: boolean }
  | { t: 'disk'; earlySend: boolean; crashBeforePersist: number; delayRounds: number };

const action = (nodes: number): fc.Arbitrary<Action> => {
  const node = fc.integer({ min: 0, max: nodes }); // index `nodes` is the extra learner
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ t: fc.constant('tick' as const), n: fc.integer({ min: 1, max: 25 }) }) },
    { weight: 6, arbitrary: fc.record({ t: fc.constant('propose' as const), node, count: fc.integer({ min: 1, max: 8 }) }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('partition' as const), mask: fc.integer({ min: 1, max: (1 << nodes) - 2 }) }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('isolate' as const), node }) },
    { weight: 3, arbitrary: fc.constant({ t: 'heal' as const }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('crash' as const), node }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('restart' as const), node }) },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('lossy' as const),
        drop: fc.double({ min: 0, max: 0.4, noNaN: true }),
        dup: fc.double({ min: 0, max: 0.2, noNaN: true }),
        reorder: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('compact' as const), node, keep: fc.integer({ min: 0, max: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('transfer' as const), to: node }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('read' as const), node }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('learner' as const), add: fc.boolean() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('disk' as const),
        earlySend: fc.boolean(),
        crashBeforePersist: fc.double({ min: 0, max: 0.05, noNaN: true }),
        delayRounds: fc.integer({ min: 0, max: 3 }),
      }),
    },
  );
};

export const stats = { runs: 0, snapshots: 0, terms: 0, applied: 0, rejects: 0 };

function run(nodes: number, seed: number, actions: Action[]): void {
  const ids = Array.from({ length: nodes }, (_, i) => `n${i}`);
  const all = [...ids, 'x'];
  const net = new Network({ peers: ids, seed, config: { electionTicks: 5, maxSizePerMsgBytes: 256, maxInflightMsgs: 4 } });
  net.addPeer('x');
  net.electLeader();
  let seq = 0;
  let reads = 0;
  /** Per read request: the highest index applied anywhere when it was issued. */
  const readFloors = new Map<string, number>();
  for (const a of actions) {
    switch (a.t) {
      case 'tick':
        net.tick(a.n);
        break;
      case 'propose': {
        const p = net.peer(all[a.node]!);
        if (p.up) {
          for (let i = 0; i < a.count; i++) p.n.propose(bytes(`p${seq++}`));
          net.stabilize();
        }
        break;
      }
      case 'partition': {
        const side = ids.filter((_, i) => (a.mask >> i) & 1);
        net.partition(side, all.filter((id) => !side.includes(id)));
        break;
      }
      case 'isolate':
        net.isolate(all[a.node]!);
        break;
      case 'heal':
        net.heal();
        break;
      case 'crash':
        if (net.peer(all[a.node]!).up) net.crash(all[a.node]!);
        break;
      case 'restart':
        if (!net.peer(all[a.node]!).up) net.restart(all[a.node]!);
        break;
      case 'lossy':
        net.dropRate = a.drop;
        net.duplicateRate = a.dup;
        net.reorderRate = a.reorder;
        break;
      case 'compact':
        if (net.peer(all[a.node]!).up) net.compact(all[a.node]!, a.keep);
        break;
      case 'transfer': {
        const l = net.leader();
        if (l !== NONE) {
          net.node(l).transferLeadership(all[a.to]!);
          net.stabilize();
        }
        break;
      }
      case 'read': {
        const p = net.peer(all[a.node]!);
        if (p.up) {
          const ctx = `read${reads++}`;
          readFloors.set(ctx, maxAppliedEver(net));
          p.n.readIndex(ctx);
          net.stabilize();
        }
        break;
      }
      case 'disk':
        net.earlySend = a.earlySend;
        net.crashBeforePersistRate = a.crashBeforePersist;
        net.maxPersistDelayRounds = a.delayRounds;
        break;
      case 'learner': {
        const l = net.leader();
        if (l !== NONE) {
          net.node(l).proposeConfChange({ type: a.add ? 'addLearner' : 'removeNode', nodeId: 'x' });
          net.stabilize();
        }
        break;
      }
    }
    net.checkInvariants();
    checkReadStates(net, readFloors);
  }
  // Liveness: heal and restart everything; the voters must converge on one applied sequence.
  net.heal();
  for (const id of all) if (!net.peer(id).up) net.restart(id);
  net.stabilize();
  let final = -1;
  for (let round = 0; round < 200 && final < 0; round++) {
    const l = net.leader();
    if (l !== NONE && net.node(l).propose(bytes(`final${round}`)).ok) {
      net.tick(3);
      if (ids.every((id) => net.appliedData(id).includes(`final${round}`))) final = round;
    } else {
      net.tick(5);
    }
  }
  expect(final, 'cluster did not converge after healing').toBeGreaterThanOrEqual(0);
  stats.runs++;
  stats.snapshots += net.delivered.MsgSnap ?? 0;
  stats.terms += net.leaders.size;
  stats.applied += net.appliedData(ids[0]!).length;
  stats.rejects += net.rejectedAppends;
  net.tick(3);
  const reference = net.appliedData(ids[0]!);
  for (const id of ids) expect(net.appliedData(id)).toEqual(reference);
  if (net.node(net.leader()).status().config.learners.includes('x')) expect(net.appliedData('x')).toEqual(reference);
  net.checkInvariants();
}

/** The highest index any node has applied so far (any incarnation). */
function maxAppliedEver(net: Network): number {
  let max = 0;
  for (const p of net.peers.values()) for (const i of p.history.keys()) if (i > max) max = i;
  return max;
}

/**
 * Linearizable reads: a read point covers every write that completed (was applied anywhere)
 * before the read was issued.
 */
function checkReadStates(net: Network, floors: Map<string, number>): void {
  for (const p of net.peers.values()) {
    for (const rs of p.readStates) {
      const floor = floors.get(rs.requestCtx as string);
      expect(floor, `unknown read context ${String(rs.requestCtx)}`).toBeDefined();
      expect(rs.index).toBeGreaterThanOrEqual(floor!);
    }
  }
}

describe('randomized faults (fast-check)', () => {
  it('3 voters + a learner: safety always, liveness after healing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.array(action(3), { minLength: 5, maxLength: 80, size: 'large' }), (seed, actions) => {
        run(3, seed, actions);
      }),
      { numRuns: RUNS || 300 },
    );
  }, RUNS ? 3_600_000 : undefined);

  it('5 voters + a learner: safety always, liveness after healing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.array(action(5), { minLength: 5, maxLength: 80, size: 'large' }), (seed, actions) => {
        run(5, seed, actions);
      }),
      { numRuns: RUNS || 200 },
    );
  }, RUNS ? 3_600_000 : undefined);

  it('is deterministic: the same seed and actions give the same message trace', () => {
    const trace = (): string[] => {
      const net = new Network({ peers: ['a', 'b', 'c'], seed: 99 });
      net.trace = [];
      net.dropRate = 0.1;
      net.reorderRate = 0.5;
      for (let i = 0; i < 30; i++) {
        const l = net.leader();
        if (l !== NONE) net.node(l).propose(bytes(`d${i}`));
        net.tick(2);
      }
      return net.trace;
    };
    const a = trace();
    expect(a.length).toBeGreaterThan(100);
    expect(trace()).toEqual(a);
  });
});

describe('coverage of the randomized runs', () => {
  it('exercised snapshots, elections and replication', () => {
    if (stats.runs === 0) return; // the property tests ran in isolation (-t)
    if (process.env.RAFT_PROPERTY_STATS) console.log(stats);
    expect(stats.snapshots).toBeGreaterThan(0);
    expect(stats.terms / stats.runs).toBeGreaterThan(1);
    expect(stats.applied / stats.runs).toBeGreaterThan(5);
  });
});
