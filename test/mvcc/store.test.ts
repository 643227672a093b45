import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../runtime/store.js';
import { MvccStore, type ApplyResult, type MvccOptions } from '../../raft/mvcc/store.js';
import { maxRequestBytes, type Command, type RangeResponse } from '../../raft/mvcc/commands.js';

const bytes = (...b: number[]) => new Uint8Array(b);

/** A store plus a log: `run(cmd, client?, seq?)` appends one entry and returns its result. */
function harness(options: MvccOptions = {}) {
  const store = MvccStore.open(new MemoryStore(), options);
  let index = 0;
  const seqs = new Map<string, number>();
  const run = (cmd: Command, client = '', seq?: number): ApplyResult => {
    const s = seq ?? (client === '' ? 0 : (seqs.get(client) ?? 0) + 1);
    if (client !== '') seqs.set(client, Math.max(seqs.get(client) ?? 0, s));
    const [r] = store.applyEntries([{ index: ++index, data: { client, seq: s, cmd } }]);
    return r!;
  };
  return { store, run, next: () => ++index };
}

describe('MvccStore', () => {
  it('builds watch events only when a listener wants them, and writes the same either way', () => {
    const cmds: Command[] = [
      { type: 'put', key: 'a', value: bytes(1) },
      { type: 'put', key: 'a', value: bytes(2), prevKv: true },
      { type: 'deleteRange', key: 'a', prevKv: true },
      { type: 'txn', compare: [], success: [{ type: 'put', key: 'b', value: bytes(3) }], failure: [] },
    ];
    let wanted = false;
    const seen: number[] = [];
    const quiet = harness();
    quiet.store.addListener({ applied: (rs) => void seen.push(...rs.map((r) => r.events.length)), restored() {}, wantsPrevKv: () => false, wantsEvents: () => wanted });
    const plainRun = harness();
    const noEvents = cmds.map((c) => quiet.run(c));
    const withEvents = cmds.map((c) => plainRun.run(c));
    expect(noEvents.map((r) => r.events)).toEqual([[], [], [], []]);
    expect(withEvents.map((r) => r.events.length)).toEqual([1, 1, 1, 1]);
    expect(noEvents.map((r) => r.response)).toEqual(withEvents.map((r) => r.response));
    expect(quiet.store.snapshot()).toEqual(plainRun.store.snapshot());
    // As soon as the listener wants them, they are there again.
    wanted = true;
    expect(quiet.run({ type: 'put', key: 'c', value: bytes(4) }).events).toHaveLength(1);
    expect(seen).toEqual([0, 0, 0, 0, 1]);
  });

  it('tracks revisions, versions and generations as etcd', () => {
    const { store, run } = harness();
    expect(store.revision).toBe(1);
    expect(run({ type: 'put', key: 'a', value: bytes(1) }).response).toEqual({ type: 'put', revision: 2 });
    run({ type: 'put', key: 'a', value: bytes(2) });
    expect(store.get('a')).toMatchObject({ createRevision: 2, modRevision: 3, version: 2 });
    const del = run({ type: 'deleteRange', key: 'a', prevKv: true });
    expect(del.response).toMatchObject({ type: 'deleteRange', revision: 4, deleted: 1, prevKvs: [{ version: 2 }] });
    expect(del.events).toEqual([
      expect.objectContaining({ type: 'delete', kv: { key: 'a', value: bytes(), createRevision: 0, modRevision: 4, version: 0, lease: 0 } }),
    ]);
    expect(run({ type: 'deleteRange', key: 'a' }).response).toEqual({ type: 'deleteRange', revision: 4, deleted: 0 });
    run({ type: 'put', key: 'a', value: bytes(3) });
    expect(store.get('a')).toMatchObject({ createRevision: 5, modRevision: 5, version: 1 });
    // History stays readable until compaction.
    expect((store.range({ type: 'range', key: 'a', revision: 3 }) as RangeResponse).kvs[0]?.value).toEqual(bytes(2));
    expect((store.range({ type: 'range', key: 'a', revision: 4 }) as RangeResponse).kvs).toEqual([]);
  });

  it('answers ranges with limit, more, count, keysOnly and sorting', () => {
    const { store, run } = harness();
    for (const [k, val] of [
      ['a', 3],
      ['b', 1],
      ['c', 2],
    ] as const) {
      run({ type: 'put', key: k, value: bytes(val) });
    }
    run({ type: 'put', key: 'b', value: bytes(9) });
    const r = (req: object) => store.range({ type: 'range', key: 'a', rangeEnd: '\0', ...req }) as RangeResponse;
    expect(r({ limit: 2 })).toMatchObject({ count: 3, more: true, kvs: [{ key: 'a' }, { key: 'b' }] });
    expect(r({ limit: 3 }).more).toBe(false);
    expect(r({ countOnly: true })).toEqual({ type: 'range', revision: 5, kvs: [], more: false, count: 3 });
    expect(r({ keysOnly: true }).kvs.map((kv) => kv.value.length)).toEqual([0, 0, 0]);
    expect(r({ sortOrder: 'descend', limit: 2 }).kvs.map((kv) => kv.key)).toEqual(['c', 'b']);
    expect(r({ sortTarget: 'value' }).kvs.map((kv) => kv.key)).toEqual(['c', 'a', 'b']);
    expect(r({ sortTarget: 'modRevision', sortOrder: 'descend', limit: 1 })).toMatchObject({ more: true, kvs: [{ key: 'b' }] });
    expect(r({ sortTarget: 'version', sortOrder: 'ascend' }).kvs.map((kv) => kv.key)).toEqual(['a', 'c', 'b']);
    expect(store.range({ type: 'range', key: 'b', rangeEnd: 'a' })).toMatchObject({ kvs: [], count: 0 });
  });

  it('returns typed errors', () => {
    const { store, run, next } = harness();
    run({ type: 'put', key: 'a', value: bytes(1) });
    run({ type: 'put', key: 'a', value: bytes(2) });
    expect(run({ type: 'range', key: 'a', revision: 9 }).response).toEqual({
      type: 'error',
      code: 'FutureRevision',
      currentRevision: 3,
    });
    expect(run({ type: 'compact', revision: 3 }).response).toEqual({ type: 'compact', revision: 3 });
    expect(run({ type: 'range', key: 'a', revision: 2 }).response).toEqual({ type: 'error', code: 'Compacted', compactRevision: 3 });
    expect(run({ type: 'compact', revision: 3 }).response).toMatchObject({ code: 'Compacted' });
    expect(run({ type: 'compact', revision: 4 }).response).toMatchObject({ code: 'FutureRevision' });
    expect(run({ type: 'put', key: 'b', value: bytes(), lease: 77 }).response).toEqual({ type: 'error', code: 'LeaseNotFound', id: 77 });
    expect(run({ type: 'leaseRevoke', id: 77 }).response).toMatchObject({ code: 'LeaseNotFound' });
    expect(run({ type: 'put', key: 'zz', ignoreValue: true }).response).toEqual({ type: 'error', code: 'KeyNotFound', key: 'zz' });
    expect(run({ type: 'frobnicate' } as unknown as Command).response).toEqual({
      type: 'error',
      code: 'UnknownOperation',
      operation: 'frobnicate',
    });
    // A txn whose chosen branch fails a check changes nothing.
    const before = store.revision;
    const t = run({
      type: 'txn',
      compare: [],
      success: [
        { type: 'put', key: 'x', value: bytes(1) },
        { type: 'put', key: 'y', value: bytes(1), lease: 5 },
      ],
      failure: [],
    });
    expect(t.response).toMatchObject({ code: 'LeaseNotFound', id: 5 });
    expect(store.revision).toBe(before);
    expect(store.get('x')).toBeUndefined();
    // Undecodable and oversized log entries.
    const [garbage] = store.applyEntries([{ index: next(), data: bytes(0xc1) }]);
    expect(garbage!.response).toMatchObject({ code: 'UnknownOperation' });
    const huge = new Uint8Array(pack({ client: 'c', seq: 1, cmd: { type: 'put', key: 'h', value: new Uint8Array(maxRequestBytes) } }));
    const [tooLarge] = store.applyEntries([{ index: next(), data: huge }]);
    expect(tooLarge!.response).toMatchObject({ code: 'RequestTooLarge', bytes: huge.length });
    expect(store.get('h')).toBeUndefined();
  });

  it('evaluates txn compares before running ops, nested ones included', () => {
    const { store, run } = harness();
    run({ type: 'put', key: 'a', value: bytes(1) }); // rev 2
    const r = run({
      type: 'txn',
      compare: [{ key: 'a', target: 'modRevision', result: '=', operand: 2 }],
      success: [
        { type: 'put', key: 'a', value: bytes(2) },
        // Sees the state before the txn: a's modRevision is still 2 for this compare.
        {
          type: 'txn',
          compare: [{ key: 'a', target: 'value', result: '=', operand: bytes(1) }],
          success: [{ type: 'range', key: 'a' }],
          failure: [],
        },
      ],
      failure: [],
    });
    expect(r.response).toMatchObject({
      type: 'txn',
      succeeded: true,
      revision: 3,
      responses: [
        { type: 'put', revision: 3 },
        { type: 'txn', succeeded: true, responses: [{ type: 'range', revision: 3, kvs: [{ value: bytes(2), version: 2 }] }] },
      ],
    });
    // Compares over a range hold for every key; a missing key compares as zero, but never by value.
    const cmp = (compare: object) =>
      (run({ type: 'txn', compare: [compare as never], success: [], failure: [] }).response as { succeeded: boolean }).succeeded;
    expect(cmp({ key: 'nope', target: 'version', result: '=', operand: 0 })).toBe(true);
    expect(cmp({ key: 'nope', target: 'value', result: '!=', operand: bytes(1) })).toBe(false);
    run({ type: 'put', key: 'b', value: bytes(5) });
    expect(cmp({ key: 'a', rangeEnd: 'c', target: 'version', result: '>', operand: 0 })).toBe(true);
    expect(cmp({ key: 'a', rangeEnd: 'c', target: 'version', result: '>', operand: 1 })).toBe(false);
    expect(store.revision).toBe(4);
  });

  it('applies a retried (client, seq) once and answers with the original response', () => {
    const { store, run } = harness();
    const first = run({ type: 'put', key: 'k', value: bytes(1), prevKv: true }, 'c1', 1);
    run({ type: 'put', key: 'k', value: bytes(2) }, 'c2', 1);
    const retry = run({ type: 'put', key: 'k', value: bytes(1), prevKv: true }, 'c1', 1);
    expect(retry.duplicate).toBe(true);
    expect(retry.response).toEqual(first.response);
    expect(retry.events).toEqual([]);
    expect(store.get('k')?.value).toEqual(bytes(2));
    expect(store.revision).toBe(3);
    run({ type: 'put', key: 'k', value: bytes(3) }, 'c1', 2);
    expect(run({ type: 'put', key: 'k', value: bytes(1) }, 'c1', 1).response).toEqual({
      type: 'error',
      code: 'StaleSequence',
      client: 'c1',
      seq: 1,
      lastSeq: 2,
    });
    // A command that changed nothing keeps no response: its retry runs again.
    run({ type: 'range', key: 'k' }, 'c3', 1);
    run({ type: 'put', key: 'k', value: bytes(4) });
    const reread = run({ type: 'range', key: 'k' }, 'c3', 1);
    expect(reread.duplicate).toBe(false);
    expect((reread.response as RangeResponse).kvs[0]?.value).toEqual(bytes(4));
  });

  it('forgets clients idle for too many revisions, and the least recent beyond the cap', () => {
    const { store, run } = harness({ dedupIdleRevisions: 3, maxDedupClients: 2 });
    run({ type: 'put', key: 'a', value: bytes() }, 'old', 1); // rev 2
    for (let i = 0; i < 3; i++) run({ type: 'put', key: 'x', value: bytes() }); // revs 3..5
    // 'old' was last active at revision 2 = 5 - 3: still remembered.
    expect(run({ type: 'put', key: 'a', value: bytes() }, 'old', 1).duplicate).toBe(true);
    run({ type: 'put', key: 'x', value: bytes() }); // rev 6: 'old' is now 4 revisions behind
    expect(run({ type: 'put', key: 'a', value: bytes() }, 'old', 1).duplicate).toBe(false);
    // Cap: a third client pushes out the least recently active one.
    run({ type: 'put', key: 'p', value: bytes() }, 'p', 1);
    run({ type: 'put', key: 'q', value: bytes() }, 'q', 1);
    run({ type: 'put', key: 'r', value: bytes() }, 'r', 1);
    expect(run({ type: 'put', key: 'q', value: bytes() }, 'q', 1).duplicate).toBe(true);
    expect(run({ type: 'put', key: 'p', value: bytes() }, 'p', 1).duplicate).toBe(false);
    expect(store.revision).toBeGreaterThan(6);
  });

  it('forgets an idle client while a more recent one stays, under the cap', () => {
    const { run } = harness({ dedupIdleRevisions: 3, maxDedupClients: 10 });
    run({ type: 'put', key: 'a', value: bytes() }, 'old', 1); // rev 2
    run({ type: 'put', key: 'b', value: bytes() }, 'new', 1); // rev 3
    for (let i = 0; i < 3; i++) run({ type: 'put', key: 'x', value: bytes() }); // revs 4..6
    // 'old' is 4 revisions behind, 'new' 3: only 'old' is forgotten.
    expect(run({ type: 'put', key: 'b', value: bytes() }, 'new', 1).duplicate).toBe(true);
    expect(run({ type: 'put', key: 'a', value: bytes() }, 'old', 1).duplicate).toBe(false);
  });

  it('revokes a lease by deleting its keys in one revision', () => {
    const { store, run } = harness();
    const grant = run({ type: 'leaseGrant', ttlSeconds: 10 });
    expect(grant.response).toEqual({ type: 'leaseGrant', revision: 1, id: 1, ttlSeconds: 10 });
    run({ type: 'leaseGrant', id: 1, ttlSeconds: 5 }); // id 1 is taken: error
    const second = run({ type: 'leaseGrant', ttlSeconds: 5 }); // derived from index 3
    expect(second.response).toMatchObject({ id: 3 });
    run({ type: 'put', key: 'b', value: bytes(1), lease: 1 });
    run({ type: 'put', key: 'a', value: bytes(1), lease: 1 });
    run({ type: 'put', key: 'c', value: bytes(1), lease: 3 });
    run({ type: 'put', key: 'c2', value: bytes(1), lease: 1 });
    run({ type: 'put', key: 'c2', value: bytes(2) }); // detached
    run({ type: 'put', key: 'c', value: bytes(2), ignoreLease: true }); // stays on lease 3
    expect([...store.lease(1)!.keys].sort()).toEqual(['a', 'b']);
    const rev = store.revision;
    const revoke = run({ type: 'leaseRevoke', id: 1 });
    expect(revoke.response).toEqual({ type: 'leaseRevoke', revision: rev + 1 });
    expect(revoke.events.map((e) => [e.type, e.kv.key, e.kv.modRevision])).toEqual([
      ['delete', 'a', rev + 1],
      ['delete', 'b', rev + 1],
    ]);
    expect(store.lease(1)).toBeUndefined();
    expect(store.get('c2')).toBeDefined();
    expect(store.get('c')).toMatchObject({ lease: 3 });
  });

  it('cleans up compacted records in bounded steps', () => {
    const { store, run } = harness({ compactionBatchRecords: 3 });
    for (let i = 0; i < 20; i++) run({ type: 'put', key: `k${i % 2}`, value: bytes(i) });
    run({ type: 'compact', revision: store.revision });
    // 20 records up to the compaction revision, 2 kept; the compaction's batch walked 3.
    expect(store.purgePending).toBe(true);
    expect(store.purge(10)).toBe(true);
    expect(store.purge(10)).toBe(false);
    expect(store.purge(10)).toBe(false);
    expect([...store.backend.table('kv').range()].map((e) => e.key)).toEqual([
      [20, 0],
      [21, 0],
    ]);
    expect(store.get('k1')?.value).toEqual(bytes(19));
    expect(store.snapshot()).toEqual(
      (() => {
        const h = harness();
        for (let i = 0; i < 20; i++) h.run({ type: 'put', key: `k${i % 2}`, value: bytes(i) });
        h.run({ type: 'compact', revision: h.store.revision });
        return h.store.snapshot();
      })(),
    );
  });
});
