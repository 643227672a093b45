// Linearizability checker for key-value histories: the Wing–Gong search with Lowe's memoization,
// laid out the way Porcupine does it.
//
// * P-compositionality: a history of independent registers is linearizable exactly when each
//   key's sub-history is, so every key is checked on its own (small searches instead of one
//   huge one).
// * Each operation contributes a call entry and a return entry to a doubly linked list sorted by
//   real time. The search walks the list: a call entry may be linearized now (it is "minimal")
//   if every entry before it is a call too. Linearizing lifts the call and its return out of the
//   list; reaching a return entry means the operation it belongs to was not linearized in time,
//   so the search backtracks (pops the last choice and unlifts it).
// * Unknown outcomes (info) return at +∞: they can always be linearized last, where they change
//   nothing anyone observed, so "it never happened" is covered without a special case.
//   `fail` operations did not happen and are dropped; a read with unknown outcome observed
//   nothing and is dropped too.
// * Lowe's cache: a configuration (set of linearized operations, register state) whose every
//   continuation failed is not explored again — nor is any configuration that only adds
//   unknown-outcome operations to it (see DeadConfigurations). Sets are bitsets hashed
//   incrementally (Zobrist) and stored trimmed: bits are given in call order, so a linearized
//   set is mostly "every bit below some mark", which the stored form leaves implicit.
// * Unknown-outcome operations pile up in histories with many timeouts and are what makes
//   such searches explode; "Unknown-outcome operations" below lists the facts used to try few
//   of them while staying exact.
// * A step budget bounds the search; when it runs out the verdict is `unknown`, never a hang.
//
// Register model, per key: state = value, or null when absent (the initial state).
//   read → v       allowed iff state = v
//   write v        state := v
//   delete         state := null
//   cas [e, n] → true    allowed iff state = e; state := n
//   cas [e, n] → false   allowed iff state ≠ e
//   cas [e, n] unknown   state := n if state = e (linearized last, it has no visible effect)
//   write/delete unknown: as their ok forms (always allowed)

import {
  type JsonValue,
  type Operation,
  callEventOrder,
  canonicalValue,
  compareEventOrder,
  describeOperation,
  returnEventOrder,
  sameValue,
} from './history.js';

export type Verdict = 'linearizable' | 'not-linearizable' | 'unknown';

export interface LinearizabilityOptions {
  /** Search steps allowed per key before the key's verdict becomes `unknown`. */
  readonly maxStepsPerKey?: number;
  /**
   * Drop unknown-outcome writes whose value no other operation could observe (see
   * `pruneUnobservable`). It never changes a verdict, only the size of the search.
   */
  readonly pruneUnobservable?: boolean;
}

export const DEFAULT_MAX_STEPS_PER_KEY = 5_000_000;

/** The deepest point the search reached on a key that is not linearizable. */
export interface PartialLinearization {
  /** The longest prefix that could be linearized, in linearization order. */
  readonly operations: readonly Operation[];
  /** The register after that prefix (null = absent). */
  readonly state: JsonValue;
  /** The operation that had to take effect before it returned, and could not. */
  readonly blocked: Operation;
  /** Other operations invoked and not linearized at that point, in call order; at most 8. */
  readonly pending: readonly Operation[];
}

export interface KeyVerdict {
  readonly key: string;
  readonly verdict: Verdict;
  /** Search steps spent on this key. */
  readonly steps: number;
  /** Operations the search considered (after dropping fails, unknown reads and pruned writes). */
  readonly operations: number;
  /** Unknown-outcome operations dropped because nothing could observe them. */
  readonly pruned: number;
}

export interface LinearizabilityResult {
  /** True only when every key was proven linearizable. */
  readonly ok: boolean;
  /** not-linearizable if any key is; else unknown if any key ran out of budget. */
  readonly verdict: Verdict;
  /** The first key (in history order) that is not linearizable, or else that ran out of budget. */
  readonly key?: string;
  readonly explanation?: string;
  /** For a not-linearizable key: how far the search got. */
  readonly partialLinearization?: PartialLinearization;
  /** Search steps spent over all keys. */
  readonly steps: number;
  readonly keys: readonly KeyVerdict[];
}

