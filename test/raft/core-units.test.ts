// Unit tests of the Raft core's building blocks: storage, unstable log, log, flow control,
// quorum arithmetic, conf change encoding and configuration validation.
import { describe, expect, it } from 'vitest';
import {
  AssertionError,
  CompactedError,
  MemoryStorage,
  RawNode,
  SnapshotOutOfDateError,
  UnavailableError,
  applyConfChangeToState,
  decodeConfChange,
  encodeConfChange,
  resolveConfig,
  type Entry,
} from '../../raft/core/index.js';
import { Inflights } from '../../raft/core/inflights.js';
import { RaftLog, TERM_COMPACTED, TERM_UNAVAILABLE } from '../../raft/core/log.js';
import { Progress } from '../../raft/core/progress.js';
import { ProgressTracker } from '../../raft/core/tracker.js';
import { Unstable } from '../../raft/core/unstable.js';
import { mulberry32 } from '../../raft/core/testing.js';

function ent(index: number, term: number, data = ''): Entry {
  return { index, term, type: 'normal', data: new TextEncoder().encode(data) };
}

function ents(from: number, terms: number[]): Entry[] {
  return terms.map((t, i) => ent(from + i, t));
}

describe('MemoryStorage', () => {
  it('starts empty with a placeholder at index 0', () => {
    const s = new MemoryStorage();
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(0);
    expect(s.term(0)).toBe(0);
    expect(() => s.term(1)).toThrow(UnavailableError);
    expect(s.entries(1, 1, 100)).toEqual([]);
  });

  it('appends, truncates conflicting suffixes and ignores compacted prefixes', () => {
    const s = new MemoryStorage();
    s.append(ents(1, [1, 1, 2, 2]));
    expect(s.lastIndex()).toBe(4);
    s.append(ents(3, [3]));
    expect(s.lastIndex()).toBe(3);
    expect(s.term(3)).toBe(3);
    s.createSnapshot(2, { voters: ['a'], learners: [] }, new Uint8Array());
    s.compact(2);
    expect(s.firstIndex()).toBe(3);
    s.append(ents(1, [1, 1, 3, 3])); // 1 and 2 are compacted: skipped
    expect(s.lastIndex()).toBe(4);
    expect(() => s.append(ents(9, [3]))).toThrow(AssertionError); // a gap
  });

  it('reports compaction and unavailability with typed errors', () => {
    const s = new MemoryStorage();
    s.append(ents(1, [1, 1, 1, 1, 1]));
    s.createSnapshot(3, { voters: ['a'], learners: [] }, new Uint8Array([9]));
    s.compact(3);
    expect(() => s.entries(3, 5, 100)).toThrow(CompactedError);
    expect(() => s.term(2)).toThrow(CompactedError);
    expect(s.term(3)).toBe(1); // kept for matching
    expect(() => s.entries(4, 7, 100)).toThrow(UnavailableError);
    expect(() => s.compact(2)).toThrow(CompactedError);
    expect(() => s.createSnapshot(3, { voters: [], learners: [] }, new Uint8Array())).toThrow(SnapshotOutOfDateError);
  });

  it('limits entries by size but returns at least one', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1, 'x'.repeat(100)), ent(2, 1, 'x'.repeat(100)), ent(3, 1, 'x'.repeat(100))]);
    expect(s.entries(1, 4, 1).length).toBe(1);
    expect(s.entries(1, 4, 260).length).toBe(2);
    expect(s.entries(1, 4, 1e9).length).toBe(3);
  });

  it('applies a newer snapshot and refuses an older one', () => {
    const s = new MemoryStorage();
    s.append(ents(1, [1, 1]));
    s.applySnapshot({ metadata: { index: 10, term: 3, confState: { voters: ['x'], learners: [] } }, data: new Uint8Array() });
    expect(s.firstIndex()).toBe(11);
    expect(s.lastIndex()).toBe(10);
    expect(s.term(10)).toBe(3);
    expect(s.initialState().confState.voters).toEqual(['x']);
    expect(() => s.applySnapshot({ metadata: { index: 5, term: 3, confState: { voters: [], learners: [] } }, data: new Uint8Array() }))
      .toThrow(SnapshotOutOfDateError);
  });
});

