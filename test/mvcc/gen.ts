/** fast-check arbitraries for MVCC commands over a small key space, and a log harness. */
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { prefixEnd, type Command, type Compare, type Proposal, type RequestOp } from '../../raft/mvcc/commands.js';
import type { LogEntry } from '../../raft/mvcc/store.js';

export const keys = ['a', 'a/1', 'a/2', 'b', 'c', 'd/x'];
export const leaseIds = [100, 101, 102];

/** Drops undefined fields, as a client building a request would. */
function compact<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

const key = fc.constantFrom(...keys);
const value = fc.uint8Array({ minLength: 0, maxLength: 3, max: 3 });
const rangeSpec = fc.oneof(
  { arbitrary: key.map((k) => ({ key: k, rangeEnd: undefined as string | undefined })), weight: 3 },
  { arbitrary: key.map((k) => ({ key: k, rangeEnd: prefixEnd(k) })), weight: 2 },
  { arbitrary: key.map((k) => ({ key: k, rangeEnd: '\0' })), weight: 1 },
  { arbitrary: fc.tuple(key, key).map(([k, e]) => ({ key: k, rangeEnd: e })), weight: 1 },
);
const smallRev = fc.integer({ min: 0, max: 25 });

export const putCmd = fc
  .record({
    key,
    value,
    lease: fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.constantFrom(...leaseIds), weight: 1 }),
    prevKv: fc.boolean(),
    ignore: fc.oneof(
      { arbitrary: fc.constant('none'), weight: 12 },
      { arbitrary: fc.constantFrom('value', 'lease', 'both'), weight: 1 },
    ),
  })
  .map(({ key, value, lease, prevKv, ignore }) =>
    compact({
      type: 'put' as const,
      key,
      value: ignore === 'value' || ignore === 'both' ? undefined : value,
      lease: ignore === 'lease' || ignore === 'both' ? undefined : lease,
      prevKv: prevKv || undefined,
      ignoreValue: ignore === 'value' || ignore === 'both' || undefined,
      ignoreLease: ignore === 'lease' || ignore === 'both' || undefined,
    }),
  );

export const rangeCmd = fc
  .record({
    spec: rangeSpec,
    limit: fc.constantFrom(undefined, 0, 1, 2),
    revision: fc.oneof({ arbitrary: fc.constant(undefined), weight: 2 }, { arbitrary: smallRev, weight: 1 }),
    countOnly: fc.constantFrom(undefined, undefined, undefined, true),
    keysOnly: fc.constantFrom(undefined, undefined, true),
    sortOrder: fc.constantFrom(undefined, undefined, 'none' as const, 'ascend' as const, 'descend' as const),
    sortTarget: fc.constantFrom(
      undefined,
      undefined,
      'key' as const,
      'version' as const,
      'createRevision' as const,
      'modRevision' as const,
      'value' as const,
    ),
  })
  .map(({ spec, ...rest }) => compact({ type: 'range' as const, ...spec, ...rest }));

export const deleteCmd = fc
  .record({ spec: rangeSpec, prevKv: fc.constantFrom(undefined, true) })
  .map(({ spec, prevKv }) => compact({ type: 'deleteRange' as const, ...spec, prevKv }));

const compareArb: fc.Arbitrary<Compare> = fc.oneof(
  fc
    .record({ spec: rangeSpec, result: fc.constantFrom('=', '!=', '<', '>' as const), operand: value })
    .map(({ spec, result, operand }) => compact({ ...spec, target: 'value' as const, result, operand })),
  fc
    .record({
      spec: rangeSpec,
      target: fc.constantFrom('version' as const, 'createRevision' as const, 'modRevision' as const, 'lease' as const),
      result: fc.constantFrom('=', '!=', '<', '>' as const),
      operand: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(...leaseIds)),
    })
    .map(({ spec, target, result, operand }) => compact({ ...spec, target, result, operand })),
);

const txnArb = fc.letrec<{ txn: Command; op: RequestOp }>((tie) => ({
  txn: fc.record({
    type: fc.constant('txn' as const),
    compare: fc.array(compareArb, { maxLength: 2 }),
    success: fc.array(tie('op') as fc.Arbitrary<RequestOp>, { maxLength: 3 }),
    failure: fc.array(tie('op') as fc.Arbitrary<RequestOp>, { maxLength: 3 }),
  }),
  op: fc.oneof(
    { depthSize: 'small', maxDepth: 2 },
    { arbitrary: putCmd, weight: 4 },
    { arbitrary: rangeCmd, weight: 2 },
    { arbitrary: deleteCmd, weight: 1 },
    { arbitrary: tie('txn') as fc.Arbitrary<RequestOp>, weight: 1 },
  ),
})).txn;

