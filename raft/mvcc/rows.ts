/**
 * The msgpack encoding of the MVCC backend's two hot values, written by hand.
 *
 * Every write puts one revision row, `[key, value, createRevision, 0, version, lease]` (a
 * tombstone adds a seventh item), and every batch one client journal record, `[client,
 * record | null, ...]`. The generic encoder spent more time on them than the backend spent
 * storing them. This writer produces standard msgpack into one reused buffer; any msgpack
 * decoder, the backend's included, reads them back unchanged.
 */
import { Packr } from 'msgpackr';
import type { Response } from './commands.js';
import type { ClientRecord } from './store.js';

/** Responses other than a plain put's, as plain maps. */
const generic = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

/** One writer per store: each call returns a view into a buffer the next call reuses. */
export class RowWriter {
  private buf: Buffer = Buffer.allocUnsafeSlow(4096);
  private pos = 0;

  /** Room for `n` more bytes after `pos`, keeping what is written. */
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.pos + n, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  /**
   * A journal record: `[client, record, client, record, ...]` for `clients` in order, with
   * `null` for a client that is gone. A record is `[seq, index, revision, response]`, and
   * `at` as a fifth item when it is not 0. A put's plain response (`{type: 'put', revision}`)
   * is written as its revision alone; any other response as a map. `readJournalRecord` reads
   * them back.
   */
  journal(clients: Iterable<string>, count: number, lookup: (client: string) => ClientRecord | undefined): Uint8Array {
    this.pos = 0;
    this.ensure(5);
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
    return this.buf.subarray(0, this.pos);
  }

  private arrayHeader(n: number): void {
    const buf = this.buf;
    if (n < 16) buf[this.pos++] = 0x90 | n;
    else if (n < 0x10000) {
      buf[this.pos] = 0xdc;
      buf[this.pos + 1] = n >> 8;
      buf[this.pos + 2] = n & 0xff;
      this.pos += 3;
    } else {
      buf[this.pos] = 0xdd;
      buf.writeUInt32BE(n, this.pos + 1);
      this.pos += 5;
    }
  }

  /** The msgpack bytes of `[key, value, ...ints]`; valid until the next call. */
  row(key: string, value: Uint8Array, a: number, b: number, c: number, d: number, tombstone: boolean): Uint8Array {
    // Worst case: array header, 5-byte str header + 3 bytes per UTF-16 unit, 5-byte bin header,
    // five numbers of 9 bytes.
    this.pos = 0;
    this.ensure(1 + 5 + key.length * 3 + 5 + value.length + 5 * 9);
    this.buf[0] = tombstone ? 0x97 : 0x96;
    this.pos = 1;
    this.str(key);
    this.bin(value);
    this.uint(a);
    this.uint(b);
    this.uint(c);
    this.uint(d);
    if (tombstone) this.uint(1);
    return this.buf.subarray(0, this.pos);
  }

  private str(s: string): void {
    const buf = this.buf;
    const n = s.length;
    if (n < 32) {
      // Short keys: encode in JS (a native call costs more than the loop), then fix the header.
      let p = this.pos + 1;
      for (let i = 0; i < n; i++) {
        let c = s.charCodeAt(i);
        if (c < 0x80) buf[p++] = c;
        else if (c < 0x800) {
          buf[p++] = 0xc0 | (c >> 6);
          buf[p++] = 0x80 | (c & 0x3f);
        } else if ((c & 0xfc00) === 0xd800 && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
          c = 0x10000 + ((c & 0x3ff) << 10) + (s.charCodeAt(++i) & 0x3ff);
          buf[p++] = 0xf0 | (c >> 18);
          buf[p++] = 0x80 | ((c >> 12) & 0x3f);
          buf[p++] = 0x80 | ((c >> 6) & 0x3f);
          buf[p++] = 0x80 | (c & 0x3f);
        } else {
          // A lone surrogate has no UTF-8 form: U+FFFD, as TextEncoder writes.
          if ((c & 0xf800) === 0xd800) c = 0xfffd;
          buf[p++] = 0xe0 | (c >> 12);
          buf[p++] = 0x80 | ((c >> 6) & 0x3f);
          buf[p++] = 0x80 | (c & 0x3f);
        }
      }
      const len = p - this.pos - 1;
      if (len < 32) {
        buf[this.pos] = 0xa0 | len;
        this.pos = p;
      } else {
        // At most 93 bytes: move them one place for the str8 header.
        buf.copyWithin(this.pos + 2, this.pos + 1, p);
        buf[this.pos] = 0xd9;
        buf[this.pos + 1] = len;
        this.pos = p + 1;
      }
      return;
    }
    const start = this.pos + 5;
    const len = buf.write(s, start, 'utf8');
    let header: number;
    if (len < 0x100) {
      buf[this.pos] = 0xd9;
      buf[this.pos + 1] = len;
      header = 2;
    } else if (len < 0x10000) {
      buf[this.pos] = 0xda;
      buf.writeUInt16BE(len, this.pos + 1);
      header = 3;
    } else {
      buf[this.pos] = 0xdb;
      buf.writeUInt32BE(len, this.pos + 1);
      header = 5;
    }
    if (header !== 5) buf.copyWithin(this.pos + header, start, start + len);
    this.pos += header + len;
  }

  private bin(v: Uint8Array): void {
    const buf = this.buf;
    const n = v.length;
    let p = this.pos;
    if (n < 0x100) {
      buf[p++] = 0xc4;
      buf[p++] = n;
    } else if (n < 0x10000) {
      buf[p++] = 0xc5;
      buf[p++] = n >> 8;
      buf[p++] = n & 0xff;
    } else {
      buf[p] = 0xc6;
      buf.writeUInt32BE(n, p + 1);
      p += 5;
    }
    buf.set(v, p);
    this.pos = p + n;
  }

  /** A non-negative integer (revisions, versions, lease ids), in the shortest form. */
  private uint(x: number): void {
    const buf = this.buf;
    const p = this.pos;
    if (x < 0x80 && x >= 0) {
      buf[p] = x;
      this.pos = p + 1;
    } else if (x >>> 0 === x) {
      if (x < 0x100) {
        buf[p] = 0xcc;
        buf[p + 1] = x;
        this.pos = p + 2;
      } else if (x < 0x10000) {
        buf[p] = 0xcd;
        buf[p + 1] = x >> 8;
        buf[p + 2] = x & 0xff;
        this.pos = p + 3;
      } else {
        buf[p] = 0xce;
        buf.writeUInt32BE(x, p + 1);
        this.pos = p + 5;
      }
    } else {
      // Beyond 32 bits (or not an unsigned integer at all): a float64 holds it exactly.
      buf[p] = 0xcb;
      buf.writeDoubleBE(x, p + 1);
      this.pos = p + 9;
    }
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
