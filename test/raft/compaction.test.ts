import { describe, expect, it } from 'vitest';
import { CompactionPlanner } from '../../raft/compaction.js';

describe('CompactionPlanner', () => {
  it('counts one write per entry like a count of entries when entries hold one write each', () => {
    const p = new CompactionPlanner(10, 5);
    for (let i = 1; i <= 14; i++) p.applied(i, 1);
    expect(p.due(0)).toBe(0);
    p.applied(15, 1);
    expect(p.due(0)).toBe(10); // entries 11..15 (5 writes) stay
    for (let i = 16; i <= 24; i++) p.applied(i, 1);
    expect(p.due(10)).toBe(0);
    p.applied(25, 1);
    expect(p.due(10)).toBe(20);
  });

  it('counts every proposal of a batch entry, and keeps the entries of the newest writes', () => {
    const p = new CompactionPlanner(1_000, 500);
    p.applied(1, 0); // a leader's no-op counts one
    for (let i = 2; i <= 11; i++) p.applied(i, 200);
    // 2,001 writes in 11 entries: due long before 1,500 entries.
    expect(p.due(0)).toBe(8); // entries 9..11 hold 600 writes >= 500; 10..11 hold only 400
    expect(p.due(8)).toBe(0);
  });

  it('starts counting after a snapshot install moved the compaction point past what it saw', () => {
    const p = new CompactionPlanner(4, 2);
    for (let i = 1; i <= 5; i++) p.applied(i, 1);
    expect(p.due(100)).toBe(0);
    for (let i = 101; i <= 106; i++) p.applied(i, 1);
    expect(p.due(100)).toBe(104);
  });

  it('plans the same after dropping the bookkeeping of thousands of compactions', () => {
    const p = new CompactionPlanner(3, 1);
    let compactedAt = 0;
    let compactions = 0;
    for (let i = 1; i <= 40_000; i++) {
      p.applied(i, 1 + (i % 3));
      const at = p.due(compactedAt);
      if (at === 0) continue;
      // Due once more than every + keep writes came since the last point; at least keep stay.
      expect(at).toBeGreaterThan(compactedAt);
      expect(at).toBeLessThan(i);
      compactedAt = at;
      compactions++;
    }
    expect(compactions).toBeGreaterThan(10_000);
  });
});
