// Raft's safety properties, checked on what the peers were observed to do (Raft paper, fig. 3):
//
// * Election safety: at most one leader per term.
// * Log matching: if two logs hold an entry with the same index and term, the logs are identical
//   in every entry up to and including that index.
// * State machine safety, as peers see it: the sequences of entries each peer applied are
//   prefixes of one another, aligned by index (a peer restored from a snapshot starts later).
//
// Each check returns its violations with readable messages; an empty list means it holds.

export type PeerId = string;

/** Per-peer data, as a Map or a plain object keyed by peer id. */
export type PerPeer<T> = ReadonlyMap<PeerId, T> | Readonly<Record<PeerId, T>>;

/** A peer seen in a role during a term. Only the role 'leader' matters here. */
export interface RoleObservation {
  readonly peer: PeerId;
  readonly term: number;
  readonly role: string;
}

/** One entry of a peer's log; `digest` identifies the entry's payload. */
export interface LogEntryObservation {
  readonly index: number;
  readonly term: number;
  readonly digest: string;
}

/** An applied entry: [index, digest]. */
export type AppliedEntry = readonly [index: number, digest: string];

export type RaftInvariant = 'election-safety' | 'log-matching' | 'applied-prefix';

export interface InvariantViolation {
  readonly invariant: RaftInvariant;
  readonly message: string;
  readonly peers: readonly PeerId[];
  readonly term?: number;
  readonly index?: number;
}

export interface AppliedPrefixOptions {
  /**
   * Allow a peer's applied indexes to jump forward (entries covered by an installed snapshot).
   * Off by default: each peer's sequence must be consecutive, though it may start anywhere.
   */
  readonly allowGaps?: boolean;
}

export interface RaftObservations {
  readonly roles?: readonly RoleObservation[];
  readonly logs?: PerPeer<readonly LogEntryObservation[]>;
  readonly applied?: PerPeer<readonly AppliedEntry[]>;
  readonly appliedOptions?: AppliedPrefixOptions;
}

export interface RaftInvariantsResult {
  readonly ok: boolean;
  readonly violations: readonly InvariantViolation[];
}

/** Runs every check for which observations are given. */
export function checkRaftInvariants(observations: RaftObservations): RaftInvariantsResult {
  const violations = [
    ...(observations.roles ? checkElectionSafety(observations.roles) : []),
    ...(observations.logs ? checkLogMatching(observations.logs) : []),
    ...(observations.applied ? checkAppliedPrefix(observations.applied, observations.appliedOptions) : []),
  ];
  return { ok: violations.length === 0, violations };
}

function entriesOf<T>(perPeer: PerPeer<T>): [PeerId, T][] {
  return perPeer instanceof Map ? [...perPeer.entries()] : Object.entries(perPeer as Readonly<Record<PeerId, T>>);
}

// ---------------------------------------------------------------------------------------------
// Election safety

