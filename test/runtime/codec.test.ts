import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ASK, REPLY, REPLY_ERROR, SEND, decodeFrame, encodeFrame, encodeValue, type Envelope } from '../../runtime/codec.js';

describe('codec', () => {
  it('encodeFrame returns an exact-size ArrayBuffer that later encodings do not overwrite', () => {
    const first: Envelope[] = [
      [SEND, 'b', 'a', 0, { hello: 'world', n: 1 }],
      [ASK, 'b', 'a', 7, [1, 2, 3]],
    ];
    const frame = encodeFrame(first);
    expect(frame).toBeInstanceOf(ArrayBuffer);
    // Exact size: every byte belongs to the encoding. msgpackr refuses trailing bytes, so the
    // frame decoding at all shows there is no slack, and cutting one byte off breaks it.
    expect(decodeFrame(frame)).toEqual(first);
    expect(() => decodeFrame(new Uint8Array(frame).slice(0, -1))).toThrow();
    expect(frame.byteLength).toBeLessThan(200);
    const snapshot = new Uint8Array(frame).slice();

    // A second, larger encoding reuses msgpackr's shared buffer; the first frame must not see it.
    const second: Envelope[] = [[SEND, 'zz', 'yy', 0, 'x'.repeat(50_000)]];
    const frame2 = encodeFrame(second);
    expect(frame2).not.toBe(frame);
    expect(new Uint8Array(frame)).toEqual(snapshot);
    expect(decodeFrame(frame)).toEqual(first);
    expect(decodeFrame(frame2)).toEqual(second);

    // Transferring (detaching) one frame leaves the other intact.
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(frame2, [frame2]);
    port1.close();
    port2.close();
    expect(frame2.byteLength).toBe(0);
    expect(decodeFrame(frame)).toEqual(first);
  });

  it('names the keys of a repeated object shape once per frame, and every frame decodes alone', () => {
    const reply = (i: number) => ({ ok: true, result: { type: 'put', revision: 100 + i } });
    const a: Envelope[] = Array.from({ length: 200 }, (_, i) => [REPLY, 'c', 'p', i + 1, reply(i)] as Envelope);
    const b: Envelope[] = [[SEND, 'q', 'p', 0, { other: 'shape' }], ...a.slice(0, 3), [SEND, 'q', 'p', 0, { other: 'again' }]];
    const fa = encodeFrame(a);
    const fb = encodeFrame(b);
    // The field names appear once in the frame, not once per reply.
    expect(Buffer.from(fa).toString('latin1').split('revision').length - 1).toBe(1);
    // Out of order, repeatedly, and with a decoder that has never seen another frame.
    expect(decodeFrame(fb)).toEqual(b);
    expect(decodeFrame(fa)).toEqual(a);
    expect(decodeFrame(fb)).toEqual(b);
    const fresh = new Unpackr({ useRecords: true, moreTypes: false }).unpack(new Uint8Array(fb)) as unknown[];
    expect(fresh[fresh.length - 1]).toEqual({ other: 'again' });
  });

  it('decodeFrame accepts a Uint8Array view as well as an ArrayBuffer', () => {
    const envs: Envelope[] = [[SEND, 'to', 'from', 0, null]];
    const frame = encodeFrame(envs);
    expect(decodeFrame(new Uint8Array(frame))).toEqual(envs);
  });

  it('decodeFrame throws on garbage instead of returning something', () => {
    const garbage = [
      new Uint8Array([0xc1]), // a byte msgpack never uses
      new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]), // array32 announcing 4 billion items, then nothing
      new Uint8Array([]),
      encodeValue(42), // well-formed msgpack, but not a frame
      encodeValue('a string'),
      encodeValue({ kind: 0, to: 'a' }),
      encodeValue([['a'], 0, 0]), // a list that is too short to hold an envelope
      encodeValue([['a', 'b'], 0, 0, 1, 0]), // a run of no envelopes
      encodeValue([['a', 'b'], 0, 0, 1, 3, 'x', 'y']), // a run announcing more than the frame holds
      encodeValue([['a', 'b'], 1, 0, 1, 1, 'not an ask id', 'x']),
      encodeValue([['a', 'b'], 0, 0, 1, 1, 'x', 0, 0]), // a truncated second run
      encodeValue([['a', 'b'], 0, 5, 1, 1, 'x']), // an actor index outside the table
      encodeValue([['a', 'b'], 4, 0, 1, 2, [1, 5], 'abc']), // a string column whose lengths overrun it
      encodeValue([['a', 'b'], 4, 0, 1, 2, [1, 1], 'abc']), // ... or leave some of it over
      encodeValue([['a', 'b'], 4, 0, 1, 2, [-1, 4], 'abc']), // ... or hold a negative length
      encodeValue([['a', 'b'], 4, 0, 1, 2, [1.5, 1.5], 'abc']), // ... or a fractional one
      encodeValue([['a', 'b'], 4, 0, 1, 3, [1, 2], 'abc']), // ... or fewer lengths than the run announces
      encodeValue([['a', 'b'], 4, 0, 1, 2, [1, 2], 42]), // ... or no string
      encodeValue([['a', 'b'], 4, 0, 1, 2, [1, 2]]), // ... or nothing at all
      encodeValue([['a', 'b'], 5, 0, 1, 1, 'x']), // a run kind that does not exist
      new Uint8Array([...new Uint8Array(encodeFrame([[SEND, 'a', 'b', 0, 1]])), 0]), // a frame with a trailing byte
      new TextEncoder().encode('this is not msgpack at all, just text'),
    ];
    for (const bytes of garbage) {
      const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      expect(() => decodeFrame(buf), `bytes ${Buffer.from(bytes).toString('hex').slice(0, 40)}`).toThrow();
    }
  });

  it('round-trips any sequence of envelopes, grouped into runs or not', () => {
    const actor = fc.constantFrom('a', 'b', 'kubelet-node-1', 'étcd-1');
    // msgpackr renames a `__proto__` key (see the next test): leave those out here.
    const payload = fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"'));
    const envelope = fc.oneof(
      fc.tuple(fc.constant(SEND), actor, actor, fc.constant(0), payload),
      fc.tuple(fc.constantFrom(ASK, REPLY, REPLY_ERROR), actor, actor, fc.integer({ min: 1, max: 2 ** 31 }), payload),
    ) as fc.Arbitrary<Envelope>;
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 1, maxLength: 60 }), (envs) => {
        // JSON values through msgpack: -0 and +0 are one number, as JSON has them.
        const plain = JSON.parse(JSON.stringify(envs));
        expect(JSON.parse(JSON.stringify(decodeFrame(encodeFrame(envs))))).toEqual(plain);
      }),
      { numRuns: 300 },
    );
  });

  it('sends a burst of short strings as one column, and cuts it apart again', () => {
    const strings = ['alpha', '', 'ünïcödé ✓', '😀 astral', 'x'.repeat(255), 'z'];
    const envs: Envelope[] = strings.map((s) => [SEND, 'sink', 'src', 0, s] as Envelope);
    const frame = encodeFrame(envs);
    // The strings sit side by side in the frame, with no header between them.
    expect(Buffer.from(frame).includes(Buffer.from(strings.join(''), 'utf8'))).toBe(true);
    expect(decodeFrame(frame)).toEqual(envs);
    // A string of 256 characters or more, a lone string, and strings between other payloads
    // go one by one, and everything keeps its order.
    const mixed: Envelope[] = [
      [SEND, 'sink', 'src', 0, 'a'],
      [SEND, 'sink', 'src', 0, 'y'.repeat(256)],
      [SEND, 'sink', 'src', 0, 'b'],
      [SEND, 'sink', 'src', 0, 'c'],
      [SEND, 'sink', 'src', 0, { not: 'a string' }],
      [SEND, 'sink', 'src', 0, 'd'],
      [ASK, 'sink', 'src', 9, 'asked'],
      [SEND, 'other', 'src', 0, 'e'],
      [SEND, 'other', 'src', 0, 'f'],
    ];
    const mixedFrame = encodeFrame(mixed);
    expect(decodeFrame(mixedFrame)).toEqual(mixed);
    expect(Buffer.from(mixedFrame).includes(Buffer.from('bc'))).toBe(true);
    expect(Buffer.from(mixedFrame).includes(Buffer.from('ef'))).toBe(true);
  });

  it('round-trips any mix of string and other sends', () => {
    const payload = fc.oneof(
      fc.string({ maxLength: 300, unit: 'grapheme' }),
      fc.string({ maxLength: 20 }),
      fc.integer(),
      fc.constant(null),
      fc.record({ s: fc.string({ maxLength: 5 }) }),
    );
    const envelope = fc.tuple(fc.constant(SEND), fc.constantFrom('a', 'b'), fc.constantFrom('c', 'd'), fc.constant(0), payload) as fc.Arbitrary<Envelope>;
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 1, maxLength: 80 }), (envs) => {
        expect(decodeFrame(encodeFrame(envs))).toEqual(envs);
      }),
      { numRuns: 300 },
    );
  });

  it('never lets a payload key set a prototype: __proto__ arrives renamed', () => {
    const payload = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}');
    const [env] = decodeFrame(encodeFrame([[SEND, 'a', 'b', 0, payload]]));
    const got = env![4] as Record<string, unknown>;
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(got).sort()).toEqual(['__proto_', 'ok']);
  });
});
