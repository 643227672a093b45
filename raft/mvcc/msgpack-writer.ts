/**
 * A msgpack writer for the few hot shapes the store encodes by hand (revision rows, the client
 * journal, put proposals): strings, binary, unsigned integers and array headers written
 * straight into one reused buffer, with none of a generic encoder's per-call work. What it
 * writes is standard msgpack, readable by decoders with records too (no fixint 0x40-0x7f).
 */
export class MsgpackWriter {
  protected buf: Buffer = Buffer.allocUnsafeSlow(4096);
  protected pos = 0;

  /** Starts a value at the front of the buffer, with room for `n` bytes. */
  protected begin(n: number): void {
    this.pos = 0;
    this.ensure(n);
  }

  /** The bytes written since `begin`: a view the next `begin` overwrites. */
  protected written(): Uint8Array {
    // A plain Uint8Array view: Buffer#subarray builds a Buffer, which costs more.
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.pos);
  }

  /** Room for `n` more bytes after `pos`, keeping what is written. */
  protected ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.pos + n, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  protected arrayHeader(n: number): void {
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

  protected str(s: string): void {
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

  protected bin(v: Uint8Array): void {
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
  protected uint(x: number): void {
    const buf = this.buf;
    const p = this.pos;
    // Up to 0x3f only as a positive fixint: 0x40-0x7f are record references to a decoder
    // with records (as msgpackr writes them too), so those go as uint8.
    if (x < 0x40 && x >= 0) {
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
