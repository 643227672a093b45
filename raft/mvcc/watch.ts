/**
 * WatchHub: etcd-style watches over one MvccStore (local to a member, not replicated).
 *
 * A watcher covers a key range and a start revision. It is either
 * - synced: it receives live events straight from `applyEntries` batches, or
 * - unsynced: it catches up by reading the backend history (`kv` table, by revision) in steps
 *   of at most `catchUpRecordsPerStep` records, then becomes synced. Steps run at the end of
 *   every applied batch and on `pump()`.
 *
 * Guarantees per watcher: events come in revision order, with no gap and no duplicate; all events
 * of one revision come in one delivery; `deliver(id, events, revision)` means every matching
 * event with modRevision <= revision has now been delivered (so an empty delivery from
 * `progress()` is a bookmark).
 *
 * Flow control: `deliver` may return false to say "taken, but send nothing more until
 * `resume(id)`". Live events for a paused watcher wait in its buffer; a buffer above
 * `maxBufferedEvents` cancels the watcher with reason `SlowWatcher` (its client re-watches from
 * the last revision it saw, or relists if that was compacted — the Kubernetes reflector does so),
 * because an unbounded buffer would let one slow reader exhaust the member's memory.
 *
 * A watcher whose next revision falls to compaction before it caught up is cancelled with
 * `Compacted`. A restored snapshot turns every watcher unsynced, to resume from the new backend.
 */
import { errors, inRange, type KeyValue, type MvccError, type WatchEvent } from './commands.js';
import type { ApplyResult, MvccListener, MvccStore, StoredRecord } from './store.js';

export type WatchFilter = 'noPut' | 'noDelete';

export interface WatchRequest {
  key: string;
  /** etcd conventions: absent/'' = the key, '\0' = every key >= key, else [key, rangeEnd). */
  rangeEnd?: string;
  /**
   * First revision to report; 0 or absent = from the next change. At or below the store's
   * compaction revision → Compacted error (a delete at exactly that revision may be gone).
   */
  startRevision?: number;
  prevKv?: boolean;
  /** Receive empty deliveries from `progress()`. */
  progressNotify?: boolean;
  filters?: WatchFilter[];
}

export type WatchCancelReason =
  | { code: 'Compacted'; compactRevision: number }
  | { code: 'SlowWatcher'; bufferedEvents: number; limit: number };

export interface WatchHubOptions {
  /** Delivers events to a watcher; return false to pause it until `resume(id)`. Must not throw. */
  deliver(watchId: number, events: WatchEvent[], revision: number): boolean | void;
  /** The hub cancelled a watcher (not called for `cancel(id)`). */
  cancelled?(watchId: number, reason: WatchCancelReason): void;
  /** Events a paused watcher may buffer before it is cancelled. Default 10,000. */
  maxBufferedEvents?: number;
  /** Backend records an unsynced watcher reads per catch-up step. Default 5,000. */
  catchUpRecordsPerStep?: number;
  /**
   * The first watch id (default 1). A peer that restarts starts its ids elsewhere, so a
   * notice still in flight from a watch of its previous life is never taken for a new watch
   * that happens to get the same id.
   */
  firstId?: number;
}

interface Watcher {
  readonly id: number;
  readonly key: string;
  readonly rangeEnd: string | undefined;
  readonly prevKv: boolean;
  readonly progressNotify: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  /** Every event below this revision was delivered or is in `buffer`. */
  nextRev: number;
  synced: boolean;
  /** `deliver` returned false: hold events until `resume`. Invariant: !paused ⇒ buffer empty. */
  paused: boolean;
  buffer: WatchEvent[];
  /** Revision the buffered events are complete through. */
  bufferedThrough: number;
}

export class WatchHub implements MvccListener {
  private readonly store: MvccStore;
  private readonly deliverFn: WatchHubOptions['deliver'];
  private readonly cancelledFn: WatchHubOptions['cancelled'];
  private readonly maxBufferedEvents: number;
  private readonly catchUpRecordsPerStep: number;
  private readonly watchers = new Map<number, Watcher>();
  /** Synced watchers that want prevKv: consulted on the store's write path. */
  private prevKvWatchers: Watcher[] = [];
  private nextId = 1;

