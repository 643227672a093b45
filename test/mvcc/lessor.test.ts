import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../runtime/store.js';
import { MvccStore } from '../../raft/mvcc/store.js';
import { Lessor } from '../../raft/mvcc/lessor.js';
import type { Command } from '../../raft/mvcc/commands.js';

function setup() {
  const store = MvccStore.open(new MemoryStore());
  let index = 0;
  const run = (cmd: Command) => store.applyEntries([{ index: ++index, data: { client: '', seq: 0, cmd } }])[0]!;
  return { store, run, lessor: new Lessor(store, { revokeRetryMs: 500 }) };
}

describe('Lessor', () => {
  it('does nothing until promoted', () => {
    const { run, lessor } = setup();
    run({ type: 'leaseGrant', id: 7, ttlSeconds: 1 });
    expect(lessor.expired(1e9)).toEqual([]);
    expect(lessor.keepAlive(7, 0)).toEqual({ type: 'error', code: 'NotPrimary' });
    expect(lessor.checkpoint(0)).toBeNull();
  });

  it('restarts every lease from the promotion time and expires it after its TTL', () => {
    const { run, lessor } = setup();
    run({ type: 'leaseGrant', id: 1, ttlSeconds: 10 });
    run({ type: 'leaseGrant', id: 2, ttlSeconds: 5 });
    lessor.promote(100_000);
    expect(lessor.expired(104_999)).toEqual([]);
    expect(lessor.expired(105_000)).toEqual([2]);
    // Named again only after revokeRetryMs, if the revoke did not land.
    expect(lessor.expired(105_100)).toEqual([]);
    expect(lessor.expired(110_000)).toEqual([2, 1]);
  });

  it('renews on keep-alive, picks up grants and forgets revoked leases', () => {
    const { run, lessor } = setup();
    run({ type: 'leaseGrant', id: 1, ttlSeconds: 10 });
    lessor.promote(0);
    expect(lessor.keepAlive(1, 8_000)).toEqual({ ttlSeconds: 10 });
    expect(lessor.keepAlive(9, 8_000)).toEqual({ type: 'error', code: 'LeaseNotFound', id: 9 });
    expect(lessor.expired(17_999)).toEqual([]);
    run({ type: 'leaseGrant', id: 2, ttlSeconds: 3 });
    expect(lessor.expired(18_000)).toEqual([1]); // lease 2 starts counting now
    run({ type: 'leaseRevoke', id: 1 }); // what the shell proposes
    expect(lessor.expired(20_999)).toEqual([]);
    expect(lessor.expired(21_000)).toEqual([2]);
    run({ type: 'leaseRevoke', id: 2 });
    expect(lessor.expired(60_000)).toEqual([]);
    expect(lessor.keepAlive(2, 60_000)).toMatchObject({ code: 'LeaseNotFound' });
  });

  it('reports time to live and the attached keys', () => {
    const { run, lessor } = setup();
    run({ type: 'leaseGrant', id: 4, ttlSeconds: 30 });
    run({ type: 'put', key: 'b', value: new Uint8Array(), lease: 4 });
    run({ type: 'put', key: 'a', value: new Uint8Array(), lease: 4 });
    expect(lessor.timeToLive(4, 0)).toEqual({ id: 4, ttlSeconds: 30, remainingSeconds: 30, keys: ['a', 'b'] });
    lessor.promote(1_000);
    expect(lessor.timeToLive(4, 11_500)).toMatchObject({ remainingSeconds: 20 });
    expect(lessor.timeToLive(5, 0)).toMatchObject({ code: 'LeaseNotFound' });
  });

  it('honours checkpointed remaining TTLs on the next promotion', () => {
    const { run, lessor, store } = setup();
    run({ type: 'leaseGrant', id: 1, ttlSeconds: 60 });
    lessor.promote(0);
    const cp = lessor.checkpoint(50_000);
    expect(cp).toEqual({ type: 'leaseCheckpoint', checkpoints: [{ id: 1, remainingTtlSeconds: 10 }] });
    run(cp!);
    expect(store.lease(1)?.remainingTtlSeconds).toBe(10);
    const next = new Lessor(store);
    next.promote(200_000);
    expect(next.expired(209_999)).toEqual([]);
    expect(next.expired(210_000)).toEqual([1]);
    lessor.demote();
    expect(lessor.primary).toBe(false);
    expect(lessor.expired(1e9)).toEqual([]);
  });
});
