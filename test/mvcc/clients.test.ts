import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientTable } from '../../raft/mvcc/clients.js';
import type { ClientRecord } from '../../raft/mvcc/store.js';

type Op = { kind: 'set'; client: number; batch: boolean } | { kind: 'delete'; client: number } | { kind: 'evictOldest' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), client: fc.integer({ min: 0, max: 7 }), batch: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), client: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'evictOldest' as const }) },
);

describe('ClientTable', () => {
  it('keeps the order of last activity that a Map with delete and re-insert keeps', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const table = new ClientTable();
        const model = new Map<string, ClientRecord>();
        let index = 0;
        let at = 0;
        for (const o of ops) {
          if (o.kind === 'set') {
            // Proposals of one entry share its index and differ in position.
            if (o.batch && index > 0) at++;
            else {
              index++;
              at = 0;
            }
            const r: ClientRecord = { seq: index, index, revision: index, response: null };
            if (at > 0) r.at = at;
            model.delete(`c${o.client}`);
            model.set(`c${o.client}`, r);
            table.set(`c${o.client}`, r);
          } else if (o.kind === 'delete') {
            expect(table.delete(`c${o.client}`)).toBe(model.delete(`c${o.client}`));
          } else {
            const first = model.keys().next();
            expect(table.oldest()).toBe(first.done ? undefined : first.value);
            if (!first.done) {
              model.delete(first.value);
              table.delete(first.value);
            }
          }
          expect(table.size).toBe(model.size);
          // A lower bound on every remembered client's revision (the store's eviction check).
          for (const r of model.values()) expect(table.minRevision()).toBeLessThanOrEqual(r.revision);
        }
        expect(table.entries()).toEqual([...model.entries()]);
      }),
      { numRuns: 300 },
    );
  });

  it('stays a few times its size however many updates it takes', () => {
    const table = new ClientTable();
    // One client never active again sits at the front while the others keep writing, until
    // it is forgotten.
    table.set('idle', { seq: 1, index: 1, revision: 1, response: null });
    for (let i = 2; i < 200_000; i++) {
      table.set(`c${i % 100}`, { seq: i, index: i, revision: i, response: null });
      // The store looks at the oldest after every write; with the idle client gone, the front
      // moves on through places that are all dead.
      if (i === 1_000) table.delete('idle');
      table.oldest();
    }
    const places = (table as unknown as { keys: string[] }).keys.length;
    expect(places).toBeLessThanOrEqual(2 * table.size + 1025);
    expect(table.entries().map(([c]) => c)).toEqual([...Array.from({ length: 100 }, (_, k) => `c${(199_900 + k) % 100}`)]);
  });
});