  constructor(store: MvccStore, options: WatchHubOptions) {
    this.store = store;
    this.deliverFn = options.deliver;
    this.cancelledFn = options.cancelled;
    this.maxBufferedEvents = options.maxBufferedEvents ?? 10_000;
    this.catchUpRecordsPerStep = options.catchUpRecordsPerStep ?? 5_000;
    this.nextId = options.firstId ?? 1;
    if (!(this.maxBufferedEvents > 0 && this.catchUpRecordsPerStep > 0)) throw new Error('watch: limits must be positive');
    store.addListener(this);
  }

  get size(): number {
    return this.watchers.size;
  }

  /**
   * Registers a watcher and returns its id; nothing is delivered before this returns. Catch-up
   * from an old start revision begins at the next `pump()` or applied batch.
   */
  create(req: WatchRequest): number | MvccError {
    if (typeof req.key !== 'string' || req.key.length === 0) return errors.invalidRequest('key is empty');
    const start = req.startRevision ?? 0;
    if (!Number.isSafeInteger(start) || start < 0) return errors.invalidRequest('startRevision');
    const current = this.store.revision;
    if (start !== 0 && start <= this.store.compactRevision) return errors.compacted(this.store.compactRevision);
    const nextRev = start === 0 ? current + 1 : start;
    const w: Watcher = {
      id: this.nextId++,
      key: req.key,
      rangeEnd: req.rangeEnd === '' ? undefined : req.rangeEnd,
      prevKv: req.prevKv === true,
      progressNotify: req.progressNotify === true,
      noPut: req.filters?.includes('noPut') ?? false,
      noDelete: req.filters?.includes('noDelete') ?? false,
      nextRev,
      synced: nextRev > current,
      paused: false,
      buffer: [],
      bufferedThrough: 0,
    };
    this.watchers.set(w.id, w);
    this.refreshPrevKvWatchers();
    return w.id;
  }

  cancel(watchId: number): boolean {
    const ok = this.watchers.delete(watchId);
    if (ok) this.refreshPrevKvWatchers();
    return ok;
  }

  /** The consumer drained: deliver what the watcher buffered and carry on. */
  resume(watchId: number): void {
    const w = this.watchers.get(watchId);
    if (w === undefined || !w.paused) return;
    w.paused = false;
    if (w.buffer.length > 0) {
      const events = w.buffer;
      w.buffer = [];
      this.send(w, events, w.bufferedThrough);
    }
    if (!w.paused && !w.synced) this.catchUp(w);
  }

  /** One catch-up step for every unsynced, unpaused watcher; true when some are still behind. */
  pump(): boolean {
    let behind = false;
    for (const w of [...this.watchers.values()]) {
      if (w.synced || w.paused || !this.watchers.has(w.id)) continue;
      this.catchUp(w);
      if (this.watchers.has(w.id) && !w.synced) behind = true;
    }
    return behind;
  }

  /**
   * Sends an empty delivery at the current revision to synced, unpaused watchers that asked for
   * progress notifications (or to `watchId` alone, whatever it asked).
   */
  progress(watchId?: number): void {
    const revision = this.store.revision;
    const targets = watchId === undefined ? [...this.watchers.values()] : [this.watchers.get(watchId)];
    for (const w of targets) {
      if (w === undefined || !w.synced || w.paused) continue;
      if (watchId === undefined && !w.progressNotify) continue;
      this.send(w, [], revision);
    }
  }

  /** Detaches from the store; the watchers are dropped. */
  close(): void {
    this.store.removeListener(this);
    this.watchers.clear();
    this.prevKvWatchers = [];
  }

  // -------------------------------------------------------------------------------------------
  // MvccListener

  wantsPrevKv(key: string): boolean {
    const ws = this.prevKvWatchers;
    for (let i = 0; i < ws.length; i++) if (inRange(key, ws[i]!.key, ws[i]!.rangeEnd)) return true;
    return false;
  }

