// Campaigns must catch deliberate bugs. Each planted bug (PeerArgs.plantedBug, test-only) runs
// under a campaign of seeded runs until it was caught a few times or a bound was reached; the
// test reports the detection rate, requires a detection within the bound, and runs the same
// seeds without the bug, which must pass (so what was caught is the bug). Longer campaigns
// (`npm run chaos -- --plant NAME`) measure the rates: see the README.
import { describe, expect, it } from 'vitest';
import { runCampaign, runOne, summarize } from '../../cli/chaos/campaign.js';
import { DEFAULT_OPTIONS, type CampaignOptions, type CheckName, type PlantedBug, type RunResult } from '../../cli/chaos/types.js';

interface Case {
  bug: PlantedBug;
  nemeses: CampaignOptions['nemeses'];
  /** The bound: the bug must be caught within this many seeded runs. */
  maxRuns: number;
  seed: number;
  /** Checks expected to fire. */
  caughtBy: CheckName[];
}

/** The campaign stops once it caught the bug this many times (or at maxRuns). */
const ENOUGH_DETECTIONS = 2;

const cases: Case[] = [
  // A follower answering linearizable reads from its own state returns stale values.
  { bug: 'stale-read', nemeses: ['kill', 'pause', 'partition', 'lossy'], maxRuns: 30, seed: 1, caughtBy: ['linearizability', 'lost-writes'] },
  // Acknowledged before commit: an isolated or crashed leader loses acknowledged writes.
  { bug: 'early-ack', nemeses: ['kill', 'pause', 'partition', 'lossy'], maxRuns: 30, seed: 1, caughtBy: ['linearizability', 'lost-writes'] },
  // A voter that forgets its vote across a restart can elect two leaders in one term; the
  // `election` nemesis contests elections through a bridge peer that keeps restarting.
  { bug: 'forget-vote', nemeses: ['election'], maxRuns: 150, seed: 1, caughtBy: ['election-safety'] },
];

describe('campaigns detect planted bugs', () => {
  for (const c of cases) {
    it(`${c.bug} is caught within ${c.maxRuns} seeded runs (${c.nemeses.join('+')}), and the same seeds pass without it`, async () => {
      const base: CampaignOptions = { ...DEFAULT_OPTIONS, runs: 1, seed: c.seed, durationMs: 2_500, nemeses: c.nemeses, watch: false };
      const planted: RunResult[] = [];
      for (let i = 0; i < c.maxRuns && planted.filter(caught).length < ENOUGH_DETECTIONS; i++) planted.push(await runOne({ ...base, plant: c.bug }, i));
      const detected = planted.filter(caught);
      const checks = new Set(detected.flatMap((r) => r.violations.map((v) => v.check)));
      console.log(
        `planted ${c.bug}: detected in ${detected.length} of ${planted.length} runs (${Math.round((100 * detected.length) / planted.length)}%), ` +
          `at seeds ${detected.map((r) => r.seed).join(', ')}, by ${[...checks].join(', ')}`,
      );
      expect(detected.length).toBeGreaterThan(0);
      expect(c.caughtBy.some((check) => checks.has(check))).toBe(true);
      expect(summarize({ plant: c.bug }, planted, 0).planted_detected).toBe(detected.length);

      // The same seeds without the bug: nothing to catch.
      const control = await runCampaign({ ...base, runs: planted.length });
      expect(control.summary.violations).toBe(0);
    });
  }
});

function caught(r: RunResult): boolean {
  return r.violations.length > 0;
}
