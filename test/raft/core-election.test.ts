// Elections: initial election, re-election, quorum, PreVote, CheckQuorum, the leader lease and
// leadership transfer.
import { describe, expect, it } from 'vitest';
import { CAMPAIGN_TRANSFER, NONE, type Message } from '../../raft/core/index.js';
import { Network } from '../../raft/core/testing.js';

const ABC = ['a', 'b', 'c'];
const FIVE = ['s1', 's2', 's3', 's4', 's5'];

function others(net: Network, id: string): string[] {
  return [...net.peers.keys()].filter((x) => x !== id);
}

describe('leader election', () => {
  it('elects exactly one leader that everyone follows', () => {
    const net = new Network({ peers: ABC, seed: 1 });
    const leader = net.electLeader();
    expect(net.currentLeaders()).toEqual([leader]);
    const term = net.node(leader).term;
    expect(term).toBeGreaterThan(1);
    for (const id of ABC) {
      expect(net.node(id).lead).toBe(leader);
      expect(net.node(id).term).toBe(term);
    }
    // And it stays leader while nothing goes wrong.
    net.tick(100);
    expect(net.leader()).toBe(leader);
    expect(net.node(leader).term).toBe(term);
  });

  it('draws election timeouts from [electionTicks, 2 * electionTicks)', () => {
    const net = new Network({ peers: ABC, seed: 3, config: { electionTicks: 10 } });
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      net.node('a').raft.becomeFollower(net.node('a').term, NONE);
      seen.add(net.node('a').raft.randomizedElectionTicks);
    }
    expect(Math.min(...seen)).toBe(10);
    expect(Math.max(...seen)).toBe(19);
  });

  it('re-elects after the leader is cut off, and the old leader steps down', () => {
    const net = new Network({ peers: ABC, seed: 2 });
    const old = net.electLeader();
    const oldTerm = net.node(old).term;
    net.isolate(old);
    net.tickUntil(() => net.leader() !== old && net.leader() !== NONE, 200);
    const next = net.leader();
    expect(next).not.toBe(old);
    expect(net.node(next).term).toBeGreaterThan(oldTerm);
    // CheckQuorum: within an election timeout the cut-off leader notices and steps down.
    net.tickUntil(() => net.node(old).role !== 'leader', 30);
    net.heal();
    net.tick(5);
    expect(net.leader()).toBe(next);
    expect(net.node(old).lead).toBe(next);
    expect(net.propose(next, 'after').ok).toBe(true);
    net.tick(2);
    for (const id of ABC) expect(net.appliedData(id)).toEqual(['after']);
  });

  it('elects no leader without a quorum', () => {
    const net = new Network({ peers: ABC, seed: 4 });
    net.electLeader();
    net.partition(['a'], ['b'], ['c']);
    net.tick(300);
    expect(net.currentLeaders()).toEqual([]);
    net.heal();
    expect(net.electLeader()).not.toBe(NONE);
  });

  it('in a 5-node cluster only the majority side elects', () => {
    const net = new Network({ peers: FIVE, seed: 5 });
    const old = net.electLeader();
    const minority = [old, others(net, old)[0]!];
    const majority = FIVE.filter((x) => !minority.includes(x));
    net.partition(minority, majority);
    net.tick(200);
    const leaders = net.currentLeaders();
    expect(leaders.length).toBe(1);
    expect(majority).toContain(leaders[0]);
  });

  it('a single node elects itself', () => {
    const net = new Network({ peers: ['solo'], seed: 6 });
    expect(net.electLeader()).toBe('solo');
    expect(net.propose('solo', 'x').ok).toBe(true);
    expect(net.appliedData('solo')).toEqual(['x']);
  });
});

describe('PreVote', () => {
  it('keeps an isolated node from inflating its term and disrupting the cluster', () => {
    const net = new Network({ peers: ABC, seed: 7 });
    const leader = net.electLeader();
    const f = others(net, leader)[0]!;
    const term = net.node(leader).term;
    net.isolate(f);
    net.tick(200);
    expect(net.node(f).term).toBe(term); // pre-elections never won, term unchanged
    expect(net.node(f).role).toBe('preCandidate');
    net.heal();
    net.tick(20);
    expect(net.leader()).toBe(leader);
    expect(net.node(leader).term).toBe(term);
    expect(net.node(f).lead).toBe(leader);
  });

  it('without PreVote the isolated node inflates its term and deposes the leader on return', () => {
    const net = new Network({ peers: ABC, seed: 7, config: { preVote: false } });
    const leader = net.electLeader();
    const f = others(net, leader)[0]!;
    const term = net.node(leader).term;
    net.isolate(f);
    net.tick(200);
    expect(net.node(f).term).toBeGreaterThan(term + 5);
    net.heal();
    net.tick(50);
    expect(net.node(net.leader()).term).toBeGreaterThan(term + 5);
  });
});

