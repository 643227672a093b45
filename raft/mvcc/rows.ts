/**
 * The msgpack encoding of the MVCC backend's two hot values, written by hand.
 *
 * Every write puts one revision row, `[key, value, createRevision, 0, version, lease]` (a
 * tombstone adds a seventh item), and every batch one client journal record, `[client,
 * record | null, ...]`. The generic encoder spent more time on them than the backend spent
 * storing them. This writer produces standard msgpack into one reused buffer (MsgpackWriter);
 * any msgpack decoder, the backend's included, reads them back unchanged.
 */
import { Packr } from 'msgpackr';
import { MsgpackWriter } from './msgpack-writer.js';
import type { Response } from './commands.js';
import type { ClientRecord } from './store.js';

/** Responses other than a plain put's, as plain maps. */
const generic = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

/** One writer per store: each call returns a view into a buffer the next call reuses. */
export class RowWriter extends MsgpackWriter {
  /**
   * A journal record: `[client, record, client, record, ...]` for `clients` in order, with
   * `null` for a client that is gone. A record is `[seq, index, revision, response]`, and
   * `at` as a fifth item when it is not 0. A put's plain response (`{type: 'put', revision}`)
   * is written as its revision alone; any other response as a map. `readJournalRecord` reads
   * them back.
   */
  journal(clients: Iterable<string>, count: number, lookup: (client: string) => ClientRecord | undefined): Uint8Array {
    this.begin(5);
    this.arrayHeader(count * 2);
    for (const client of clients) {
      // The client, an array header and four numbers.
      this.ensure(5 + client.length * 3 + 1 + 4 * 9);
      this.str(client);
      const r = lookup(client);
      if (r === undefined) {
        this.buf[this.pos++] = 0xc0;
        continue;
      }
      const at = r.at ?? 0;
      this.buf[this.pos++] = at > 0 ? 0x95 : 0x94;
      this.uint(r.seq);
      this.uint(r.index);
      this.uint(r.revision);
      const res = r.response;
      if (res === null) this.buf[this.pos++] = 0xc0;
      else if (res.type === 'put' && res.prevKv === undefined) this.uint(res.revision);
      else {
        const bytes = generic.pack(res);
        this.ensure(bytes.length + 9);
        this.buf.set(bytes, this.pos);
        this.pos += bytes.length;
      }
      if (at > 0) this.uint(at);
    }
    return this.written();
  }

  /** The msgpack bytes of `[key, value, ...ints]`; valid until the next call. */
  row(key: string, value: Uint8Array, a: number, b: number, c: number, d: number, tombstone: boolean): Uint8Array {
    // Worst case: array header, 5-byte str header + 3 bytes per UTF-16 unit, 5-byte bin header,
    // five numbers of 9 bytes.
    this.begin(1 + 5 + key.length * 3 + 5 + value.length + 5 * 9);
    this.buf[0] = tombstone ? 0x97 : 0x96;
    this.pos = 1;
    this.str(key);
    this.bin(value);
    this.uint(a);
    this.uint(b);
    this.uint(c);
    this.uint(d);
    if (tombstone) this.uint(1);
    return this.written();
  }
}

/**
 * A journal record back from what the backend decoded (see `RowWriter.journal`); a record of
 * the older layout (an object) as it is. Maps in a response (the backend decodes msgpack maps
 * as Maps) become plain objects.
 */
export function readJournalRecord(x: unknown): ClientRecord | null {
  if (x === null || x === undefined) return null;
  if (!Array.isArray(x)) return x as ClientRecord;
  const [seq, index, revision, res, at] = x as [number, number, number, unknown, number | undefined];
  const response = (typeof res === 'number' ? { type: 'put', revision: res } : plainObjects(res)) as Response | null;
  // The fields in the order the state machine creates them: a snapshot taken after reading
  // the record back is then byte for byte the one taken before.
  const r: ClientRecord = { seq, index, revision, response };
  if (at !== undefined && at > 0) r.at = at;
  return r;
}

/** `x` with every Map in it turned into a plain object with string keys; arrays and bytes kept. */
function plainObjects(x: unknown): unknown {
  if (x instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of x) out[String(k)] = plainObjects(v);
    return out;
  }
  if (Array.isArray(x)) return x.map(plainObjects);
  if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) out[k] = plainObjects(v);
    return out;
  }
  return x;
}
