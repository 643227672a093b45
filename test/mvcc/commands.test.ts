import fc from 'fast-check';
import { Packr, pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  decodeEntryData,
  encodeProposal,
  encodeProposalBatch,
  inRange,
  isError,
  maxRequestBytes,
  prefixEnd,
  validateCommand,
  type Command,
  type Proposal,
  type PutRequest,
  type RequestOp,
  type TxnRequest,
} from '../../raft/mvcc/commands.js';

const v = new Uint8Array([1]);
const put = (key: string): PutRequest => ({ type: 'put', key, value: v });
const del = (key: string, rangeEnd?: string): RequestOp => ({ type: 'deleteRange', key, ...(rangeEnd ? { rangeEnd } : {}) });
const txn = (success: RequestOp[], failure: RequestOp[] = []): TxnRequest => ({ type: 'txn', compare: [], success, failure });

describe('key ranges', () => {
  it('computes the end of a prefix range', () => {
    expect(prefixEnd('a')).toBe('b');
    expect(prefixEnd('/registry/pods/')).toBe('/registry/pods0');
    expect(prefixEnd('a\uffff')).toBe('b');
    expect(prefixEnd('\uffff\uffff')).toBe('\0');
  });

  it('follows etcd conventions for rangeEnd', () => {
    expect(inRange('a', 'a', undefined)).toBe(true);
    expect(inRange('ab', 'a', '')).toBe(false);
    expect(inRange('zzz', 'b', '\0')).toBe(true);
    expect(inRange('a', 'b', '\0')).toBe(false);
    expect(inRange('b', 'a', 'b')).toBe(false);
    expect(inRange('a/x', 'a/', prefixEnd('a/'))).toBe(true);
  });
});

describe('validateCommand', () => {
  it('accepts well-formed commands', () => {
    const ok: Command[] = [
      put('k'),
      { type: 'put', key: 'k', ignoreValue: true },
      { type: 'put', key: 'k', value: v, ignoreLease: true },
      { type: 'range', key: 'a', rangeEnd: '\0', limit: 2, revision: 3, sortOrder: 'descend', sortTarget: 'modRevision' },
      { type: 'deleteRange', key: 'a', rangeEnd: 'b', prevKv: true },
      { type: 'leaseGrant', ttlSeconds: 10 },
      { type: 'leaseRevoke', id: 5 },
      { type: 'compact', revision: 4 },
      txn([put('a'), txn([put('b')], [put('b')])]),
    ];
    for (const c of ok) expect(validateCommand(c)).toBeNull();
  });

  it('limits a txn to 128 ops in total, nested ones included', () => {
    const ops = (n: number) => Array.from({ length: n }, (_, i) => put(`k${i}`));
    expect(validateCommand(txn(ops(128)))).toBeNull();
    expect(validateCommand(txn(ops(129)))).toEqual({ type: 'error', code: 'TooManyOps', limit: 128 });
    expect(validateCommand(txn(ops(64), ops(64)))).toBeNull();
    expect(validateCommand(txn(ops(64), ops(65)))).toMatchObject({ code: 'TooManyOps' });
    // 100 + the nested txn op + 28 inside it = 129.
    expect(validateCommand(txn([...ops(100), txn(ops(28).map((p) => ({ ...p, key: 'n' + p.key })))]))).toMatchObject({
      code: 'TooManyOps',
    });
    const compares = Array.from({ length: 129 }, () => ({ key: 'a', target: 'version' as const, result: '=' as const, operand: 0 }));
    expect(validateCommand({ type: 'txn', compare: compares, success: [], failure: [] })).toMatchObject({ code: 'TooManyOps' });
  });

  it('refuses duplicate keys in a txn as etcd does', () => {
    const dup = (t: TxnRequest) => validateCommand(t);
    expect(dup(txn([put('a'), put('a')]))).toEqual({ type: 'error', code: 'DuplicateKey', key: 'a' });
    expect(dup(txn([del('a', 'c'), put('b')]))).toMatchObject({ code: 'DuplicateKey', key: 'b' });
    expect(dup(txn([put('b'), del('a', 'c')]))).toMatchObject({ code: 'DuplicateKey', key: 'b' });
    expect(dup(txn([put('a'), txn([put('a')])]))).toMatchObject({ code: 'DuplicateKey', key: 'a' });
    expect(dup(txn([del('a'), txn([put('a')])]))).toMatchObject({ code: 'DuplicateKey' });
    // Stricter than etcd: a later nested delete over an earlier nested put.
    expect(dup(txn([txn([put('a')]), txn([del('a')])]))).toMatchObject({ code: 'DuplicateKey', key: 'a' });
    // Allowed: the same key in both branches, overlapping deletes, reads of written keys.
    expect(dup(txn([put('a')], [put('a')]))).toBeNull();
    expect(dup(txn([txn([put('a')], [put('a')])]))).toBeNull();
    expect(dup(txn([del('a', 'c'), del('b', 'd')]))).toBeNull();
    expect(dup(txn([put('a'), { type: 'range', key: 'a' }]))).toBeNull();
  });

  it('refuses malformed requests', () => {
    const bad: [unknown, string][] = [
      [{ type: 'put', key: '', value: v }, 'InvalidRequest'],
      [{ type: 'put', key: 'k' }, 'InvalidRequest'],
      [{ type: 'put', key: 'k', value: v, ignoreValue: true }, 'InvalidRequest'],
      [{ type: 'put', key: 'k', value: v, lease: 3, ignoreLease: true }, 'InvalidRequest'],
      [{ type: 'put', key: 'k', value: 'text' }, 'InvalidRequest'],
      [{ type: 'range', key: 'k', limit: -1 }, 'InvalidRequest'],
      [{ type: 'range', key: 'k', sortOrder: 'sideways' }, 'InvalidRequest'],
      [{ type: 'leaseGrant', ttlSeconds: 0 }, 'InvalidRequest'],
      [{ type: 'leaseRevoke', id: 0 }, 'InvalidRequest'],
      [{ type: 'compact', revision: 0 }, 'InvalidRequest'],
      [{ type: 'txn', compare: [{ key: 'a', target: 'value', result: '=', operand: 3 }], success: [], failure: [] }, 'InvalidRequest'],
      [{ type: 'frobnicate', key: 'k' }, 'UnknownOperation'],
      [txn([{ type: 'leaseGrant', ttlSeconds: 5 } as unknown as RequestOp]), 'UnknownOperation'],
    ];
    for (const [cmd, code] of bad) expect(validateCommand(cmd as Command)).toMatchObject({ type: 'error', code });
  });
});

