/**
 * The msgpack encoding of the MVCC backend's two hot values, written by hand, and how they are
 * read back.
 *
 * Every write puts one revision row, and every batch one client journal record, `[client,
 * record | null, ...]`. The generic encoder spent more time on them than the backend spent
 * storing them. This writer produces standard msgpack into one reused buffer (MsgpackWriter);
 * any msgpack decoder, the backend's included, reads them back unchanged.
 */
import { Packr } from 'msgpackr';
import { MsgpackWriter } from './msgpack-writer.js';
import type { Response } from './commands.js';
import type { ClientRecord, StoredRecord } from './store.js';

/**
 * A revision row: [key, value, createRevision, modRevision, version, lease, (1 = tombstone)].
 * The row's backend key is its revision, so modRevision is written as 0 (read: the key's main
 * revision), and so is createRevision when it equals modRevision (a key's first version; a
 * tombstone's createRevision is 0 anyway): 8 bytes less a record than writing them out. Rows
 * written out in full, and records stored as objects (both from before), read the same.
 */
const EMPTY = new Uint8Array(0);

/** A backend row, stored under main revision `main`, back to a record. */
export function fromRow(v: unknown, main: number): StoredRecord {
  if (!Array.isArray(v)) return v as StoredRecord;
  const mod = v[3] === 0 ? main : (v[3] as number);
  const tombstone = v[6] === 1;
  const create = v[2] === 0 && !tombstone ? mod : (v[2] as number);
  const r: StoredRecord = { key: v[0], value: v[1], createRevision: create, modRevision: mod, version: v[4], lease: v[5] };
  if (tombstone) r.tombstone = true;
  return r;
}

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

  /** The row of a live record written at main revision `mod` (see the layout above). */
  live(key: string, value: Uint8Array, create: number, mod: number, version: number, lease: number): Uint8Array {
    return this.row(key, value, create === mod ? 0 : create, version, lease, false);
  }

  /** The row of a tombstone (its revision, like every row's, is its backend key). */
  tombstone(key: string): Uint8Array {
    return this.row(key, EMPTY, 0, 0, 0, true);
  }

  /** The row of a record, live or tombstone. */
  record(r: StoredRecord): Uint8Array {
    return r.tombstone === true ? this.tombstone(r.key) : this.live(r.key, r.value, r.createRevision, r.modRevision, r.version, r.lease);
  }

  private row(key: string, value: Uint8Array, create: number, version: number, lease: number, tombstone: boolean): Uint8Array {
    // Worst case: array header, 5-byte str header + 3 bytes per UTF-16 unit, 5-byte bin header,
    // five numbers of 9 bytes.
    this.begin(1 + 5 + key.length * 3 + 5 + value.length + 5 * 9);
    this.buf[0] = tombstone ? 0x97 : 0x96;
    this.pos = 1;
    this.str(key);
    this.bin(value);
    this.uint(create);
    this.uint(0); // modRevision: the row's key
    this.uint(version);
    this.uint(lease);
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
