/**
 * Membership changes, one at a time: their encoding in `confChange` entries, and the pure
 * function that applies one to a configuration.
 *
 * Encoding (version 1): byte 0 = 1; byte 1 = type (1 addNode, 2 addLearner, 3 removeNode);
 * bytes 2-3 = node id length in UTF-8 bytes (big-endian); the id; then the context to the end.
 */
import { assert } from './assert.js';
import type { ConfChange, ConfChangeType, ConfState } from './types.js';

const VERSION = 1;
const TYPE_CODES: Record<ConfChangeType, number> = { addNode: 1, addLearner: 2, removeNode: 3 };
const CODE_TYPES: ConfChangeType[] = ['addNode', 'addNode', 'addLearner', 'removeNode'];
const MAX_ID_BYTES = 0xffff;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const code = TYPE_CODES[cc.type];
  assert(code !== undefined, () => `unknown conf change type ${String(cc.type)}`);
  assert(typeof cc.nodeId === 'string' && cc.nodeId.length > 0, 'conf change needs a node id');
  const id = encoder.encode(cc.nodeId);
  assert(id.length <= MAX_ID_BYTES, 'conf change node id too long');
  const ctx = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(4 + id.length + ctx.length);
  out[0] = VERSION;
  out[1] = code;
  out[2] = id.length >> 8;
  out[3] = id.length & 0xff;
  out.set(id, 4);
  out.set(ctx, 4 + id.length);
  return out;
}

/** Decodes a `confChange` entry's data. Throws an AssertionError on malformed data. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  assert(data.length >= 4 && data[0] === VERSION, 'malformed conf change (version)');
  const code = data[1]!;
  assert(code >= 1 && code <= 3, () => `malformed conf change (type ${code})`);
  const idLen = (data[2]! << 8) | data[3]!;
  assert(idLen > 0 && 4 + idLen <= data.length, 'malformed conf change (id length)');
  const nodeId = decoder.decode(data.subarray(4, 4 + idLen));
  const rest = data.subarray(4 + idLen);
  const type = CODE_TYPES[code]!;
  return rest.length > 0 ? { type, nodeId, context: rest.slice() } : { type, nodeId };
}

/**
 * The configuration after `cc`, or an error string if the change is not allowed: it would leave
 * no voter. Every node applies the same committed changes in the same order, so refusing one
 * (leaving the configuration unchanged) is deterministic across the cluster.
 */
export function applyConfChangeToState(cs: ConfState, cc: ConfChange): ConfState | string {
  const voters = new Set(cs.voters);
  const learners = new Set(cs.learners);
  switch (cc.type) {
    case 'addNode':
      learners.delete(cc.nodeId);
      voters.add(cc.nodeId);
      break;
    case 'addLearner':
      voters.delete(cc.nodeId);
      learners.add(cc.nodeId);
      break;
    case 'removeNode':
      voters.delete(cc.nodeId);
      learners.delete(cc.nodeId);
      break;
    default:
      return `unknown conf change type ${String((cc as ConfChange).type)}`;
  }
  if (voters.size === 0) return 'removed all voters';
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}
