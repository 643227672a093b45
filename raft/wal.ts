/**
 * A Raft peer's write-ahead log on disk, after etcd's WAL: entries and hard states appended as
 * checksummed records to segment files, one write and one fdatasync per persisted Ready.
 *
 * Record: [u32 LE payload length][u32 LE crc32 of payload][payload]. Payload byte 0 is the type:
 * - 1, an entry: [f64 index][f64 term][u8 0 normal / 1 confChange][data]
 * - 2, a hard state: [f64 term][f64 commit][vote, UTF-8]
 * Numbers are little-endian.
 *
 * Segments are named by the index of the first entry appended to them (`%016x.wal`) and read in
 * name order; a segment is only started by a write from a higher index than the current one's. A conflicting suffix is appended, not rewritten: on replay, an entry at or below the
 * last one replayed replaces everything from its index on. The last hard state record wins, and
 * every segment begins with one, so deleting older segments never loses the term or the vote.
 *
 * The segment being written is extended with zeros a chunk ahead of its records (etcd
 * preallocates its segments too): a write then lands inside the file, and its fdatasync has no
 * file size to flush. Replay reads the zeros after the last record as the end of the log and
 * cuts them off; a segment is cut to its records before the next one starts.
 */
import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Entry, HardState } from './core/types.js';

export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirError';
  }
}

const HEADER = 8;
const ENTRY = 1;
const STATE = 2;
/** Type, index, term, entry type. */
const ENTRY_FIXED = 18;
/** Type, term, commit. */
const STATE_FIXED = 17;
const SECTOR = 512;
const SEGMENT_BYTES = 16 * 1024 * 1024;
/** How far ahead of its records the current segment is extended with zeros. */
const PREALLOCATE_BYTES = 1024 * 1024;
const zeros = Buffer.alloc(PREALLOCATE_BYTES);
const SEGMENT_NAME = /^[0-9a-f]{16}\.wal$/;
/** A log that never recorded a hard state: term 0, no vote, nothing committed. */
export const EMPTY_STATE: HardState = { term: 0, vote: '', commit: 0 };

const segmentName = (first: number): string => `${first.toString(16).padStart(16, '0')}.wal`;

export interface WalOptions {
  /** fdatasync every write (false: the store was opened with `sync: false`). */
  sync: boolean;
  /** A segment this large is closed and the next write starts a new one. */
  segmentBytes?: number;
}

export interface WalContents {
  /** The last hard state written, if any. */
  hardState: HardState | undefined;
  /** The entries after the compaction point, contiguous from its index + 1. */
  entries: Entry[];
  lastIndex: number;
}

/** Open logs by directory, in this thread: an actor restarted without onStop closes its predecessor's descriptor. */
const openLogs = new Map<string, Wal>();

/**
 * Records for one write: `head` (a new segment's opening hard state), the entries, then the
 * Ready's hard state. The hard state goes after the entries, as in etcd: a torn write keeps a
 * hard state only with every entry before it, so its commit index never runs past the log.
 */
