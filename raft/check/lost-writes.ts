// Lost acknowledged writes: after the faults heal, a final read of every key must show a value
// that some write could legitimately have left there last.
//
// A write (write, delete, or cas that applied) is *definitely overwritten* when an acknowledged
// write of the same key was invoked after it returned: that one took effect later. Every other
// write that may have happened (acknowledged, or unknown outcome) is a *candidate* for the last
// one. The final value must be what some candidate wrote (or absent, if no write was
// acknowledged at all). When it is not, the acknowledged candidates are reported lost: at least
// one of them was acknowledged, not overwritten, and is gone.
//
// This is coarser than the linearizability checker (it ignores reads in the history) but runs
// on any history, needs no search, and names the writes a client was promised and lost.

import { type JsonValue, type Operation, callEventOrder, compareEventOrder, describeOperation, precedes, sameValue } from './history.js';

/** The value each key held after healing (null = absent), from a final read. */
export type FinalReads = ReadonlyMap<string, JsonValue> | Readonly<Record<string, JsonValue>>;

export interface LostWriteViolation {
  readonly key: string;
  readonly finalValue: JsonValue;
  /** Acknowledged writes that no acknowledged write followed, none of which the final read shows. */
  readonly lost: readonly Operation[];
  /** Every write that could have been the last one. */
  readonly candidates: readonly Operation[];
  readonly message: string;
}

export interface LostWritesResult {
  readonly ok: boolean;
  readonly violations: readonly LostWriteViolation[];
  /** All lost writes, over every key. */
  readonly lostWrites: readonly Operation[];
  /** Keys with a final read. */
  readonly keysChecked: number;
  /** Keys written in the history that have no final read, so were not checked. */
  readonly unchecked: readonly string[];
}

/** Checks that every acknowledged write survives in the final reads unless overwritten. */
export function checkLostWrites(operations: readonly Operation[], finalReads: FinalReads): LostWritesResult {
  const finals = finalReads instanceof Map ? finalReads : new Map(Object.entries(finalReads));
  const writesByKey = new Map<string, Operation[]>();
  for (const op of operations) {
    if (!mayHaveWritten(op)) continue;
    let list = writesByKey.get(op.key);
    if (list === undefined) writesByKey.set(op.key, (list = []));
    list.push(op);
  }

  const violations: LostWriteViolation[] = [];
  for (const [key, finalValue] of finals) {
    const violation = checkKey(key, writesByKey.get(key) ?? [], finalValue);
    if (violation !== undefined) violations.push(violation);
  }
  const unchecked = [...writesByKey.keys()].filter((key) => !finals.has(key));
  return {
    ok: violations.length === 0,
    violations,
    lostWrites: violations.flatMap((v) => v.lost),
    keysChecked: finals.size,
    unchecked,
  };
}

/** A write, delete or cas that may have changed the value: not failed, not a cas that did not apply. */
function mayHaveWritten(op: Operation): boolean {
  if (op.f === 'read' || op.status === 'fail') return false;
  return !(op.f === 'cas' && op.status === 'ok' && op.output === false);
}

/** The value an operation that changed the key left there. */
function written(op: Operation): JsonValue {
  if (op.f === 'delete') return null;
  if (op.f === 'cas') {
    const input = op.input;
    if (!Array.isArray(input) || input.length !== 2) throw new Error(`lost-write checker: cas #${op.id} input must be [expected, new]`);
    return input[1] as JsonValue;
  }
  return op.input;
}

function checkKey(key: string, writes: readonly Operation[], finalValue: JsonValue): LostWriteViolation | undefined {
  const acknowledged = writes.filter((op) => op.status === 'ok');
  // The acknowledged write invoked last: whatever returned before it was invoked is overwritten.
  let latest: Operation | undefined;
  for (const op of acknowledged) {
    if (latest === undefined || compareEventOrder(callEventOrder(op), callEventOrder(latest)) > 0) latest = op;
  }
  const candidates = latest === undefined ? [...writes] : writes.filter((op) => !precedes(op, latest as Operation));

  // Until an acknowledged write, the key may still hold its initial state: absent.
  if (latest === undefined && finalValue === null) return undefined;
  if (candidates.length === 0) {
    return {
      key,
      finalValue,
      lost: [],
      candidates,
      message: `key ${JSON.stringify(key)} was never written, but the final read shows ${JSON.stringify(finalValue)}`,
    };
  }
  if (candidates.some((op) => sameValue(written(op), finalValue))) return undefined;

  const lost = candidates.filter((op) => op.status === 'ok');
  const shows = `the final read shows ${JSON.stringify(finalValue)}`;
  let message: string;
  if (lost.length === 1 && candidates.length === 1) {
    message = `key ${JSON.stringify(key)}: acknowledged ${describeOperation(lost[0] as Operation)} was the last write, but ${shows}`;
  } else if (lost.length > 0) {
    message =
      `key ${JSON.stringify(key)}: ${shows}, which none of the writes that could have been last wrote; ` +
      `lost (acknowledged, never followed by an acknowledged write): ${lost.map(describeOperation).join('; ')}`;
  } else {
    message =
      `key ${JSON.stringify(key)}: ${shows}, which none of the writes that could have been last wrote ` +
      `(candidates: ${candidates.map(describeOperation).join('; ')})`;
  }
  return { key, finalValue, lost, candidates, message };
}