/** At most one leader per term. */
export function checkElectionSafety(observations: readonly RoleObservation[]): InvariantViolation[] {
  const leadersByTerm = new Map<number, PeerId[]>();
  for (const o of observations) {
    if (o.role !== 'leader') continue;
    let leaders = leadersByTerm.get(o.term);
    if (leaders === undefined) leadersByTerm.set(o.term, (leaders = []));
    if (!leaders.includes(o.peer)) leaders.push(o.peer);
  }
  const violations: InvariantViolation[] = [];
  for (const [term, leaders] of [...leadersByTerm].sort((a, b) => a[0] - b[0])) {
    if (leaders.length < 2) continue;
    violations.push({
      invariant: 'election-safety',
      message: `term ${term} has ${leaders.length} leaders: ${leaders.join(', ')}`,
      peers: leaders,
      term,
    });
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------
// Log matching

/**
 * For every pair of peers: if both logs hold an entry with the same index and term, every entry
 * both hold up to that index is identical (same term, same digest). Each log must also be well
 * formed: consecutive indexes from its first (a compacted log starts after its snapshot), and
 * terms that never decrease.
 */
export function checkLogMatching(logs: PerPeer<readonly LogEntryObservation[]>): InvariantViolation[] {
  const peers = entriesOf(logs);
  const violations: InvariantViolation[] = [];
  const byIndex = new Map<PeerId, Map<number, LogEntryObservation>>();
  for (const [peer, log] of peers) {
    violations.push(...checkLogShape(peer, log));
    byIndex.set(peer, new Map(log.map((e) => [e.index, e])));
  }
  for (let i = 0; i < peers.length; i++) {
    for (let j = i + 1; j < peers.length; j++) {
      const [p] = peers[i] as [PeerId, readonly LogEntryObservation[]];
      const [q] = peers[j] as [PeerId, readonly LogEntryObservation[]];
      const violation = comparePair(p, byIndex.get(p) as Map<number, LogEntryObservation>, q, byIndex.get(q) as Map<number, LogEntryObservation>);
      if (violation !== undefined) violations.push(violation);
    }
  }
  return violations;
}

function checkLogShape(peer: PeerId, log: readonly LogEntryObservation[]): InvariantViolation[] {
  for (let k = 0; k < log.length; k++) {
    const e = log[k] as LogEntryObservation;
    const problem = describeShapeProblem(e, k === 0 ? undefined : (log[k - 1] as LogEntryObservation));
    if (problem !== undefined) {
      return [{ invariant: 'log-matching', message: `log of ${peer}: ${problem}`, peers: [peer], index: e.index, term: e.term }];
    }
  }
  return [];
}

function describeShapeProblem(e: LogEntryObservation, before: LogEntryObservation | undefined): string | undefined {
  if (!Number.isInteger(e.index) || e.index < 0) return `index ${e.index} is not a non-negative integer`;
  if (!Number.isInteger(e.term) || e.term < 0) return `entry ${e.index} has term ${e.term}, not a non-negative integer`;
  if (before === undefined) return undefined;
  if (e.index !== before.index + 1) return `entry ${e.index} follows entry ${before.index} (indexes must be consecutive)`;
  if (e.term < before.term) return `entry ${e.index} has term ${e.term}, lower than term ${before.term} of entry ${before.index}`;
  return undefined;
}

function comparePair(
  p: PeerId,
  logP: Map<number, LogEntryObservation>,
  q: PeerId,
  logQ: Map<number, LogEntryObservation>,
): InvariantViolation | undefined {
  const common = [...logP.keys()].filter((index) => logQ.has(index)).sort((a, b) => a - b);
  // The highest index where both hold an entry of the same term: everything up to it must agree.
  let anchor: number | undefined;
  for (let k = common.length - 1; k >= 0; k--) {
    const index = common[k] as number;
    if ((logP.get(index) as LogEntryObservation).term === (logQ.get(index) as LogEntryObservation).term) {
      anchor = index;
      break;
    }
  }
  if (anchor === undefined) return undefined;
  const anchorTerm = (logP.get(anchor) as LogEntryObservation).term;
  for (const index of common) {
    if (index > anchor) break;
    const a = logP.get(index) as LogEntryObservation;
    const b = logQ.get(index) as LogEntryObservation;
    if (a.term === b.term && a.digest === b.digest) continue;
    const where = index === anchor ? 'but' : `but at index ${index}`;
    return {
      invariant: 'log-matching',
      message:
        `${p} and ${q} both hold index ${anchor} in term ${anchorTerm}, ${where} they differ: ` +
        `${p} has term ${a.term} digest ${a.digest}, ${q} has term ${b.term} digest ${b.digest}`,
      peers: [p, q],
      index,
      term: anchorTerm,
    };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Applied sequences

/**
 * Every peer applies the same entry at each index, in increasing index order, without repeats;
 * so the peers' applied sequences, aligned by index, are prefixes of one another.
 */
export function checkAppliedPrefix(applied: PerPeer<readonly AppliedEntry[]>, options: AppliedPrefixOptions = {}): InvariantViolation[] {
  const violations: InvariantViolation[] = [];
  const first = new Map<number, { digest: string; peer: PeerId }>();
  for (const [peer, sequence] of entriesOf(applied)) {
    let previous: number | undefined;
    let diverged = false;
    for (const [index, digest] of sequence) {
      const orderProblem = describeOrderProblem(index, previous, options.allowGaps ?? false);
      if (orderProblem !== undefined) {
        violations.push({ invariant: 'applied-prefix', message: `${peer} ${orderProblem}`, peers: [peer], index });
        break;
      }
      previous = index;
      const seen = first.get(index);
      if (seen === undefined) {
        first.set(index, { digest, peer });
      } else if (seen.digest !== digest && !diverged) {
        diverged = true; // one report per peer: after a divergence everything differs
        violations.push({
          invariant: 'applied-prefix',
          message: `${seen.peer} and ${peer} applied different entries at index ${index}: ${seen.digest} vs ${digest}`,
          peers: [seen.peer, peer],
          index,
        });
      }
    }
  }
  return violations;
}

function describeOrderProblem(index: number, previous: number | undefined, allowGaps: boolean): string | undefined {
  if (!Number.isInteger(index) || index < 1) return `applied index ${index}, which is not a positive integer`;
  if (previous === undefined) return undefined;
  if (index <= previous) return `applied index ${index} after index ${previous} (applied twice or out of order)`;
  if (!allowGaps && index !== previous + 1) return `applied index ${index} right after index ${previous}, skipping ${index - previous - 1}`;
  return undefined;
}