describe('Unstable', () => {
  it('tracks what was handed out and what became stable', () => {
    const u = new Unstable(5);
    u.truncateAndAppend(ents(5, [1, 1, 1]));
    expect(u.nextEntries().map((e) => e.index)).toEqual([5, 6, 7]);
    u.acceptInProgress();
    expect(u.hasNextEntries()).toBe(false);
    u.truncateAndAppend(ents(8, [1]));
    expect(u.nextEntries().map((e) => e.index)).toEqual([8]);
    u.stableTo(7, 1);
    expect(u.offset).toBe(8);
    expect(u.entries.map((e) => e.index)).toEqual([8]);
  });

  it('ignores stableTo for an entry that was replaced meanwhile', () => {
    const u = new Unstable(1);
    u.truncateAndAppend(ents(1, [1, 1, 1]));
    u.acceptInProgress();
    u.truncateAndAppend(ents(2, [2])); // replaces 2 and 3
    expect(u.offsetInProgress).toBe(2);
    u.stableTo(3, 1); // the persisted 3 was the old one
    expect(u.offset).toBe(1);
    expect(u.nextEntries().map((e) => [e.index, e.term])).toEqual([[2, 2]]);
  });

  it('restores from a snapshot', () => {
    const u = new Unstable(1);
    u.truncateAndAppend(ents(1, [1]));
    u.restore({ metadata: { index: 9, term: 4, confState: { voters: [], learners: [] } }, data: new Uint8Array() });
    expect(u.maybeTerm(9)).toBe(4);
    expect(u.maybeLastIndex()).toBe(9);
    expect(u.maybeFirstIndex()).toBe(10);
    expect(u.nextSnapshot()).not.toBeNull();
    u.acceptInProgress();
    expect(u.nextSnapshot()).toBeNull();
  });
});

describe('RaftLog', () => {
  function logWith(terms: number[]): RaftLog {
    const s = new MemoryStorage();
    s.append(ents(1, terms));
    return new RaftLog(s, 1 << 20);
  }

  it('finds conflicts and appends from the first one', () => {
    const log = logWith([1, 2, 3]);
    expect(log.findConflict(ents(1, [1, 2, 3]))).toBe(0);
    expect(log.findConflict(ents(2, [2, 4]))).toBe(3);
    expect(log.findConflict(ents(3, [3, 3]))).toBe(4);
    expect(log.maybeAppend(1, 1, 2, ents(2, [2, 4, 4]))).toBe(4);
    expect(log.allEntries().map((e) => e.term)).toEqual([1, 2, 4, 4]);
    expect(log.committed).toBe(2);
    expect(log.maybeAppend(5, 4, 5, [])).toBe(-1); // no (5, 4) in our log
  });

  it('refuses to overwrite committed entries', () => {
    const log = logWith([1, 2, 3]);
    log.commitTo(3);
    expect(() => log.maybeAppend(1, 1, 3, ents(2, [5]))).toThrow(AssertionError);
  });

  it('findConflictByTerm skips entries of higher terms', () => {
    const log = logWith([1, 1, 2, 2, 5, 5, 5]);
    expect(log.findConflictByTerm(7, 3)).toEqual({ index: 4, term: 2 });
    expect(log.findConflictByTerm(7, 5)).toEqual({ index: 7, term: 5 });
    expect(log.findConflictByTerm(7, 0)).toEqual({ index: 0, term: 0 });
  });

  it('commits only entries of the given term', () => {
    const log = logWith([1, 2]);
    expect(log.maybeCommit(2, 3)).toBe(false);
    expect(log.maybeCommit(2, 2)).toBe(true);
    expect(log.committed).toBe(2);
    expect(() => log.commitTo(5)).toThrow(AssertionError);
  });

  it('reports terms of compacted and unavailable indexes as sentinels', () => {
    const s = new MemoryStorage();
    s.append(ents(1, [1, 1, 1, 2]));
    s.createSnapshot(2, { voters: [], learners: [] }, new Uint8Array());
    s.compact(2);
    const log = new RaftLog(s, 100);
    expect(log.term(1)).toBe(TERM_COMPACTED);
    expect(log.term(2)).toBe(1);
    expect(log.term(5)).toBe(TERM_UNAVAILABLE);
    expect(log.slice(1, 3, 100)).toBeNull();
    expect(log.committed).toBe(2);
  });

  it('slices across stable and unstable parts within a size budget', () => {
    const log = logWith([1, 1]);
    log.append([ent(3, 1, 'a'), ent(4, 1, 'b')]);
    expect(log.slice(1, 5, 1e9)!.map((e) => e.index)).toEqual([1, 2, 3, 4]);
    expect(log.slice(2, 5, 60)!.map((e) => e.index)).toEqual([2, 3]);
    expect(log.slice(1, 5, 1)!.map((e) => e.index)).toEqual([1]);
    expect(log.isUpToDate(4, 1)).toBe(true);
    expect(log.isUpToDate(3, 1)).toBe(false);
    expect(log.isUpToDate(1, 2)).toBe(true);
  });
});

