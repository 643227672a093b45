/**
 * The wire codec between actors: msgpack frames, each one self-describing (no record
 * structures shared across frames), copied into an exact-size ArrayBuffer that can be
 * transferred. A frame carries the envelopes one sender turn produced for one destination.
 *
 * Frames use msgpackr's records: the first object of each shape in a frame carries its keys,
 * the others refer to it (a frame of a thousand replies names their fields once, and decodes
 * three to four times faster). The definitions live in the frame and are forgotten after it,
 * so any frame decodes alone, with a fresh decoder, in any order.
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

/** Frames: records within a frame, none shared across frames (no `structures`). */
const framePackr = new Packr({ useRecords: true, moreTypes: false, bundleStrings: false });
/** Single values (stores, snapshots, SimHost's wire): plain maps. */
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

/**
 * Frame layout: one msgpack array `[names, run, run, ...]`. A run is the envelopes of one kind
 * between the same two actors, in order: `kind, to, from, count`, then `count` payloads for
 * sends, or `count` pairs `askId, payload` for asks and replies. `names` lists the actor ids
 * the frame mentions and `to` / `from` are indexes into it. A burst of sends from one actor to
 * another thus costs one payload each on the wire. The table lives in the frame itself: a lost
 * frame never affects the decoding of another.
 *
 * Sends whose payloads are strings travel as a string column: a run of kind `SEND_STRINGS`
 * holds the strings' lengths (in UTF-16 code units) and then all of them joined into one
 * string, which the receiver cuts apart again. Encoding a string is a call into native code
 * that costs about the same for ten bytes as for a few thousand; the column makes it one call
 * per run instead of one per message, on both sides.
 */
const RUN_HEADER = 4;
/** Wire-only run kind: a run of sends with string payloads, as `lengths, joined`. */
const SEND_STRINGS = 4;
/** Fewer strings than this in a run go one by one: the column only pays off for several. */
const MIN_COLUMN = 2;
/**
 * Longer strings go one by one: for them the call costs little next to the bytes, and joining
 * them would copy the bytes once more.
 */
const COLUMN_MAX_CHARS = 256;

/** Who put envelopes in a frame: sender ids and how many each, as parallel lists. */
export interface Senders {
  ids: string[];
  counts: number[];
}

/**
 * The frame one turn is building for one destination thread. Envelopes are appended straight
 * into the frame's run layout, so a burst of sends allocates nothing per message.
 */
export class FrameBuilder {
  private flat: unknown[] = [[]];
  private names: string[] = this.flat[0] as string[];
  /** Index of the current run's count, or -1 before the first run. */
  private run = -1;
  /** The current run's kind on the wire (SEND_STRINGS for a string column), or -1. */
  private kind = -1;
  private to = '';
  private from = '';
  /** The strings of the current SEND_STRINGS run, until it closes. */
  private column: string[] = [];
  /** Envelopes added since the last take(). */
  count = 0;
  private readonly senderLists: Senders = { ids: [], counts: [] };

  /** @param slot the destination thread's slot (the router's own bookkeeping). */
  constructor(readonly slot = -1) {}

  add(kind: EnvelopeKind, to: string, from: string, askId: number, payload: unknown): void {
    const flat = this.flat;
    const wireKind = kind === SEND && typeof payload === 'string' && payload.length < COLUMN_MAX_CHARS ? SEND_STRINGS : kind;
    if (wireKind !== this.kind || to !== this.to || from !== this.from) {
      if (this.kind === SEND_STRINGS) this.closeColumn();
      this.kind = wireKind;
      this.to = to;
      this.from = from;
      flat.push(wireKind, nameIndex(this.names, to), nameIndex(this.names, from), 0);
      this.run = flat.length - 1;
    }
    (flat[this.run] as number)++;
    if (wireKind === SEND_STRINGS) this.column.push(payload as string);
    else if (kind === SEND) flat.push(payload);
    else flat.push(askId, payload);
    this.count++;
  }

  /** Ends the current string run: its strings go as one column, or one by one if few. */
  private closeColumn(): void {
    const strings = this.column;
    this.column = [];
    this.kind = -1;
    if (strings.length < MIN_COLUMN) {
      this.flat[this.run - 3] = SEND;
      for (const s of strings) this.flat.push(s);
      return;
    }
    const lengths = new Array<number>(strings.length);
    for (let k = 0; k < strings.length; k++) lengths[k] = strings[k]!.length;
    this.flat.push(lengths, strings.join(''));
  }

  /**
   * The senders of the envelopes added so far, with how many each sent, as two parallel lists
   * (reused: valid until the next call).
   */
  senders(): Senders {
    if (this.kind === SEND_STRINGS) this.closeColumn();
    const out = this.senderLists;
    out.ids.length = 0;
    out.counts.length = 0;
    const flat = this.flat;
    for (let j = 1; j < flat.length; ) {
      const from = this.names[flat[j + 2] as number]!;
      const n = flat[j + 3] as number;
      let k = out.ids.indexOf(from);
      if (k < 0) k = out.ids.push(from) - 1;
      out.counts[k] = (out.counts[k] ?? 0) + n;
      const kind = flat[j];
      j += RUN_HEADER + (kind === SEND_STRINGS ? 2 : kind === SEND ? n : 2 * n);
    }
    return out;
  }

  /** Encodes the frame into a fresh exact-size ArrayBuffer and starts an empty one. */
  take(): ArrayBuffer {
    if (this.kind === SEND_STRINGS) this.closeColumn();
    const flat = this.flat;
    this.flat = [[]];
    this.names = this.flat[0] as string[];
    this.run = -1;
    this.kind = -1;
    this.count = 0;
    return packFrame(flat);
  }
}

