// Log replication: agreement, overwriting uncommitted entries, fast backtracking, the Figure 8
// rule, batching, flow control, the uncommitted-size limit and proposal forwarding.
import { describe, expect, it } from 'vitest';
import { MemoryStorage, NONE, RawNode, type Entry, type Message, entrySizeBytes } from '../../raft/core/index.js';
import { Network, bytes, mulberry32 } from '../../raft/core/testing.js';

const ABC = ['a', 'b', 'c'];
const FIVE = ['s1', 's2', 's3', 's4', 's5'];

function others(net: Network, id: string): string[] {
  return [...net.peers.keys()].filter((x) => x !== id);
}

describe('agreement', () => {
  it('commits with one follower down, not without a majority', () => {
    const net = new Network({ peers: ABC, seed: 20 });
    const leader = net.electLeader();
    const [f, g] = others(net, leader) as [string, string];
    net.crash(f);
    net.propose(leader, 'one');
    expect(net.appliedData(leader)).toEqual(['one']);
    net.crash(g);
    const commit = net.node(leader).commitIndex;
    net.propose(leader, 'two');
    expect(net.node(leader).commitIndex).toBe(commit);
    net.restart(g);
    net.tick(3);
    expect(net.appliedData(g)).toEqual(['one', 'two']);
    net.restart(f);
    net.tick(3);
    expect(net.appliedData(f)).toEqual(['one', 'two']);
    net.checkInvariants();
  });

  it('a partitioned old leader’s uncommitted entries are overwritten when it rejoins', () => {
    const net = new Network({ peers: FIVE, seed: 21 });
    const old = net.electLeader();
    const buddy = others(net, old)[0]!;
    const majority = FIVE.filter((x) => x !== old && x !== buddy);
    net.propose(old, 'committed');
    net.partition([old, buddy], majority);
    for (let i = 0; i < 3; i++) expect(net.propose(old, `lost${i}`).ok).toBe(true);
    expect(net.node(buddy).raft.log.lastIndex()).toBe(net.node(old).raft.log.lastIndex());
    net.tickUntil(() => majority.includes(net.leader()), 200);
    const next = net.leader();
    net.propose(next, 'kept');
    net.heal();
    net.tick(30);
    for (const id of FIVE) expect(net.appliedData(id)).toEqual(['committed', 'kept']);
    net.checkInvariants();
  });
});

describe('fast backtracking', () => {
  it('a new leader backs up over long divergent logs in a few round trips', () => {
    const net = new Network({ peers: FIVE, seed: 22 });
    const old = net.electLeader();
    const buddy = others(net, old)[0]!;
    const majority = FIVE.filter((x) => x !== old && x !== buddy);
    net.partition([old, buddy], majority);
    for (let i = 0; i < 100; i++) net.node(old).propose(bytes(`stale${i}`));
    net.stabilize();
    net.tickUntil(() => majority.includes(net.leader()), 200);
    const interim = net.leader();
    for (let i = 0; i < 100; i++) net.node(interim).propose(bytes(`fresh${i}`));
    net.stabilize();
    // A leader elected now starts probing everyone at the end of its long log.
    const next = majority.find((x) => x !== interim)!;
    net.node(interim).transferLeadership(next);
    net.stabilize();
    expect(net.leader()).toBe(next);
    // Two followers hold 100 entries of an old term where the leader has 100 of newer terms.
    expect(net.node(buddy).raft.log.lastIndex()).toBe(net.node(old).raft.log.lastIndex());
    const before = net.rejectedAppends;
    net.heal();
    net.tick(30);
    const rejections = net.rejectedAppends - before;
    expect(rejections).toBeGreaterThan(0);
    expect(rejections).toBeLessThanOrEqual(4); // at most two per divergent follower
    for (const id of FIVE) expect(net.appliedData(id)).toHaveLength(100);
    net.checkInvariants();
  });

  it('probing a follower that has an empty log takes one rejection', () => {
    const net = new Network({ peers: ABC, seed: 23 });
    const leader = net.electLeader();
    for (let i = 0; i < 50; i++) net.node(leader).propose(bytes(`x${i}`));
    net.stabilize();
    net.addPeer('d');
    const before = net.rejectedAppends;
    net.proposeConfChange(leader, { type: 'addNode', nodeId: 'd' });
    net.tick(3);
    expect(net.rejectedAppends - before).toBe(1);
    expect(net.appliedData('d')).toHaveLength(50);
  });
});