describe('Inflights', () => {
  it('bounds by count, frees by index and wraps around', () => {
    const inf = new Inflights(4, 0);
    for (let i = 1; i <= 4; i++) inf.add(i * 10, 1);
    expect(inf.full()).toBe(true);
    expect(() => inf.add(50, 1)).toThrow(AssertionError);
    inf.freeLE(25);
    expect(inf.messages).toBe(2);
    inf.add(50, 1);
    inf.add(60, 1);
    expect(inf.full()).toBe(true);
    inf.freeLE(55);
    expect(inf.messages).toBe(1);
    inf.freeLE(1000);
    expect(inf.messages).toBe(0);
    expect(inf.inflightBytes).toBe(0);
  });

  it('bounds by bytes', () => {
    const inf = new Inflights(100, 1000);
    inf.add(1, 600);
    expect(inf.full()).toBe(false);
    inf.add(2, 500);
    expect(inf.full()).toBe(true);
    inf.freeLE(1);
    expect(inf.full()).toBe(false);
  });

  it('grows its ring up to the limit', () => {
    const inf = new Inflights(100, 0);
    for (let i = 1; i <= 100; i++) inf.add(i, 1);
    expect(inf.full()).toBe(true);
    inf.freeLE(99);
    expect(inf.messages).toBe(1);
  });
});

describe('Progress', () => {
  it('moves between probe, replicate and snapshot', () => {
    const pr = new Progress(11, 2, 0, false);
    expect(pr.state).toBe('probe');
    pr.sentEntries(3, 30);
    expect(pr.isPaused()).toBe(true); // one probe at a time
    expect(pr.maybeUpdate(10)).toBe(true);
    pr.becomeReplicate();
    expect(pr.next).toBe(11);
    pr.sentEntries(2, 20);
    pr.sentEntries(2, 20);
    expect(pr.next).toBe(15);
    expect(pr.isPaused()).toBe(true); // window of 2 full
    pr.inflights.freeLE(12);
    pr.maybeUpdate(12);
    expect(pr.isPaused()).toBe(false);
    // A stale rejection below match is ignored; a real one resets next to match + 1.
    expect(pr.maybeDecrTo(11, 0)).toBe(false);
    expect(pr.maybeDecrTo(14, 0)).toBe(true);
    expect(pr.next).toBe(13);
    pr.becomeSnapshot(100);
    expect(pr.isPaused()).toBe(true);
    pr.becomeProbe();
    expect(pr.next).toBe(101);
  });

  it('in probe state only accepts the rejection of the latest probe', () => {
    const pr = new Progress(11, 10, 0, false);
    expect(pr.maybeDecrTo(5, 3)).toBe(false);
    expect(pr.maybeDecrTo(10, 3)).toBe(true);
    expect(pr.next).toBe(4);
  });
});

