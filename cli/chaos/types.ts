/**
 * The fault campaign's options and results: plain data shared by the engine, the report and
 * the `npm run chaos` entry point.
 */
import type { PlantedBug } from '../../actors/etcd-peer.js';

export type { PlantedBug };

/** Fault families a campaign can inject; `all` on the command line means every one of them. */
export type NemesisKind = 'kill' | 'pause' | 'partition' | 'lossy' | 'member' | 'election';
export const NEMESIS_KINDS: readonly NemesisKind[] = ['kill', 'pause', 'partition', 'lossy', 'member', 'election'];
export const PLANTED_BUGS: readonly PlantedBug[] = ['stale-read', 'early-ack', 'forget-vote', 'commit-any-term'];

export interface CampaignOptions {
  /** `sim`: SimHost, seeded and replayable. `threads`: real workers, lmdb, real crashes. */
  mode: 'sim' | 'threads';
  runs: number;
  /** Run i uses seed `seed + i`. */
  seed: number;
  /** Length of the safety phase (faults on), in ms (virtual ms on SimHost). */
  durationMs: number;
  nemeses: NemesisKind[];
  /** Concurrent client processes, each with at most one operation in flight. */
  clients: number;
  /** Size of the key space the clients share. */
  keys: number;
  /** Founding voters. */
  peers: number;
  /** After healing, a write must commit within this long, in ms. */
  livenessBoundMs: number;
  /** Record a watch stream over the key prefix and check it. */
  watch: boolean;
  /** Directory for one history file (JSON lines) per run. */
  historyDir?: string;
  /** A deliberate bug in every peer (tests and detection-rate campaigns only). */
  plant?: PlantedBug;
  /** Extra peer arguments (e.g. small snapshot settings); merged into every peer's args. */
  peerArgs?: Record<string, unknown>;
  /** Stop a threaded campaign's workers logging below this level (default 'silent'). */
  logLevel?: string;
}

export const DEFAULT_OPTIONS: CampaignOptions = {
  mode: 'sim',
  runs: 20,
  seed: 1,
  durationMs: 4_000,
  nemeses: ['kill', 'pause', 'partition', 'lossy'],
  clients: 5,
  keys: 6,
  peers: 3,
  livenessBoundMs: 5_000,
  watch: true,
};

export type CheckName =
  | 'linearizability'
  | 'lost-writes'
  | 'election-safety'
  | 'convergence'
  | 'liveness'
  | 'watch'
  | 'peer-crash'
  | 'shutdown'
  | 'campaign-error';

export interface Violation {
  check: CheckName;
  message: string;
}

/** One fault the nemesis injected or removed, for the run's report. */
export interface NemesisEvent {
  /** ms since the run started. */
  atMs: number;
  action: string;
}

export interface RunResult {
  index: number;
  seed: number;
  mode: 'sim' | 'threads';
  plant?: PlantedBug;
  ops: number;
  ok: number;
  fail: number;
  info: number;
  /** Terms in which some peer was seen leading. */
  elections: number;
  /** Longest stretch with no operation completing successfully, in ms (both phases). */
  maxUnavailableMs: number;
  /** From the heal to the first committed write, in ms; null if none committed within the bound. */
  recoveryMs: number | null;
  /** Snapshots the members installed from a leader (as their final status reports). */
  snapshotsInstalled: number;
  /** Acknowledged writes that the final reads do not show. */
  lostAckedWrites: number;
  /** Linearizability verdict over the history. */
  linearizable: 'linearizable' | 'not-linearizable' | 'unknown';
  violations: Violation[];
  nemesis: NemesisEvent[];
  /** SimHost only: the hash of every delivery and timer; equal seeds give equal hashes. */
  traceHash?: number;
  /** Hash of the recorded history (JSON lines). */
  historyHash: string;
  historyFile?: string;
  /** Real time the run took, ms. */
  wallMs: number;
  /** Virtual (SimHost) or real (ThreadHost) time the run covered, ms. */
  coveredMs: number;
}

export interface CampaignSummary {
  runs: number;
  ops: number;
  ok: number;
  fail: number;
  info: number;
  violations: number;
  failedRuns: number;
  failedSeeds: number[];
  lost_acked_writes: number;
  max_unavailable_ms: number;
  max_recovery_ms: number | null;
  elections: number;
  wall_ms: number;
  /** With --plant: runs in which the planted bug was caught, and runs in all. */
  planted?: PlantedBug;
  planted_detected?: number;
  planted_total?: number;
}