describe('Figure 8: never commit an entry of an older term by counting replicas', () => {
  it('a leader counts its term-2 entry on a majority but does not commit it', () => {
    // a's log: [1: t1, 2: t2]; it campaigns for term 3 and wins.
    const storage = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
    const e = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: bytes(`v${index}`) });
    storage.append([e(1, 1), e(2, 2)]);
    storage.setHardState({ term: 2, vote: 'a', commit: 1 });
    const a = new RawNode({ id: 'a', random: mulberry32(1), preVote: false }, storage);
    const drain = () => {
      while (a.hasReady()) {
        const rd = a.ready();
        storage.append(rd.entries);
        if (rd.hardState) storage.setHardState(rd.hardState);
        a.advance(rd);
      }
    };
    a.campaign();
    drain();
    a.step({ type: 'MsgVoteResp', from: 'b', to: 'a', term: 3, reject: false });
    drain();
    expect(a.role).toBe('leader');
    expect(a.raft.log.lastIndex()).toBe(3); // the term-3 no-op
    // b acknowledges index 2 only: with a, a majority holds the term-2 entry.
    a.step({ type: 'MsgAppResp', from: 'b', to: 'a', term: 3, index: 2 });
    drain();
    expect(a.commitIndex).toBe(1);
    // Once a term-3 entry is on a majority, everything before it commits too.
    a.step({ type: 'MsgAppResp', from: 'b', to: 'a', term: 3, index: 3 });
    drain();
    expect(a.commitIndex).toBe(3);
  });

  it('the paper’s scenario: the entry that would have been wrongly committed is overwritten', () => {
    const net = new Network({ peers: FIVE, seed: 24, config: { preVote: false, checkQuorum: false } });
    net.campaign('s1');
    expect(net.leader()).toBe('s1');
    const base = net.node('s1').raft.log.lastIndex();
    // (a) s1 replicates "A" (term 2) to s2 only.
    net.partition(['s1', 's2'], ['s3', 's4', 's5']);
    net.propose('s1', 'A');
    expect(net.node('s2').raft.log.lastIndex()).toBe(base + 1);
    // (b) s5 wins term 3 with s3 and s4 but its entries reach nobody.
    net.heal();
    net.partition(['s1', 's2'], ['s3', 's4', 's5']);
    net.filter = (m) => !(m.from === 's5' && m.type !== 'MsgVote');
    net.campaign('s5');
    expect(net.node('s5').role).toBe('leader');
    expect(net.node('s5').raft.log.lastTerm()).toBe(net.node('s5').term);
    // (c) s5 crashes; s1 or s2 comes back as leader of a later term and copies "A" to s3 — but its
    // own current-term no-op reaches nobody, so only the old-term entry is on a majority.
    net.crash('s5');
    net.crash('s1'); // s1 restarts as a follower of term 2 with "A" in its durable log
    net.restart('s1');
    net.heal();
    net.isolate('s4');
    net.transform = (m: Message) =>
      m.type === 'MsgApp' ? { ...m, entries: (m.entries ?? []).filter((x) => x.term <= 2) } : m;
    net.campaign('s1');
    net.tickUntil(() => net.leader() === 's1' || net.leader() === 's2', 500);
    const l = net.leader();
    expect(net.node(l).term).toBeGreaterThan(3);
    net.tick(5);
    expect(net.node('s3').raft.log.lastIndex()).toBe(base + 1);
    expect(net.node('s3').raft.log.term(base + 1)).toBe(2);
    // s1/s2 and s3 hold "A" (a majority of five) but it is not of the leader's term: no commit.
    expect(net.node(l).commitIndex).toBe(base);
    expect(net.appliedData('s3')).toEqual([]);
    // (d) The leader crashes; s5 returns with the highest last term and overwrites "A".
    for (const id of FIVE) if (net.peer(id).up) net.crash(id);
    net.heal();
    const rest = FIVE.filter((x) => x !== l);
    for (const id of rest) net.restart(id);
    net.stabilize(); // restarted nodes re-apply their committed conf changes before campaigning
    net.campaign('s4'); // loses (shortest log) but brings everyone, s5 included, to its term
    net.campaign('s5'); // s5's last entry (term 3) beats everyone's "A" (term 2)
    expect(net.leader()).toBe('s5');
    net.propose('s5', 'B');
    net.tick(3);
    for (const id of rest) expect(net.appliedData(id)).toEqual(['B']);
    expect(net.node('s3').raft.log.term(base + 1)).toBe(3); // "A" is gone
    net.checkInvariants();
  });
});

