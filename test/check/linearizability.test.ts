import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type HistoryEvent,
  type JsonValue,
  type OpFunction,
  type Operation,
  checkLinearizability,
  pairOperations,
  parseHistory,
  pruneUnobservable,
} from '../../raft/check/index.js';
import { Timeline, bruteForceLinearizable, simulateRegisters } from './helpers.js';

const expectLinearizable = (ops: Operation[]): void => {
  const result = checkLinearizability(ops);
  expect(result.explanation).toBeUndefined();
  expect(result.verdict).toBe('linearizable');
  expect(result.ok).toBe(true);
};

const expectViolation = (ops: Operation[], key = 'x'): ReturnType<typeof checkLinearizability> => {
  const result = checkLinearizability(ops);
  expect(result.ok).toBe(false);
  expect(result.verdict).toBe('not-linearizable');
  expect(result.key).toBe(key);
  expect(result.explanation).toContain(JSON.stringify(key));
  expect(result.partialLinearization).toBeDefined();
  return result;
};

describe('linearizable histories are accepted', () => {
  it('accepts an empty history', () => {
    expectLinearizable([]);
  });

  it('accepts a sequential write then read', () => {
    expectLinearizable(new Timeline().write(0, 'x', 1, 0, 10).read(1, 'x', 1, 20, 30).ops());
  });

  it('accepts reads overlapping a write seeing either the old or the new value', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 100)
      .read(1, 'x', null, 10, 20)
      .read(2, 'x', 1, 30, 40)
      .read(1, 'x', 1, 50, 60) // once a concurrent read saw 1, later reads must too
      .ops();
    expectLinearizable(ops);
  });

  it('accepts concurrent writes whose order is decided by later reads', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 50)
      .write(1, 'x', 2, 5, 55)
      .read(2, 'x', 1, 60, 70) // 2 then 1
      .read(2, 'x', 1, 80, 90)
      .ops();
    expectLinearizable(ops);
  });

  it('accepts two reads overlapping each other and a write, seeing new then old is impossible but old then new is fine', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 100)
      .read(1, 'x', null, 10, 60)
      .read(2, 'x', 1, 20, 50)
      .ops();
    // The read of null may take effect before the write, the read of 1 after it.
    expectLinearizable(ops);
  });

  it('accepts an unknown-outcome write that did take effect', () => {
    const ops = new Timeline().write(0, 'x', 1, 0, 'info').read(1, 'x', 1, 100, 110).ops();
    expect(ops[0]?.status).toBe('info');
    expect(ops[0]?.ret).toBe(Infinity);
    expectLinearizable(ops);
  });

  it('accepts an unknown-outcome write that never took effect', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 'info')
      .read(1, 'x', null, 100, 110)
      .write(1, 'x', 2, 120, 130)
      .read(1, 'x', 2, 140, 150)
      .ops();
    expectLinearizable(ops);
    expect(checkLinearizability(ops, { pruneUnobservable: false }).ok).toBe(true);
  });

  it('accepts an unknown-outcome write that takes effect long after its process moved on', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 'info')
      .read(1, 'x', null, 100, 110)
      .write(1, 'x', 2, 120, 130)
      .read(1, 'x', 1, 140, 150) // the lost request finally landed
      .ops();
    expectLinearizable(ops);
  });

  it('accepts an unknown-outcome cas either way', () => {
    const base = new Timeline().write(0, 'x', 0, 0, 10).cas(1, 'x', 0, 1, true, 20, 'info');
    expectLinearizable(base.read(2, 'x', 1, 30, 40).ops());
    const other = new Timeline().write(0, 'x', 0, 0, 10).cas(1, 'x', 0, 1, true, 20, 'info');
    expectLinearizable(other.read(2, 'x', 0, 30, 40).ops());
  });

  it('accepts a failed cas explained only by an unknown-outcome write', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 10)
      .write(1, 'x', 2, 5, 'info')
      .cas(2, 'x', 1, 3, false, 20, 30)
      .ops();
    expectLinearizable(ops);
  });

  it('accepts a read explained only by a chain of unknown-outcome operations', () => {
    const ops = new Timeline()
      .write(0, 'x', 5, 0, 'info')
      .cas(1, 'x', 5, 6, true, 1, 'info')
      .write(2, 'x', 7, 2, 'info')
      .read(3, 'x', 6, 20, 30)
      .read(3, 'x', 6, 40, 50)
      .ops();
    expectLinearizable(ops);
  });

  it('accepts many unknown-outcome writes of which only some took effect', () => {
    const t = new Timeline();
    for (let p = 0; p < 40; p++) t.write(p, 'x', p, p, 'info');
    t.read(100, 'x', 7, 100, 110).read(100, 'x', 3, 120, 130).read(100, 'x', 3, 140, 150).read(100, 'x', 39, 160, 170);
    const result = checkLinearizability(t.ops());
    expect(result.ok).toBe(true);
    expect(result.steps).toBeLessThan(10_000);
  });

  it('accepts many concurrent reads of the same value without trying their orders', () => {
    const t = new Timeline().write(0, 'x', 1, 0, 10);
    for (let p = 1; p <= 30; p++) t.read(p, 'x', 1, 20 + p, 200 + p);
    t.write(0, 'x', 2, 20, 300);
    for (let p = 1; p <= 30; p++) t.read(p, 'x', 2, 400 + p, 500 + p);
    const result = checkLinearizability(t.ops());
    expect(result.ok).toBe(true);
    expect(result.steps).toBeLessThan(10_000);
  });

  it('accepts a failed cas while a concurrent write changes the value', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 10)
      .write(1, 'x', 2, 20, 40)
      .cas(2, 'x', 1, 3, false, 25, 35)
      .read(0, 'x', 2, 50, 60)
      .ops();
    expectLinearizable(ops);
  });

  it('accepts delete and recreate', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 10)
      .del(0, 'x', 20, 30)
      .read(1, 'x', null, 40, 50)
      .cas(1, 'x', null, 5, true, 60, 70)
      .read(0, 'x', 5, 80, 90)
      .ops();
    expectLinearizable(ops);
  });

  it('ignores operations that failed', () => {
    const ops = new Timeline().write(0, 'x', 1, 0, 10).write(1, 'x', 2, 20, 'fail').read(0, 'x', 1, 30, 40).ops();
    expectLinearizable(ops);
  });

  it('checks keys independently', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 10)
      .write(1, 'y', 1, 0, 10)
      .read(0, 'x', 1, 20, 30)
      .read(1, 'y', 1, 20, 30)
      .ops();
    const result = checkLinearizability(ops);
    expect(result.ok).toBe(true);
    expect(result.keys.map((k) => k.key)).toEqual(['x', 'y']);
  });

  it('accepts structured values compared by content', () => {
    const ops = new Timeline().write(0, 'x', { a: 1, b: [2] }, 0, 10).read(1, 'x', { b: [2], a: 1 }, 20, 30).ops();
    expectLinearizable(ops);
  });
});

