// Watch-stream checker: what each watcher of a key prefix received, against the events the
// store committed (etcd's watch guarantees: ordered, unique, reliable, resumable).
//
// A watcher's stream is a list of segments: it opens a watch from a revision, receives events,
// may be cut off, and resumes with a new watch from a new revision. For each segment, the events
// received must be exactly the committed events under the prefix from its start revision on, in
// commit order, with nothing skipped, repeated or altered; the segment may stop anywhere. Across
// segments, a resumed watch must pick up exactly where the previous ones stopped: starting later
// skips events, starting earlier delivers some twice.
//
// Several events may share a revision (one transaction touching several keys); their order is
// the commit order, and (revision, key) names an event.

import { type JsonValue, sameValue } from './history.js';

export interface WatchEvent {
  readonly revision: number;
  readonly key: string;
  readonly type: 'put' | 'delete';
  /** The value put; ignored for deletes. */
  readonly value: JsonValue;
}

export interface WatchSegment {
  /** The revision the watch was opened from: the first revision it may deliver. */
  readonly startRevision: number;
  readonly events: readonly WatchEvent[];
}

export interface WatcherObservation {
  readonly watcher: string;
  readonly segments: readonly WatchSegment[];
}

export interface WatchCheckInput {
  /** The watched prefix; committed events of other keys are ignored. */
  readonly prefix: string;
  /** Every committed event (of this prefix or not), in commit order. */
  readonly committed: readonly WatchEvent[];
  readonly watchers: readonly WatcherObservation[];
}

export type WatchViolationKind =
  | 'committed-order' // the committed sequence itself is malformed
  | 'outside-prefix'
  | 'before-start'
  | 'not-committed'
  | 'altered'
  | 'duplicate'
  | 'out-of-order'
  | 'skipped'
  | 'resume-gap'
  | 'resume-overlap';

export interface WatchViolation {
  readonly kind: WatchViolationKind;
  /** Empty for a problem with the committed sequence. */
  readonly watcher: string;
  /** Index of the segment in the watcher's list; -1 for the committed sequence. */
  readonly segment: number;
  readonly message: string;
  readonly event?: WatchEvent;
}

export interface WatchCheckResult {
  readonly ok: boolean;
  readonly violations: readonly WatchViolation[];
}

/** Reports at most this many violations per segment: after a few, the rest is noise. */
const MAX_VIOLATIONS_PER_SEGMENT = 10;

export function checkWatches(input: WatchCheckInput): WatchCheckResult {
  const violations: WatchViolation[] = [];
  const committed = input.committed.filter((e) => e.key.startsWith(input.prefix));
  violations.push(...checkCommitted(committed));
  const positionOf = new Map<string, number>();
  committed.forEach((e, i) => positionOf.set(eventId(e), i));
  const log: CommittedLog = { events: committed, positionOf, prefix: input.prefix };

  for (const w of input.watchers) {
    /** Position in `committed` of the last event the watcher is known to have reached. */
    let reached: number | undefined;
    w.segments.forEach((segment, s) => {
      const start = firstAtOrAfter(committed, segment.startRevision);
      if (reached !== undefined) violations.push(...checkResume(w.watcher, s, segment, start, reached, committed));
      const outcome = checkSegment(w.watcher, s, segment, start, log);
      violations.push(...outcome.violations);
      reached = Math.max(reached ?? -1, outcome.lastMatched ?? start - 1);
    });
  }
  return { ok: violations.length === 0, violations };
}

interface CommittedLog {
  readonly events: readonly WatchEvent[];
  readonly positionOf: ReadonlyMap<string, number>;
  readonly prefix: string;
}

function eventId(e: WatchEvent): string {
  return `${e.revision}\u0000${e.key}`;
}

function show(e: WatchEvent): string {
  const key = JSON.stringify(e.key);
  return e.type === 'put' ? `put ${key}=${JSON.stringify(e.value)} @${e.revision}` : `delete ${key} @${e.revision}`;
}

/** The first few events, for a message. */
function showSome(events: readonly WatchEvent[]): string {
  return `${events.slice(0, 3).map(show).join(', ')}${events.length > 3 ? ', …' : ''}`;
}

function sameEvent(a: WatchEvent, b: WatchEvent): boolean {
  return a.revision === b.revision && a.key === b.key && a.type === b.type && (a.type === 'delete' || sameValue(a.value, b.value));
}

