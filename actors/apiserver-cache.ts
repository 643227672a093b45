/**
 * The watch cache: one store watch on the whole registry feeds every API watcher, so a
 * thousand `kubectl get -w` do not each hold a watch on the Raft store.
 *
 * It keeps the current objects (served for resourceVersion=0 reads and admission lookups) and a
 * bounded history of events. Invariant: `history` holds every event with
 * `oldestRev < rev <= revision`, whole revisions only. A watch may start from any
 * resourceVersion >= oldestRev; an older one gets 410 Expired and must relist.
 *
 * The cache is fed by `apply` (from the store's WatchNotices) and reset by `reset` (from a
 * list); the actor owns the store watch and its health (see apiserver.ts).
 */
import { lookupStoreKey, type ResourceInfo, resourceKey } from '../api/registry.js';
import { fieldValue, matchesFields, matchesLabels, type FieldSelector, type LabelSelector } from '../api/selectors.js';
import { errors, type KubeObject } from '../api/types.js';
import type { WatchEvent } from '../raft/mvcc/commands.js';
import { decodeObject, parseKey } from './apiserver-storage.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface CacheEvent {
  type: EventType;
  key: string;
  rkey: string;
  namespace: string;
  /** The object after the event; for DELETED the last state, with the deleting revision. */
  obj: KubeObject;
  /** The object before the event (MODIFIED and DELETED). */
  prev?: KubeObject;
  rev: number;
}

export interface WatchFilter {
  /** `apps/deployments`. */
  rkey: string;
  namespace?: string;
  labels: LabelSelector;
  fields: FieldSelector;
}

export interface Watcher extends WatchFilter {
  /** Delivers one event; returns false when the watcher cannot take more (it is then closed). */
  deliver(type: EventType, obj: KubeObject, rev: number): boolean;
  /** The cache ends the watch (reset, overflow). */
  close(reason: string): void;
}

export interface CacheOptions {
  /** Events kept for resuming watches. */
  historyEvents?: number;
}

/**
 * Fields watchers are indexed by when their selector pins one (`spec.nodeName=node-7`, as every
 * kubelet asks): an event then reaches the watchers of its object's value, not all of them, as
 * kube-apiserver's watch cache does with its pod node-name index.
 */
const INDEXED_FIELDS = ['spec.nodeName', 'metadata.name'];

/** The watchers of one resource: indexed by a pinned field value, or scanned on every event. */
class WatcherSet {
  readonly unindexed = new Set<Watcher>();
  readonly byField = new Map<string, Map<string, Set<Watcher>>>();
  private readonly members = new Set<Watcher>();

  get size(): number {
    return this.members.size;
  }

  add(w: Watcher): void {
    if (this.members.has(w)) return;
    this.members.add(w);
    const pin = w.fields.find((r) => r.op === '=' && INDEXED_FIELDS.includes(r.field));
    if (!pin) return void this.unindexed.add(w);
    let byValue = this.byField.get(pin.field);
    if (!byValue) this.byField.set(pin.field, (byValue = new Map()));
    let set = byValue.get(pin.value);
    if (!set) byValue.set(pin.value, (set = new Set()));
    set.add(w);
  }

  delete(w: Watcher): boolean {
    if (!this.members.delete(w)) return false;
    if (this.unindexed.delete(w)) return true;
    const pin = w.fields.find((r) => r.op === '=' && INDEXED_FIELDS.includes(r.field))!;
    const byValue = this.byField.get(pin.field)!;
    const set = byValue.get(pin.value)!;
    set.delete(w);
    if (set.size === 0) byValue.delete(pin.value);
    return true;
  }

  has(w: Watcher): boolean {
    return this.members.has(w);
  }

  /** Watchers an event on `obj` (and `prev`) may concern, each once. */
  candidates(obj: KubeObject, prev: KubeObject | undefined): Watcher[] {
    const out = [...this.unindexed];
    for (const [field, byValue] of this.byField) {
      const v = fieldValue(obj, field);
      const a = byValue.get(v);
      if (a) out.push(...a);
      if (prev !== undefined) {
        const pv = fieldValue(prev, field);
        const b = pv !== v ? byValue.get(pv) : undefined;
        if (b) out.push(...b);
      }
    }
    return out;
  }