describe('proposals', () => {
  it('round-trips, with bytes of their own that later encodings leave alone', () => {
    const bytes = encodeProposal({ client: 'c', seq: 3, cmd: put('k') });
    expect(isError(bytes)).toBe(false);
    const b = bytes as Uint8Array;
    const copy = Uint8Array.from(b);
    for (let i = 0; i < 100; i++) encodeProposal({ client: `other-${i}`, seq: i, cmd: put(`key-${i}`) });
    expect([...b]).toEqual([...copy]);
    const [p] = decodeEntryData(encodeProposalBatch([b])) as Proposal[];
    expect(p.client).toBe('c');
    expect(p.seq).toBe(3);
    expect(p.cmd).toMatchObject({ type: 'put', key: 'k' });
  });

  it('refuses a proposal over 1.5 MiB before it reaches the log', () => {
    const big = encodeProposal({ client: 'c', seq: 1, cmd: { type: 'put', key: 'k', value: new Uint8Array(maxRequestBytes) } });
    expect(big).toMatchObject({ type: 'error', code: 'RequestTooLarge', limit: maxRequestBytes });
    const fits = encodeProposal({ client: 'c', seq: 1, cmd: { type: 'put', key: 'k', value: new Uint8Array(maxRequestBytes - 100) } });
    expect(fits).toBeInstanceOf(Uint8Array);
  });

  it('refuses invalid commands when encoding', () => {
    expect(encodeProposal({ client: 'c', seq: 1, cmd: txn([put('a'), put('a')]) })).toMatchObject({ code: 'DuplicateKey' });
  });

  it('throws on bytes that are not a proposal', () => {
    expect(() => decodeEntryData(new Uint8Array([0xc1]))).toThrow(/unknown format/);
    expect(() => decodeEntryData(new Uint8Array([0xc1, 9, 0x90]))).toThrow(/unknown format 9/);
    expect(() => decodeEntryData(new Uint8Array([0xc1, 1, 0x01]))).toThrow(/not a list/);
    expect(() => decodeEntryData(new Uint8Array([0x01]))).toThrow(/not a proposal/);
  });

  it('puts one or many proposals in one entry, each element its encoded bytes as they are', () => {
    const ps = [1, 2, 3].map((seq) => ({ client: `c${seq}`, seq, cmd: put(`k${seq}`) }));
    const encoded = ps.map((p) => encodeProposal(p) as Uint8Array);
    const batch = encodeProposalBatch(encoded);
    expect(batch.byteLength).toBe(7 + encoded.reduce((n, e) => n + e.byteLength, 0));
    expect(batch.byteLength).toBe(batch.buffer.byteLength); // the log keeps it: no pooled buffer behind it
    const got = decodeEntryData(batch) as Proposal[];
    expect(got.map((p) => [p.client, p.seq, p.cmd.type])).toEqual(ps.map((p) => [p.client, p.seq, 'put']));
    expect(decodeEntryData(encodeProposalBatch([encoded[0]!]))).toMatchObject([{ client: 'c1', seq: 1 }]);
  });

  it('names the fields of proposals and puts once, as records; other shapes stay maps', () => {
    // Seq 64 and 65 are the record ids as plain msgpack integers: they must stay numbers.
    const ps: Proposal[] = [
      { client: 'c', seq: 64, cmd: put('k') },
      { client: 'c', seq: 65, cmd: { type: 'put', key: 'k', value: v, lease: 65 } },
      { client: 'c', seq: 66, cmd: txn([put('a'), del('b', 'c')]) },
      { client: 'c', seq: 67, cmd: { type: 'leaseGrant', id: 64, ttlSeconds: 65 } },
    ];
    const encoded = ps.map((p) => encodeProposal(p) as Uint8Array);
    // A plain put holds its field names nowhere: no 'client', no 'value' in the bytes.
    expect(Buffer.from(encoded[0]!).includes('client')).toBe(false);
    expect(Buffer.from(encoded[0]!).includes('value')).toBe(false);
    const got = decodeEntryData(encodeProposalBatch(encoded)) as Proposal[];
    expect(JSON.parse(JSON.stringify(got))).toEqual(JSON.parse(JSON.stringify(ps)));
  });

  it('reads entries written before records and batch marks: plain msgpack, 0x40-0x7f as integers', () => {
    const p: Proposal = { client: 'c', seq: 64, cmd: { type: 'put', key: 'k', value: v, lease: 65 } };
    expect(decodeEntryData(new Uint8Array(pack(p)))).toMatchObject({ client: 'c', seq: 64, cmd: { lease: 65 } });
    const old = new Uint8Array([0xdd, 0, 0, 0, 2, ...pack(p), ...pack({ ...p, seq: 65 })]);
    expect((decodeEntryData(old) as Proposal[]).map((x) => x.seq)).toEqual([64, 65]);
  });
});

