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

/** Encodes envelopes into a fresh ArrayBuffer of exactly the frame's size. */
export function encodeFrame(envelopes: Envelope[]): ArrayBuffer {
  // pack() returns a view into msgpackr's shared buffer: copy it out before anyone packs again.
  const view = packr.pack(envelopes);
  const out = new ArrayBuffer(view.byteLength);
  new Uint8Array(out).set(view);
  return out;
}

/** Decodes a frame; throws on malformed input (the caller drops and counts it). */
export function decodeFrame(frame: ArrayBuffer | Uint8Array): Envelope[] {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  const value = packr.unpack(bytes);
  if (!Array.isArray(value)) throw new Error('frame is not an array of envelopes');
  for (const env of value) {
    if (!Array.isArray(env) || env.length !== 5 || typeof env[1] !== 'string' || typeof env[2] !== 'string') {
      throw new Error('malformed envelope in frame');
    }
  }
  return value as Envelope[];
}

/** Encodes one value (for stores and snapshots). Returns an exact-size copy. */
export function encodeValue(value: unknown): Uint8Array {
  return Uint8Array.prototype.slice.call(packr.pack(value));
}

export function decodeValue<T = unknown>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}