/** Checks a paired history (see pairOperations / parseHistory) for linearizability. */
export function checkLinearizability(
  operations: readonly Operation[],
  options: LinearizabilityOptions = {},
): LinearizabilityResult {
  const maxSteps = options.maxStepsPerKey ?? DEFAULT_MAX_STEPS_PER_KEY;
  assert(Number.isInteger(maxSteps) && maxSteps > 0, 'maxStepsPerKey must be a positive integer');
  const prune = options.pruneUnobservable ?? true;

  const byKey = new Map<string, Operation[]>();
  for (const op of operations) {
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push(op);
  }

  const keys: KeyVerdict[] = [];
  let steps = 0;
  let violation: { key: string; witness: Witness; searched: number } | undefined;
  let exhausted: string | undefined;
  for (const [key, keyOps] of byKey) {
    const relevant = keyOps.filter(isRelevant);
    const searched = prune ? pruneUnobservable(relevant) : relevant;
    const outcome = searchKey(searched, maxSteps);
    let keySteps = outcome.steps;
    if (outcome.verdict === 'not-linearizable' && violation === undefined) {
      // The search cuts hopeless branches before they reach the operation that fails, which
      // makes its deepest point a poor witness. Search again without that cut, within the
      // same budget, to name the operation that really cannot take effect.
      const plain = searchKey(searched, maxSteps, false);
      keySteps += plain.steps;
      const witness = plain.verdict === 'not-linearizable' ? plain.witness : outcome.witness;
      violation = { key, witness: witness as Witness, searched: searched.length };
    }
    steps += keySteps;
    keys.push({
      key,
      verdict: outcome.verdict,
      steps: keySteps,
      operations: searched.length,
      pruned: relevant.length - searched.length,
    });
    if (outcome.verdict === 'unknown' && exhausted === undefined) exhausted = key;
  }

  if (violation !== undefined) {
    const { key, witness, searched } = violation;
    return {
      ok: false,
      verdict: 'not-linearizable',
      key,
      explanation: explain(key, witness, searched),
      partialLinearization: witness,
      steps,
      keys,
    };
  }
  if (exhausted !== undefined) {
    return {
      ok: false,
      verdict: 'unknown',
      key: exhausted,
      explanation: `key ${JSON.stringify(exhausted)}: the search gave up after ${maxSteps} steps without a verdict`,
      steps,
      keys,
    };
  }
  return { ok: true, verdict: 'linearizable', steps, keys };
}

// ---------------------------------------------------------------------------------------------
// Which operations take part

/** fail: did not happen. A read with unknown outcome observed nothing and changed nothing. */
function isRelevant(op: Operation): boolean {
  if (op.status === 'fail') return false;
  if (op.f === 'read' && op.status !== 'ok') return false;
  return true;
}

/**
 * Drops unknown-outcome writes, deletes and cas whose resulting value no operation observes.
 *
 * Why it is sound: let X be such an operation, producing value p, and L a linearization that
 * includes it. Remove X from L. Only the operations between X and the next write see a
 * different state. None of them reads p or is a successful cas expecting p (p is unobserved);
 * there is no failed cas at all (else nothing is pruned); an unknown cas there did not apply
 * (the state was p, which it does not expect) and can move to the end, where unknown
 * operations may always go. So L without X is a linearization too, and repeating the argument
 * removes every pruned operation.
 */
export function pruneUnobservable(ops: readonly Operation[]): Operation[] {
  const observed = new Set<string>();
  for (const op of ops) {
    if (op.f === 'cas' && op.status === 'ok' && op.output === false) return [...ops];
    if (op.f === 'read' && op.status === 'ok') observed.add(canonicalValue(op.output));
    if (op.f === 'cas') observed.add(canonicalValue(casPair(op)[0]));
  }
  return ops.filter((op) => {
    if (op.status !== 'info') return true;
    switch (op.f) {
      case 'write':
        return observed.has(canonicalValue(op.input));
      case 'delete':
        return observed.has('null');
      case 'cas':
        return observed.has(canonicalValue(casPair(op)[1]));
      case 'read':
        return true;
    }
  });
}

function casPair(op: Operation): [JsonValue, JsonValue] {
  const input = op.input;
  assert(Array.isArray(input) && input.length === 2, `cas ${op.id} input must be [expected, new]`);
  return [input[0] as JsonValue, input[1] as JsonValue];
}

// ---------------------------------------------------------------------------------------------
// The register model over interned values
//
// Only values some operation tests are told apart: what completed reads returned and what cas
// operations expect. Every other value behaves the same for every operation (no read returns
// it, no cas expects it, every failed cas accepts it), so all of them share one state, UNSEEN.
// This keeps the state space small and lets equivalent unknown writes be treated as one.

const UNSEEN = 0;

const Kind = {
  Read: 0,
  /** write and delete: the new state does not depend on the old one. */
  Blind: 1,
  CasApplied: 2,
  CasRejected: 3,
  CasUnknown: 4,
} as const;

interface Model {
  readonly kind: Uint8Array;
  /** read: value read; blind: value written (null for delete); cas: expected. */
  readonly a: Int32Array;
  /** cas: new value. */
  readonly b: Int32Array;
  /** The state before any operation: null (absent). */
  readonly initial: number;
  /** State ids are below this. */
  readonly valueCount: number;
}

function buildModel(ops: readonly Operation[]): Model {
  const ids = new Map<string, number>();
  for (const op of ops) {
    if (op.f === 'read') ids.set(canonicalValue(op.output), 0);
    if (op.f === 'cas') ids.set(canonicalValue(casPair(op)[0]), 0);
  }
  let nextId = UNSEEN + 1;
  for (const key of ids.keys()) ids.set(key, nextId++);
  const idOf = (v: JsonValue): number => ids.get(canonicalValue(v)) ?? UNSEEN;

  const n = ops.length;
  const kind = new Uint8Array(n);
  const a = new Int32Array(n);
  const b = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const op = ops[i] as Operation;
    switch (op.f) {
      case 'read':
        assert(op.status === 'ok', 'only completed reads are searched');
        kind[i] = Kind.Read;
        a[i] = idOf(op.output);
        break;
      case 'write':
        kind[i] = Kind.Blind;
        a[i] = idOf(op.input);
        break;
      case 'delete':
        kind[i] = Kind.Blind;
        a[i] = idOf(null);
        break;
      case 'cas': {
        const [e, nv] = casPair(op);
        a[i] = idOf(e);
        b[i] = idOf(nv);
        if (op.status === 'info') kind[i] = Kind.CasUnknown;
        else kind[i] = op.output === false ? Kind.CasRejected : Kind.CasApplied;
        break;
      }
    }
  }
  return { kind, a, b, initial: idOf(null), valueCount: nextId };
}

