import { describe, expect, it } from 'vitest';
import {
  HistoryFormatError,
  HistoryRecorder,
  describeOperation,
  pairOperations,
  parseHistory,
  parseJsonLines,
  precedes,
  toJsonLines,
} from '../../raft/check/index.js';

function recorderAt(): { recorder: HistoryRecorder; at: (t: number) => HistoryRecorder } {
  let now = 0;
  const recorder = new HistoryRecorder(() => now);
  return {
    recorder,
    at: (t: number) => {
      now = t;
      return recorder;
    },
  };
}

describe('HistoryRecorder', () => {
  it('records invocations and completions with the injected clock', () => {
    const { recorder, at } = recorderAt();
    const w = at(100).invoke(0, 'write', 'x', 1);
    const r = at(150).invoke(1, 'read', 'x');
    at(200).ok(w);
    at(250).ok(r, 1);
    expect(recorder.events()).toEqual([
      { process: 0, type: 'invoke', f: 'write', key: 'x', value: 1, time: 100 },
      { process: 1, type: 'invoke', f: 'read', key: 'x', value: null, time: 150 },
      { process: 0, type: 'ok', f: 'write', key: 'x', value: 1, time: 200 },
      { process: 1, type: 'ok', f: 'read', key: 'x', value: 1, time: 250 },
    ]);
    expect(recorder.openCount).toBe(0);
  });

  it('pairs operations, with unknown outcomes returning at infinity', () => {
    const { recorder, at } = recorderAt();
    const c = at(1).invoke(0, 'cas', 'x', [null, 'a']);
    const d = at(2).invoke(1, 'delete', 'x');
    const w = at(3).invoke(2, 'write', 'x', 'b');
    at(4).invoke(3, 'write', 'x', 'never completes');
    at(5).ok(c, false);
    at(6).fail(d);
    at(7).info(w);
    const ops = recorder.operations();
    expect(ops.map((op) => [op.f, op.status, op.output, op.call, op.ret])).toEqual([
      ['cas', 'ok', false, 1, 5],
      ['delete', 'fail', null, 2, 6],
      ['write', 'info', null, 3, Infinity],
      ['write', 'info', null, 4, Infinity],
    ]);
    expect(ops.map((op) => op.id)).toEqual([0, 1, 2, 3]);
    expect(ops[3]?.completeIndex).toBeNull();
    expect(ops[0]?.input).toEqual([null, 'a']);
  });

  it('defaults: cas ok means applied, write ok echoes its value', () => {
    const { recorder, at } = recorderAt();
    const c = at(1).invoke(0, 'cas', 'x', [1, 2]);
    const w = at(2).invoke(1, 'write', 'x', 3);
    at(3).ok(c);
    at(4).ok(w);
    expect(recorder.operations().map((op) => op.output)).toEqual([true, 3]);
  });

  it('refuses misuse', () => {
    const { at } = recorderAt();
    const id = at(1).invoke(0, 'read', 'x');
    expect(() => at(2).invoke(0, 'read', 'y')).toThrow(/process 0 .* still open/);
    expect(() => at(2).ok(id)).toThrow(/must carry the value read/);
    at(3).ok(id, null);
    expect(() => at(4).ok(id, null)).toThrow(/not open/);
    expect(() => at(4).invoke(1, 'cas', 'x', 5)).toThrow(/\[expected, new\]/);
    expect(() => at(1).invoke(2, 'read', 'x')).toThrow(/clock went backwards/);
  });

  it('round-trips through JSON lines', () => {
    const { recorder, at } = recorderAt();
    const a = at(10).invoke(0, 'write', 'k', { nested: [1, 'two'] });
    const b = at(11).invoke(1, 'cas', 'k', [{ nested: [1, 'two'] }, null]);
    at(12).ok(a);
    at(13).info(b);
    const text = recorder.toJsonLines();
    expect(text.split('\n')).toHaveLength(5); // four lines and the final newline
    expect(parseJsonLines(text)).toEqual(recorder.events());
    expect(parseHistory(text)).toEqual(recorder.operations());
    expect(toJsonLines(parseJsonLines(text))).toBe(text);
  });
});

