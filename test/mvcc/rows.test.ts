import fc from 'fast-check';
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { RowWriter } from '../../raft/mvcc/rows.js';

const unpackr = new Unpackr({ copyBuffers: true });

/** Integers at every msgpack size boundary, and up to 2^53. */
const uint = fc.oneof(
  fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER),
  fc.nat({ max: 0x1ffff }),
  fc.maxSafeNat(),
);
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
const value = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).fill(n & 0xff)));

describe('RowWriter', () => {
  it('writes msgpack that decodes to the row, for any key, value and numbers', () => {
    const w = new RowWriter();
    fc.assert(
      fc.property(key, value, uint, uint, uint, uint, fc.boolean(), (k, v, a, b, c, d, tomb) => {
        const bytes = w.row(k, v, a, b, c, d, tomb);
        const row = unpackr.unpack(bytes) as unknown[];
        // UTF-8 has no form for a lone surrogate: it is written as U+FFFD, as Node's encoder does.
        const expected: unknown[] = [Buffer.from(k, 'utf8').toString('utf8'), 'value', a, b, c, d];
        if (tomb) expected.push(1);
        expect(Buffer.from(row[1] as Uint8Array).equals(v)).toBe(true);
        expect([row[0], 'value', ...row.slice(2)]).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('reuses its buffer: a row is valid until the next one', () => {
    const w = new RowWriter();
    const first = w.row('/a', new Uint8Array([1, 2, 3]), 0, 0, 1, 0, false);
    const copy = Uint8Array.from(first);
    w.row('/b', new Uint8Array([9]), 5, 0, 2, 0, false);
    expect(unpackr.unpack(copy)).toEqual(['/a', new Uint8Array([1, 2, 3]), 0, 0, 1, 0]);
  });
});