/** The state after applying operation i to `state`, or -1 when the operation is not allowed. */
function step(model: Model, state: number, i: number): number {
  const a = model.a[i] as number;
  switch (model.kind[i]) {
    case Kind.Read:
      return state === a ? state : -1;
    case Kind.Blind:
      return a;
    case Kind.CasApplied:
      return state === a ? (model.b[i] as number) : -1;
    case Kind.CasRejected:
      return state !== a ? state : -1;
    case Kind.CasUnknown:
      return state === a ? (model.b[i] as number) : state;
    default:
      throw new Error(`linearizability checker: unknown operation kind ${model.kind[i]}`);
  }
}

/** Reads, failed cas, and cas that write back what they expect. */
function neverChangesValue(model: Model, i: number): boolean {
  const kind = model.kind[i];
  return kind === Kind.Read || kind === Kind.CasRejected || (kind === Kind.CasApplied && model.a[i] === model.b[i]);
}

/** The real register value after a sequence of operations (for reports). */
function replay(ops: readonly Operation[]): JsonValue {
  let value: JsonValue = null;
  for (const op of ops) {
    if (op.f === 'write') value = op.input;
    if (op.f === 'delete') value = null;
    if (op.f === 'cas') {
      const [e, nv] = casPair(op);
      if (op.status === 'info' ? sameValue(value, e) : op.output !== false) value = nv;
    }
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Unknown-outcome operations
//
// Completed operations must all be linearized; unknown ones only when they help, and the
// search uses these facts to try few of them (each holds because an unknown operation returns
// at +∞: it may be moved to the very end of a linearization, where it is always allowed and
// nobody observes it):
//  1. Once every completed operation is linearized, the rest go last: success.
//  2. An unknown operation that would not change the state is never needed now.
//  3. Right after an unknown operation, an unknown write or delete is never needed: it hides
//     the first one, which can move to the end instead.
//  4. Unknown operations with the same effect (same kind and values) are interchangeable, so
//     they form a group and only the earliest-invoked pending member is ever tried. A group's
//     linearized members are then always a prefix of it, and a count per group describes them.
//  5. An unknown operation that would set the value to v is never needed once nothing left could
//     observe v: no pending read of v, no pending cas expecting v (completed, or unknown), and
//     no pending failed cas expecting something else. Whatever follows it would then be a write
//     or delete hiding it, so it can move to the end.
// The order in which candidates are tried changes only the speed: see EAGER_PASS.

interface UnknownGroups {
  /** Members of each group, in call order. */
  readonly members: readonly (readonly number[])[];
  /** Whether the group's members are writes or deletes (see fact 3). */
  readonly blind: readonly boolean[];
  /** Group of each op; -1 for completed ops. */
  readonly groupOf: Int32Array;
  /** The group of unknown writes (or deletes) of each value. */
  readonly blindByValue: ReadonlyMap<number, number>;
  /** The group of unknown cas from each expected value e to each new value v: key e·valueCount + v. */
  readonly casByEffect: ReadonlyMap<number, number>;
  /** The groups of unknown cas expecting each value. */
  readonly casByExpected: readonly (readonly number[])[];
}

function groupUnknown(ops: readonly Operation[], model: Model, callRank: Int32Array): UnknownGroups {
  const blindByValue = new Map<number, number>();
  const casByEffect = new Map<number, number>();
  const casByExpected: number[][] = Array.from({ length: model.valueCount }, () => []);
  const members: number[][] = [];
  const blind: boolean[] = [];
  const groupOf = new Int32Array(ops.length).fill(-1);
  const unknownOps = ops.map((_, i) => i).filter((i) => (ops[i] as Operation).ret === Infinity);
  unknownOps.sort((x, y) => (callRank[x] as number) - (callRank[y] as number));
  for (const i of unknownOps) {
    const isBlind = model.kind[i] === Kind.Blind;
    assert(isBlind || model.kind[i] === Kind.CasUnknown, 'unknown operations are writes, deletes or cas');
    const index = isBlind ? blindByValue : casByEffect;
    const key = isBlind ? (model.a[i] as number) : (model.a[i] as number) * model.valueCount + (model.b[i] as number);
    let g = index.get(key);
    if (g === undefined) {
      g = members.length;
      index.set(key, g);
      members.push([]);
      blind.push(isBlind);
      if (!isBlind) (casByExpected[model.a[i] as number] as number[]).push(g);
    }
    (members[g] as number[]).push(i);
    groupOf[i] = g;
  }
  return { members, blind, groupOf, blindByValue, casByEffect, casByExpected };
}

/**
 * What the operations not linearized yet need and provide, per value: who tests for it (reads,
 * cas expecting it), who must see it (completed reads and applied cas), who can produce it
 * (writes, deletes, cas setting it), and the failed cas (which accept every value but the one
 * they expect). Used for fact 5, for the eager pass, and to notice early that a value some
 * completed read still needs can never come back.
 */
class ValueDemand {
  private readonly tested: Int32Array;
  private readonly required: Int32Array;
  private readonly producers: Int32Array;
  private readonly producersByUnknownCas: Int32Array;
  private readonly rejectedByValue: Int32Array;
  private rejected = 0;

  constructor(
    ops: readonly Operation[],
    private readonly model: Model,
  ) {
    this.tested = new Int32Array(model.valueCount);
    this.required = new Int32Array(model.valueCount);
    this.producers = new Int32Array(model.valueCount);
    this.producersByUnknownCas = new Int32Array(model.valueCount);
    this.rejectedByValue = new Int32Array(model.valueCount);
    for (let i = 0; i < ops.length; i++) this.count(i, +1);
  }

  placed(op: number): void {
    this.count(op, -1);
  }

  unplaced(op: number): void {
    this.count(op, +1);
  }

  /** Whether anything pending could observe this value, failed cas included. */
  anyFor(value: number): boolean {
    return (this.tested[value] as number) > 0 || this.rejected - (this.rejectedByValue[value] as number) > 0;
  }

  /**
   * Whether nothing pending tells this value apart from any other inert one: no read or cas
   * tests for it and no failed cas expects it. Counts only fall as the search goes deeper, so
   * inert values stay interchangeable for the rest of the search below this point.
   */
  inert(value: number): boolean {
    return this.tested[value] === 0 && this.rejectedByValue[value] === 0;
  }

  /** Whether a pending unknown cas could set this value. */
  unknownCasSets(value: number): boolean {
    return (this.producersByUnknownCas[value] as number) > 0;
  }

  /** Whether a pending completed operation needs this value and nothing pending can set it. */
  stranded(value: number): boolean {
    return (this.required[value] as number) > 0 && this.producers[value] === 0;
  }

  private count(op: number, delta: number): void {
    const a = this.model.a[op] as number;
    const b = this.model.b[op] as number;
    switch (this.model.kind[op]) {
      case Kind.Read:
        this.tested[a]! += delta;
        this.required[a]! += delta;
        break;
      case Kind.CasApplied:
        this.tested[a]! += delta;
        this.required[a]! += delta;
        this.producers[b]! += delta;
        break;
      case Kind.CasUnknown:
        this.tested[a]! += delta;
        this.producers[b]! += delta;
        this.producersByUnknownCas[b]! += delta;
        break;
      case Kind.CasRejected:
        this.rejected += delta;
        this.rejectedByValue[a]! += delta;
        break;
      case Kind.Blind:
        this.producers[a]! += delta;
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Linearized sets and dead configurations

/**
 * A bitset that tracks `lo` (first word not all ones) and `hi` (one past the last non-zero
 * word), so that its canonical content is (lo, words[lo, hi)).
 */
class TrimmedBitset {
  readonly words: Uint32Array;
  lo = 0;
  hi = 0;

  constructor(bits: number) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(bits / 32)));
  }

  set(i: number): void {
    const w = i >>> 5;
    this.words[w] = (this.words[w] as number) | (1 << (i & 31));
    if (w >= this.hi) this.hi = w + 1;
    if (w === this.lo) {
      while (this.lo < this.words.length && this.words[this.lo] === 0xffffffff) this.lo++;
    }
  }

  clear(i: number): void {
    const w = i >>> 5;
    this.words[w] = (this.words[w] as number) & ~(1 << (i & 31));
    if (w < this.lo) this.lo = w;
    if (this.words[w] === 0 && w === this.hi - 1) {
      while (this.hi > 0 && this.words[this.hi - 1] === 0) this.hi--;
    }
  }

  snapshot(): Uint32Array {
    return this.words.slice(this.lo, Math.max(this.lo, this.hi));
  }

  equals(lo: number, trimmed: Uint32Array): boolean {
    if (lo !== this.lo || Math.max(this.lo, this.hi) - this.lo !== trimmed.length) return false;
    for (let k = 0; k < trimmed.length; k++) if (trimmed[k] !== this.words[lo + k]) return false;
    return true;
  }
}

/** murmur3's finalizer: a well-mixed 32-bit hash of a 32-bit input. */
function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * How many members of each group of unknown operations are linearized, with what a dead
 * configuration needs kept up to date: the total, a 32-bit mask of the groups in use (g mod 32),
 * and the list of groups in use, so that a snapshot costs what is in use rather than the number
 * of groups.
 */
class UnknownTally {
  readonly counts: Int32Array;
  total = 0;
  mask = 0;
  private readonly groupsPerBit = new Int32Array(32);
  private readonly inUse: number[] = [];
  private readonly positionInUse: Int32Array;

  constructor(groups: number) {
    this.counts = new Int32Array(groups);
    this.positionInUse = new Int32Array(groups).fill(NONE);
  }

  increment(g: number): void {
    const c = this.counts[g]!++;
    this.total++;
    if (c !== 0) return;
    this.positionInUse[g] = this.inUse.push(g) - 1;
    if (this.groupsPerBit[g & 31]!++ === 0) this.mask |= 1 << (g & 31);
  }

  decrement(g: number): void {
    const c = --this.counts[g]!;
    this.total--;
    if (c !== 0) return;
    const at = this.positionInUse[g] as number;
    const moved = this.inUse.pop() as number;
    if (moved !== g) {
      this.inUse[at] = moved;
      this.positionInUse[moved] = at;
    }
    this.positionInUse[g] = NONE;
    if (--this.groupsPerBit[g & 31]! === 0) this.mask &= ~(1 << (g & 31));
  }

  /** The groups in use with their counts: [g0, c0, g1, c1, …]. */
  snapshot(): Int32Array {
    const out = new Int32Array(2 * this.inUse.length);
    this.inUse.forEach((g, k) => {
      out[2 * k] = g;
      out[2 * k + 1] = this.counts[g] as number;
    });
    return out;
  }

  /** Whether every count in the snapshot is at most the current one. */
  atLeast(snapshot: Int32Array): boolean {
    for (let k = 0; k < snapshot.length; k += 2) {
      if ((this.counts[snapshot[k] as number] as number) < (snapshot[k + 1] as number)) return false;
    }
    return true;
  }
}

/** A configuration from which the search found no way on. */
interface DeadConfiguration {
  readonly state: number;
  /** Completed operations linearized, as (lo, words[lo, hi)). */
  readonly okLo: number;
  readonly okWords: Uint32Array;
  /** Unknown operations linearized (UnknownTally.snapshot), their total and group mask. */
  readonly unknown: Int32Array;
  readonly unknownTotal: number;
  readonly unknownMask: number;
  /** Reached right after an unknown operation (so explored under fact 3's restriction). */
  readonly afterUnknown: boolean;
}

/**
 * Lowe's cache, recorded when the search backtracks out of a configuration. A configuration is
 * skipped when a dead one reached after a completed operation has the same state, the same
 * completed operations, and no more unknown ones of any group: if the new one had a
 * completion, so would the dead one (append the extra unknown operations at the end). A dead
 * configuration reached after an unknown operation was explored under fact 3's restriction, so
 * it only rules out exactly the same configuration reached the same way.
 */
class DeadConfigurations {
  private readonly buckets = new Map<number, DeadConfiguration[]>();
  /** Dead configurations compared so far: the search counts them as work. */
  comparisons = 0;

  private static bucketOf(okHash: number, state: number): number {
    return (okHash ^ mix32(state + 0x632be5ab)) >>> 0;
  }

  covers(ok: TrimmedBitset, okHash: number, tally: UnknownTally, state: number, afterUnknown: boolean): boolean {
    const bucket = this.buckets.get(DeadConfigurations.bucketOf(okHash, state));
    if (bucket === undefined) return false;
    for (const d of bucket) {
      this.comparisons++;
      if (d.state !== state) continue;
      // Same counts: same total and every count at least the dead one's. Fewer: a total no
      // larger, groups a subset, every count at least the dead one's.
      if (d.afterUnknown ? !afterUnknown || d.unknownTotal !== tally.total : d.unknownTotal > tally.total) continue;
      if ((d.unknownMask & ~tally.mask) !== 0) continue;
      if (ok.equals(d.okLo, d.okWords) && tally.atLeast(d.unknown)) return true;
    }
    return false;
  }

  add(ok: TrimmedBitset, okHash: number, tally: UnknownTally, state: number, afterUnknown: boolean): void {
    const h = DeadConfigurations.bucketOf(okHash, state);
    let bucket = this.buckets.get(h);
    if (bucket === undefined) this.buckets.set(h, (bucket = []));
    bucket.push({
      state,
      okLo: ok.lo,
      okWords: ok.snapshot(),
      unknown: tally.snapshot(),
      unknownTotal: tally.total,
      unknownMask: tally.mask,
      afterUnknown,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The search over one key

/** A linearized prefix as a persistent stack: pushing and popping never copy. */
interface PrefixNode {
  readonly op: number;
  readonly parent: PrefixNode | null;
}

interface Witness extends PartialLinearization {}

interface KeyOutcome {
  readonly verdict: Verdict;
  readonly steps: number;
  readonly witness?: Witness;
}

interface DeepestPoint {
  readonly depth: number;
  readonly prefix: PrefixNode | null;
  readonly blocked: number;
  readonly pending: number[];
}

const MAX_PENDING_SHOWN = 8;
const NONE = -1;
/**
 * Candidates are tried in passes. First, a completed operation that is allowed now and leaves
 * the value as it is (a read of the current value, a failed cas expecting another one) is
 * linearized at once and alone: if any linearization exists, one exists with it moved first,
 * since it changes nothing for the others. This alone keeps many concurrent reads of the same
 * value from being tried in every order. Otherwise: unknown operations that give a pending read
 * or cas the value it is waiting for (they most often took effect soon after they were
 * invoked), then completed operations, then every other unknown operation that may matter.
 */
const FORCED_PASS = 0;
const EAGER_PASS = 1;
const COMPLETED_PASS = 2;
const LATE_PASS = 3;
const LATE_DONE = -1;

/** The first return entry of the list: it bounds which calls are candidates. */
function firstReturn(next: Int32Array, head: number): number {
  let e = next[head] as number;
  while (e !== NONE && (e & 1) === 0) e = next[e] as number;
  return e;
}

function searchKey(ops: readonly Operation[], maxSteps: number, pruneStranded = true): KeyOutcome {
  const n = ops.length;
  const model = buildModel(ops);
  const unknown = ops.map((op) => op.ret === Infinity);

  // Entries: node 2i is op i's call, 2i+1 its return. Ranks order them by real time.
  const order = Array.from({ length: 2 * n }, (_, k) => k);
  const orderKeys = order.map((node) => {
    const op = ops[node >>> 1] as Operation;
    return node & 1 ? returnEventOrder(op) : callEventOrder(op);
  });
  order.sort((x, y) => compareEventOrder(orderKeys[x] as [number, number], orderKeys[y] as [number, number]) || x - y);
  const rank = new Int32Array(2 * n);
  order.forEach((node, r) => (rank[node] = r));
  const callRank = new Int32Array(n);
  for (let i = 0; i < n; i++) callRank[i] = rank[2 * i] as number;

  const groups = groupUnknown(ops, model, callRank);
  const groupCount = groups.members.length;
  const tally = new UnknownTally(groupCount);
  const unknownCounts = tally.counts;
  // Groups of unknown writes with members not linearized yet, in order of their first call.
  const LIVE_HEAD = groupCount;
  const liveNext = new Int32Array(groupCount + 1).fill(NONE);
  const livePrev = new Int32Array(groupCount + 1).fill(NONE);
  let liveLast = LIVE_HEAD;
  for (let g = 0; g < groupCount; g++) {
    if (!groups.blind[g]) continue;
    liveNext[liveLast] = g;
    livePrev[g] = liveLast;
    liveLast = g;
  }

  // Completed operations: a bit each in call order (so that linearized sets are mostly "every
  // bit below a mark"), and a doubly linked list of their call and return entries in time order.
  const bitOf = new Int32Array(n);
  const zobrist = new Uint32Array(n);
  const HEAD = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(NONE);
  const prev = new Int32Array(2 * n + 1).fill(NONE);
  let completedCount = 0;
  let last = HEAD;
  for (const node of order) {
    const op = node >>> 1;
    if (unknown[op]) continue;
    if ((node & 1) === 0) {
      const bit = completedCount++;
      bitOf[op] = bit;
      zobrist[op] = mix32(Math.imul(bit + 1, 0x9e3779b1));
    }
    next[last] = node;
    prev[node] = last;
    last = node;
  }
  const unlink = (node: number): void => {
    const p = prev[node] as number;
    const q = next[node] as number;
    next[p] = q;
    if (q !== NONE) prev[q] = p;
  };
  const relink = (node: number): void => {
    const p = prev[node] as number;
    const q = next[node] as number;
    next[p] = node;
    if (q !== NONE) prev[q] = node;
  };
  // Lifts come off in LIFO order, so relinking the return then the call restores the list.
  const lift = (callNode: number): void => {
    unlink(callNode);
    unlink(callNode | 1);
  };
  const unlift = (callNode: number): void => {
    relink(callNode | 1);
    relink(callNode);
  };

  const completedSet = new TrimmedBitset(completedCount);
  let completedHash = 0;
  let completedDone = 0;
  const place = (op: number): void => {
    demand.placed(op);
    if (unknown[op]) {
      const g = groups.groupOf[op] as number;
      const members = groups.members[g] as readonly number[];
      assert(members[unknownCounts[g] as number] === op, 'a group is linearized in order');
      tally.increment(g);
      if (groups.blind[g] && unknownCounts[g] === members.length) {
        const p = livePrev[g] as number;
        const q = liveNext[g] as number;
        liveNext[p] = q;
        if (q !== NONE) livePrev[q] = p;
      }
    } else {
      completedSet.set(bitOf[op] as number);
      completedHash ^= zobrist[op] as number;
      completedDone++;
    }
  };
  const unplace = (op: number): void => {
    demand.unplaced(op);
    if (unknown[op]) {
      const g = groups.groupOf[op] as number;
      if (groups.blind[g] && unknownCounts[g] === (groups.members[g] as readonly number[]).length) {
        const p = livePrev[g] as number;
        const q = liveNext[g] as number;
        liveNext[p] = g;
        if (q !== NONE) livePrev[q] = g;
      }
      tally.decrement(g);
    } else {
      completedSet.clear(bitOf[op] as number);
      completedHash ^= zobrist[op] as number;
      completedDone--;
    }
  };

  const demand = new ValueDemand(ops, model);

  const representative = (g: number | undefined): number | undefined =>
    g === undefined ? undefined : (groups.members[g] as readonly number[])[unknownCounts[g] as number];

  const dead = new DeadConfigurations();
  const stackOp = new Int32Array(n);
  const stackState = new Int32Array(n);
  /** Where the search stood in the configuration each push left, to resume there. */
  const stackPass = new Uint8Array(n);
  const stackCursor = new Int32Array(n);
  const stackBlocking = new Int32Array(n);
  const stackEager: (readonly number[])[] = [];
  const stackForced = new Int32Array(n);
  const stackFlags = new Uint8Array(n);
  let depth = 0;
  let prefix: PrefixNode | null = null;
  let state = model.initial;
  let steps = 0;
  let best: DeepestPoint | undefined;

  // Where the search stands in the current configuration.
  let pass: number = EAGER_PASS;
  /** The first return entry: every candidate was invoked before it. */
  let blocking = NONE;
  /** Eager pass: unknown operations that would give a pending read or cas its value. */
  let eager: readonly number[] = [];
  let cursor = 0; // eager pass: index into `eager`; late pass: the next group
  let entry = NONE; // completed pass: the next entry

  /** The late pass's cursor for a live write group, or LATE_DONE once past the candidates. */
  const laterBlind = (g: number): number => {
    if (g === NONE) return LATE_DONE;
    const first = (groups.members[g] as readonly number[])[0] as number;
    return (callRank[first] as number) < (rank[blocking] as number) ? -2 - g : LATE_DONE;
  };
  const afterUnknown = (): boolean => depth > 0 && (unknown[stackOp[depth - 1] as number] as boolean);
  const invokedInTime = (op: number | undefined): op is number => op !== undefined && (callRank[op] as number) < (rank[blocking] as number);

  /**
   * Unknown candidates that set a value some pending completed read or cas is waiting for; and
   * whether the late pass may be needed at all. An unknown operation is only worth linearizing
   * now if the operations after it lead to a pending completed one that the current value
   * blocks (anything else could go first, or hides it). One unknown operation that sets the
   * wanted value is the eager pass; the late pass serves the other cases: a failed cas that
   * the current value blocks, or a chain of unknown operations ending with a cas that sets
   * the wanted value.
   */
  const scanCandidates = (): [eager: number[], lateNeeded: boolean] => {
    const found: number[] = [];
    let lateNeeded = false;
    for (let e = next[HEAD] as number; e !== blocking; e = next[e] as number) {
      const op = e >>> 1;
      const kind = model.kind[op];
      const wanted = model.a[op] as number;
      if (kind === Kind.CasRejected && wanted === state) lateNeeded = true;
      if ((kind !== Kind.Read && kind !== Kind.CasApplied) || wanted === state) continue;
      if (demand.unknownCasSets(wanted)) lateNeeded = true;
      const byWrite = afterUnknown() ? undefined : representative(groups.blindByValue.get(wanted)); // fact 3
      if (invokedInTime(byWrite) && !found.includes(byWrite)) found.push(byWrite);
      const byCas = representative(groups.casByEffect.get(state * model.valueCount + wanted));
      if (invokedInTime(byCas) && !found.includes(byCas)) found.push(byCas);
    }
    return [found, lateNeeded];
  };
  /**
   * A pending completed operation that is allowed now and never changes the value (a read, a
   * failed cas, a cas to the value it expects), or NONE. A write of the current value does not
   * qualify: where it really took effect, it may have changed the value.
   */
  const forcedCandidate = (): number => {
    for (let e = next[HEAD] as number; e !== blocking; e = next[e] as number) {
      const op = e >>> 1;
      if (neverChangesValue(model, op) && step(model, state, op) === state) return op;
    }
    return NONE;
  };
  let forced = NONE;
  let lateNeeded = false;
  let inertTried = false;
  const enterConfiguration = (): void => {
    blocking = firstReturn(next, HEAD);
    forced = forcedCandidate();
    [eager, lateNeeded] = forced === NONE ? scanCandidates() : [[], false];
    pass = forced === NONE ? EAGER_PASS : FORCED_PASS;
    cursor = 0;
    inertTried = false;
  };
  const push = (op: number, after: number): void => {
    stackOp[depth] = op;
    stackState[depth] = state;
    stackPass[depth] = pass;
    stackCursor[depth] = cursor;
    stackBlocking[depth] = blocking;
    stackEager[depth] = eager;
    stackForced[depth] = forced;
    stackFlags[depth] = (lateNeeded ? 1 : 0) | (inertTried ? 2 : 0);
    depth++;
    prefix = { op, parent: prefix };
    state = after;
  };
  /** Linearizes `op` next unless that configuration is known dead; true when it did. */
  const tryPlace = (op: number, after: number): boolean => {
    place(op);
    // Leaving a value that a pending completed read or cas needs, with nothing left to set it
    // again, can only end in a dead end: stop here rather than find out at its return.
    const strands = pruneStranded && after !== state && demand.stranded(state);
    if (strands || dead.covers(completedSet, completedHash >>> 0, tally, after, unknown[op] as boolean)) {
      unplace(op);
      return false;
    }
    push(op, after);
    if (!unknown[op]) lift(2 * op);
    enterConfiguration();
    return true;
  };

  enterConfiguration();
  while (completedDone < completedCount) {
    if (steps + dead.comparisons >= maxSteps) return { verdict: 'unknown', steps: steps + dead.comparisons };
    steps++;

    if (pass === FORCED_PASS && cursor === 0) {
      cursor = 1; // tried once; when it comes back dead, so is this configuration
      tryPlace(forced, state);
      continue;
    }

    if (pass === EAGER_PASS) {
      const op = eager[cursor++];
      if (op === undefined) {
        pass = COMPLETED_PASS;
        entry = next[HEAD] as number;
        continue;
      }
      tryPlace(op, step(model, state, op));
      continue;
    }

    if (pass === COMPLETED_PASS) {
      if (entry === blocking) {
        pass = LATE_PASS;
        cursor = lateNeeded ? 0 : LATE_DONE;
        continue;
      }
      const op = entry >>> 1;
      entry = next[entry] as number;
      const after = step(model, state, op);
      if (after >= 0) tryPlace(op, after);
      continue;
    }

    if (pass === LATE_PASS && cursor !== LATE_DONE) {
      // The late pass: every other unknown operation that may matter (mostly for failed cas):
      // first the cas expecting the current value, then the writes (cursor = -2 - group).
      const casGroups = groups.casByExpected[state] as readonly number[];
      let g: number;
      if (cursor >= 0) {
        g = casGroups[cursor] ?? NONE;
        cursor = g === NONE ? laterBlind(liveNext[LIVE_HEAD] as number) : cursor + 1;
        if (g === NONE) continue;
      } else {
        g = -2 - cursor;
        cursor = laterBlind(liveNext[g] as number);
        if (afterUnknown()) continue; // fact 3
      }
      const op = representative(g);
      if (!invokedInTime(op) || eager.includes(op)) continue;
      const after = step(model, state, op);
      if (after === state || !demand.anyFor(after)) continue; // facts 2 and 5
      if (groups.blind[g] && demand.inert(after)) {
        // Writes of inert values lead to indistinguishable futures: try one of them.
        if (inertTried) continue;
        inertTried = true;
      }
      tryPlace(op, after);
      continue;
    }

    // No candidate leads anywhere: a dead end.
    if (best === undefined || depth > best.depth) best = deepestPoint(depth, prefix, blocking, next, HEAD, groups, unknownCounts, callRank, rank);
    if (depth === 0) return { verdict: 'not-linearizable', steps: steps + dead.comparisons, witness: toWitness(ops, best) };
    dead.add(completedSet, completedHash >>> 0, tally, state, afterUnknown());
    depth--;
    const op = stackOp[depth] as number;
    state = stackState[depth] as number;
    pass = stackPass[depth] as number;
    cursor = stackCursor[depth] as number;
    blocking = stackBlocking[depth] as number;
    eager = stackEager[depth] as readonly number[];
    forced = stackForced[depth] as number;
    lateNeeded = ((stackFlags[depth] as number) & 1) !== 0;
    inertTried = ((stackFlags[depth] as number) & 2) !== 0;
    prefix = (prefix as PrefixNode).parent;
    unplace(op);
    if (!unknown[op]) {
      unlift(2 * op);
      entry = next[2 * op] as number;
    }
  }
  return { verdict: 'linearizable', steps: steps + dead.comparisons };
}

function deepestPoint(
  depth: number,
  prefix: PrefixNode | null,
  blockedEntry: number,
  next: Int32Array,
  head: number,
  groups: UnknownGroups,
  counts: Int32Array,
  callRank: Int32Array,
  rank: Int32Array,
): DeepestPoint {
  const pending: number[] = [];
  for (let e = next[head] as number; e !== blockedEntry && pending.length < MAX_PENDING_SHOWN; e = next[e] as number) {
    pending.push(e >>> 1);
  }
  for (let g = 0; g < groups.members.length && pending.length < MAX_PENDING_SHOWN; g++) {
    const op = (groups.members[g] as readonly number[])[counts[g] as number];
    if (op !== undefined && (callRank[op] as number) < (rank[blockedEntry] as number)) pending.push(op);
  }
  return { depth, prefix, blocked: blockedEntry >>> 1, pending };
}

function toWitness(ops: readonly Operation[], best: DeepestPoint): Witness {
  const chain: Operation[] = [];
  for (let p = best.prefix; p !== null; p = p.parent) chain.push(ops[p.op] as Operation);
  chain.reverse();
  assert(chain.length === best.depth, 'the prefix chain has one node per linearized operation');
  return {
    operations: chain,
    state: replay(chain),
    blocked: ops[best.blocked] as Operation,
    pending: best.pending.filter((i) => i !== best.blocked).map((i) => ops[i] as Operation),
  };
}

// ---------------------------------------------------------------------------------------------
// Reports

const MAX_PREFIX_SHOWN = 5;

function explain(key: string, w: Witness, searched: number): string {
  const lines: string[] = [];
  lines.push(
    `key ${JSON.stringify(key)} is not linearizable: no order of its ${searched} operations fits both real time and a register. ` +
      `The search got furthest with ${w.operations.length} of them in order, leaving the value ${JSON.stringify(w.state)}; then:`,
  );
  lines.push(`  blocked:    ${describeOperation(w.blocked)} — ${blockedReason(w.blocked, w.state)}`);
  const tail = w.operations.slice(-MAX_PREFIX_SHOWN);
  if (tail.length > 0) {
    const skipped = w.operations.length - tail.length;
    lines.push(`  linearized: ${skipped > 0 ? `… ${skipped} earlier, then ` : ''}${tail.map(describeOperation).join('; ')}`);
  }
  if (w.pending.length > 0) lines.push(`  concurrent: ${w.pending.map(describeOperation).join('; ')}`);
  return lines.join('\n');
}

function blockedReason(op: Operation, state: JsonValue): string {
  const held = `the value is ${JSON.stringify(state)}`;
  const orders = 'and no order of the concurrent operations lets it take effect before it returned';
  if (op.f === 'read' && !sameValue(op.output, state)) return `it read ${JSON.stringify(op.output)} but ${held}, ${orders}`;
  if (op.f === 'cas' && op.status === 'ok') {
    const [e] = casPair(op);
    if (op.output === false && sameValue(e, state)) return `its comparison with ${JSON.stringify(e)} failed but ${held}, ${orders}`;
    if (op.output !== false && !sameValue(e, state)) return `it expected ${JSON.stringify(e)} but ${held}, ${orders}`;
  }
  return 'it must take effect before it returned, but every order of the concurrent operations that allows it leads to a state already ruled out';
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`linearizability checker: ${message}`);
}