describe('non-linearizable histories are rejected', () => {
  it('rejects a stale read after an acknowledged write completed', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 10)
      .write(0, 'x', 2, 20, 30)
      .read(1, 'x', 1, 40, 50)
      .ops();
    const result = expectViolation(ops);
    expect(result.partialLinearization?.blocked.id).toBe(2);
    expect(result.partialLinearization?.state).toBe(2);
    expect(result.explanation).toContain('read -> 1');
  });

  it('rejects a lost write (a later read sees the value before it)', () => {
    const ops = new Timeline().write(0, 'x', 1, 0, 10).read(1, 'x', null, 20, 30).ops();
    expectViolation(ops);
  });

  it('rejects a cas that succeeded twice from the same expected value', () => {
    const ops = new Timeline()
      .write(0, 'x', 0, 0, 10)
      .cas(1, 'x', 0, 1, true, 20, 40)
      .cas(2, 'x', 0, 2, true, 25, 45)
      .ops();
    const result = expectViolation(ops);
    expect(result.explanation).toMatch(/cas 0 -> [12] succeeded/);
  });

  it('rejects a read of a value never written', () => {
    const ops = new Timeline().write(0, 'x', 1, 0, 10).read(1, 'x', 99, 5, 20).ops();
    const result = expectViolation(ops);
    expect(result.partialLinearization?.blocked.output).toBe(99);
  });

  it('rejects reads after both writes completed that disagree on their order', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 50)
      .write(1, 'x', 2, 5, 55)
      .read(2, 'x', 1, 60, 70)
      .read(2, 'x', 2, 80, 90)
      .ops();
    expectViolation(ops);
  });

  it('rejects an unknown-outcome write that became visible and then vanished', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 'info')
      .read(1, 'x', 1, 10, 20)
      .read(1, 'x', null, 30, 40)
      .ops();
    expectViolation(ops);
  });

  it('rejects a failed write that was read', () => {
    const ops = new Timeline().write(0, 'x', 5, 0, 'fail').read(1, 'x', 5, 10, 20).ops();
    expectViolation(ops);
  });

  it('rejects a cas that failed although the value matched', () => {
    const ops = new Timeline().write(0, 'x', 1, 0, 10).cas(1, 'x', 1, 2, false, 20, 30).ops();
    const result = expectViolation(ops);
    expect(result.explanation).toContain('comparison with 1 failed');
  });

  it('rejects a read that needs an unknown-outcome write to take effect twice', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 'info')
      .read(1, 'x', 1, 10, 20)
      .write(1, 'x', 2, 30, 40)
      .read(1, 'x', 1, 50, 60)
      .ops();
    expectViolation(ops);
  });

  it('rejects a failed cas when no write could have changed the value', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 10)
      .write(1, 'x', 2, 5, 'fail')
      .cas(2, 'x', 1, 3, false, 20, 30)
      .ops();
    expectViolation(ops);
  });

  it('rejects a read of a deleted value', () => {
    const ops = new Timeline().write(0, 'x', 1, 0, 10).del(0, 'x', 20, 30).read(1, 'x', 1, 40, 50).ops();
    expectViolation(ops);
  });

  it('names the first failing key and leaves the others linearizable', () => {
    const ops = new Timeline()
      .write(0, 'a', 1, 0, 10)
      .write(1, 'x', 1, 0, 10)
      .read(0, 'a', 1, 20, 30)
      .read(1, 'x', 7, 20, 30)
      .ops();
    const result = expectViolation(ops, 'x');
    expect(result.keys.find((k) => k.key === 'a')?.verdict).toBe('linearizable');
    expect(result.keys.find((k) => k.key === 'x')?.verdict).toBe('not-linearizable');
  });

  it('explains with the longest linearizable prefix and the concurrent operations', () => {
    const ops = new Timeline()
      .write(0, 'x', 1, 0, 10)
      .write(0, 'x', 2, 20, 30)
      .cas(1, 'x', 5, 6, true, 35, 60)
      .read(2, 'x', 1, 40, 50)
      .ops();
    const result = expectViolation(ops);
    const w = result.partialLinearization!;
    expect(w.operations.map((op) => op.input)).toEqual([1, 2]);
    expect(w.state).toBe(2);
    expect(w.blocked.f).toBe('read');
    expect(w.pending.map((op) => op.input)).toEqual([[5, 6]]);
    expect(result.explanation).toContain('blocked:    #3 p2 read -> 1 [40, 50] — it read 1 but the value is 2');
    expect(result.explanation).toContain('concurrent: #2 p1 cas 5 -> 6 succeeded [35, 60]');
  });
});

