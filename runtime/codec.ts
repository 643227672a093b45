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

/** `[kind, to, from, askId, payload]`: askId is 0 for plain sends. */
export type Envelope = [EnvelopeKind, string, string, number, unknown];

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

/**
 * Frame layout: one msgpack array `[names, kind, to, from, askId, payload, kind, to, ...]`.
 * `names` lists the actor ids the frame mentions and `to` / `from` are indexes into it, so a
 * frame of many messages between the same two actors carries each id once. The table lives in
 * the frame itself: a lost frame never affects the decoding of another.
 */
const FIELDS = 5;

/** Encodes envelopes into a fresh ArrayBuffer of exactly the frame's size. */
export function encodeFrame(envelopes: Envelope[]): ArrayBuffer {
  // Frames name few actors: a linear scan beats a Map here.
  const names: string[] = [];
  const n = envelopes.length;
  const flat = scratch;
  flat.length = 1 + n * FIELDS;
  flat[0] = names;
  for (let i = 0, j = 1; i < n; i++) {
    const env = envelopes[i]!;
    flat[j++] = env[0];
    flat[j++] = nameIndex(names, env[1]);
    flat[j++] = nameIndex(names, env[2]);
    flat[j++] = env[3];
    flat[j++] = env[4];
  }
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
  if (!Array.isArray(flat) || (flat.length - 1) % FIELDS !== 0 || !Array.isArray(flat[0])) {
    throw new Error('frame is not a list of envelopes');
  }
  const names = flat[0] as unknown[];
  const count = (flat.length - 1) / FIELDS;
  const out: Envelope[] = new Array(count);
  for (let i = 0, j = 1; i < count; i++, j += FIELDS) {
    const kind = flat[j];
    const to = names[flat[j + 1] as number];
    const from = names[flat[j + 2] as number];
    const askId = flat[j + 3];
    if (typeof to !== 'string' || typeof from !== 'string' || typeof askId !== 'number' || !(kind === 0 || kind === 1 || kind === 2 || kind === 3)) {
      throw new Error(`malformed envelope ${i} in frame`);
    }
    out[i] = [kind, to, from, askId, flat[j + 4]];
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
