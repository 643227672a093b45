// Helpers shared by the history-checker suites: a scripted recorder, a seeded PRNG, a register
// simulation that produces realistic concurrent histories, and a brute-force linearizability
// oracle for tiny histories.

import {
  HistoryRecorder,
  type JsonValue,
  type OpFunction,
  type Operation,
  canonicalValue,
  precedes,
  sameValue,
} from '../../raft/check/index.js';
import { mulberry32 } from '../../raft/core/testing.js';

/**
 * Scripts a history one whole operation at a time, each with its call and return times (ns).
 * `ret` may be 'info' (never completes: unknown outcome) or 'fail' (refused at once). Events
 * are replayed into a HistoryRecorder in time order; equal times keep script order.
 */
export class Timeline {
  private readonly script: { time: number; seq: number; run: (r: HistoryRecorder) => void }[] = [];
  private readonly ids: number[] = [];

  write(p: number, key: string, value: JsonValue, call: number, ret: number | 'info' | 'fail'): this {
    return this.op(p, 'write', key, value, call, ret, undefined);
  }
  read(p: number, key: string, got: JsonValue, call: number, ret: number): this {
    return this.op(p, 'read', key, null, call, ret, got);
  }
  cas(p: number, key: string, expected: JsonValue, next: JsonValue, applied: boolean, call: number, ret: number | 'info' | 'fail'): this {
    return this.op(p, 'cas', key, [expected, next], call, ret, applied);
  }
  del(p: number, key: string, call: number, ret: number | 'info' | 'fail'): this {
    return this.op(p, 'delete', key, null, call, ret, undefined);
  }

  ops(): Operation[] {
    return this.recorder().operations();
  }

  recorder(): HistoryRecorder {
    let now = 0;
    const recorder = new HistoryRecorder(() => now);
    const events = [...this.script].sort((a, b) => a.time - b.time || a.seq - b.seq);
    for (const e of events) {
      now = e.time;
      e.run(recorder);
    }
    return recorder;
  }

  private op(p: number, f: OpFunction, key: string, input: JsonValue, call: number, ret: number | 'info' | 'fail', output: JsonValue | undefined): this {
    const n = this.ids.push(-1) - 1;
    const seq = this.script.length;
    this.script.push({ time: call, seq, run: (r) => { this.ids[n] = r.invoke(p, f, key, input); } });
    if (ret === 'fail') this.script.push({ time: call, seq: seq + 1, run: (r) => r.fail(this.ids[n] as number) });
    else if (ret !== 'info') this.script.push({ time: ret, seq: seq + 1, run: (r) => r.ok(this.ids[n] as number, output) });
    return this;
  }
}

/** The seeded PRNG of the Raft test harness (mulberry32). */
export const prng = mulberry32;

export interface SimulationOptions {
  readonly seed: number;
  readonly operations: number;
  readonly keys: number;
  readonly processes: number;
  /** Probability that an operation ends with an unknown outcome (it may or may not apply). */
  readonly infoRate?: number;
  /** Probability that an operation is refused before it applies. */
  readonly failRate?: number;
}

/**
 * Simulates clients of a correct (linearizable) store: each operation applies atomically at
 * some instant between its invocation and completion. Returns the recorder and the final store.
 */
