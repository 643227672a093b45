import { describe, expect, it } from 'vitest';
import { runCampaign, runOne, summarize } from '../../cli/chaos/campaign.js';
import { runLine, summaryLines, failureDetail } from '../../cli/chaos/report.js';
import { DEFAULT_OPTIONS, type CampaignOptions, type RunResult } from '../../cli/chaos/types.js';

/** Prints a failing run with its replay command, so a red test names its seed. */
function explain(results: RunResult[], options: CampaignOptions): string {
  return results
    .filter((r) => r.violations.length > 0)
    .map((r) => `${runLine(r)}\n${failureDetail(r, options)}`)
    .join('\n');
}

describe('fault campaign, a short slice', () => {
  it('40 simulated runs under mixed faults (kill, pause, partition, lossy, membership) keep every check', async () => {
    const mixes: CampaignOptions['nemeses'][] = [
      ['kill', 'pause', 'partition', 'lossy'],
      ['kill', 'pause', 'partition', 'lossy', 'member'],
      ['partition', 'lossy'],
      ['kill', 'member'],
    ];
    const all: RunResult[] = [];
    let failures = '';
    for (const [i, nemeses] of mixes.entries()) {
      const options: CampaignOptions = { ...DEFAULT_OPTIONS, runs: 10, seed: 100 + 1000 * i, durationMs: 2_500, nemeses };
      const { results } = await runCampaign(options);
      all.push(...results);
      failures += explain(results, options);
    }
    const summary = summarize({}, all, 0);
    console.log(summaryLines(summary).join('\n'));
    expect(failures).toBe('');
    expect(summary.runs).toBe(40);
    expect(summary.violations).toBe(0);
    expect(summary.lost_acked_writes).toBe(0);
    // The faults really bit: leaders changed, and clients saw outages and recoveries.
    expect(summary.elections).toBeGreaterThan(summary.runs);
    expect(summary.ok).toBeGreaterThan(10_000);
    expect(all.every((r) => r.recoveryMs !== null)).toBe(true);
  });

  it('5 simulated runs on 5 peers with small snapshots (followers catch up by InstallSnapshot)', async () => {
    const options: CampaignOptions = {
      ...DEFAULT_OPTIONS,
      runs: 5,
      seed: 7_000,
      peers: 5,
      durationMs: 2_500,
      nemeses: ['kill', 'partition', 'lossy', 'member'],
      peerArgs: { snapshotEveryEntries: 30, keepEntries: 10, snapshotChunkBytes: 2_048 },
    };
    const { results, summary } = await runCampaign(options);
    console.log(summaryLines(summary).join('\n'));
    expect(explain(results, options)).toBe('');
    expect(results.reduce((n, r) => n + r.snapshotsInstalled, 0)).toBeGreaterThan(0);
  });

  // Real crashes included: a crashed worker exits at a turn boundary (never inside an lmdb
  // transaction, which used to abort the whole process about one run in ten).
  it('one run on real worker threads with lmdb (crashes, pauses, partitions, lossy links) keeps every check', async () => {
    const options: CampaignOptions = { ...DEFAULT_OPTIONS, mode: 'threads', runs: 1, seed: 42, durationMs: 3_000, nemeses: ['kill', 'pause', 'partition', 'lossy'] };
    const r = await runOne(options, 0);
    console.log(runLine(r));
    expect(explain([r], options)).toBe('');
    expect(r.ok).toBeGreaterThan(20);
    expect(r.recoveryMs).not.toBeNull();
  });
});