  all(): Watcher[] {
    return [...this.members];
  }
}

function matches(f: WatchFilter, o: KubeObject): boolean {
  if (f.namespace && o.metadata.namespace !== f.namespace) return false;
  return matchesLabels(f.labels, o.metadata.labels) && matchesFields(f.fields, o);
}

export class WatchCache {
  /** Current objects by store key. */
  private readonly objects = new Map<string, KubeObject>();
  /** Store keys by resource key, for lists. */
  private readonly byResource = new Map<string, Set<string>>();
  private history: CacheEvent[] = [];
  private historyHead = 0;
  private readonly historyEvents: number;
  private readonly watchers = new Map<string, WatcherSet>();
  /** The cache holds the registry as of this store revision. */
  revision = 0;
  /** History covers every event after this revision. */
  oldestRev = 0;
  /** Set once the first list has loaded. */
  ready = false;
  /** Events applied since start (for status). */
  eventsApplied = 0;

  constructor(options: CacheOptions = {}) {
    this.historyEvents = options.historyEvents ?? 20_000;
  }

  get watcherCount(): number {
    let n = 0;
    for (const s of this.watchers.values()) n += s.size;
    return n;
  }

  get objectCount(): number {
    return this.objects.size;
  }

  /** Replaces the whole state with a fresh list at `revision`, ending every watcher. */
  reset(items: { key: string; obj: KubeObject }[], revision: number, reason = 'the watch cache was reinitialized'): void {
    this.objects.clear();
    this.byResource.clear();
    for (const { key, obj } of items) this.put(key, obj);
    this.history = [];
    this.historyHead = 0;
    this.revision = revision;
    this.oldestRev = revision;
    this.ready = true;
    for (const set of this.watchers.values()) for (const w of set.all()) w.close(reason);
    this.watchers.clear();
  }

  private put(key: string, obj: KubeObject): void {
    const p = parseKey(key);
    if (!p) return;
    this.objects.set(key, obj);
    let s = this.byResource.get(p.rkey);
    if (!s) this.byResource.set(p.rkey, (s = new Set()));
    s.add(key);
  }

  private remove(key: string): void {
    const p = parseKey(key);
    this.objects.delete(key);
    if (p) this.byResource.get(p.rkey)?.delete(key);
  }

  /** Applies the events of one store notice (revision order, whole revisions). */
  apply(events: WatchEvent[], revision: number): void {
    for (const e of events) {
      const rev = e.kv.modRevision;
      if (rev <= this.revision) continue; // already seen (a re-created store watch overlaps)
      const p = parseKey(e.kv.key);
      if (!p || !lookupStoreKey(p.rkey)) continue;
      const prev = this.objects.get(e.kv.key);
      let ev: CacheEvent;
      if (e.type === 'put') {
        let obj: KubeObject;
        try {
          obj = decodeObject(e.kv);
        } catch {
          continue;
        }
        this.put(e.kv.key, obj);
        ev = { type: prev ? 'MODIFIED' : 'ADDED', key: e.kv.key, rkey: p.rkey, namespace: p.namespace, obj, rev };
        if (prev) ev.prev = prev;
      } else {
        if (!prev) continue;
        this.remove(e.kv.key);
        const obj = { ...prev, metadata: { ...prev.metadata, resourceVersion: String(rev) } };
        ev = { type: 'DELETED', key: e.kv.key, rkey: p.rkey, namespace: p.namespace, obj, prev, rev };
      }
      this.record(ev);
      this.dispatch(ev);
      this.eventsApplied++;
    }
    // Advance only after the batch: events of one revision arrive together.
    const last = events.length ? events[events.length - 1]!.kv.modRevision : 0;
    this.revision = Math.max(this.revision, revision, last);
  }

