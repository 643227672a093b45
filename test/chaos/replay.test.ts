import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runOne } from '../../cli/chaos/campaign.js';
import { DEFAULT_OPTIONS, type CampaignOptions } from '../../cli/chaos/types.js';
import { parseHistory } from '../../raft/check/index.js';

describe('a simulated run replays from its seed', () => {
  const options: CampaignOptions = { ...DEFAULT_OPTIONS, runs: 1, seed: 31, durationMs: 2_000, nemeses: ['kill', 'pause', 'partition', 'lossy', 'member'] };

  it('the same seed gives the same trace hash, history and faults', async () => {
    const dirA = mkdtempSync(join(tmpdir(), 'chaos-replay-'));
    const dirB = mkdtempSync(join(tmpdir(), 'chaos-replay-'));
    try {
      const a = await runOne({ ...options, historyDir: dirA }, 0);
      const b = await runOne({ ...options, historyDir: dirB }, 0);
      expect(a.traceHash).toBeDefined();
      expect(b.traceHash).toBe(a.traceHash);
      expect(b.historyHash).toBe(a.historyHash);
      expect(b.nemesis).toEqual(a.nemesis);
      expect(b.ops).toBe(a.ops);
      const textA = readFileSync(a.historyFile!, 'utf8');
      expect(readFileSync(b.historyFile!, 'utf8')).toBe(textA);
      // The file is a well-formed Jepsen-style history the checkers read back.
      const ops = parseHistory(textA);
      expect(ops.length).toBe(a.ops);
      expect(a.nemesis.length).toBeGreaterThan(0);
    } finally {
      rmSync(dirA, { recursive: true, force: true });
      rmSync(dirB, { recursive: true, force: true });
    }
  });

  it('run i of a campaign is the run with seed base + i', async () => {
    const third = await runOne({ ...options, seed: 29 }, 2);
    const alone = await runOne({ ...options, seed: 31 }, 0);
    expect(third.seed).toBe(31);
    expect(third.traceHash).toBe(alone.traceHash);
    const other = await runOne({ ...options, seed: 32 }, 0);
    expect(other.traceHash).not.toBe(alone.traceHash);
  });
});
