import { describe, expect, it } from 'vitest';
import { checkLostWrites } from '../../raft/check/index.js';
import { Timeline, simulateRegisters } from './helpers.js';

describe('lost acknowledged writes', () => {
  it('accepts a final read showing the last acknowledged write', () => {
    const ops = new Timeline().write(0, 'x', 1, 0, 10).write(0, 'x', 2, 20, 30).ops();
    const result = checkLostWrites(ops, { x: 2 });
    expect(result.ok).toBe(true);
    expect(result.keysChecked).toBe(1);
  });

  it('reports the last acknowledged write missing from the final read', () => {
    const ops = new Timeline().write(0, 'x', 1, 0, 10).write(0, 'x', 2, 20, 30).ops();
    const result = checkLostWrites(ops, { x: 1 });
    expect(result.ok).toBe(false);
    expect(result.lostWrites.map((op) => op.input)).toEqual([2]);
    expect(result.violations[0]?.message).toBe('key "x": acknowledged #1 p0 write 2 [20, 30] was the last write, but the final read shows 1');
  });

  it('accepts either of two concurrent writes, and reports both when neither survived', () => {
    const ops = new Timeline().write(0, 'x', 1, 0, 30).write(1, 'x', 2, 10, 40).ops();
    expect(checkLostWrites(ops, { x: 1 }).ok).toBe(true);
    expect(checkLostWrites(ops, { x: 2 }).ok).toBe(true);
    const result = checkLostWrites(ops, { x: 3 });
    expect(result.ok).toBe(false);
    expect(result.lostWrites.map((op) => op.input)).toEqual([1, 2]);
    expect(result.violations[0]?.message).toContain('none of the writes that could have been last');
  });

  it('accepts a write overwritten by a later unknown-outcome write', () => {
    const ops = new Timeline().write(0, 'x', 1, 0, 10).write(1, 'x', 2, 20, 'info').ops();
    expect(checkLostWrites(ops, { x: 2 }).ok).toBe(true);
    expect(checkLostWrites(ops, { x: 1 }).ok).toBe(true); // the unknown write may never have happened
    expect(checkLostWrites(ops, { x: null }).ok).toBe(false);
  });

  it('counts deletes and applied cas as writes, and ignores failed ones', () => {
    const t = new Timeline()
      .write(0, 'x', 1, 0, 10)
      .cas(0, 'x', 1, 5, true, 20, 30)
      .cas(0, 'x', 9, 6, false, 40, 50) // did not apply
      .write(1, 'x', 7, 45, 'fail'); // did not happen
    expect(checkLostWrites(t.ops(), { x: 5 }).ok).toBe(true);
    expect(checkLostWrites(t.ops(), { x: 6 }).lostWrites.map((op) => op.f)).toEqual(['cas']);
    const deleted = new Timeline().write(0, 'y', 1, 0, 10).del(0, 'y', 20, 30).ops();
    expect(checkLostWrites(deleted, { y: null }).ok).toBe(true);
    const resurrected = checkLostWrites(deleted, { y: 1 });
    expect(resurrected.lostWrites.map((op) => op.f)).toEqual(['delete']);
  });

  it('expects a key never written to be absent', () => {
    const unknownOnly = new Timeline().write(0, 'x', 1, 0, 'info').ops();
    expect(checkLostWrites(unknownOnly, { x: null }).ok).toBe(true);
    expect(checkLostWrites(unknownOnly, { x: 1 }).ok).toBe(true);
    const phantom = checkLostWrites([], { z: 'ghost' });
    expect(phantom.ok).toBe(false);
    expect(phantom.lostWrites).toEqual([]);
    expect(phantom.violations[0]?.message).toBe('key "z" was never written, but the final read shows "ghost"');
  });

  it('lists written keys that have no final read', () => {
    const ops = new Timeline().write(0, 'x', 1, 0, 10).write(0, 'y', 1, 20, 30).ops();
    const result = checkLostWrites(ops, new Map([['x', 1]]));
    expect(result.ok).toBe(true);
    expect(result.unchecked).toEqual(['y']);
  });

  it('accepts the final state of a correct store and catches a rolled-back key', () => {
    const { recorder, store } = simulateRegisters({ seed: 5, operations: 3000, keys: 10, processes: 5, infoRate: 0.05 });
    const ops = recorder.operations();
    const finals = Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`k${k}`, store.get(`k${k}`) ?? null]));
    expect(checkLostWrites(ops, finals).ok).toBe(true);

    // Roll one key back to a value written long before the end.
    const lastAcked = ops.filter((op) => op.key === 'k3' && op.f === 'write' && op.status === 'ok').at(-1)!;
    const older = ops.find((op) => op.key === 'k3' && op.f === 'write' && op.status === 'ok' && op.ret < lastAcked.call)!;
    const rolledBack = checkLostWrites(ops, { ...finals, k3: older.input });
    expect(rolledBack.ok).toBe(false);
    expect(rolledBack.violations.map((v) => v.key)).toEqual(['k3']);
  });
});