  wantsEvents(): boolean {
    return this.watchers.size > 0;
  }

  applied(results: readonly ApplyResult[], revision: number): void {
    if (this.watchers.size === 0) return;
    for (const w of [...this.watchers.values()]) {
      if (!w.synced || !this.watchers.has(w.id)) continue;
      let mine: WatchEvent[] | null = null;
      for (const r of results) {
        for (const ev of r.events) {
          if (ev.kv.modRevision < w.nextRev || !this.matches(w, ev)) continue;
          (mine ??= []).push(this.shape(w, ev));
        }
      }
      if (revision >= w.nextRev) w.nextRev = revision + 1;
      if (mine !== null) this.send(w, mine, revision);
    }
    this.pump();
  }

  restored(): void {
    for (const w of this.watchers.values()) w.synced = false;
    this.refreshPrevKvWatchers();
  }

  // -------------------------------------------------------------------------------------------

  private matches(w: Watcher, ev: WatchEvent): boolean {
    if (ev.type === 'put' ? w.noPut : w.noDelete) return false;
    return inRange(ev.kv.key, w.key, w.rangeEnd);
  }

  /** The event as this watcher sees it: prevKv only if it asked. */
  private shape(w: Watcher, ev: WatchEvent): WatchEvent {
    if (w.prevKv || ev.prevKv === undefined) return ev;
    return { type: ev.type, kv: ev.kv };
  }

  /** Delivers, or buffers while paused (cancelling a watcher whose buffer overflows). */
  private send(w: Watcher, events: WatchEvent[], revision: number): void {
    if (w.paused) {
      for (const ev of events) w.buffer.push(ev);
      w.bufferedThrough = revision;
      if (w.buffer.length > this.maxBufferedEvents) {
        this.drop(w, { code: 'SlowWatcher', bufferedEvents: w.buffer.length, limit: this.maxBufferedEvents });
      }
      return;
    }
    if (this.deliverFn(w.id, events, revision) === false) w.paused = true;
  }

  /** Reads the next slice of history for an unsynced watcher; syncs it when it reaches now. */
  private catchUp(w: Watcher): void {
    const compactRevision = this.store.compactRevision;
    if (w.nextRev <= compactRevision) {
      this.drop(w, { code: 'Compacted', compactRevision });
      return;
    }
    const current = this.store.revision;
    if (w.nextRev > current) {
      this.markSynced(w);
      return;
    }
    const records = this.store.history(w.nextRev, current, this.catchUpRecordsPerStep);
    const through = records.length < this.catchUpRecordsPerStep ? current : records[records.length - 1]!.modRevision;
    const events: WatchEvent[] = [];
    for (const r of records) {
      const ev = this.recordEvent(r);
      if (!this.matches(w, ev)) continue;
      if (w.prevKv) {
        const prev = this.store.getAt(r.key, r.modRevision - 1);
        if (prev !== undefined) ev.prevKv = prev;
      }
      events.push(ev);
    }
    w.nextRev = through + 1;
    if (w.nextRev > current) this.markSynced(w);
    if (events.length > 0) this.send(w, events, through);
  }

  private recordEvent(r: StoredRecord): WatchEvent {
    if (r.tombstone === true) {
      const kv: KeyValue = { key: r.key, value: r.value, createRevision: 0, modRevision: r.modRevision, version: 0, lease: 0 };
      return { type: 'delete', kv };
    }
    return { type: 'put', kv: r };
  }

  private markSynced(w: Watcher): void {
    w.synced = true;
    if (w.prevKv) this.refreshPrevKvWatchers();
  }

  private drop(w: Watcher, reason: WatchCancelReason): void {
    this.watchers.delete(w.id);
    this.refreshPrevKvWatchers();
    this.cancelledFn?.(w.id, reason);
  }

  private refreshPrevKvWatchers(): void {
    this.prevKvWatchers = [...this.watchers.values()].filter((w) => w.synced && w.prevKv);
  }
}
