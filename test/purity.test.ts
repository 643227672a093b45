import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The deterministic cores (Raft, the MVCC store, checkers, API objects, reconcilers, the
 * scheduler) never read a clock or randomness, and never start timers of their own: all of it
 * comes through the actor context, so the simulator can replay any run from its seed.
 */
const PURE_DIRS = ['raft', 'api', 'controllers'];
const FORBIDDEN = /Math\.random|Date\.now|new Date\(\s*\)|performance\.now|setTimeout|setInterval|setImmediate|hrtime|worker_threads/;

function sources(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function offending(files: string[]): string[] {
  const hits: string[] = [];
  for (const file of files) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '');
        if (FORBIDDEN.test(code) && !/^\s*\*/.test(code)) hits.push(`${file}:${i + 1}: ${line.trim()}`);
      });
  }
  return hits;
}

describe('pure layers', () => {
  it('read no clock or randomness and start no timers', () => {
    const files = PURE_DIRS.flatMap(sources);
    expect(files.length).toBeGreaterThan(10);
    expect(offending(files)).toEqual([]);
  });

  it('the check itself catches a clock read', () => {
    expect(FORBIDDEN.test('const t = Date.now();')).toBe(true);
    expect(FORBIDDEN.test('const r = Math.random();')).toBe(true);
    expect(FORBIDDEN.test('const now = ctx.now();')).toBe(false);
  });
});
