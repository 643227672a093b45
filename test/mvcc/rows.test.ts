import fc from 'fast-check';
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { fromRow, readJournalRecord, RowWriter } from '../../raft/mvcc/rows.js';
import type { StoredRecord } from '../../raft/mvcc/store.js';

const unpackr = new Unpackr({ copyBuffers: true, mapsAsObjects: true });
const mapsUnpackr = new Unpackr({ copyBuffers: true, mapsAsObjects: false });

/** Integers at every msgpack size boundary, and up to 2^53. */
const uint = fc.oneof(
  fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER),
  fc.nat({ max: 0x1ffff }),
  fc.maxSafeNat(),
);
const revision = uint.filter((n) => n > 0);
/** Keys of every length class, with multi-byte characters, surrogate pairs and lone surrogates. */
const key = fc.oneof(
  fc.constantFrom('', '\ud800', 'a\udc00b', '\ud83d\ude00x\ud83d', '/registry/ünïcødé/ключ/鍵'),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ minLength: 250, maxLength: 300 }),
  fc.string({ unit: 'binary', minLength: 90, maxLength: 3_000 }),
  fc.constant('é'.repeat(30_000)),
);
/** Client ids: short, any characters, and now and then long. */
const clientId = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ minLength: 250, maxLength: 300 }));
const value = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).fill(n & 0xff)));

describe('RowWriter', () => {
  it('writes rows that read back as the record, live or tombstone, for any key, value and numbers', () => {
    const w = new RowWriter();
    fc.assert(
      // Revisions start at 1: a 0 in a row's createRevision means "its modRevision".
      fc.property(key, value, revision, revision, uint, uint, fc.boolean(), fc.boolean(), (k, v, create, mod, version, lease, firstVersion, tomb) => {
        const r: StoredRecord = tomb
          ? { key: k, value: new Uint8Array(0), createRevision: 0, modRevision: mod, version: 0, lease: 0, tombstone: true }
          : { key: k, value: v, createRevision: firstVersion ? mod : create, modRevision: mod, version, lease };
        const row = unpackr.unpack(w.record(r)) as unknown[];
        // The revision is the row's backend key, not in the row.
        expect(row[3]).toBe(0);
        const back = fromRow(row, mod);
        // UTF-8 has no form for a lone surrogate: it is written as U+FFFD, as Node's encoder does.
        expect(back.key).toBe(Buffer.from(k, 'utf8').toString('utf8'));
        expect(Buffer.from(back.value).equals(r.value)).toBe(true);
        expect({ ...back, key: '', value: null }).toEqual({ ...r, key: '', value: null });
      }),
      { numRuns: 300 },
    );
  });

  it('reuses its buffer: a row is valid until the next one', () => {
    const w = new RowWriter();
    const first = w.live('/a', new Uint8Array([1, 2, 3]), 4, 4, 1, 0);
    const copy = Uint8Array.from(first);
    w.live('/b', new Uint8Array([9]), 5, 6, 2, 0);
    expect(unpackr.unpack(copy)).toEqual(['/a', new Uint8Array([1, 2, 3]), 0, 0, 1, 0]);
  });

  it('writes the client journal as msgpack that reads back as the records, responses of any shape included', () => {
    const w = new RowWriter();
    const kv = fc.record({ key: clientId, value: fc.uint8Array({ maxLength: 40 }), createRevision: uint, modRevision: uint, version: uint, lease: uint });
    const response = fc.oneof(
      fc.constant(null),
      fc.record({ type: fc.constant('put' as const), revision: uint }),
      fc.record({ type: fc.constant('put' as const), revision: uint, prevKv: kv }),
      fc.record({ type: fc.constant('deleteRange' as const), revision: uint, deleted: uint }),
      fc.record({ type: fc.constant('txn' as const), revision: uint, succeeded: fc.boolean(), responses: fc.array(fc.record({ type: fc.constant('put' as const), revision: uint }), { maxLength: 3 }) }),
      fc.record({ type: fc.constant('error' as const), code: fc.constant('Compacted' as const), compactRevision: uint }),
      fc.record({ type: fc.constant('error' as const), code: fc.constant('LeaseNotFound' as const), id: uint }),
    );
    const record = fc.option(fc.record({ seq: uint, index: uint, at: fc.option(uint.filter((n) => n > 0), { nil: undefined }), revision: uint, response }, { requiredKeys: ['seq', 'index', 'revision', 'response'] }), { nil: undefined });
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(clientId, record), { selector: (t) => t[0], maxLength: 40 }), (entries) => {
        const table = new Map(entries);
        const bytes = w.journal(table.keys(), table.size, (c) => table.get(c));
        // Decoded as the backend does (maps as Maps), then read back as the store does.
        const decoded = (mapsUnpackr.unpack(bytes) as unknown[]).map((x, i) => (i % 2 === 0 ? x : readJournalRecord(x)));
        const expected = entries.flatMap(([c, r]) => [c, r === undefined ? null : r]);
        expect(normalize(decoded)).toEqual(normalize(expected.map((x, i) => (i % 2 === 0 ? Buffer.from(x as string, 'utf8').toString('utf8') : x))));
      }),
      { numRuns: 300 },
    );
  });
});

/** Binary values compare by bytes, and a field left undefined is a field left out. */
function normalize(x: unknown): unknown {
  if (x instanceof Uint8Array) return { bytes: [...x] };
  if (Array.isArray(x)) return x.map(normalize);
  if (x !== null && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = normalize(v);
    return out;
  }
  return typeof x === 'string' ? Buffer.from(x, 'utf8').toString('utf8') : x;
}