export function simulateRegisters(o: SimulationOptions): { recorder: HistoryRecorder; store: Map<string, JsonValue> } {
  const rand = prng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  let time = 0;
  const recorder = new HistoryRecorder(() => time);
  const store = new Map<string, JsonValue>();
  const keys = Array.from({ length: o.keys }, (_, k) => `k${k}`);
  interface Running {
    readonly id: number;
    readonly f: OpFunction;
    readonly key: string;
    readonly input: JsonValue;
    applied: boolean;
    result: JsonValue;
  }
  const running: (Running | undefined)[] = new Array(o.processes).fill(undefined);
  let started = 0;
  let nextValue = 1;
  const lastSeen = new Map<string, JsonValue>();
  while (started < o.operations || running.some((r) => r !== undefined)) {
    time += 1 + Math.floor(rand() * 3);
    const p = Math.floor(rand() * o.processes);
    const r = running[p];
    if (r === undefined) {
      if (started >= o.operations) continue;
      started++;
      const key = pick(keys);
      const f = pick<OpFunction>(['read', 'read', 'write', 'write', 'cas', 'delete']);
      let input: JsonValue = null;
      if (f === 'write') input = nextValue++;
      if (f === 'cas') {
        // Optimistic concurrency: expect what this process last saw, which may be stale.
        const seen = lastSeen.get(`${p}/${key}`);
        input = [rand() < 0.5 || seen === undefined ? (store.get(key) ?? null) : seen, nextValue++];
      }
      running[p] = { id: recorder.invoke(p, f, key, input), f, key, input, applied: false, result: null };
      continue;
    }
    if (!r.applied) {
      if (rand() < (o.failRate ?? 0)) {
        recorder.fail(r.id);
        running[p] = undefined;
        continue;
      }
      if (rand() < (o.infoRate ?? 0) / 2) {
        recorder.info(r.id); // crashed before applying: never happens
        running[p] = undefined;
        continue;
      }
      r.applied = true;
      r.result = applyToStore(store, r.f, r.key, r.input);
      continue;
    }
    if (rand() < (o.infoRate ?? 0) / 2) {
      recorder.info(r.id); // applied, but the reply was lost
    } else {
      recorder.ok(r.id, r.result);
      const seenKey = `${p}/${r.key}`;
      if (r.f === 'read') lastSeen.set(seenKey, r.result);
      if (r.f === 'write') lastSeen.set(seenKey, r.input);
      if (r.f === 'delete') lastSeen.set(seenKey, null);
      if (r.f === 'cas' && r.result === true) lastSeen.set(seenKey, (r.input as [JsonValue, JsonValue])[1]);
    }
    running[p] = undefined;
  }
  return { recorder, store };
}

function applyToStore(store: Map<string, JsonValue>, f: OpFunction, key: string, input: JsonValue): JsonValue {
  const current = store.get(key) ?? null;
  switch (f) {
    case 'read':
      return current;
    case 'write':
      store.set(key, input);
      return input;
    case 'delete':
      store.delete(key);
      return null;
    case 'cas': {
      const [e, n] = input as [JsonValue, JsonValue];
      if (!sameValue(current, e)) return false;
      if (n === null) store.delete(key);
      else store.set(key, n);
      return true;
    }
  }
}

/**
 * Brute force: tries every order. Ok operations must all appear; unknown-outcome mutations may
 * appear or not; fails and unknown reads are ignored. Only for a handful of operations.
 */
export function bruteForceLinearizable(ops: readonly Operation[]): boolean {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    if (op.status === 'fail' || (op.f === 'read' && op.status !== 'ok')) continue;
    byKey.set(op.key, [...(byKey.get(op.key) ?? []), op]);
  }
  for (const keyOps of byKey.values()) if (!searchAll(keyOps)) return false;
  return true;
}

function searchAll(ops: readonly Operation[]): boolean {
  const placed = new Array<boolean>(ops.length).fill(false);
  const required = ops.filter((op) => op.status === 'ok').length;
  const failed = new Set<string>(); // (placed set, state) pairs already known to fail
  const dfs = (state: JsonValue, placedRequired: number): boolean => {
    if (placedRequired === required) return true;
    const memo = `${placed.map((p) => (p ? 1 : 0)).join('')}|${canonicalValue(state)}`;
    if (failed.has(memo)) return false;
    for (let i = 0; i < ops.length; i++) {
      if (placed[i]) continue;
      const op = ops[i] as Operation;
      const ready = ops.every((q, j) => placed[j] || q.status !== 'ok' || !precedes(q, op));
      if (!ready) continue;
      const after = modelStep(op, state);
      if (after === undefined) continue;
      placed[i] = true;
      const found = dfs(after.state, placedRequired + (op.status === 'ok' ? 1 : 0));
      placed[i] = false;
      if (found) return true;
    }
    failed.add(memo);
    return false;
  };
  return dfs(null, 0);
}

function modelStep(op: Operation, state: JsonValue): { state: JsonValue } | undefined {
  switch (op.f) {
    case 'read':
      return sameValue(op.output, state) ? { state } : undefined;
    case 'write':
      return { state: op.input };
    case 'delete':
      return { state: null };
    case 'cas': {
      const [e, n] = op.input as [JsonValue, JsonValue];
      const matches = canonicalValue(e) === canonicalValue(state);
      if (op.status === 'info') return { state: matches ? n : state };
      if (op.output === false) return matches ? undefined : { state };
      return matches ? { state: n } : undefined;
    }
  }
}