describe('batching and flow control', () => {
  it('proposals stepped between two Readies share one MsgApp per follower', () => {
    const net = new Network({ peers: ABC, seed: 25 });
    const leader = net.electLeader();
    const before = net.sent.MsgApp ?? 0;
    for (let i = 0; i < 200; i++) net.node(leader).propose(bytes(`p${i}`));
    net.stabilize();
    const msgApps = (net.sent.MsgApp ?? 0) - before;
    // One MsgApp with all 200 entries per follower, then one commit-only MsgApp each.
    expect(msgApps).toBeLessThanOrEqual(4);
    for (const id of ABC) expect(net.appliedData(id)).toHaveLength(200);
  });

  it('proposeBatch appends many entries in one call', () => {
    const net = new Network({ peers: ABC, seed: 26 });
    const leader = net.electLeader();
    const res = net.node(leader).proposeBatch([bytes('x'), bytes('y'), bytes('z')]);
    expect(res.ok && 'firstIndex' in res && res.lastIndex - res.firstIndex).toBe(2);
    net.stabilize();
    for (const id of ABC) expect(net.appliedData(id)).toEqual(['x', 'y', 'z']);
  });

  it('no MsgApp exceeds maxSizePerMsgBytes (unless a single entry does)', () => {
    const net = new Network({ peers: ABC, seed: 27, config: { maxSizePerMsgBytes: 1000 } });
    const leader = net.electLeader();
    let maxEntries = 0;
    net.filter = (m) => {
      if (m.type === 'MsgApp' && (m.entries?.length ?? 0) > 1) {
        const size = m.entries!.reduce((s, e) => s + entrySizeBytes(e), 0);
        expect(size).toBeLessThanOrEqual(1000);
        maxEntries = Math.max(maxEntries, m.entries!.length);
      }
      return true;
    };
    for (let i = 0; i < 100; i++) net.node(leader).propose(new Uint8Array(100));
    net.node(leader).propose(new Uint8Array(5000)); // alone in its message
    net.stabilize();
    expect(maxEntries).toBeGreaterThan(1);
    expect(net.node(leader).commitIndex).toBe(net.node(leader).raft.log.lastIndex());
  });

  it('bounds the MsgApp in flight to a follower by count', () => {
    const net = new Network({ peers: ABC, seed: 28, config: { maxInflightMsgs: 3, maxSizePerMsgBytes: 1 } });
    const leader = net.electLeader();
    const f = others(net, leader)[0]!;
    net.cutOneWay(f, leader); // f's acks are lost
    let withEntries = 0;
    net.filter = (m) => {
      if (m.type === 'MsgApp' && m.to === f && (m.entries?.length ?? 0) > 0) withEntries++;
      return true;
    };
    for (let i = 0; i < 20; i++) net.node(leader).propose(bytes(`e${i}`));
    net.stabilize();
    expect(withEntries).toBe(3);
    expect(net.node(leader).status().progress[f]!.inflightMsgs).toBe(3);
    net.heal();
    net.tick(5);
    expect(net.appliedData(f)).toHaveLength(20);
  });

  it('bounds the bytes in flight to a follower', () => {
    const net = new Network({ peers: ABC, seed: 29, config: { maxInflightBytes: 1000, maxSizePerMsgBytes: 300 } });
    const leader = net.electLeader();
    const f = others(net, leader)[0]!;
    net.cutOneWay(f, leader);
    let bytesSent = 0;
    net.filter = (m) => {
      if (m.type === 'MsgApp' && m.to === f) bytesSent += (m.entries ?? []).reduce((s, e) => s + e.data.byteLength, 0);
      return true;
    };
    for (let i = 0; i < 50; i++) net.node(leader).propose(new Uint8Array(100));
    net.stabilize();
    expect(bytesSent).toBeGreaterThanOrEqual(1000);
    expect(bytesSent).toBeLessThan(1000 + 300);
  });

  it('re-probes a follower reported unreachable', () => {
    const net = new Network({ peers: ABC, seed: 30 });
    const leader = net.electLeader();
    const f = others(net, leader)[0]!;
    net.propose(leader, 'x');
    expect(net.node(leader).status().progress[f]!.state).toBe('replicate');
    net.node(leader).reportUnreachable(f);
    expect(net.node(leader).status().progress[f]!.state).toBe('probe');
    net.propose(leader, 'y');
    expect(net.node(leader).status().progress[f]!.state).toBe('replicate');
  });
});

