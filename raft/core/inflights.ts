/**
 * Flow control for one follower in the replicate state: the MsgApp messages sent but not yet
 * acknowledged, bounded by count and by payload bytes. A ring buffer, so the hot path (add on
 * send, free on ack) allocates nothing once it has grown.
 */
import { assert } from './assert.js';

const INITIAL_CAPACITY = 16;

export class Inflights {
  /** Maximum number of messages in flight. Invariant: count <= maxMsgs. */
  readonly maxMsgs: number;
  /** Maximum payload bytes in flight; 0 means no byte limit. */
  readonly maxBytes: number;
  /** Ring position of the oldest message in flight. */
  private start = 0;
  /** Messages in flight. */
  private count = 0;
  /** Payload bytes in flight: the sum of `sizes` over the live part of the ring. */
  private bytes = 0;
  /** Last entry index of each message in flight, oldest first from `start`; increasing. */
  private indexes: number[];
  /** Payload bytes of each message in flight, parallel to `indexes`. */
  private sizes: number[];

  constructor(maxMsgs: number, maxBytes: number) {
    assert(Number.isSafeInteger(maxMsgs) && maxMsgs > 0, () => `maxInflightMsgs must be positive, got ${maxMsgs}`);
    assert(Number.isSafeInteger(maxBytes) && maxBytes >= 0, () => `maxInflightBytes must be >= 0, got ${maxBytes}`);
    this.maxMsgs = maxMsgs;
    this.maxBytes = maxBytes;
    const cap = Math.min(maxMsgs, INITIAL_CAPACITY);
    this.indexes = new Array<number>(cap).fill(0);
    this.sizes = new Array<number>(cap).fill(0);
  }

  /** Records a message whose last entry is `index`, carrying `bytes` of payload. */
  add(index: number, bytes: number): void {
    assert(!this.full(), 'cannot add into a full inflights');
    if (this.count > 0) {
      const lastPos = (this.start + this.count - 1) % this.indexes.length;
      assert(index > this.indexes[lastPos]!, () => `inflight index ${index} not above ${this.indexes[lastPos]}`);
    }
    if (this.count === this.indexes.length) this.grow();
    const pos = (this.start + this.count) % this.indexes.length;
    this.indexes[pos] = index;
    this.sizes[pos] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Doubles the ring (up to maxMsgs), unrolling it so that `start` becomes 0. */
  private grow(): void {
    const cap = this.indexes.length;
    const newCap = Math.min(cap * 2, this.maxMsgs);
    assert(newCap > cap, 'inflights cannot grow past maxMsgs');
    const indexes = new Array<number>(newCap).fill(0);
    const sizes = new Array<number>(newCap).fill(0);
    for (let i = 0; i < this.count; i++) {
      const pos = (this.start + i) % cap;
      indexes[i] = this.indexes[pos]!;
      sizes[i] = this.sizes[pos]!;
    }
    this.indexes = indexes;
    this.sizes = sizes;
    this.start = 0;
  }

  /** Frees every message whose last index is <= `to` (they were acknowledged). */
  freeLE(to: number): void {
    const cap = this.indexes.length;
    let freed = 0;
    let freedBytes = 0;
    let pos = this.start;
    while (freed < this.count && this.indexes[pos]! <= to) {
      freedBytes += this.sizes[pos]!;
      freed++;
      pos = pos + 1 === cap ? 0 : pos + 1;
    }
    this.count -= freed;
    this.bytes -= freedBytes;
    this.start = this.count === 0 ? 0 : pos;
    assert(this.bytes >= 0, 'inflight bytes went negative');
  }

  /** No more messages may be sent until some are acknowledged. */
  full(): boolean {
    return this.count === this.maxMsgs || (this.maxBytes !== 0 && this.bytes >= this.maxBytes);
  }

  get messages(): number {
    return this.count;
  }

  get inflightBytes(): number {
    return this.bytes;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