export const leaseCmd: fc.Arbitrary<Command> = fc.oneof(
  fc
    .record({ id: fc.constantFrom(0, ...leaseIds), ttlSeconds: fc.constantFrom(5, 10, 0) })
    .map(({ id, ttlSeconds }) => compact({ type: 'leaseGrant' as const, id: id === 0 ? undefined : id, ttlSeconds })),
  fc
    .record({ id: fc.constantFrom(...leaseIds), ttlSeconds: fc.constant(5) })
    .map(({ id, ttlSeconds }) => ({ type: 'leaseGrant' as const, id, ttlSeconds })),
  fc
    .oneof({ arbitrary: fc.constantFrom(...leaseIds), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 120 }), weight: 1 })
    .map((id) => ({ type: 'leaseRevoke' as const, id })),
  fc.constantFrom(...leaseIds).map((id) => ({ type: 'leaseRevoke' as const, id })),
  fc
    .record({ id: fc.constantFrom(...leaseIds), remainingTtlSeconds: fc.integer({ min: 0, max: 9 }) })
    .map((c) => ({ type: 'leaseCheckpoint' as const, checkpoints: [c] })),
);

export const compactCmd: fc.Arbitrary<Command> = fc.integer({ min: 1, max: 25 }).map((revision) => ({ type: 'compact', revision }));

export const command: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: putCmd, weight: 8 },
  { arbitrary: rangeCmd, weight: 3 },
  { arbitrary: deleteCmd, weight: 2 },
  { arbitrary: txnArb, weight: 3 },
  { arbitrary: leaseCmd, weight: 3 },
  { arbitrary: compactCmd, weight: 1 },
);

export type SeqMode = 'next' | 'retry' | 'stale';

export interface Step {
  client: string;
  seqMode: SeqMode;
  /** null: a no-op log entry. */
  cmd: Command | null;
  /** Put the payload in the log as msgpack bytes (else as the decoded proposal). */
  encoded: boolean;
}

export const step: fc.Arbitrary<Step> = fc.record({
  client: fc.constantFrom('', 'c1', 'c2', 'c3', 'c4'),
  seqMode: fc.constantFrom('next', 'next', 'next', 'next', 'retry', 'stale') as fc.Arbitrary<SeqMode>,
  cmd: fc.oneof({ arbitrary: command, weight: 20 }, { arbitrary: fc.constant(null), weight: 1 }),
  encoded: fc.boolean(),
});

/** Turns steps into log entries, numbering client seqs (retries repeat the last one). */
export function toEntries(steps: Step[], firstIndex = 1): { entry: LogEntry; proposal: Proposal | null }[] {
  const lastSeq = new Map<string, number>();
  return steps.map((s, i) => {
    const index = firstIndex + i;
    if (s.cmd === null) return { entry: { index, data: s.encoded ? new Uint8Array(0) : null }, proposal: null };
    const last = lastSeq.get(s.client) ?? 0;
    let seq = last + 1;
    if (s.seqMode === 'retry' && last > 0) seq = last;
    if (s.seqMode === 'stale' && last > 1) seq = last - 1;
    lastSeq.set(s.client, Math.max(last, seq));
    const proposal: Proposal = { client: s.client, seq: s.client === '' ? 0 : seq, cmd: s.cmd };
    return { entry: { index, data: s.encoded ? new Uint8Array(pack(proposal)) : proposal }, proposal };
  });
}

/** Splits `items` into consecutive batches of the given sizes (cycled). */
export function batches<T>(items: T[], sizes: number[]): T[][] {
  const out: T[][] = [];
  let i = 0;
  let k = 0;
  while (i < items.length) {
    const n = Math.max(1, sizes.length ? sizes[k++ % sizes.length]! : items.length);
    out.push(items.slice(i, i + n));
    i += n;
  }
  return out;
}

/**
 * The proposals of `steps` (no-ops left out) in entries that hold several each, as a leader
 * batches the proposals of one turn: group sizes cycle through `sizes`.
 */
export function sharedEntries(steps: Step[], sizes: number[], firstIndex = 1): { entry: LogEntry; proposals: Proposal[] }[] {
  const proposals = toEntries(steps).flatMap((e) => (e.proposal ? [e.proposal] : []));
  return batches(proposals, sizes).map((group, i) => ({ entry: { index: firstIndex + i, data: group }, proposals: group }));
}
