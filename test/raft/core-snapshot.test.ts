// Log compaction and snapshots: a lagging follower whose next entry is compacted on the leader
// receives a snapshot, restores it and catches up; failures are retried; restarts after a
// snapshot neither lose nor reorder applied entries.
import { describe, expect, it } from 'vitest';
import { SnapshotTemporarilyUnavailableError, type Snapshot } from '../../raft/core/index.js';
import { Network, bytes } from '../../raft/core/testing.js';

const ABC = ['a', 'b', 'c'];

function others(net: Network, id: string): string[] {
  return [...net.peers.keys()].filter((x) => x !== id);
}

function expected(n: number, prefix = 'e'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

function setUp(seed: number): { net: Network; leader: string; lagger: string } {
  const net = new Network({ peers: ABC, seed });
  const leader = net.electLeader();
  const lagger = others(net, leader)[0]!;
  net.crash(lagger);
  for (let i = 0; i < 50; i++) net.node(leader).propose(bytes(`e${i}`));
  net.stabilize();
  net.compact(leader);
  expect(net.node(leader).raft.log.firstIndex()).toBeGreaterThan(net.peer(lagger).storage.lastIndex() + 1);
  return { net, leader, lagger };
}

describe('snapshots', () => {
  it('a lagging follower gets a snapshot when its next entry is compacted, then catches up', () => {
    const { net, leader, lagger } = setUp(50);
    net.restart(lagger);
    net.tick(3);
    expect(net.delivered.MsgSnap).toBe(1);
    expect(net.appliedData(lagger)).toEqual(expected(50));
    expect(net.peer(lagger).storage.snapshot().metadata.index).toBeGreaterThan(0);
    expect(net.node(leader).status().progress[lagger]!.state).toBe('replicate');
    net.propose(leader, 'after');
    net.tick(1);
    expect(net.appliedData(lagger)).toEqual([...expected(50), 'after']);
    net.checkInvariants();
  });

  it('a lost snapshot is reported and sent again', () => {
    const { net, leader, lagger } = setUp(51);
    net.restart(lagger);
    net.filter = (m) => m.type !== 'MsgSnap';
    net.tick(3);
    expect(net.node(leader).status().progress[lagger]!.state).toBe('probe'); // reportSnapshot(false)
    expect(net.appliedData(lagger)).toEqual([]);
    net.filter = null;
    net.tick(3);
    expect(net.appliedData(lagger)).toEqual(expected(50));
  });

  it('waits while the snapshot is temporarily unavailable', () => {
    const { net, leader, lagger } = setUp(52);
    const storage = net.peer(leader).storage;
    const real = storage.snapshot.bind(storage);
    let available = false;
    storage.snapshot = (): Snapshot => {
      if (!available) throw new SnapshotTemporarilyUnavailableError();
      return real();
    };
    net.restart(lagger);
    net.tick(5);
    expect(net.delivered.MsgSnap ?? 0).toBe(0);
    available = true;
    net.tick(3);
    expect(net.appliedData(lagger)).toEqual(expected(50));
  });

  it('a follower restarted after installing a snapshot keeps its applied entries in order', () => {
    const { net, leader, lagger } = setUp(53);
    net.restart(lagger);
    net.tick(3);
    net.propose(leader, 'x');
    net.tick(1);
    net.crash(lagger);
    net.restart(lagger);
    expect(net.appliedData(lagger)).toEqual(expected(50)); // from the snapshot alone
    net.tick(2);
    expect(net.appliedData(lagger)).toEqual([...expected(50), 'x']);
    net.checkInvariants();
  });

  it('a leader restarted after compacting its own log recovers from its snapshot', () => {
    const { net, leader, lagger } = setUp(54);
    net.restart(lagger);
    net.tick(3);
    net.crash(leader);
    net.restart(leader);
    expect(net.appliedData(leader)).toEqual(expected(50));
    const l = net.electLeader();
    net.propose(l, 'later');
    net.tick(2);
    for (const id of ABC) expect(net.appliedData(id)).toEqual([...expected(50), 'later']);
  });

  it('followers that still have the entries get them from the log, not a snapshot', () => {
    const net = new Network({ peers: ABC, seed: 55 });
    const leader = net.electLeader();
    const lagger = others(net, leader)[0]!;
    net.crash(lagger);
    for (let i = 0; i < 30; i++) net.node(leader).propose(bytes(`e${i}`));
    net.stabilize();
    net.compact(leader, 40); // keep 40 entries behind the snapshot for catch-up
    net.restart(lagger);
    net.tick(3);
    expect(net.delivered.MsgSnap ?? 0).toBe(0);
    expect(net.appliedData(lagger)).toEqual(expected(30));
  });
});
