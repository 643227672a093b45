// Restarts: a new RawNode on the same storage recovers term, vote, commit and log; a whole
// cluster survives every member crashing; `applied` skips what was already applied.
import { describe, expect, it } from 'vitest';
import { MemoryStorage, RawNode, type Ready } from '../../raft/core/index.js';
import { Network, bytes, mulberry32, text } from '../../raft/core/testing.js';

const ABC = ['a', 'b', 'c'];

describe('restart', () => {
  it('a node rebuilt on its storage recovers term, vote, commit and log', () => {
    const net = new Network({ peers: ABC, seed: 70 });
    const leader = net.electLeader();
    for (let i = 0; i < 5; i++) net.propose(leader, `v${i}`);
    net.tick(1);
    for (const id of ABC) {
      const before = net.node(id).status();
      const log = net.node(id).raft.log.allEntries();
      net.crash(id);
      net.restart(id);
      const after = net.node(id).status();
      expect(after.term).toBe(before.term);
      expect(after.vote).toBe(before.vote);
      expect(after.commit).toBe(before.commit);
      expect(after.role).toBe('follower');
      expect(net.node(id).raft.log.allEntries()).toEqual(log);
      net.stabilize();
    }
  });

  it('the cluster survives every member crashing and restarting', () => {
    const net = new Network({ peers: ABC, seed: 71 });
    let leader = net.electLeader();
    for (let round = 0; round < 3; round++) {
      net.propose(leader, `r${round}`);
      for (const id of ABC) net.crash(id);
      for (const id of ABC) net.restart(id);
      leader = net.electLeader();
    }
    net.propose(leader, 'end');
    net.tick(2);
    for (const id of ABC) expect(net.appliedData(id)).toEqual(['r0', 'r1', 'r2', 'end']);
    net.checkInvariants();
  });

  it('a vote survives a restart: no second vote in the same term', () => {
    const storage = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
    const persist = (n: RawNode): void => {
      while (n.hasReady()) {
        const rd: Ready = n.ready();
        storage.append(rd.entries);
        if (rd.hardState) storage.setHardState(rd.hardState);
        n.advance(rd);
      }
    };
    let a = new RawNode({ id: 'a', random: mulberry32(1), checkQuorum: false }, storage);
    a.step({ type: 'MsgVote', from: 'b', to: 'a', term: 5, index: 0, logTerm: 0 });
    let rd = a.ready();
    expect(rd.hardState).toEqual({ term: 5, vote: 'b', commit: 0 });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages).toEqual([{ type: 'MsgVoteResp', from: 'a', to: 'b', term: 5, reject: false }]);
    storage.setHardState(rd.hardState!);
    a.advance(rd);
    a = new RawNode({ id: 'a', random: mulberry32(2), checkQuorum: false }, storage);
    a.step({ type: 'MsgVote', from: 'c', to: 'a', term: 5, index: 0, logTerm: 0 });
    rd = a.ready();
    expect(rd.messages).toEqual([{ type: 'MsgVoteResp', from: 'a', to: 'c', term: 5, reject: true }]);
    a.advance(rd);
    persist(a);
  });

  it('with `applied`, entries already applied are not handed out again', () => {
    const net = new Network({ peers: ['solo'], seed: 72 });
    net.electLeader();
    for (let i = 0; i < 5; i++) net.propose('solo', `x${i}`);
    const storage = net.peer('solo').storage;
    const applied = net.node('solo').appliedIndex - 2;
    net.crash('solo');
    const n = new RawNode({ id: 'solo', random: mulberry32(3), applied }, storage);
    const rd = n.ready();
    expect(rd.committedEntries.map((e) => text(e.data))).toEqual(['x3', 'x4']);
    expect(rd.committedEntries[0]!.index).toBe(applied + 1);
    n.advance(rd);
  });

  it('a new node on an empty storage has nothing to do until bootstrapped', () => {
    const storage = new MemoryStorage();
    const n = new RawNode({ id: 'a', random: mulberry32(4) }, storage);
    expect(n.hasReady()).toBe(false);
    n.bootstrap(['b', 'a']);
    const rd = n.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: '', commit: 2 });
    expect(rd.entries.length).toBe(2);
    expect(rd.committedEntries.length).toBe(2);
    storage.append(rd.entries);
    storage.setHardState(rd.hardState!);
    n.advance(rd);
    expect(n.status().config.voters).toEqual(['a', 'b']);
    expect(() => n.bootstrap(['a'])).toThrow(/non-empty/);
    expect(() => n.advance(rd)).toThrow(/outstanding/);
    expect(bytes('x').length).toBe(1);
  });

  it('refuses a second ready() before advance()', () => {
    const net = new Network({ peers: ['solo'], seed: 73 });
    net.electLeader();
    const n = net.node('solo');
    n.propose(bytes('x'));
    expect(n.hasReady()).toBe(true);
    const rd = n.ready();
    expect(n.hasReady()).toBe(false);
    expect(() => n.ready()).toThrow(/before advance/);
    n.advance(rd);
  });
});