describe('CheckQuorum', () => {
  it('a leader that hears from no quorum steps down within an election timeout', () => {
    const net = new Network({ peers: ABC, seed: 8, config: { electionTicks: 10 } });
    const leader = net.electLeader();
    for (const o of others(net, leader)) net.cutOneWay(o, leader); // it can send, but hears nothing
    const ticks = net.tickUntil(() => net.node(leader).role !== 'leader', 100);
    expect(ticks).toBeLessThanOrEqual(20);
  });

  it('without CheckQuorum an isolated leader keeps believing it leads', () => {
    const net = new Network({ peers: ABC, seed: 8, config: { checkQuorum: false } });
    const leader = net.electLeader();
    net.isolate(leader);
    net.tick(100);
    expect(net.node(leader).role).toBe('leader');
  });

  it('followers that heard from the leader recently ignore vote requests (the lease)', () => {
    const net = new Network({ peers: ABC, seed: 9 });
    const leader = net.electLeader();
    const [f, g] = others(net, leader) as [string, string];
    const term = net.node(f).term;
    const st = net.node(g).raft.log;
    const vote: Message = {
      type: 'MsgVote', from: g, to: f, term: term + 1, index: st.lastIndex(), logTerm: st.lastTerm(),
    };
    net.send(vote);
    net.stabilize();
    expect(net.node(f).term).toBe(term); // ignored: not even the term moved
    expect(net.node(f).raft.vote).not.toBe(g);
    // A transfer campaign is allowed to break the lease.
    net.isolate(leader);
    net.send({ ...vote, context: CAMPAIGN_TRANSFER });
    net.stabilize();
    expect(net.node(f).term).toBe(term + 1);
    expect(net.node(f).raft.vote).toBe(g);
  });
});

describe('leadership transfer', () => {
  it('hands leadership to an up-to-date follower without waiting for timeouts', () => {
    const net = new Network({ peers: ABC, seed: 10 });
    const leader = net.electLeader();
    const target = others(net, leader)[0]!;
    const term = net.node(leader).term;
    expect(net.node(leader).transferLeadership(target).ok).toBe(true);
    net.stabilize();
    expect(net.leader()).toBe(target);
    expect(net.node(target).term).toBe(term + 1);
    expect(net.node(leader).role).toBe('follower');
  });

  it('catches a lagging transferee up first', () => {
    const net = new Network({ peers: ABC, seed: 11 });
    const leader = net.electLeader();
    const [target, other] = others(net, leader) as [string, string];
    net.cut(leader, target);
    for (let i = 0; i < 5; i++) net.propose(leader, `e${i}`);
    expect(net.node(target).raft.log.lastIndex()).toBeLessThan(net.node(leader).raft.log.lastIndex());
    net.heal();
    net.node(leader).transferLeadership(target);
    net.stabilize();
    expect(net.leader()).toBe(target);
    net.tick(2);
    for (const id of [leader, target, other]) expect(net.appliedData(id)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
  });

  it('drops proposals while transferring and gives up after an election timeout', () => {
    const net = new Network({ peers: ABC, seed: 12, config: { electionTicks: 10 } });
    const leader = net.electLeader();
    const target = others(net, leader)[0]!;
    net.cut(leader, target);
    net.propose(leader, 'lag'); // so the target is behind and the transfer must wait
    net.node(leader).transferLeadership(target);
    net.stabilize();
    expect(net.node(leader).status().leadTransferee).toBe(target);
    expect(net.propose(leader, 'x')).toEqual({ ok: false, error: 'ProposalDropped', reason: 'LeadershipTransferInProgress' });
    net.tick(10);
    expect(net.leader()).toBe(leader);
    expect(net.node(leader).status().leadTransferee).toBe(NONE);
    expect(net.propose(leader, 'y').ok).toBe(true);
  });

  it('a follower forwards a transfer request to the leader', () => {
    const net = new Network({ peers: ABC, seed: 13 });
    const leader = net.electLeader();
    const target = others(net, leader)[1]!;
    expect(net.node(target).transferLeadership(target).ok).toBe(true);
    net.stabilize();
    expect(net.leader()).toBe(target);
  });
});