describe('ProgressTracker', () => {
  it('computes the quorum commit index over voters only', () => {
    const t = new ProgressTracker(10, 0);
    t.setConfig({ voters: ['a', 'b', 'c'], learners: ['d'] }, 1);
    const set = (id: string, m: number) => { t.progress.get(id)!.match = m; };
    set('a', 5); set('b', 3); set('c', 1); set('d', 100);
    expect(t.committed()).toBe(3);
    t.setConfig({ voters: ['a', 'b', 'c', 'd'], learners: [] }, 1);
    expect(t.committed()).toBe(3); // [100, 5, 3, 1]: three of four hold 3
    set('c', 5);
    expect(t.committed()).toBe(5);
  });

  it('tallies votes', () => {
    const t = new ProgressTracker(10, 0);
    t.setConfig({ voters: ['a', 'b', 'c', 'd', 'e'], learners: [] }, 1);
    t.recordVote('a', true);
    t.recordVote('b', true);
    expect(t.tallyVotes().result).toBe('pending');
    t.recordVote('c', false);
    t.recordVote('d', false);
    expect(t.tallyVotes().result).toBe('pending');
    t.recordVote('e', false);
    expect(t.tallyVotes().result).toBe('lost');
    t.resetVotes();
    for (const id of ['a', 'b', 'c']) t.recordVote(id, true);
    expect(t.tallyVotes().result).toBe('won');
    t.recordVote('x', true); // not a voter: ignored
    expect(t.tallyVotes().granted).toBe(3);
  });

  it('rejects overlapping voters and learners', () => {
    const t = new ProgressTracker(10, 0);
    expect(() => t.setConfig({ voters: ['a'], learners: ['a'] }, 1)).toThrow(AssertionError);
  });
});

describe('conf changes', () => {
  it('round-trip through their encoding', () => {
    for (const cc of [
      { type: 'addNode' as const, nodeId: 'etcd-1' },
      { type: 'addLearner' as const, nodeId: 'ünïcode', context: new Uint8Array([1, 2, 3]) },
      { type: 'removeNode' as const, nodeId: 'x' },
    ]) {
      expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
    }
    expect(() => decodeConfChange(new Uint8Array([9, 9]))).toThrow(AssertionError);
  });

  it('apply to a configuration', () => {
    const cs = { voters: ['a', 'b'], learners: ['c'] };
    expect(applyConfChangeToState(cs, { type: 'addNode', nodeId: 'c' })).toEqual({ voters: ['a', 'b', 'c'], learners: [] });
    expect(applyConfChangeToState(cs, { type: 'addLearner', nodeId: 'b' })).toEqual({ voters: ['a'], learners: ['b', 'c'] });
    expect(applyConfChangeToState(cs, { type: 'removeNode', nodeId: 'c' })).toEqual({ voters: ['a', 'b'], learners: [] });
    expect(applyConfChangeToState({ voters: ['a'], learners: [] }, { type: 'removeNode', nodeId: 'a' })).toBe('removed all voters');
  });
});

describe('config', () => {
  const random = mulberry32(1);
  it('fills in etcd defaults', () => {
    const c = resolveConfig({ id: 'a', random });
    expect(c).toMatchObject({
      electionTicks: 10, heartbeatTicks: 1, preVote: true, checkQuorum: true,
      maxSizePerMsgBytes: 1 << 20, maxInflightMsgs: 512, readOnlyOption: 'safe',
    });
  });

  it('rejects invalid settings', () => {
    expect(() => resolveConfig({ id: '', random })).toThrow(AssertionError);
    expect(() => resolveConfig({ id: 'a', random, electionTicks: 1, heartbeatTicks: 1 })).toThrow(AssertionError);
    expect(() => resolveConfig({ id: 'a', random, readOnlyOption: 'lease', checkQuorum: false })).toThrow(/requires checkQuorum/);
    expect(() => resolveConfig({ id: 'a', random, maxInflightMsgs: 0 })).toThrow(AssertionError);
  });

  it('rejects a random source outside [0, 1)', () => {
    expect(() => new RawNode({ id: 'a', random: () => 1 }, new MemoryStorage())).toThrow(/outside \[0, 1\)/);
  });
});
