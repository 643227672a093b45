// Membership changes, one at a time: adding and removing voters, learners that replicate but do
// not vote, promotion and demotion, removing the leader, and the one-pending-change rule.
import { describe, expect, it } from 'vitest';
import { NONE } from '../../raft/core/index.js';
import { Network, bytes } from '../../raft/core/testing.js';

const ABC = ['a', 'b', 'c'];

function others(net: Network, id: string): string[] {
  return [...net.peers.keys()].filter((x) => x !== id);
}

function voters(net: Network, id: string): readonly string[] {
  return net.node(id).status().config.voters;
}

describe('membership changes', () => {
  it('adds a voter that starts empty and receives the whole log', () => {
    const net = new Network({ peers: ABC, seed: 60 });
    const leader = net.electLeader();
    net.propose(leader, 'before');
    net.addPeer('d');
    const res = net.proposeConfChange(leader, { type: 'addNode', nodeId: 'd' });
    expect(res.ok).toBe(true);
    net.tick(3);
    for (const id of ['a', 'b', 'c', 'd']) expect(voters(net, id)).toEqual(['a', 'b', 'c', 'd']);
    expect(net.appliedData('d')).toEqual(['before']);
    expect(net.node('d').lead).toBe(leader);
    // Four voters: a quorum is three. With two cut off nothing commits.
    const [x, y] = others(net, leader) as [string, string];
    net.cut(leader, x);
    net.cut(leader, y);
    const commit = net.node(leader).commitIndex;
    net.node(leader).propose(bytes('stuck'));
    net.stabilize();
    expect(net.node(leader).commitIndex).toBe(commit);
  });

  it('a learner receives the log but neither votes nor counts toward the quorum', () => {
    const net = new Network({ peers: ABC, seed: 61 });
    const leader = net.electLeader();
    net.addPeer('l');
    net.proposeConfChange(leader, { type: 'addLearner', nodeId: 'l' });
    net.propose(leader, 'x');
    net.tick(2);
    expect(net.appliedData('l')).toEqual(['x']);
    expect(net.node(leader).status().config).toEqual({ voters: ['a', 'b', 'c'], learners: ['l'] });
    expect(net.node(leader).status().progress.l!.isLearner).toBe(true);
    // The learner's acknowledgement does not make a quorum.
    for (const o of others(net, leader).filter((i) => i !== 'l')) net.cut(leader, o);
    const commit = net.node(leader).commitIndex;
    net.node(leader).propose(bytes('y'));
    net.stabilize();
    expect(net.node('l').raft.log.lastIndex()).toBe(net.node(leader).raft.log.lastIndex());
    expect(net.node(leader).commitIndex).toBe(commit);
    // An isolated learner never campaigns.
    net.heal();
    net.tick(2);
    const term = net.node('l').term;
    net.isolate('l');
    net.tick(100);
    expect(net.node('l').term).toBe(term);
    expect(net.node('l').role).toBe('follower');
  });

  it('a learner is promoted to voter and a voter demoted to learner', () => {
    const net = new Network({ peers: ABC, seed: 62 });
    const leader = net.electLeader();
    net.addPeer('l');
    net.proposeConfChange(leader, { type: 'addLearner', nodeId: 'l' });
    net.tick(2);
    expect(net.proposeConfChange(leader, { type: 'addNode', nodeId: 'l' }).ok).toBe(true);
    net.tick(2);
    expect(voters(net, 'l')).toEqual(['a', 'b', 'c', 'l']);
    const f = others(net, leader).find((i) => i !== 'l')!;
    expect(net.proposeConfChange(leader, { type: 'addLearner', nodeId: f }).ok).toBe(true);
    net.tick(2);
    expect(net.node(leader).status().config.learners).toEqual([f]);
    expect(net.node(f).status().config.learners).toEqual([f]);
  });

  it('removes a follower; the remaining voters keep committing', () => {
    const net = new Network({ peers: ABC, seed: 63 });
    const leader = net.electLeader();
    const [gone, stay] = others(net, leader) as [string, string];
    net.proposeConfChange(leader, { type: 'removeNode', nodeId: gone });
    net.tick(2);
    expect(voters(net, leader)).toEqual([leader, stay].sort());
    net.crash(gone);
    net.propose(leader, 'two-of-two');
    net.tick(1);
    expect(net.appliedData(stay)).toEqual(['two-of-two']);
  });

  it('removing the leader makes it step down once applied; the rest elect a new one', () => {
    const net = new Network({ peers: ABC, seed: 64 });
    const leader = net.electLeader();
    const rest = others(net, leader);
    expect(net.proposeConfChange(leader, { type: 'removeNode', nodeId: leader }).ok).toBe(true);
    net.tick(1);
    expect(net.node(leader).role).toBe('follower');
    expect(voters(net, leader)).toEqual(rest);
    net.tickUntil(() => rest.includes(net.leader()), 100);
    const next = net.leader();
    net.propose(next, 'new era');
    net.tick(2);
    for (const id of rest) expect(net.appliedData(id)).toEqual(['new era']);
    // The removed node never campaigns again.
    const term = net.node(leader).term;
    net.isolate(leader);
    net.tick(100);
    expect(net.node(leader).role).toBe('follower');
    expect(net.node(leader).term).toBe(term);
  });

  it('refuses a second change while the first is unapplied, and invalid changes', () => {
    const net = new Network({ peers: ABC, seed: 65 });
    const leader = net.electLeader();
    const n = net.node(leader);
    expect(n.proposeConfChange({ type: 'addLearner', nodeId: 'x' }).ok).toBe(true);
    expect(n.proposeConfChange({ type: 'addLearner', nodeId: 'y' })).toEqual({ ok: false, error: 'ProposalDropped', reason: 'ConfChangePending' });
    net.stabilize();
    expect(n.proposeConfChange({ type: 'addLearner', nodeId: 'y' }).ok).toBe(true);
    net.stabilize();
    const solo = new Network({ peers: ['s'], seed: 66 });
    solo.electLeader();
    expect(solo.node('s').proposeConfChange({ type: 'removeNode', nodeId: 's' }))
      .toEqual({ ok: false, error: 'ProposalDropped', reason: 'InvalidConfChange' });
  });

  it('a new leader accepts no conf change until the log it was elected with is applied', () => {
    const net = new Network({ peers: ['a', 'b', 'c', 'd', 'e'], seed: 67 });
    const first = net.electLeader();
    const [next, ...rest] = others(net, first) as [string, ...string[]];
    for (const o of rest) net.cut(first, o);
    net.propose(first, 'uncommitted'); // reaches `next` only: two of five, not committed
    net.heal();
    net.filter = (m) => !(m.from === next && m.type === 'MsgApp'); // nothing commits under `next`
    net.node(first).transferLeadership(next);
    net.stabilize();
    expect(net.leader()).toBe(next);
    expect(net.node(next).proposeConfChange({ type: 'addLearner', nodeId: 'z' })).toMatchObject({ reason: 'ConfChangePending' });
    net.filter = null;
    net.tick(2);
    expect(net.node(next).proposeConfChange({ type: 'addLearner', nodeId: 'z' }).ok).toBe(true);
  });

  it('a follower forwards a conf change to the leader', () => {
    const net = new Network({ peers: ABC, seed: 68 });
    const leader = net.electLeader();
    const f = others(net, leader)[0]!;
    expect(net.proposeConfChange(f, { type: 'addLearner', nodeId: 'q' })).toEqual({ ok: true, forwardedTo: leader });
    net.tick(1);
    expect(net.node(f).status().config.learners).toEqual(['q']);
    expect(net.node(leader).lead).toBe(leader);
    expect(NONE).toBe('');
  });
});

