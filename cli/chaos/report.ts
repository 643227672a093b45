/**
 * What a campaign prints: one line per run, the violations of a failing run with the command
 * that replays it, and a summary.
 */
import { DEFAULT_OPTIONS, type CampaignOptions, type CampaignSummary, type RunResult } from './types.js';

export function runLine(r: RunResult): string {
  const verdict = r.violations.length === 0 ? 'ok' : `VIOLATION (${[...new Set(r.violations.map((v) => v.check))].join(', ')})`;
  const recovery = r.recoveryMs === null ? 'none' : `${r.recoveryMs} ms`;
  const trace = r.traceHash === undefined ? '' : ` trace ${r.traceHash.toString(16).padStart(8, '0')}`;
  return (
    `run ${String(r.index).padStart(3)} seed ${r.seed}: ${r.ops} ops (ok ${r.ok}, fail ${r.fail}, info ${r.info}), ` +
    `${r.elections} elections${r.snapshotsInstalled > 0 ? `, ${r.snapshotsInstalled} snapshots installed` : ''}, ` +
    `longest unavailable ${r.maxUnavailableMs} ms, recovery ${recovery}, ${r.wallMs} ms wall${trace} — ${verdict}`
  );
}

/** The violations of a failing run, and how to replay it. */
export function failureDetail(r: RunResult, options: CampaignOptions): string {
  const lines = r.violations.map((v) => `    [${v.check}] ${v.message}`);
  const replay = replayCommand(r, options);
  lines.push(`    replay: ${replay}`);
  if (r.historyFile) lines.push(`    history: ${r.historyFile}`);
  const faults = r.nemesis.map((e) => `${e.atMs}ms ${e.action}`);
  if (faults.length > 0) lines.push(`    faults: ${faults.slice(0, 12).join('; ')}${faults.length > 12 ? `; … (${faults.length - 12} more)` : ''}`);
  return lines.join('\n');
}

export function replayCommand(r: RunResult, options: CampaignOptions): string {
  const parts = [
    'npm run chaos --',
    options.mode === 'sim' ? '--sim' : '--threads',
    `--seed ${r.seed}`,
    '--runs 1',
    `--duration ${options.durationMs}`,
    `--nemesis ${options.nemeses.join(',')}`,
    `--clients ${options.clients}`,
    `--keys ${options.keys}`,
  ];
  if (options.peers !== 3) parts.push(`--peers ${options.peers}`);
  if (options.plant) parts.push(`--plant ${options.plant}`);
  const every = options.peerArgs?.['snapshotEveryEntries'];
  if (typeof every === 'number') parts.push(`--snapshot-every ${every}`);
  if (options.livenessBoundMs !== DEFAULT_OPTIONS.livenessBoundMs) parts.push(`--liveness-bound ${options.livenessBoundMs}`);
  if (!options.watch) parts.push('--no-watch');
  return parts.join(' ');
}

export function summaryLines(s: CampaignSummary): string[] {
  const lines = [
    `runs ${s.runs}, operations ${s.ops} (ok ${s.ok}, fail ${s.fail}, info ${s.info}), elections ${s.elections}`,
    `violations ${s.violations} in ${s.failedRuns} run(s)${s.failedSeeds.length > 0 ? ` (seeds ${s.failedSeeds.join(', ')})` : ''}, acknowledged writes lost ${s.lost_acked_writes}`,
    `longest unavailability ${s.max_unavailable_ms} ms, slowest recovery after healing ${s.max_recovery_ms === null ? 'none' : `${s.max_recovery_ms} ms`}, wall time ${(s.wall_ms / 1000).toFixed(1)} s`,
  ];
  if (s.planted) lines.push(`planted bug ${s.planted}: detected in ${s.planted_detected} of ${s.planted_total} runs`);
  return lines;
}