describe('parsing', () => {
  const line = (o: object): string => JSON.stringify(o);
  const ok = { process: 0, type: 'invoke', f: 'read', key: 'x', value: null, time: 1 };

  it('skips blank lines and accepts a missing value as null', () => {
    const text = `\n${line({ process: 0, type: 'invoke', f: 'read', key: 'x', time: 1 })}\n\n`;
    expect(parseJsonLines(text)).toEqual([ok]);
  });

  it.each([
    ['{not json', /line 1: not valid JSON/],
    ['[1,2]', /line 1: expected a JSON object/],
    [line({ ...ok, process: 'p1' }), /line 1: "process" must be an integer/],
    [line({ ...ok, type: 'okay' }), /line 1: "type" must be one of invoke, ok, fail, info/],
    [line({ ...ok, f: 'append' }), /line 1: "f" must be one of read, write, cas, delete/],
    [line({ ...ok, key: 7 }), /line 1: "key" must be a string/],
    [line({ ...ok, time: '12' }), /line 1: "time" must be a finite number/],
    [line({ ...ok, f: 'cas', value: 3 }), /line 1: cas invoke value must be \[expected, new\]/],
  ])('rejects %s', (text, message) => {
    expect(() => parseJsonLines(text)).toThrow(HistoryFormatError);
    expect(() => parseJsonLines(text)).toThrow(message);
  });

  it('names the line of a malformed event further down', () => {
    const text = [line(ok), '', line({ ...ok, process: 1, time: -Infinity })].join('\n');
    expect(() => parseJsonLines(text)).toThrow(/line 3: "time"/);
  });

  it('names the lines of events that do not pair', () => {
    const invoke = line(ok);
    const done = line({ ...ok, type: 'ok', value: 1, time: 2 });
    expect(() => parseHistory([invoke, invoke].join('\n'))).toThrow(/line 2: process 0 invoked read while its read from line 1 is still open/);
    expect(() => parseHistory(done)).toThrow(/line 1: ok read of process 0 has no open invocation/);
    expect(() => parseHistory([invoke, line({ ...ok, type: 'ok', key: 'y', time: 2 })].join('\n'))).toThrow(/does not match the open invocation/);
    expect(() => parseHistory([line({ ...ok, time: 5 }), done].join('\n'))).toThrow(/completion time 2 is before its invocation time 5/);
  });

  it('pairs events from other sources by position', () => {
    const ops = pairOperations(parseJsonLines([line(ok), line({ ...ok, type: 'ok', value: 'v', time: 3 })].join('\n')));
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ status: 'ok', output: 'v', invokeIndex: 0, completeIndex: 1 });
  });
});

describe('real-time order and descriptions', () => {
  it('orders equal times by position in the history', () => {
    const { recorder, at } = recorderAt();
    const a = at(5).invoke(0, 'write', 'x', 1);
    at(5).ok(a);
    const b = at(5).invoke(1, 'read', 'x');
    at(5).ok(b, 1);
    const [w, r] = recorder.operations();
    expect(precedes(w!, r!)).toBe(true);
    expect(precedes(r!, w!)).toBe(false);
  });

  it('describes operations on one line', () => {
    const { recorder, at } = recorderAt();
    const a = at(1).invoke(3, 'cas', 'x', ['a', 'b']);
    at(9).ok(a, false);
    at(10).invoke(4, 'write', 'x', 'c');
    const [cas, write] = recorder.operations();
    expect(describeOperation(cas!)).toBe('#0 p3 cas "a" -> "b" failed [1, 9]');
    expect(describeOperation(write!)).toBe('#1 p4 write "c" (outcome unknown) [10, ∞]');
  });
});