describe('founding membership', () => {
  it('with the membership at index 0 of every storage, joiners included, a joiner learns the right one', () => {
    const net = new Network({ peers: ABC, seed: 69, bootstrap: 'confState' });
    const leader = net.electLeader();
    net.propose(leader, 'x');
    net.addPeer('d'); // starts from MemoryStorage({ voters: [a, b, c] }) like the founders
    net.proposeConfChange(leader, { type: 'addNode', nodeId: 'd' });
    net.tick(3);
    for (const id of ['a', 'b', 'c', 'd']) expect(voters(net, id)).toEqual(['a', 'b', 'c', 'd']);
    expect(net.appliedData('d')).toEqual(['x']);
  });

  it('a joiner that starts without the founders’ index-0 membership rebuilds a wrong one (misuse)', () => {
    const net = new Network({ peers: ABC, seed: 69, bootstrap: 'confState' });
    const leader = net.electLeader();
    net.addPeer('d', {}, { voters: [], learners: [] }); // not what the founders started from
    net.proposeConfChange(leader, { type: 'addNode', nodeId: 'd' });
    net.tick(3);
    expect(voters(net, leader)).toEqual(['a', 'b', 'c', 'd']);
    expect(voters(net, 'd')).toEqual(['d']); // it would think it is alone: give joiners the same start
  });
});
