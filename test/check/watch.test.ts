import { describe, expect, it } from 'vitest';
import { type WatchEvent, type WatchSegment, checkWatches } from '../../raft/check/index.js';

const put = (revision: number, key: string, value: string): WatchEvent => ({ revision, key, type: 'put', value });
const del = (revision: number, key: string): WatchEvent => ({ revision, key, type: 'delete', value: null });

// Revisions 1..8; 'other/' is outside the watched prefix; revision 5 is a transaction of two keys.
const committed: WatchEvent[] = [
  put(1, 'pods/a', 'a1'),
  put(2, 'other/z', 'z1'),
  put(3, 'pods/b', 'b1'),
  put(4, 'pods/a', 'a2'),
  put(5, 'pods/c', 'c1'),
  del(5, 'pods/b'),
  put(6, 'other/z', 'z2'),
  del(7, 'pods/a'),
  put(8, 'pods/d', 'd1'),
];
const inPrefix = committed.filter((e) => e.key.startsWith('pods/'));
const from = (revision: number): WatchEvent[] => inPrefix.filter((e) => e.revision >= revision);

function check(...segments: WatchSegment[]): ReturnType<typeof checkWatches> {
  return checkWatches({ prefix: 'pods/', committed, watchers: [{ watcher: 'w1', segments }] });
}

describe('watch streams that keep the guarantees', () => {
  it('accepts a full stream from the first revision', () => {
    expect(check({ startRevision: 1, events: from(1) })).toEqual({ ok: true, violations: [] });
  });

  it('accepts a stream that stops early and one that starts later', () => {
    expect(check({ startRevision: 1, events: from(1).slice(0, 3) }).ok).toBe(true);
    expect(check({ startRevision: 4, events: from(4) }).ok).toBe(true);
  });

  it('accepts a watch resumed right after the last revision received', () => {
    const first = from(1).slice(0, 2); // up to revision 3
    expect(check({ startRevision: 1, events: first }, { startRevision: 4, events: from(4) }).ok).toBe(true);
  });

  it('accepts a resume past revisions with no event under the prefix, and an empty segment', () => {
    // Revision 2 and 6 touch only other/. Stopped at revision 1, resuming from 2 or 3 skips nothing.
    expect(check({ startRevision: 1, events: from(1).slice(0, 1) }, { startRevision: 3, events: from(3) }).ok).toBe(true);
    expect(check({ startRevision: 4, events: [] }, { startRevision: 4, events: from(4) }).ok).toBe(true);
  });

  it('accepts several watchers at once', () => {
    const result = checkWatches({
      prefix: 'pods/',
      committed,
      watchers: [
        { watcher: 'a', segments: [{ startRevision: 1, events: from(1) }] },
        { watcher: 'b', segments: [{ startRevision: 5, events: from(5) }] },
      ],
    });
    expect(result.ok).toBe(true);
  });
});

describe('watch streams that break them', () => {
  it('reports a skipped event', () => {
    const events = from(1).filter((e) => e.revision !== 4);
    const result = check({ startRevision: 1, events });
    expect(result.ok).toBe(false);
    expect(result.violations.map((v) => v.kind)).toEqual(['skipped']);
    expect(result.violations[0]?.message).toBe('w1, segment 0: received put "pods/c"="c1" @5 without the 1 committed event(s) before it: put "pods/a"="a2" @4');
  });

  it('reports half of a transaction missing', () => {
    const events = from(1).filter((e) => !(e.revision === 5 && e.type === 'delete'));
    expect(check({ startRevision: 1, events }).violations.map((v) => v.kind)).toEqual(['skipped']);
  });

  it('reports a duplicated event', () => {
    const events = [...from(1).slice(0, 3), from(1)[2] as WatchEvent, ...from(1).slice(3)];
    expect(check({ startRevision: 1, events }).violations.map((v) => v.kind)).toEqual(['duplicate']);
  });

  it('reports events out of order', () => {
    const [e1, e3, e4, ...rest] = from(1);
    const result = check({ startRevision: 1, events: [e1!, e4!, e3!, ...rest] });
    expect(result.violations.map((v) => v.kind)).toEqual(['skipped', 'out-of-order']);
  });

  it('reports an altered value, an uncommitted event, and an event outside the prefix', () => {
    const altered = from(1).map((e) => (e.revision === 4 ? { ...e, value: 'wrong' } : e));
    expect(check({ startRevision: 1, events: altered }).violations.map((v) => v.kind)).toEqual(['altered']);
    const invented = [...from(1), put(9, 'pods/e', 'e1')];
    expect(check({ startRevision: 1, events: invented }).violations.map((v) => v.kind)).toEqual(['not-committed']);
    const foreign = [from(1)[0]!, put(2, 'other/z', 'z1'), ...from(3)];
    expect(check({ startRevision: 1, events: foreign }).violations.map((v) => v.kind)).toEqual(['outside-prefix']);
  });

  it('reports an event before the start revision', () => {
    expect(check({ startRevision: 3, events: [put(1, 'pods/a', 'a1'), ...from(3)] }).violations.map((v) => v.kind)).toEqual(['before-start']);
  });

  it('reports a resume that skips revisions', () => {
    const result = check({ startRevision: 1, events: from(1).slice(0, 2) }, { startRevision: 5, events: from(5) });
    expect(result.violations.map((v) => v.kind)).toEqual(['resume-gap']);
    expect(result.violations[0]?.message).toBe('w1 resumed from revision 5 after reaching revision 3, skipping 1 committed event(s): put "pods/a"="a2" @4');
  });

  it('reports a resume that starts before what was already received', () => {
    const result = check({ startRevision: 1, events: from(1).slice(0, 3) }, { startRevision: 3, events: from(3) });
    expect(result.violations.map((v) => v.kind)).toEqual(['resume-overlap']);
    expect(result.violations[0]?.message).toContain('2 event(s) would come twice');
  });

  it('reports a resume that starts in the middle of a transaction it had only half received', () => {
    const upToHalf = from(1).slice(0, 4); // a1, b1, a2, c1: the delete at revision 5 is missing
    const result = check({ startRevision: 1, events: upToHalf }, { startRevision: 6, events: from(6) });
    expect(result.violations.map((v) => v.kind)).toEqual(['resume-gap']);
    expect(result.violations[0]?.message).toContain('delete "pods/b" @5');
  });

  it('reports a malformed committed sequence', () => {
    const result = checkWatches({ prefix: '', committed: [put(2, 'a', '1'), put(1, 'b', '1')], watchers: [] });
    expect(result.violations).toEqual([
      { kind: 'committed-order', watcher: '', segment: -1, message: 'committed events: revision 1 comes after revision 2', event: put(1, 'b', '1') },
    ]);
  });

  it('caps the reports of one segment', () => {
    const events = Array.from({ length: 50 }, (_, k) => put(100 + k, 'pods/x', 'v'));
    expect(check({ startRevision: 1, events }).violations).toHaveLength(10);
  });
});
