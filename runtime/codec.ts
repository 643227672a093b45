/**
 * The wire codec between actors: msgpack frames, each one self-describing (no record
 * structures shared across frames), copied into an exact-size ArrayBuffer that can be
 * transferred. A frame carries the envelopes one sender turn produced for one destination.
 */
import { Packr } from 'msgpackr';

/** Envelope kinds. */
export const SEND = 0;
export const ASK = 1;
export const REPLY = 2;
export const REPLY_ERROR = 3;
export type EnvelopeKind = typeof SEND | typeof ASK | typeof REPLY | typeof REPLY_ERROR;

/**
 * `[kind, to, from, askId, payload]`: askId is 0 for plain sends. Payloads are msgpack values;
 * an object key `__proto__` arrives as `__proto_` (msgpackr's guard against prototype pollution).
 */
export type Envelope = [EnvelopeKind, string, string, number, unknown];

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

/**
 * Frame layout: one msgpack array `[names, run, run, ...]`. A run is the envelopes of one kind
 * between the same two actors, in order: `kind, to, from, count`, then `count` payloads for
 * sends, or `count` pairs `askId, payload` for asks and replies. `names` lists the actor ids
 * the frame mentions and `to` / `from` are indexes into it. A burst of sends from one actor to
 * another thus costs one payload each on the wire. The table lives in the frame itself: a lost
 * frame never affects the decoding of another.
 */
const RUN_HEADER = 4;

/** Encodes envelopes into a fresh ArrayBuffer of exactly the frame's size. */
export function encodeFrame(envelopes: Envelope[]): ArrayBuffer {
  // Frames name few actors: a linear scan beats a Map here.
  const names: string[] = [];
  const n = envelopes.length;
  const flat = scratch;
  flat[0] = names;
  let j = 1;
  for (let i = 0; i < n; ) {
    const first = envelopes[i]!;
    const kind = first[0];
    const to = first[1];
    const from = first[2];
    let end = i + 1;
    while (end < n) {
      const e = envelopes[end]!;
      if (e[0] !== kind || e[1] !== to || e[2] !== from) break;
      end++;
    }
    flat[j++] = kind;
    flat[j++] = nameIndex(names, to);
    flat[j++] = nameIndex(names, from);
    flat[j++] = end - i;
    if (kind === SEND) {
      for (let k = i; k < end; k++) flat[j++] = envelopes[k]![4];
    } else {
      for (let k = i; k < end; k++) {
        const e = envelopes[k]!;
        flat[j++] = e[3];
        flat[j++] = e[4];
      }
    }
    i = end;
  }
  flat.length = j;
  // pack() returns a view into msgpackr's shared buffer: copy it out before anyone packs again.
  const view = packr.pack(flat);
  flat.length = 0; // hold no payloads between frames
  const out = new ArrayBuffer(view.byteLength);
  new Uint8Array(out).set(view);
  return out;
}

/** Reused by every encodeFrame call (frames are encoded one at a time on a thread). */
const scratch: unknown[] = [];

function nameIndex(names: string[], name: string): number {
  for (let k = 0; k < names.length; k++) if (names[k] === name) return k;
  return names.push(name) - 1;
}

/** Decodes a frame; throws on malformed input (the caller drops and counts it). */
export function decodeFrame(frame: ArrayBuffer | Uint8Array): Envelope[] {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  const flat = packr.unpack(bytes) as unknown[];
  if (!Array.isArray(flat) || flat.length < 1 + RUN_HEADER || !Array.isArray(flat[0])) {
    throw new Error('frame is not a list of envelopes');
  }
  const names = flat[0] as unknown[];
  const out: Envelope[] = [];
  let j = 1;
  while (j < flat.length) {
    if (j + RUN_HEADER > flat.length) throw new Error(`truncated run at item ${j} of the frame`);
    const kind = flat[j];
    const to = names[flat[j + 1] as number];
    const from = names[flat[j + 2] as number];
    const count = flat[j + 3];
    j += RUN_HEADER;
    if (typeof to !== 'string' || typeof from !== 'string' || !(kind === 0 || kind === 1 || kind === 2 || kind === 3) || typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
      throw new Error(`malformed run header at item ${j - RUN_HEADER} of the frame`);
    }
    const width = kind === SEND ? 1 : 2;
    if (j + count * width > flat.length) throw new Error(`run at item ${j - RUN_HEADER} announces ${count} envelopes the frame does not hold`);
    if (kind === SEND) {
      for (let k = 0; k < count; k++) out.push([SEND, to, from, 0, flat[j++]]);
    } else {
      for (let k = 0; k < count; k++) {
        const askId = flat[j++];
        if (typeof askId !== 'number') throw new Error(`malformed ask id at item ${j - 1} of the frame`);
        out.push([kind, to, from, askId, flat[j++]]);
      }
    }
  }
  return out;
}

/** Encodes one value (for stores and snapshots). Returns an exact-size copy. */
export function encodeValue(value: unknown): Uint8Array {
  return Uint8Array.prototype.slice.call(packr.pack(value));
}

export function decodeValue<T = unknown>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}