describe('the uncommitted-size limit', () => {
  it('refuses proposals beyond maxUncommittedEntriesBytes until entries commit', () => {
    const net = new Network({ peers: ABC, seed: 31, config: { maxUncommittedEntriesBytes: 1000 } });
    const leader = net.electLeader();
    for (const o of others(net, leader)) net.cut(leader, o);
    const results = [];
    for (let i = 0; i < 20; i++) results.push(net.node(leader).propose(new Uint8Array(100)));
    const accepted = results.filter((r) => r.ok).length;
    expect(accepted).toBe(10);
    expect(results[10]).toEqual({ ok: false, error: 'ProposalDropped', reason: 'UncommittedSizeExceeded' });
    net.heal();
    net.tick(2);
    expect(net.node(leader).propose(new Uint8Array(100)).ok).toBe(true);
  });

  it('always accepts a proposal into an empty uncommitted tail, however large', () => {
    const net = new Network({ peers: ABC, seed: 32, config: { maxUncommittedEntriesBytes: 10 } });
    const leader = net.electLeader();
    expect(net.node(leader).propose(new Uint8Array(1000)).ok).toBe(true);
    expect(net.node(leader).propose(new Uint8Array(1)).ok).toBe(false);
  });
});

describe('proposal forwarding', () => {
  it('a follower forwards proposals to the leader', () => {
    const net = new Network({ peers: ABC, seed: 33 });
    const leader = net.electLeader();
    const f = others(net, leader)[0]!;
    expect(net.propose(f, 'via-follower')).toEqual({ ok: true, forwardedTo: leader });
    net.tick(1);
    for (const id of ABC) expect(net.appliedData(id)).toEqual(['via-follower']);
  });

  it('without a known leader a proposal is refused with NotLeader', () => {
    const net = new Network({ peers: ABC, seed: 34 });
    expect(net.node('a').propose(bytes('x'))).toEqual({ ok: false, error: 'NotLeader', leaderHint: NONE });
  });

  it('with forwarding disabled the follower answers with a leader hint', () => {
    const net = new Network({ peers: ABC, seed: 35, config: { disableProposalForwarding: true } });
    const leader = net.electLeader();
    const f = others(net, leader)[0]!;
    expect(net.node(f).propose(bytes('x'))).toEqual({ ok: false, error: 'NotLeader', leaderHint: leader });
  });

  it('the leader reports where the proposal landed', () => {
    const net = new Network({ peers: ABC, seed: 36 });
    const leader = net.electLeader();
    const last = net.node(leader).raft.log.lastIndex();
    expect(net.node(leader).propose(bytes('x'))).toEqual({
      ok: true, forwardedTo: NONE, firstIndex: last + 1, lastIndex: last + 1, term: net.node(leader).term,
    });
  });
});

describe('unreliable network', () => {
  it('agrees despite loss, duplication and reordering', () => {
    const net = new Network({ peers: FIVE, seed: 37 });
    net.electLeader();
    net.dropRate = 0.2;
    net.duplicateRate = 0.1;
    net.reorderRate = 0.5;
    const proposed = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const l = net.leader();
      if (l !== NONE && net.node(l).propose(bytes(`u${i}`)).ok) proposed.add(`u${i}`);
      net.tick(1);
      net.checkInvariants();
    }
    net.heal();
    net.tick(30);
    const l = net.leader();
    net.propose(l, 'end');
    net.tick(3);
    const applied = net.appliedData(l);
    for (const id of FIVE) expect(net.appliedData(id)).toEqual(applied);
    expect(applied.at(-1)).toBe('end');
    for (const x of applied.slice(0, -1)) expect(proposed.has(x)).toBe(true);
    expect(applied.length).toBeGreaterThan(50);
  });
});