describe('put proposals written by hand', () => {
  // The same records as the log's, for comparing bytes with what msgpackr writes.
  const reference = new Packr({ structures: [['client', 'seq', 'cmd'], ['type', 'key', 'value']], maxSharedStructures: 2, maxOwnStructures: 0, moreTypes: false });
  const seq = fc.oneof(fc.constantFrom(0, 63, 64, 65, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
  const str = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), fc.string({ minLength: 200, maxLength: 70_000 }));
  const value = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).fill(7)));

  it('are the bytes msgpackr writes for them, and read back as the proposal', () => {
    fc.assert(
      fc.property(str, seq, str, value, (client, s, key, v) => {
        const p: Proposal = { client, seq: s, cmd: { type: 'put', key, value: v } };
        const bytes = encodeProposal(p) as Uint8Array;
        expect(Buffer.from(bytes).equals(reference.pack(p))).toBe(true);
        const [got] = decodeEntryData(encodeProposalBatch([bytes])) as Proposal[];
        expect(got!.client).toBe(client);
        expect(got!.seq).toBe(s);
        expect(got!.cmd).toMatchObject({ type: 'put', key });
        expect(Buffer.from((got!.cmd as PutRequest).value!).equals(v)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('leaves every other shape to the generic encoder: extra fields, other orders, other commands', () => {
    const shapes: Proposal[] = [
      { client: 'c', seq: 70, cmd: { type: 'put', key: 'k', value: v, lease: 66 } },
      { client: 'c', seq: 71, cmd: { type: 'put', key: 'k', value: v, prevKv: true } },
      { client: 'c', seq: 72, cmd: { key: 'k', type: 'put', value: v } as PutRequest },
      { seq: 73, client: 'c', cmd: put('k') } as Proposal,
      { client: 'c', seq: 74, cmd: put('k'), extra: 1 } as Proposal,
      { client: 'c', seq: 75, cmd: del('k') },
    ];
    for (const p of shapes) {
      const [got] = decodeEntryData(encodeProposalBatch([encodeProposal(p) as Uint8Array])) as Proposal[];
      expect(JSON.parse(JSON.stringify(got))).toEqual(JSON.parse(JSON.stringify(p)));
    }
  });
});