describe('budget', () => {
  it('returns unknown instead of searching forever, and reports steps', () => {
    // 12 concurrent writes followed by a read of a value none of them wrote: refuting it needs
    // every subset of the writes, far beyond a small budget.
    const t = new Timeline();
    for (let p = 0; p < 12; p++) t.write(p, 'x', p, p, 1000 + p);
    t.read(99, 'x', 'never', 500, 2000);
    const result = checkLinearizability(t.ops(), { maxStepsPerKey: 2000 });
    expect(result.verdict).toBe('unknown');
    expect(result.ok).toBe(false);
    expect(result.key).toBe('x');
    expect(result.steps).toBeGreaterThanOrEqual(2000);
    expect(result.steps).toBeLessThan(2100);
    expect(result.explanation).toContain('2000 steps');
    // With room to search, the same history is refuted.
    const full = checkLinearizability(t.ops(), { maxStepsPerKey: 10_000_000 });
    expect(full.verdict).toBe('not-linearizable');
    expect(full.steps).toBeGreaterThan(2000);
  });

  it('a definite violation on one key wins over an exhausted budget on another', () => {
    const t = new Timeline();
    for (let p = 0; p < 12; p++) t.write(p, 'a', p, p, 1000 + p);
    t.read(99, 'a', 'never', 500, 2000);
    t.write(100, 'z', 1, 0, 10).read(100, 'z', 2, 20, 30);
    const result = checkLinearizability(t.ops(), { maxStepsPerKey: 500 });
    expect(result.verdict).toBe('not-linearizable');
    expect(result.key).toBe('z');
  });
});

