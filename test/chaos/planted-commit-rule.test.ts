// The planted bug `commit-any-term` (RaftConfig.unsafeCommitAnyTerm, test-only): a leader
// commits an entry of an earlier term because a majority holds it, skipping Raft's
// current-term rule (§5.4.2, Figure 8).
//
// Randomized campaigns against the store peer do not reach it: a new leader sends its no-op
// together with the older entries it re-replicates, so a majority acknowledges a current-term
// entry at the same moment as the old ones, and the rule never decides anything. What exposes
// the bug is the paper's choreography, where the new leader's own entries are lost on the way.
// Here it runs on the core's simulated network over many seeds, each seed casting different
// peers in the roles and drawing different election timings. The detector is Raft's Leader
// Completeness property: every entry some peer applied must be in the log of every later
// leader, at the same index with the same term (and the core network's own state-machine-safety
// check, an index applied with two different entries, when it gets that far).
import { describe, expect, it } from 'vitest';
import type { Message } from '../../raft/core/index.js';
import { Network, mulberry32 } from '../../raft/core/testing.js';

type Outcome = 'violation' | 'safe' | 'inconclusive';

/** Leader Completeness: a live leader's log holds every entry any peer ever applied. */
function leaderCompleteness(net: Network): string | null {
  for (const [id, p] of net.peers) {
    if (!p.up || p.n.role !== 'leader') continue;
    const log = p.n.raft.log;
    for (const other of net.peers.values()) {
      for (const a of other.history.values()) {
        if (a.index < log.firstIndex() || a.index > log.lastIndex()) continue;
        const term = log.term(a.index);
        if (term !== a.term) {
          return `leader completeness violated: ${other.id} applied ${JSON.stringify(a.data)} at index ${a.index} (term ${a.term}), but leader ${id} of term ${p.n.term} holds term ${term} there`;
        }
      }
    }
  }
  return null;
}

function figure8(seed: number, unsafe: boolean): { outcome: Outcome; detail: string } {
  const rng = mulberry32(seed);
  const cast = ['s1', 's2', 's3', 's4', 's5'].sort(() => rng() - 0.5);
  const [s1, s2, s3, s4, s5] = cast as [string, string, string, string, string];
  const net = new Network({ peers: cast, seed, config: { preVote: false, checkQuorum: false, unsafeCommitAnyTerm: unsafe } });
  try {
    net.campaign(s1);
    if (net.leader() !== s1) return { outcome: 'inconclusive', detail: 'first election' };
    // (a) s1 replicates "A" to s2 only.
    net.partition([s1, s2], [s3, s4, s5]);
    net.propose(s1, 'A');
    // (b) s5 wins the next term with s3 and s4, but its own entries reach nobody.
    net.heal();
    net.partition([s1, s2], [s3, s4, s5]);
    net.filter = (m) => !(m.from === s5 && m.type !== 'MsgVote');
    net.campaign(s5);
    if (net.node(s5).role !== 'leader') return { outcome: 'inconclusive', detail: 'second election' };
    // (c) s5 is gone; s1 comes back and leads a later term; "A" reaches s3, its new no-op does not.
    net.crash(s5);
    net.crash(s1);
    net.restart(s1);
    net.heal();
    net.isolate(s4);
    net.transform = (m: Message) => (m.type === 'MsgApp' ? { ...m, entries: (m.entries ?? []).filter((x) => x.term <= 2) } : m);
    net.campaign(s1);
    net.tickUntil(() => net.leader() === s1 || net.leader() === s2, 500);
    net.tick(5);
    // (d) That leader crashes; s5 returns with the highest last term and overwrites "A".
    const l = net.leader();
    for (const id of cast) if (net.peer(id).up) net.crash(id);
    net.heal();
    for (const id of cast.filter((x) => x !== l)) net.restart(id);
    net.stabilize();
    net.campaign(s4);
    net.campaign(s5);
    const broken = leaderCompleteness(net);
    if (broken) return { outcome: 'violation', detail: broken };
    if (net.leader() !== s5) return { outcome: 'inconclusive', detail: 'last election' };
    net.propose(s5, 'B');
    net.tick(3);
    net.checkInvariants();
    return { outcome: 'safe', detail: '' };
  } catch (err) {
    const message = (err as Error).message;
    if (/safety violated/.test(message)) return { outcome: 'violation', detail: message };
    // A leader that lacks an applied entry can make followers refuse its appends forever (the
    // network never settles): say what broke, if that is what happened.
    const broken = leaderCompleteness(net);
    if (broken) return { outcome: 'violation', detail: broken };
    return { outcome: 'inconclusive', detail: message };
  }
}

describe('planted bug commit-any-term', () => {
  it('is caught by the Figure 8 choreography across 20 seeds, and the same seeds are safe without it', () => {
    const seeds = Array.from({ length: 20 }, (_, i) => 100 + i);
    const planted = seeds.map((s) => figure8(s, true));
    const control = seeds.map((s) => figure8(s, false));
    const detected = planted.filter((r) => r.outcome === 'violation').length;
    console.log(
      `planted commit-any-term: detected in ${detected} of ${seeds.length} seeded Figure 8 runs ` +
        `(${Math.round((100 * detected) / seeds.length)}%); without it ${control.filter((r) => r.outcome === 'safe').length} safe, ` +
        `${control.filter((r) => r.outcome === 'inconclusive').length} inconclusive; e.g. ${planted.find((r) => r.outcome === 'violation')?.detail ?? '-'}`,
    );
    expect(detected).toBeGreaterThan(0);
    expect(control.filter((r) => r.outcome === 'violation')).toEqual([]);
    expect(control.filter((r) => r.outcome === 'safe').length).toBeGreaterThan(0);
  });
});
