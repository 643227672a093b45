// ReadIndex: safe reads confirmed by a heartbeat round, lease reads, forwarding from followers,
// and the rule that a new leader serves reads only once an entry of its term has committed.
import { describe, expect, it } from 'vitest';
import { NONE, type ReadState } from '../../raft/core/index.js';
import { Network } from '../../raft/core/testing.js';

const ABC = ['a', 'b', 'c'];

function others(net: Network, id: string): string[] {
  return [...net.peers.keys()].filter((x) => x !== id);
}

describe('ReadIndex (safe)', () => {
  it('the leader confirms leadership with a heartbeat round, then reports its commit index', () => {
    const net = new Network({ peers: ABC, seed: 40 });
    const leader = net.electLeader();
    net.propose(leader, 'x');
    const commit = net.node(leader).commitIndex;
    const heartbeats = net.sent.MsgHeartbeat ?? 0;
    expect(net.node(leader).readIndex('r1')).toEqual({ ok: true });
    expect(net.peer(leader).readStates).toEqual([]); // not before the quorum answered
    net.stabilize();
    expect(net.peer(leader).readStates).toEqual<ReadState[]>([{ index: commit, requestCtx: 'r1' }]);
    expect((net.sent.MsgHeartbeat ?? 0) - heartbeats).toBe(2);
  });

  it('a follower forwards the request and receives the leader’s read index', () => {
    const net = new Network({ peers: ABC, seed: 41 });
    const leader = net.electLeader();
    net.propose(leader, 'x');
    const f = others(net, leader)[0]!;
    const ctx = new Uint8Array([1, 2, 3]);
    expect(net.node(f).readIndex(ctx)).toEqual({ ok: true });
    net.stabilize();
    expect(net.peer(f).readStates).toEqual([{ index: net.node(leader).commitIndex, requestCtx: ctx }]);
  });

  it('a leader cut off from the quorum confirms nothing', () => {
    const net = new Network({ peers: ABC, seed: 42 });
    const leader = net.electLeader();
    net.isolate(leader);
    net.node(leader).readIndex('stale?');
    net.tick(30);
    expect(net.peer(leader).readStates).toEqual([]);
    expect(net.node(leader).role).not.toBe('leader');
  });

  it('batches: one quorum round confirms every request queued before it', () => {
    const net = new Network({ peers: ABC, seed: 43 });
    const leader = net.electLeader();
    const f = others(net, leader)[0]!;
    net.cutOneWay(f, leader);
    net.cutOneWay(others(net, leader)[1]!, leader);
    net.node(leader).readIndex('q1');
    net.node(leader).readIndex('q2');
    net.stabilize();
    expect(net.peer(leader).readStates).toEqual([]);
    net.heal();
    net.tick(1); // the next heartbeat carries the newest context; its acks confirm both
    expect(net.peer(leader).readStates.map((r) => r.requestCtx)).toEqual(['q1', 'q2']);
  });

  it('a new leader holds reads until an entry of its own term commits', () => {
    const net = new Network({ peers: ABC, seed: 44 });
    const first = net.electLeader();
    const next = others(net, first)[0]!;
    // The next leader's appends (its no-op) are lost for now.
    net.filter = (m) => !(m.from === next && m.type === 'MsgApp');
    net.node(first).transferLeadership(next);
    net.stabilize();
    expect(net.leader()).toBe(next);
    net.node(next).readIndex('early');
    net.stabilize();
    expect(net.peer(next).readStates).toEqual([]);
    net.filter = null;
    net.tick(2);
    const rs = net.peer(next).readStates;
    expect(rs.map((r) => r.requestCtx)).toEqual(['early']);
    expect(rs[0]!.index).toBe(net.node(next).commitIndex);
    expect(net.node(next).raft.log.term(rs[0]!.index)).toBe(net.node(next).term);
  });

  it('without any leader the request is refused', () => {
    const net = new Network({ peers: ABC, seed: 45 });
    expect(net.node('a').readIndex('x')).toEqual({ ok: false, error: 'NotLeader', leaderHint: NONE });
  });

  it('a single-voter leader answers at once', () => {
    const net = new Network({ peers: ['solo'], seed: 46 });
    net.electLeader();
    net.node('solo').readIndex('now');
    net.stabilize();
    expect(net.peer('solo').readStates).toEqual([{ index: net.node('solo').commitIndex, requestCtx: 'now' }]);
  });
});

describe('ReadIndex (lease)', () => {
  it('the leader answers from its lease without a heartbeat round', () => {
    const net = new Network({ peers: ABC, seed: 47, config: { readOnlyOption: 'lease' } });
    const leader = net.electLeader();
    const heartbeats = net.sent.MsgHeartbeat ?? 0;
    net.node(leader).readIndex('fast');
    net.stabilize();
    expect(net.peer(leader).readStates).toEqual([{ index: net.node(leader).commitIndex, requestCtx: 'fast' }]);
    expect(net.sent.MsgHeartbeat ?? 0).toBe(heartbeats);
  });
});