/**
 * msgpackr packs into the tail of its current buffer and allocates a new one when little room is
 * left; frames are copied out at once, so every frame starts at the front of this one instead.
 */
const frameBuffer = Buffer.allocUnsafeSlow(1 << 20);

function packFrame(flat: unknown[]): ArrayBuffer {
  framePackr.useBuffer(frameBuffer);
  // pack() returns a view into msgpackr's buffer: copy it out before anyone packs again.
  const view = framePackr.pack(flat) as Buffer;
  // A plain ArrayBuffer of exactly the frame's size (cheaper to make than a Buffer's).
  const out = new ArrayBuffer(view.byteLength);
  new Uint8Array(out).set(view);
  return out;
}

/** Encodes envelopes into a fresh ArrayBuffer of exactly the frame's size. */
export function encodeFrame(envelopes: Envelope[]): ArrayBuffer {
  const builder = new FrameBuilder();
  for (const e of envelopes) builder.add(e[0], e[1], e[2], e[3], e[4]);
  return builder.take();
}

function nameIndex(names: string[], name: string): number {
  // Frames name few actors: a linear scan beats a Map here.
  for (let k = 0; k < names.length; k++) if (names[k] === name) return k;
  return names.push(name) - 1;
}

/** A frame decoded and checked: its runs, ready to be walked by `forEachEnvelope`. */
export interface DecodedFrame {
  flat: unknown[];
  /** Envelopes in the frame. */
  count: number;
}

/**
 * Decodes a frame and checks every run before anything is delivered; throws on malformed input
 * (the caller drops and counts it), so a frame is taken whole or not at all.
 */
export function unpackFrame(frame: ArrayBuffer | Uint8Array): DecodedFrame {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  const flat = framePackr.unpack(bytes) as unknown[];
  if (!Array.isArray(flat) || flat.length < 1 + RUN_HEADER || !Array.isArray(flat[0])) {
    throw new Error('frame is not a list of envelopes');
  }
  const names = flat[0] as unknown[];
  let envelopes = 0;
  let j = 1;
  while (j < flat.length) {
    if (j + RUN_HEADER > flat.length) throw new Error(`truncated run at item ${j} of the frame`);
    const kind = flat[j];
    const to = names[flat[j + 1] as number];
    const from = names[flat[j + 2] as number];
    const count = flat[j + 3];
    j += RUN_HEADER;
    if (typeof to !== 'string' || typeof from !== 'string' || !(kind === 0 || kind === 1 || kind === 2 || kind === 3 || kind === SEND_STRINGS) || typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
      throw new Error(`malformed run header at item ${j - RUN_HEADER} of the frame`);
    }
    envelopes += count;
    if (kind === SEND_STRINGS) {
      const lengths = flat[j];
      const joined = flat[j + 1];
      if (!Array.isArray(lengths) || lengths.length !== count || typeof joined !== 'string') {
        throw new Error(`malformed string column at item ${j - RUN_HEADER} of the frame`);
      }
      let at = 0;
      for (const n of lengths) {
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) at = NaN; // stays NaN: the check below fails
        else at += n;
      }
      if (at !== joined.length) throw new Error(`string column at item ${j - RUN_HEADER} of the frame does not add up`);
      j += 2;
      continue;
    }
    const width = kind === SEND ? 1 : 2;
    if (j + count * width > flat.length) throw new Error(`run at item ${j - RUN_HEADER} announces ${count} envelopes the frame does not hold`);
    if (kind !== SEND) {
      for (let k = 0; k < count; k++, j += 2) {
        if (typeof flat[j] !== 'number') throw new Error(`malformed ask id at item ${j} of the frame`);
      }
    } else j += count;
  }
  return { flat, count: envelopes };
}

export type EnvelopeVisitor = (kind: EnvelopeKind, to: string, from: string, askId: number, payload: unknown) => void;

/** Calls `visit` with the parts of every envelope of a frame `unpackFrame` checked, in order. */
export function forEachEnvelope(frame: DecodedFrame, visit: EnvelopeVisitor): void {
  const flat = frame.flat;
  const names = flat[0] as string[];
  let j = 1;
  while (j < flat.length) {
    const kind = flat[j] as EnvelopeKind | typeof SEND_STRINGS;
    const to = names[flat[j + 1] as number]!;
    const from = names[flat[j + 2] as number]!;
    const count = flat[j + 3] as number;
    j += RUN_HEADER;
    if (kind === SEND_STRINGS) {
      const lengths = flat[j] as number[];
      const joined = flat[j + 1] as string;
      let at = 0;
      for (let k = 0; k < count; k++) visit(SEND, to, from, 0, joined.slice(at, (at += lengths[k]!)));
      j += 2;
    } else if (kind === SEND) {
      for (let k = 0; k < count; k++) visit(SEND, to, from, 0, flat[j++]);
    } else {
      for (let k = 0; k < count; k++, j += 2) visit(kind, to, from, flat[j] as number, flat[j + 1]);
    }
  }
}

/** Decodes a frame into envelopes; throws on malformed input. */
export function decodeFrame(frame: ArrayBuffer | Uint8Array): Envelope[] {
  const out: Envelope[] = [];
  forEachEnvelope(unpackFrame(frame), (kind, to, from, askId, payload) => out.push([kind, to, from, askId, payload]));
  return out;
}

/** Encodes one value (for stores and snapshots). Returns an exact-size copy. */
export function encodeValue(value: unknown): Uint8Array {
  return Uint8Array.prototype.slice.call(packr.pack(value));
}

export function decodeValue<T = unknown>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}