/** Index of the first committed event at or after a revision (committed.length if none). */
function firstAtOrAfter(committed: readonly WatchEvent[], revision: number): number {
  let lo = 0;
  let hi = committed.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((committed[mid] as WatchEvent).revision < revision) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkCommitted(committed: readonly WatchEvent[]): WatchViolation[] {
  const seen = new Set<string>();
  for (let i = 0; i < committed.length; i++) {
    const e = committed[i] as WatchEvent;
    const before = committed[i - 1];
    let problem: string | undefined;
    if (!Number.isInteger(e.revision) || e.revision < 1) problem = `revision ${e.revision} is not a positive integer`;
    else if (before !== undefined && e.revision < before.revision) problem = `revision ${e.revision} comes after revision ${before.revision}`;
    else if (seen.has(eventId(e))) problem = `${show(e)} is committed twice`;
    seen.add(eventId(e));
    if (problem !== undefined) {
      return [{ kind: 'committed-order', watcher: '', segment: -1, message: `committed events: ${problem}`, event: e }];
    }
  }
  return [];
}

/** Compares a resumed segment's start with where the watcher had got to. */
function checkResume(
  watcher: string,
  s: number,
  segment: WatchSegment,
  start: number,
  reached: number,
  committed: readonly WatchEvent[],
): WatchViolation[] {
  const expected = reached + 1;
  if (start > expected) {
    const skipped = committed.slice(expected, start);
    return [
      {
        kind: 'resume-gap',
        watcher,
        segment: s,
        message:
          `${watcher} resumed from revision ${segment.startRevision} after reaching revision ${revisionAt(committed, reached)}, ` +
          `skipping ${skipped.length} committed event(s): ${showSome(skipped)}`,
      },
    ];
  }
  if (start < expected) {
    const again = committed.slice(start, expected);
    return [
      {
        kind: 'resume-overlap',
        watcher,
        segment: s,
        message:
          `${watcher} resumed from revision ${segment.startRevision} after already receiving up to revision ${revisionAt(committed, reached)}, ` +
          `so ${again.length} event(s) would come twice: ${showSome(again)}`,
      },
    ];
  }
  return [];
}

function revisionAt(committed: readonly WatchEvent[], position: number): number | string {
  return position < 0 ? 'none' : (committed[position] as WatchEvent).revision;
}

/**
 * Walks a segment's events against the committed events from its start. Returns the violations
 * and the committed position of the last event received in order.
 */
function checkSegment(
  watcher: string,
  s: number,
  segment: WatchSegment,
  start: number,
  log: CommittedLog,
): { violations: WatchViolation[]; lastMatched: number | undefined } {
  const violations: WatchViolation[] = [];
  const report = (kind: WatchViolationKind, message: string, event: WatchEvent): void => {
    if (violations.length >= MAX_VIOLATIONS_PER_SEGMENT) return;
    violations.push({ kind, watcher, segment: s, message: `${watcher}, segment ${s}: ${message}`, event });
  };
  const received = new Set<string>();
  let expected = start; // position in log.events of the next event due
  let lastMatched: number | undefined;
  let lastRevision = -Infinity;

  for (const e of segment.events) {
    const id = eventId(e);
    const due = log.events[expected];
    if (due !== undefined && sameEvent(e, due)) {
      received.add(id);
      lastMatched = expected;
      lastRevision = e.revision;
      expected++;
      continue;
    }
    const position = log.positionOf.get(id);
    if (!e.key.startsWith(log.prefix)) {
      report('outside-prefix', `received ${show(e)}, outside the watched prefix ${JSON.stringify(log.prefix)}`, e);
    } else if (e.revision < segment.startRevision) {
      report('before-start', `received ${show(e)}, before the start revision ${segment.startRevision}`, e);
    } else if (received.has(id)) {
      report('duplicate', `received ${show(e)} twice`, e);
    } else if (e.revision < lastRevision || (position !== undefined && position < expected)) {
      report('out-of-order', `received ${show(e)} after revision ${lastRevision}`, e);
    } else if (position === undefined) {
      report('not-committed', `received ${show(e)}, which was never committed`, e);
    } else {
      // A committed event further on: the ones before it were skipped; it may also be altered.
      const missed = log.events.slice(expected, position);
      if (missed.length > 0) {
        report(
          'skipped',
          `received ${show(e)} without the ${missed.length} committed event(s) before it: ${showSome(missed)}`,
          e,
        );
      }
      const committedEvent = log.events[position] as WatchEvent;
      if (!sameEvent(e, committedEvent)) report('altered', `received ${show(e)}, but the committed event is ${show(committedEvent)}`, e);
      received.add(id);
      lastMatched = position;
      lastRevision = e.revision;
      expected = position + 1;
    }
  }
  return { violations, lastMatched };
}
