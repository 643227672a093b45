import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** Runs `npm run bench -- NAME --smoke --json` the way a user would and returns its last line. */
async function bench(name: string): Promise<Record<string, unknown>> {
  const { stdout } = await run('node', ['dist/bench/main.js', name, '--smoke', '--json'], { timeout: 120_000, maxBuffer: 1 << 24 });
  const lines = stdout.trim().split('\n');
  expect(lines.length).toBeGreaterThan(3); // tables come first
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

function expectPositiveNumbers(result: Record<string, unknown>, keys: string[]): void {
  for (const key of keys) {
    expect(typeof result[key], key).toBe('number');
    expect(result[key] as number, key).toBeGreaterThan(0);
  }
}

describe('benchmarks keep their output contract', () => {
  it('transport prints a table and a final JSON line with every promised field', async () => {
    const r = await bench('transport');
    expect(r.bench).toBe('transport');
    expectPositiveNumbers(r, [
      'msgs_per_s_100b_coalesced',
      'msgs_per_s_100b_single',
      'raw_msgs_per_s_100b_coalesced',
      'ratio_to_raw',
      'ask_p50_us',
      'ask_p99_us',
      'ask_p50_us_no_polling',
      'raw_msgpack_msgs_per_s_100b_coalesced',
      'ratio_to_raw_msgpack',
      'sim_events_per_s',
    ]);
  });

  it('raft prints a table and a final JSON line with every promised field', async () => {
    const r = await bench('raft');
    expect(r.bench).toBe('raft');
    expectPositiveNumbers(r, [
      'durable_writes_per_s_3peers_100b',
      'memory_writes_per_s_3peers_100b',
      'p50_ms_1client_durable',
      'p99_ms_1client_durable',
      'failover_ms_median',
      'failover_ms_max',
      'ceiling_msgs_per_s',
      'ratio_to_ceiling',
      'rss_mb',
      'rss_mb_after_fill',
      'cpu_us_per_write_3peers_100b',
      'cpu_us_per_write_leader',
      'cpu_us_per_write_follower',
      'cpu_us_per_write_client',
      'cpu_bound_writes_per_s',
    ]);
    // The saturating cases report every trial; the headline is the best of them.
    for (const kind of ['durable', 'memory']) {
      const trials = r[`${kind}_trials_3peers_100b`] as number[];
      expect(Array.isArray(trials) && trials.length >= 1, kind).toBe(true);
      expect(Math.max(...trials), kind).toBe(r[`${kind}_writes_per_s_3peers_100b`]);
    }
    expect(['batch', 'normal', null]).toContain(r.sched_policy);
    // The parts are the process's CPU split by thread: they add up to the total.
    const parts = ['leader', 'follower', 'follower', 'client', 'other'].reduce((sum, k) => sum + (r[`cpu_us_per_write_${k}`] as number), 0);
    expect(Math.abs(parts - (r.cpu_us_per_write_3peers_100b as number))).toBeLessThan(0.1 * (r.cpu_us_per_write_3peers_100b as number) + 0.5);
  });

  it('apiserver prints a table and a final JSON line with every promised field', async () => {
    const r = await bench('apiserver');
    expect(r.bench).toBe('apiserver');
    expectPositiveNumbers(r, ['create_p50_ms_at_200rps', 'create_p99_ms_at_200rps', 'create_p99_ms_at_1000rps', 'list_10k_pods_ms', 'watchers']);
    expect(r.watch_events_missed).toBe(0);
  });

  it('controlplane prints a table and a final JSON line with every promised field', async () => {
    const r = await bench('controlplane');
    expect(r.bench).toBe('controlplane');
    expectPositiveNumbers(r, ['sched_pods_per_s_100_nodes', 'sched_pods_per_s_1000_nodes', 'deploy_1k_available_s', 'rss_mb']);
    expect(typeof r.deploy_10k_available_s).toBe('number');
  });

  it('an unknown benchmark name is refused with the list of names', async () => {
    const err = await run('node', ['dist/bench/main.js', 'nope']).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain('transport|raft|apiserver|controlplane');
  });
});
