/** Controllers and the scheduler read time and randomness only through what they are given. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe as suite, expect, it } from 'vitest';

const BANNED = /Date\.now|new Date\(|Math\.random|setTimeout|setInterval|performance\.now|hrtime/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

suite('controllers purity', () => {
  it('no clock reads, timers or randomness of their own in controllers/', () => {
    const root = join(import.meta.dirname, '..', '..', 'controllers');
    const offenders: string[] = [];
    for (const f of files(root)) {
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (BANNED.test(line)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(offenders).toEqual([]);
  });
});
