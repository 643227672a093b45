/**
 * Snapshot encoding of the MVCC state machine (for Raft InstallSnapshot).
 *
 * A snapshot holds everything needed to rebuild the state: the kv records still readable (every
 * revision above the compaction point plus the latest revision at or below it of each live key),
 * leases, the dedup table and the counters. Records compaction dropped but did not delete yet are
 * left out, so replicas at the same applied index produce identical bytes.
 *
 * Layout: msgpack of `SnapshotData`, then a 4-byte big-endian CRC-32 of those bytes. A damaged
 * snapshot is refused with a clear error, never restored. `MvccStore.snapshot()` and
 * `MvccStore.restore(bytes)` are the entry points; this file only encodes and checks.
 */
import { pack, Unpackr } from 'msgpackr';
import type { StoredRecord, ClientRecord } from './store.js';

export const snapshotFormat = 1;

export interface SnapshotData {
  format: typeof snapshotFormat;
  revision: number;
  compactRevision: number;
  appliedIndex: number;
  /** Backend records in revision order; the record's modRevision is its main revision. */
  records: StoredRecord[];
  /** Sub revision of each record, parallel to `records`. */
  subs: number[];
  leases: { id: number; ttlSeconds: number; remainingTtlSeconds: number }[];
  /** Dedup table, least recently active first. */
  clients: [string, ClientRecord][];
}

// Values are kept by the store after restore: copy them out of the snapshot buffer.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

export function encodeSnapshot(data: SnapshotData): Uint8Array {
  const body = pack(data);
  const out = new Uint8Array(body.length + 4);
  out.set(body, 0);
  new DataView(out.buffer).setUint32(body.length, crc32(out, 0, body.length));
  return out;
}

export function decodeSnapshot(bytes: Uint8Array): SnapshotData {
  if (bytes.length < 5) throw new Error('mvcc snapshot: too short');
  const n = bytes.length - 4;
  const stored = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(n);
  if (crc32(bytes, 0, n) !== stored) throw new Error('mvcc snapshot: checksum mismatch (corrupt snapshot refused)');
  const data = unpackr.unpack(bytes.subarray(0, n)) as SnapshotData;
  if (data?.format !== snapshotFormat) throw new Error(`mvcc snapshot: unknown format ${String(data?.format)}`);
  if (!Array.isArray(data.records) || !Array.isArray(data.subs) || data.records.length !== data.subs.length) {
    throw new Error('mvcc snapshot: malformed records');
  }
  return data;
}

const crcTable = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE) of bytes[from, to). */
export function crc32(bytes: Uint8Array, from: number, to: number): number {
  let c = 0xffffffff;
  for (let i = from; i < to; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