describe('history files', () => {
  it('checks a history parsed from JSON lines, with Jepsen-style cas oks', () => {
    const text = [
      '{"process":0,"type":"invoke","f":"write","key":"x","value":0,"time":1}',
      '{"process":0,"type":"ok","f":"write","key":"x","value":0,"time":2}',
      '{"process":1,"type":"invoke","f":"cas","key":"x","value":[0,5],"time":3}',
      '{"process":1,"type":"ok","f":"cas","key":"x","value":[0,5],"time":4}',
      '{"process":2,"type":"invoke","f":"read","key":"x","value":null,"time":5}',
      '{"process":2,"type":"ok","f":"read","key":"x","value":5,"time":6}',
    ].join('\n');
    expect(checkLinearizability(parseHistory(text)).ok).toBe(true);
    expect(checkLinearizability(parseHistory(text.replace('"value":5,"time":6', '"value":0,"time":6'))).ok).toBe(false);
  });

  it('orders events with equal times by their position in the history', () => {
    // All at time 0: in file order the write completes before the read starts.
    const lines = (read: JsonValue): string =>
      [
        { process: 0, type: 'invoke', f: 'write', key: 'x', value: 1, time: 0 },
        { process: 0, type: 'ok', f: 'write', key: 'x', value: 1, time: 0 },
        { process: 1, type: 'invoke', f: 'read', key: 'x', value: null, time: 0 },
        { process: 1, type: 'ok', f: 'read', key: 'x', value: read, time: 0 },
      ]
        .map((e) => JSON.stringify(e))
        .join('\n');
    expect(checkLinearizability(parseHistory(lines(1))).ok).toBe(true);
    expect(checkLinearizability(parseHistory(lines(null))).ok).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

interface PlannedOp {
  readonly f: OpFunction;
  readonly key: string;
  readonly input: number;
  /** Before/after the linearization point, in ns. */
  readonly lead: number;
  readonly lag: number;
  /** What happens to the client's reply. */
  readonly fate: 'ok' | 'info';
}

const plannedOp = fc.record<PlannedOp>({
  f: fc.constantFrom<OpFunction>('read', 'read', 'write', 'cas', 'delete'),
  key: fc.constantFrom('x', 'y'),
  input: fc.integer({ min: 0, max: 3 }),
  lead: fc.integer({ min: 0, max: 60 }),
  lag: fc.integer({ min: 0, max: 60 }),
  fate: fc.constantFrom<'ok' | 'info'>('ok', 'ok', 'ok', 'ok', 'info'),
});

/** Extra operations that never take effect: unknown-outcome writes and refused writes. */
const phantomOp = fc.record({
  key: fc.constantFrom('x', 'y'),
  value: fc.integer({ min: 100, max: 103 }),
  at: fc.integer({ min: 0, max: 400 }),
  fate: fc.constantFrom<'info' | 'fail'>('info', 'fail'),
});

/**
 * Runs the planned operations sequentially at linearization points 10, 20, 30, …, gives each an
 * interval around its point, and lays the events out as a history (one process per operation).
 */
function realize(plan: readonly PlannedOp[], phantoms: readonly { key: string; value: number; at: number; fate: 'info' | 'fail' }[]): HistoryEvent[] {
  const store = new Map<string, JsonValue>();
  const events: { time: number; tie: number; event: HistoryEvent }[] = [];
  const push = (time: number, tie: number, e: Omit<HistoryEvent, 'time'>): void => {
    events.push({ time, tie, event: { ...e, time } });
  };
  plan.forEach((op, i) => {
    const point = 10 * (i + 1);
    const current = store.get(op.key) ?? null;
    let input: JsonValue = null;
    let output: JsonValue = null;
    switch (op.f) {
      case 'read':
        output = current;
        break;
      case 'write':
        input = op.input;
        store.set(op.key, input);
        break;
      case 'delete':
        store.delete(op.key);
        break;
      case 'cas': {
        const expected = i % 2 === 0 ? current : op.input;
        input = [expected, op.input + 10];
        output = expected === current;
        if (output) store.set(op.key, op.input + 10);
        break;
      }
    }
    const call = Math.max(0, point - op.lead);
    push(call, i, { process: i, type: 'invoke', f: op.f, key: op.key, value: input });
    if (op.fate === 'ok') push(point + op.lag, i, { process: i, type: 'ok', f: op.f, key: op.key, value: output });
    else if (op.f !== 'read' || i % 3 === 0) push(point + op.lag, i, { process: i, type: 'info', f: op.f, key: op.key, value: input });
  });
  phantoms.forEach((ph, j) => {
    const process = 1000 + j;
    push(ph.at, process, { process, type: 'invoke', f: 'write', key: ph.key, value: ph.value });
    push(ph.at + 5, process, { process, type: ph.fate, f: 'write', key: ph.key, value: ph.value });
  });
  events.sort((a, b) => a.time - b.time || a.tie - b.tie);
  return events.map((e) => e.event);
}

describe('properties', () => {
  it('a sequential register execution with overlapping intervals around it is linearizable, and a read of a never-written value is not', () => {
    fc.assert(
      fc.property(
        fc.array(plannedOp, { minLength: 1, maxLength: 40 }),
        fc.array(phantomOp, { maxLength: 4 }),
        fc.nat(),
        (plan, phantoms, which) => {
          const ops = pairOperations(realize(plan, phantoms));
          const result = checkLinearizability(ops);
          if (!result.ok) throw new Error(result.explanation);

          const reads = ops.filter((op) => op.f === 'read' && op.status === 'ok');
          if (reads.length === 0) return;
          const victim = reads[which % reads.length] as Operation;
          const mutated = ops.map((op) => (op === victim ? { ...op, output: 'never-written' } : op));
          const rejected = checkLinearizability(mutated);
          expect(rejected.verdict).toBe('not-linearizable');
          expect(rejected.key).toBe(victim.key);
        },
      ),
      { numRuns: 300 },
    );
  });

  /** Tiny arbitrary histories, linearizable or not, to compare the search with brute force. */
  const tinyOp = fc.record({
    f: fc.constantFrom<OpFunction>('read', 'write', 'cas', 'delete'),
    key: fc.constantFrom('x', 'x', 'y'),
    a: fc.constantFrom<JsonValue>(null, 1, 2),
    b: fc.constantFrom<JsonValue>(1, 2),
    casApplied: fc.boolean(),
    call: fc.integer({ min: 0, max: 30 }),
    length: fc.integer({ min: 0, max: 30 }),
    status: fc.constantFrom<'ok' | 'info' | 'fail'>('ok', 'ok', 'ok', 'info', 'fail'),
  });

  type TinySpec = typeof tinyOp extends fc.Arbitrary<infer T> ? T : never;

  function tinyHistory(spec: readonly TinySpec[]): Operation[] {
    const events: { time: number; tie: number; event: HistoryEvent }[] = [];
    spec.forEach((s, i) => {
      const input: JsonValue = s.f === 'write' ? s.b : s.f === 'cas' ? [s.a, s.b] : null;
      const output: JsonValue = s.f === 'read' ? s.a : s.f === 'cas' ? s.casApplied : s.f === 'write' ? s.b : null;
      events.push({ time: s.call, tie: 2 * i, event: { process: i, type: 'invoke', f: s.f, key: s.key, value: input, time: s.call } });
      const end = s.call + s.length;
      events.push({ time: end, tie: 2 * i + 1, event: { process: i, type: s.status, f: s.f, key: s.key, value: s.status === 'ok' ? output : input, time: end } });
    });
    events.sort((p, q) => p.time - q.time || p.tie - q.tie);
    return pairOperations(events.map((e) => e.event));
  }

  const agreesWithBruteForce = (spec: readonly TinySpec[]): boolean => {
    const ops = tinyHistory(spec);
    const expected = bruteForceLinearizable(ops);
    const result = checkLinearizability(ops);
    const unpruned = checkLinearizability(ops, { pruneUnobservable: false });
    expect(result.verdict).toBe(expected ? 'linearizable' : 'not-linearizable');
    expect(unpruned.verdict).toBe(result.verdict);
    return expected;
  };

  it('agrees with a brute-force search on tiny arbitrary histories', () => {
    let rejected = 0;
    fc.assert(
      fc.property(fc.array(tinyOp, { minLength: 1, maxLength: 7 }), (spec) => {
        if (!agreesWithBruteForce(spec)) rejected++;
      }),
      { numRuns: 2000 },
    );
    expect(rejected).toBeGreaterThan(100); // the generator produces both verdicts
  });

  it('agrees with a brute-force search on histories full of unknown outcomes', () => {
    const infoHeavy = tinyOp.map((op) => ({ ...op, status: op.status === 'fail' ? ('info' as const) : op.status }));
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(infoHeavy, { minLength: 2, maxLength: 8 }), (spec) => {
        if (agreesWithBruteForce(spec)) accepted++;
      }),
      { numRuns: 1500 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  it('agrees with a brute-force search on small simulated histories with corrupted results', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.nat(), fc.constantFrom<JsonValue>(null, 1, 2, 3, true, false), (seed, which, replacement) => {
        const { recorder } = simulateRegisters({ seed, operations: 8, keys: 1, processes: 3, infoRate: 0.4 });
        const ops = recorder.operations();
        const victim = ops[which % ops.length] as Operation;
        const mutated = ops.map((op) => (op === victim && op.status === 'ok' && op.f !== 'write' ? { ...op, output: replacement } : op));
        const expected = bruteForceLinearizable(mutated);
        expect(checkLinearizability(mutated).ok).toBe(expected);
      }),
      { numRuns: 1500 },
    );
  });

  it('pruning only removes unknown-outcome mutations', () => {
    fc.assert(
      fc.property(fc.array(tinyOp, { minLength: 1, maxLength: 7 }), (spec) => {
        const ops = tinyHistory(spec);
        const kept = new Set(pruneUnobservable(ops));
        for (const op of ops) if (!kept.has(op)) expect(op.status).toBe('info');
      }),
    );
  });
});

describe('scale', () => {
  it('checks a ~10k-operation history over 10 keys and 5 processes', () => {
    const { recorder } = simulateRegisters({ seed: 7, operations: 10_000, keys: 10, processes: 5, infoRate: 0.02, failRate: 0.02 });
    const ops = recorder.operations();
    expect(ops.length).toBe(10_000);
    const result = checkLinearizability(ops);
    if (!result.ok) throw new Error(result.explanation);
    expect(result.keys.length).toBe(10);
    expect(result.steps).toBeGreaterThan(0);
  });

  it('checks a single hot key with 20 clients and many timeouts', () => {
    const { recorder } = simulateRegisters({ seed: 3, operations: 10_000, keys: 1, processes: 20, infoRate: 0.1, failRate: 0.02 });
    const result = checkLinearizability(recorder.operations());
    if (!result.ok) throw new Error(result.explanation);
    // Unknown outcomes pile up on one key here; the search must stay near-linear, not explode.
    expect(result.steps).toBeLessThan(1_000_000);
  });

  it('finds a single corrupted read in a large history', () => {
    const { recorder } = simulateRegisters({ seed: 11, operations: 5_000, keys: 10, processes: 5 });
    const ops = recorder.operations();
    const victim = ops.filter((op) => op.f === 'read' && op.status === 'ok')[1000] as Operation;
    const mutated = ops.map((op) => (op === victim ? { ...op, output: -1 } : op));
    const result = checkLinearizability(mutated);
    expect(result.verdict).toBe('not-linearizable');
    expect(result.key).toBe(victim.key);
    expect(result.partialLinearization?.blocked.id).toBe(victim.id);
  });
});