  private record(ev: CacheEvent): void {
    this.history.push(ev);
    const live = this.history.length - this.historyHead;
    if (live <= this.historyEvents) return;
    // Drop the oldest revision whole, so history stays made of complete revisions.
    const dropRev = this.history[this.historyHead]!.rev;
    while (this.historyHead < this.history.length && this.history[this.historyHead]!.rev === dropRev) this.historyHead++;
    this.oldestRev = dropRev;
    if (this.historyHead > 4096 && this.historyHead * 2 > this.history.length) {
      this.history = this.history.slice(this.historyHead);
      this.historyHead = 0;
    }
  }

  private dispatch(ev: CacheEvent): void {
    const set = this.watchers.get(ev.rkey);
    if (!set) return;
    for (const w of set.candidates(ev.obj, ev.prev)) this.deliver(w, ev);
  }

  /** Delivers one event to one watcher as the watcher sees it (selector transitions included). */
  private deliver(w: Watcher, ev: CacheEvent): void {
    const cur = ev.type !== 'DELETED' && matches(w, ev.obj);
    const before = ev.prev !== undefined && matches(w, ev.prev);
    let ok = true;
    try {
      if (ev.type === 'DELETED') {
        if (before) ok = w.deliver('DELETED', ev.obj, ev.rev);
      } else if (cur && !before) ok = w.deliver('ADDED', ev.obj, ev.rev);
      else if (cur && before) ok = w.deliver('MODIFIED', ev.obj, ev.rev);
      else if (!cur && before) {
        const gone = { ...ev.prev!, metadata: { ...ev.prev!.metadata, resourceVersion: String(ev.rev) } };
        ok = w.deliver('DELETED', gone, ev.rev);
      }
    } catch {
      // One watcher failing to render an event (an odd object) ends that watcher, nothing else.
      ok = false;
    }
    if (!ok) this.unwatch(w, 'the watcher fell behind');
  }

  /**
   * Starts a watcher after `fromRev` (events with rev > fromRev), or, with `initial`, with an
   * ADDED event for every current object first. Throws 410 Expired for a revision the history
   * no longer covers.
   */
  watch(w: Watcher, fromRev: number | 'now', initial: boolean): void {
    if (fromRev !== 'now' && fromRev < this.oldestRev) {
      throw errors.expired(`too old resource version: ${fromRev} (${this.oldestRev})`);
    }
    let set = this.watchers.get(w.rkey);
    if (!set) this.watchers.set(w.rkey, (set = new WatcherSet()));
    set.add(w);
    if (initial) {
      for (const o of this.list(w)) {
        let ok = false;
        try {
          ok = w.deliver('ADDED', o, Number(o.metadata.resourceVersion));
        } catch {
          ok = false;
        }
        if (!ok) return this.unwatch(w, 'the watcher fell behind');
      }
    }
    if (fromRev === 'now') return;
    for (let i = this.historyHead; i < this.history.length; i++) {
      const ev = this.history[i]!;
      if (ev.rev <= fromRev || ev.rkey !== w.rkey) continue;
      this.deliver(w, ev);
      if (!set.has(w)) return;
    }
  }

  unwatch(w: Watcher, reason?: string): void {
    const set = this.watchers.get(w.rkey);
    if (set?.delete(w) && reason) w.close(reason);
  }

  /** Current objects matching a filter, in key order. */
  list(f: WatchFilter): KubeObject[] {
    const keys = [...(this.byResource.get(f.rkey) ?? [])].sort();
    const out: KubeObject[] = [];
    for (const k of keys) {
      const o = this.objects.get(k)!;
      if (matches(f, o)) out.push(o);
    }
    return out;
  }

  get(key: string): KubeObject | undefined {
    return this.objects.get(key);
  }

  /** Every current object of one resource (no filter). */
  all(r: ResourceInfo): KubeObject[] {
    const keys = this.byResource.get(resourceKey(r));
    return keys ? [...keys].map((k) => this.objects.get(k)!) : [];
  }

  /** Current objects whose key starts with `prefix`, in key order (for resourceVersion=0 lists). */
  keysWithPrefix(prefix: string): string[] {
    const out: string[] = [];
    for (const k of this.objects.keys()) if (k.startsWith(prefix)) out.push(k);
    return out.sort();
  }
}
