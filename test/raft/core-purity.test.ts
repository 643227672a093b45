// The Raft core is deterministic and free of I/O: no clocks, global randomness, timers,
// promises, workers or process state, and it imports nothing but its own modules.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = join(import.meta.dirname, '../../raft/core');
const FORBIDDEN: [RegExp, string][] = [
  [/\bDate\b/, 'Date'],
  [/Math\.random/, 'Math.random'],
  [/performance\./, 'performance'],
  [/\bset(Timeout|Interval|Immediate)\b/, 'timers'],
  [/\bqueueMicrotask\b/, 'queueMicrotask'],
  [/\bPromise\b/, 'Promise'],
  [/\basync\b|\bawait\b/, 'async/await'],
  [/worker_threads|\bWorker\b|postMessage|MessageChannel/, 'worker APIs'],
  [/\bprocess\./, 'process'],
  [/\brequire\(/, 'require'],
];

describe('raft/core purity', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));

  it('has sources to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  for (const f of files) {
    it(`${f} uses no clock, global randomness, timer, promise or worker API`, () => {
      const src = readFileSync(join(DIR, f), 'utf8');
      for (const [re, what] of FORBIDDEN) expect(re.test(src), `${f} mentions ${what}`).toBe(false);
    });

    it(`${f} imports only sibling modules`, () => {
      const src = readFileSync(join(DIR, f), 'utf8');
      for (const m of src.matchAll(/from\s+'([^']+)'/g)) expect(m[1]).toMatch(/^\.\/[a-z-]+\.js$/);
    });
  }
});
