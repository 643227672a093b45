import { describe, expect, it } from 'vitest';
import {
  type LogEntryObservation,
  checkAppliedPrefix,
  checkElectionSafety,
  checkLogMatching,
  checkRaftInvariants,
} from '../../raft/check/index.js';

/** A log from "term:digest" strings starting at index `first`. */
function log(first: number, ...entries: string[]): LogEntryObservation[] {
  return entries.map((e, k) => {
    const [term, digest] = e.split(':') as [string, string];
    return { index: first + k, term: Number(term), digest };
  });
}

describe('election safety', () => {
  it('accepts one leader per term, seen many times', () => {
    const roles = [
      { peer: 'p1', term: 1, role: 'leader' },
      { peer: 'p1', term: 1, role: 'leader' },
      { peer: 'p2', term: 1, role: 'follower' },
      { peer: 'p2', term: 2, role: 'candidate' },
      { peer: 'p2', term: 3, role: 'leader' },
    ];
    expect(checkElectionSafety(roles)).toEqual([]);
  });

  it('reports a term with two leaders', () => {
    const violations = checkElectionSafety([
      { peer: 'p1', term: 4, role: 'leader' },
      { peer: 'p3', term: 4, role: 'leader' },
      { peer: 'p2', term: 5, role: 'leader' },
    ]);
    expect(violations).toEqual([{ invariant: 'election-safety', message: 'term 4 has 2 leaders: p1, p3', peers: ['p1', 'p3'], term: 4 }]);
  });
});

describe('log matching', () => {
  it('accepts logs that agree up to where they diverge in term', () => {
    const logs = {
      p1: log(1, '1:a', '1:b', '2:c', '2:d'),
      p2: log(1, '1:a', '1:b', '2:c'),
      p3: log(1, '1:a', '1:b', '3:x'), // an uncommitted tail from another term
    };
    expect(checkLogMatching(logs)).toEqual([]);
  });

  it('accepts a compacted log that starts after its snapshot', () => {
    expect(checkLogMatching(new Map([['p1', log(1, '1:a', '1:b', '2:c')], ['p2', log(3, '2:c')]]))).toEqual([]);
  });

  it('reports the same index and term with different payloads', () => {
    const violations = checkLogMatching({ p1: log(1, '1:a', '2:b'), p2: log(1, '1:a', '2:z') });
    expect(violations).toHaveLength(1);
    expect(violations[0]?.message).toBe('p1 and p2 both hold index 2 in term 2, but they differ: p1 has term 2 digest b, p2 has term 2 digest z');
  });

  it('reports logs that match at an index but differ before it', () => {
    const violations = checkLogMatching({ p1: log(1, '1:a', '1:b', '3:c'), p2: log(1, '1:a', '2:q', '3:c') });
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ invariant: 'log-matching', peers: ['p1', 'p2'], index: 2, term: 3 });
    expect(violations[0]?.message).toContain('both hold index 3 in term 3, but at index 2 they differ');
  });

  it('reports malformed logs', () => {
    expect(checkLogMatching({ p1: log(1, '2:a', '1:b') })[0]?.message).toBe('log of p1: entry 2 has term 1, lower than term 2 of entry 1');
    const gap = [...log(1, '1:a'), { index: 3, term: 1, digest: 'c' }];
    expect(checkLogMatching({ p1: gap })[0]?.message).toBe('log of p1: entry 3 follows entry 1 (indexes must be consecutive)');
  });
});

describe('applied prefixes', () => {
  it('accepts sequences that are prefixes of one another, aligned by index', () => {
    const applied = {
      p1: [[1, 'a'], [2, 'b'], [3, 'c']] as const,
      p2: [[1, 'a'], [2, 'b']] as const,
      p3: [[3, 'c']] as const, // restored from a snapshot at index 2
      p4: [] as const,
    };
    expect(checkAppliedPrefix(applied)).toEqual([]);
  });

  it('reports a divergent entry once per peer', () => {
    const violations = checkAppliedPrefix({ p1: [[1, 'a'], [2, 'b'], [3, 'c']], p2: [[1, 'a'], [2, 'x'], [3, 'y']] });
    expect(violations).toEqual([
      { invariant: 'applied-prefix', message: 'p1 and p2 applied different entries at index 2: b vs x', peers: ['p1', 'p2'], index: 2 },
    ]);
  });

  it('reports entries applied twice, out of order, or skipped', () => {
    expect(checkAppliedPrefix({ p1: [[1, 'a'], [1, 'a']] })[0]?.message).toBe('p1 applied index 1 after index 1 (applied twice or out of order)');
    expect(checkAppliedPrefix({ p1: [[2, 'b'], [1, 'a']] })[0]?.message).toBe('p1 applied index 1 after index 2 (applied twice or out of order)');
    expect(checkAppliedPrefix({ p1: [[1, 'a'], [4, 'd']] })[0]?.message).toBe('p1 applied index 4 right after index 1, skipping 2');
    expect(checkAppliedPrefix({ p1: [[1, 'a'], [4, 'd']] }, { allowGaps: true })).toEqual([]);
  });
});

describe('all at once', () => {
  it('collects violations of every invariant', () => {
    const result = checkRaftInvariants({
      roles: [
        { peer: 'a', term: 2, role: 'leader' },
        { peer: 'b', term: 2, role: 'leader' },
      ],
      logs: { a: log(1, '1:x'), b: log(1, '1:y') },
      applied: { a: [[1, 'x']], b: [[1, 'y']] },
    });
    expect(result.ok).toBe(false);
    expect(result.violations.map((v) => v.invariant)).toEqual(['election-safety', 'log-matching', 'applied-prefix']);
    expect(checkRaftInvariants({}).ok).toBe(true);
  });
});