function encodeRecords(head: HardState | undefined, entries: readonly Entry[], hardState: HardState | undefined): Buffer {
  let size = 0;
  const votes: Buffer[] = [];
  for (const hs of [head, hardState]) {
    if (!hs) continue;
    const vote = Buffer.from(hs.vote, 'utf8');
    votes.push(vote);
    size += HEADER + STATE_FIXED + vote.length;
  }
  for (const e of entries) size += HEADER + ENTRY_FIXED + e.data.byteLength;
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  const frame = (start: number) => {
    const end = at;
    buf.writeUInt32LE(end - start - HEADER, start);
    buf.writeUInt32LE(crc32(buf.subarray(start + HEADER, end)), start + 4);
  };
  const putState = (hs: HardState, vote: Buffer) => {
    const start = at;
    at = buf.writeUInt8(STATE, start + HEADER);
    at = buf.writeDoubleLE(hs.term, at);
    at = buf.writeDoubleLE(hs.commit, at);
    at += vote.copy(buf, at);
    frame(start);
  };
  if (head) putState(head, votes[0]!);
  for (const e of entries) {
    const start = at;
    at = buf.writeUInt8(ENTRY, start + HEADER);
    at = buf.writeDoubleLE(e.index, at);
    at = buf.writeDoubleLE(e.term, at);
    at = buf.writeUInt8(e.type === 'confChange' ? 1 : 0, at);
    buf.set(e.data, at);
    at += e.data.byteLength;
    frame(start);
  }
  if (hardState) putState(hardState, votes[votes.length - 1]!);
  return buf;
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const allZero = (buf: Buffer, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
};

/** etcd's torn-write test: a sector of the payload that reads as zeros was never written. */
function hasZeroSector(buf: Buffer, from: number, to: number): boolean {
  for (let s = from; s < to; s = (Math.floor(s / SECTOR) + 1) * SECTOR) {
    if (allZero(buf, s, Math.min(to, (Math.floor(s / SECTOR) + 1) * SECTOR))) return true;
  }
  return false;
}

const isIndex = (n: number) => Number.isSafeInteger(n) && n >= 0;

export class Wal {
  private readonly sync: boolean;
  private readonly segmentBytes: number;
  private fd = -1;
  /** First index (= name) of each segment, ascending; the last one is written to. */
  private segments: number[] = [];
  private size = 0;
  /** Bytes of the current segment's file: its records, then zeros. */
  private allocated = 0;
  /** The current segment holds a hard state record. */
  private headed = false;
  private lastIndex = 0;
  private state: HardState = EMPTY_STATE;

  constructor(
    readonly dir: string,
    options: WalOptions,
  ) {
    this.sync = options.sync;
    this.segmentBytes = options.segmentBytes ?? SEGMENT_BYTES;
  }

  /** The last hard state written (what a new segment begins with). */
  get hardState(): HardState {
    return this.state;
  }

  /**
   * Writes a complete log of one segment as `dir` (which must not exist): built beside it and
   * renamed into place, so a crash leaves either no log or all of it.
   */
  static create(dir: string, firstIndex: number, hardState: HardState, entries: readonly Entry[], sync: boolean): void {
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    const fd = openSync(join(tmp, segmentName(firstIndex)), 'wx');
    try {
      writeAll(fd, encodeRecords(hardState, entries, undefined), 0);
      if (sync) fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (sync) fsyncDir(tmp);
    renameSync(tmp, dir);
    if (sync) fsyncDir(dirname(dir));
  }

  /**
   * Reads and verifies every segment and opens the last for writing. A torn tail of the last
   * segment (a write cut short by a power loss, never acknowledged) is cut off; anything else
   * that does not parse or check out is refused.
   */
  load(snapIndex: number): WalContents {
    this.take();
    const names = readdirSync(this.dir).filter((n) => SEGMENT_NAME.test(n)).sort();
    if (names.length === 0) throw new DataDirError(`write-ahead log ${this.dir} has no segments; refusing to start`);
    const replay: Replay = { snapIndex, entries: [], hardState: undefined };
    for (let i = 0; i < names.length; i++) {
      const path = join(this.dir, names[i]!);
      const buf = readFileSync(path);
      const last = i === names.length - 1;
      const { end, headed } = replaySegment(path, buf, last, replay);
      if (!last) continue;
      this.fd = openSync(path, 'r+');
      if (end < buf.length) {
        // A torn write, or the zeros it was extended with.
        ftruncateSync(this.fd, end);
        if (this.sync) fsyncSync(this.fd);
      }
      this.size = end;
      this.allocated = end;
      this.headed = headed;
    }
    this.segments = names.map((n) => parseInt(n, 16));
    const { entries, hardState } = replay;
    this.lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : snapIndex;
    this.state = hardState ?? EMPTY_STATE;
    return { hardState, entries, lastIndex: this.lastIndex };
  }

  /** Appends entries (a conflicting suffix included) and the hard state: one write, one fdatasync. */
  append(hardState: HardState | undefined, entries: readonly Entry[]): void {
    if (this.fd < 0) throw new Error(`write-ahead log ${this.dir} is not open`);
    const first = entries.length > 0 ? entries[0]!.index : this.lastIndex + 1;
    // Names must grow with age: a suffix that goes back past the current segment's first index
    // stays in it, and the next write starts the new segment.
    if (this.size > this.segmentBytes && first > this.segments[this.segments.length - 1]!) {
      // Only the last segment may end in zeros: cut this one to its records, durably, first.
      ftruncateSync(this.fd, this.size);
      if (this.sync) fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
      this.startSegment(first);
    }
    this.write(encodeRecords(this.headed ? undefined : this.state, entries, hardState));
    if (entries.length > 0) this.lastIndex = entries[entries.length - 1]!.index;
    if (hardState) this.state = hardState;
  }

  /**
   * Deletes the segments whose entries all lie at or below `index`: those followed by a segment
   * that starts at or below `index + 1` (a segment's surviving entries are below the next one's
   * first index). The current segment stays.
   */
  compact(index: number): void {
    let n = 0;
    while (n < this.segments.length - 1 && this.segments[n + 1]! <= index + 1) n++;
    for (const first of this.segments.splice(0, n)) rmSync(join(this.dir, segmentName(first)), { force: true });
  }

  /** Replaces the whole log with an empty one after `index`, beginning with `hardState`. */
  reset(index: number, hardState: HardState): void {
    this.take();
    for (const name of readdirSync(this.dir)) if (SEGMENT_NAME.test(name)) unlinkSync(join(this.dir, name));
    this.segments = [];
    this.state = hardState;
    this.lastIndex = index;
    this.startSegment(index + 1);
    this.write(encodeRecords(hardState, [], undefined));
  }

  close(): void {
    if (openLogs.get(this.dir) === this) openLogs.delete(this.dir);
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  /** Closes whatever this or an earlier log of the directory had open. */
  private take(): void {
    this.close();
    openLogs.get(this.dir)?.close();
    openLogs.set(this.dir, this);
  }

  private startSegment(first: number): void {
    this.fd = openSync(join(this.dir, segmentName(first)), 'wx');
    this.segments.push(first);
    this.size = 0;
    this.allocated = 0;
    this.headed = false;
    if (this.sync) fsyncDir(this.dir);
  }

  private write(buf: Buffer): void {
    const end = this.size + buf.length;
    if (this.sync && end > this.allocated) {
      // The file grows here, a chunk at a time, and not with every write.
      const target = end + PREALLOCATE_BYTES;
      for (let at = this.allocated; at < target; at += PREALLOCATE_BYTES) {
        writeAll(this.fd, zeros.subarray(0, Math.min(PREALLOCATE_BYTES, target - at)), at);
      }
      this.allocated = target;
    }
    writeAll(this.fd, buf, this.size);
    if (this.sync) fdatasyncSync(this.fd);
    this.size += buf.length;
    this.headed = true;
  }
}

interface Replay {
  snapIndex: number;
  /** Contiguous from snapIndex + 1. */
  entries: Entry[];
  hardState: HardState | undefined;
}

/**
 * Replays one segment into `r`. Returns where its valid records end (short of the file's end
 * only for a torn tail of the last segment) and whether its first record is a hard state.
 */
function replaySegment(path: string, buf: Buffer, last: boolean, r: Replay): { end: number; headed: boolean } {
  let at = 0;
  let headed = false;
  const refuse = (what: string, why: string) => new DataDirError(`corrupted raft log ${what} in ${path}: ${why}; refusing to start`);
  while (at < buf.length) {
    const start = at;
    const whole = start + HEADER <= buf.length;
    const len = whole ? buf.readUInt32LE(start) : 0;
    const end = start + HEADER + len;
    // A write cut short: it runs past the end of the file, or the rest never reached the disk.
    if (last && (!whole || end > buf.length || allZero(buf, start, buf.length))) return { end: start, headed };
    if (!whole) throw refuse(`record at byte ${start}`, 'truncated record header');
    if (end > buf.length) throw refuse(`record at byte ${start}`, `record of ${len} bytes runs past the end of the file`);
    const payload = buf.subarray(start + HEADER, end);
    const type = len > 0 ? payload[0] : undefined;
    const index = type === ENTRY && len >= 9 ? payload.readDoubleLE(1) : NaN;
    const what = isIndex(index) ? `entry ${index}` : `record at byte ${start}`;
    if (crc32(payload) !== buf.readUInt32LE(start + 4)) {
      // The final record of the log (only zeros after it) with a sector of zeros: torn as well
      // (etcd's test).
      if (last && allZero(buf, end, buf.length) && hasZeroSector(buf, start + HEADER, end)) return { end: start, headed };
      throw refuse(what, 'checksum mismatch');
    }
    at = end;
    if (type === STATE && len >= STATE_FIXED) {
      const term = payload.readDoubleLE(1);
      const commit = payload.readDoubleLE(9);
      if (!isIndex(term) || !isIndex(commit)) throw refuse(what, 'malformed hard state');
      r.hardState = { term, vote: payload.toString('utf8', STATE_FIXED), commit };
      if (start === 0) headed = true;
      continue;
    }
    const term = len >= ENTRY_FIXED ? payload.readDoubleLE(9) : NaN;
    const kind = payload[17];
    if (type !== ENTRY || !isIndex(index) || index === 0 || !isIndex(term) || (kind !== 0 && kind !== 1)) throw refuse(what, 'malformed record');
    // A compacted entry: it also replaces every later one replayed so far.
    if (index <= r.snapIndex) {
      r.entries.length = 0;
      continue;
    }
    const pos = index - r.snapIndex - 1;
    if (pos > r.entries.length) {
      throw new DataDirError(`raft log in ${path} has a gap: expected entry ${r.snapIndex + r.entries.length + 1}, found ${index}; refusing to start`);
    }
    r.entries.length = pos;
    // A copy: a view would keep the whole segment's buffer alive.
    r.entries.push({ term, index, type: kind === 1 ? 'confChange' : 'normal', data: new Uint8Array(payload.subarray(ENTRY_FIXED)) });
  }
  return { end: at, headed };
}
