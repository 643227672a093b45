/**
 * Informers and listers (client-go's reflector + indexer + shared informer): an informer lists
 * a resource, then watches it from the list's resourceVersion, keeps every object in an
 * indexed cache, and tells its handlers what was added, updated and deleted. It re-watches
 * when a watch ends, relists on 410 Expired (the resourceVersion fell out of the server's
 * history), retries failures with back-off on the injected timers, and every resync period
 * replays every cached object to the handlers as an update (level-triggered controllers use
 * that to catch anything they missed).
 *
 * Cached objects are shared by everyone reading the cache: never modify one, clone it first.
 * With `freeze` the cache deep-freezes what it stores, so a stray write throws.
 */
import { matchesLabels, type LabelSelector } from '../api/selectors.js';
import type { KubeObject } from '../api/types.js';
import { isExpired, statusIsExpired, type ApiClient, type WatchHandle } from './client.js';
import { objectKey, resourceMeta } from './resources.js';
import type { Clock, Timers } from './time.js';

export type IndexFunc = (o: KubeObject) => string[];

/** Index names every informer has. */
export const NAMESPACE_INDEX = 'namespace';
/** The uid of the object's controller (ownerReference with controller: true). */
export const CONTROLLER_INDEX = 'controller';
/** The uids of all the object's owners. */
export const OWNER_INDEX = 'owner';
/** Pods by `spec.nodeName` (only where added). */
export const NODE_NAME_INDEX = 'nodeName';

export const indexFuncs: Record<string, IndexFunc> = {
  [NAMESPACE_INDEX]: (o) => [o.metadata.namespace ?? ''],
  [CONTROLLER_INDEX]: (o) => {
    const r = o.metadata.ownerReferences?.find((x) => x.controller === true);
    return r ? [r.uid] : [];
  },
  [OWNER_INDEX]: (o) => (o.metadata.ownerReferences ?? []).map((r) => r.uid),
  [NODE_NAME_INDEX]: (o) => (o.spec?.nodeName ? [String(o.spec.nodeName)] : []),
};

export function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

/** A keyed store with secondary indexes (client-go's cache.Indexer). */
export class Indexer {
  private readonly objects = new Map<string, KubeObject>();
  private readonly indexers = new Map<string, IndexFunc>();
  private readonly indices = new Map<string, Map<string, Set<string>>>();

  constructor(indexNames: string[] = [NAMESPACE_INDEX, CONTROLLER_INDEX, OWNER_INDEX]) {
    for (const n of indexNames) this.addIndexer(n, indexFuncs[n]!);
  }

  addIndexer(name: string, fn: IndexFunc): void {
    if (this.indexers.has(name)) return;
    this.indexers.set(name, fn);
    const idx = new Map<string, Set<string>>();
    this.indices.set(name, idx);
    for (const [k, o] of this.objects) for (const v of fn(o)) this.addTo(idx, v, k);
  }

  hasIndex(name: string): boolean {
    return this.indexers.has(name);
  }

  get(key: string): KubeObject | undefined {
    return this.objects.get(key);
  }

  keys(): IterableIterator<string> {
    return this.objects.keys();
  }

  values(): IterableIterator<KubeObject> {
    return this.objects.values();
  }

  get size(): number {
    return this.objects.size;
  }

  set(key: string, o: KubeObject): KubeObject | undefined {
    const old = this.objects.get(key);
    if (old) this.unindex(key, old);
    this.objects.set(key, o);
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      for (const v of fn(o)) this.addTo(idx, v, key);
    }
    return old;
  }

  delete(key: string): KubeObject | undefined {
    const old = this.objects.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.objects.delete(key);
    return old;
  }

  byIndex(name: string, value: string): KubeObject[] {
    const idx = this.indices.get(name);
    if (!idx) throw new Error(`no index ${JSON.stringify(name)}`);
    const keys = idx.get(value);
    if (!keys) return [];
    const out: KubeObject[] = [];
    for (const k of keys) out.push(this.objects.get(k)!);
    return out;
  }

  private addTo(idx: Map<string, Set<string>>, v: string, key: string): void {
    let s = idx.get(v);
    if (!s) idx.set(v, (s = new Set()));
    s.add(key);
  }

  private unindex(key: string, o: KubeObject): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      for (const v of fn(o)) {
        const s = idx.get(v);
        if (!s) continue;
        s.delete(key);
        if (s.size === 0) idx.delete(v);
      }
    }
  }
}

/** Read access to an informer's cache. The objects are shared: do not modify them. */
export class Lister {
  constructor(
    readonly indexer: Indexer,
    readonly namespaced: boolean,
  ) {}

  get(namespace: string, name: string): KubeObject | undefined {
    return this.indexer.get(this.namespaced ? `${namespace}/${name}` : name);
  }

  getByKey(key: string): KubeObject | undefined {
    return this.indexer.get(key);
  }

  /** Objects in `namespace` ('' = all) whose labels match `selector` (undefined = all). */
  list(namespace = '', selector?: LabelSelector): KubeObject[] {
    const src = namespace && this.namespaced ? this.indexer.byIndex(NAMESPACE_INDEX, namespace) : [...this.indexer.values()];
    if (!selector) return src;
    return src.filter((o) => matchesLabels(selector, o.metadata.labels));
  }

  byIndex(index: string, value: string): KubeObject[] {
    return this.indexer.byIndex(index, value);
  }

  /** Objects whose controller is the object with this uid. */
  controlledBy(uid: string): KubeObject[] {
    return this.indexer.byIndex(CONTROLLER_INDEX, uid);
  }

  /** Objects that list this uid among their owners. */
  ownedBy(uid: string): KubeObject[] {
    return this.indexer.byIndex(OWNER_INDEX, uid);
  }
}

export interface EventHandlers {
  add?(obj: KubeObject): void;
  /** Also called on resync and relist with old === new (by reference or content). */
  update?(oldObj: KubeObject, newObj: KubeObject): void;
  /** `finalStateUnknown`: the delete was inferred from a relist, `obj` is the last state seen. */
  delete?(obj: KubeObject, finalStateUnknown: boolean): void;
}

export interface InformerOptions {
  client: ApiClient;
  clock: Clock;
  timers: Timers;
  /** Replays the cache to the handlers this often; 0 disables. */
  resyncPeriodMs?: number;
  /** Deep-freeze cached objects (tests use it to prove nobody mutates the cache). */
  freeze?: boolean;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Extra index names from `indexFuncs` to maintain. */
  indexes?: string[];
  /** The watch's server-side timeout, as client-go's reflector asks (300–600 s). */
  watchTimeoutSeconds?: number;
}

const MIN_BACKOFF_MS = 800;
const MAX_BACKOFF_MS = 30_000;

export class Informer {
  readonly resource: string;
  readonly indexer: Indexer;
  readonly lister: Lister;
  private readonly handlers: EventHandlers[] = [];
  private readonly opts: InformerOptions;
  private synced = false;
  private started = false;
  private stopped = false;
  private resourceVersion = '';
  private needList = true;
  private backoffMs = MIN_BACKOFF_MS;
  private watch: WatchHandle | undefined;
  private resyncTimer: number | undefined;
  private sleepTimer: number | undefined;
  private wake: (() => void) | undefined;
  private syncWaiters: (() => void)[] = [];
  /** Counters for status pages and tests. */
  readonly stats = { lists: 0, watches: 0, relistsOnExpired: 0, errors: 0, resyncs: 0 };

  constructor(resource: string, options: InformerOptions) {
    this.resource = resource;
    this.opts = options;
    this.indexer = new Indexer();
    for (const i of options.indexes ?? []) this.indexer.addIndexer(i, indexFuncs[i]!);
    this.lister = new Lister(this.indexer, resourceMeta(resource).namespaced);
  }

  addEventHandler(h: EventHandlers): void {
    this.handlers.push(h);
    // A handler added late sees what is already there, as client-go does.
    if (this.synced && h.add) for (const o of [...this.indexer.values()]) h.add(o);
  }

  addIndexer(name: string, fn?: IndexFunc): void {
    this.indexer.addIndexer(name, fn ?? indexFuncs[name]!);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  get lastSyncResourceVersion(): string {
    return this.resourceVersion;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.run();
    const period = this.opts.resyncPeriodMs ?? 0;
    if (period > 0) this.scheduleResync(period);
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    this.watch = undefined;
    if (this.resyncTimer !== undefined) this.opts.timers.cancelTimer(this.resyncTimer);
    if (this.sleepTimer !== undefined) this.opts.timers.cancelTimer(this.sleepTimer);
    this.wake?.();
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Replays the cache to the handlers now (what the resync timer does). */
  resync(): void {
    this.stats.resyncs++;
    for (const o of [...this.indexer.values()]) for (const h of this.handlers) h.update?.(o, o);
  }

  private scheduleResync(periodMs: number): void {
    this.resyncTimer = this.opts.timers.setTimer(periodMs, () => {
      if (this.stopped) return;
      if (this.synced) this.resync();
      this.scheduleResync(periodMs);
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.needList) await this.listAndReplace();
        if (this.stopped) return;
        const end = await this.watchUntilEnd();
        if (end === 'expired') {
          this.stats.relistsOnExpired++;
          this.needList = true;
        } else if (end === 'error') {
          this.stats.errors++;
          this.needList = true;
          await this.sleep();
        }
        // 'closed': the server ended a healthy watch; resume from the last resourceVersion.
      } catch (err) {
        if (this.stopped) return;
        this.needList = true;
        if (isExpired(err)) {
          this.stats.relistsOnExpired++;
          continue;
        }
        this.stats.errors++;
        await this.sleep();
      }
    }
  }

  private async listAndReplace(): Promise<void> {
    this.stats.lists++;
    const { client, namespace, labelSelector, fieldSelector } = this.opts;
    const list = await client.list(this.resource, namespace ?? '', { labelSelector, fieldSelector });
    if (this.stopped) return;
    this.replace(list.items);
    this.resourceVersion = list.metadata.resourceVersion ?? '';
    this.needList = false;
    this.backoffMs = MIN_BACKOFF_MS;
    if (!this.synced) {
      this.synced = true;
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      for (const w of waiters) w();
    }
  }

  private watchUntilEnd(): Promise<'closed' | 'expired' | 'error'> {
    const { client, namespace, labelSelector, fieldSelector, watchTimeoutSeconds } = this.opts;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (how: 'closed' | 'expired' | 'error') => {
        if (done) return;
        done = true;
        this.watch?.stop();
        this.watch = undefined;
        this.wake = undefined;
        resolve(how);
      };
      this.wake = () => finish('closed');
      this.stats.watches++;
      client
        .watch(
          this.resource,
          namespace ?? '',
          { labelSelector, fieldSelector, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds ?? 300 },
          {
            onEvent: (e) => {
              if (done || this.stopped) return;
              if (e.type === 'ERROR') {
                finish(statusIsExpired(e.object) ? 'expired' : 'error');
                return;
              }
              const rv = e.object?.metadata?.resourceVersion;
              if (e.type === 'BOOKMARK') {
                if (rv) this.resourceVersion = rv;
                return;
              }
              this.apply(e.type, e.object);
              if (rv) this.resourceVersion = rv;
            },
            onClose: (err) => finish(err === undefined ? 'closed' : isExpired(err) ? 'expired' : 'error'),
          },
        )
        .then(
          (h) => {
            if (done || this.stopped) h.stop();
            else this.watch = h;
          },
          (err) => {
            done = true;
            this.wake = undefined;
            reject(err);
          },
        );
    });
  }

  private sleep(): Promise<void> {
    const ms = this.backoffMs;
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    return new Promise((resolve) => {
      this.wake = () => {
        if (this.sleepTimer !== undefined) this.opts.timers.cancelTimer(this.sleepTimer);
        this.sleepTimer = undefined;
        this.wake = undefined;
        resolve();
      };
      this.sleepTimer = this.opts.timers.setTimer(ms, () => {
        this.sleepTimer = undefined;
        this.wake = undefined;
        resolve();
      });
    });
  }

  private stored(o: KubeObject): KubeObject {
    return this.opts.freeze ? deepFreeze(o) : o;
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject): void {
    const key = objectKey(obj);
    if (type === 'DELETED') {
      const old = this.indexer.delete(key);
      const last = this.stored(obj);
      for (const h of this.handlers) h.delete?.(last ?? old, false);
      return;
    }
    const o = this.stored(obj);
    const old = this.indexer.set(key, o);
    if (old) for (const h of this.handlers) h.update?.(old, o);
    else for (const h of this.handlers) h.add?.(o);
  }

  /** Makes the cache equal to a fresh list, telling the handlers what changed. */
  private replace(items: KubeObject[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      const key = objectKey(item);
      seen.add(key);
      const o = this.stored(item);
      const old = this.indexer.set(key, o);
      if (old) for (const h of this.handlers) h.update?.(old, o);
      else for (const h of this.handlers) h.add?.(o);
    }
    for (const key of [...this.indexer.keys()]) {
      if (seen.has(key)) continue;
      const old = this.indexer.delete(key)!;
      for (const h of this.handlers) h.delete?.(old, true);
    }
  }
}

export interface InformerFactoryOptions {
  client: ApiClient;
  clock: Clock;
  timers: Timers;
  resyncPeriodMs?: number;
  freeze?: boolean;
}

/** One shared informer per resource (client-go's SharedInformerFactory). */
export class InformerFactory {
  private readonly informers = new Map<string, Informer>();
  constructor(readonly options: InformerFactoryOptions) {}

  informer(resource: string, indexes: string[] = []): Informer {
    let inf = this.informers.get(resource);
    if (!inf) {
      inf = new Informer(resource, { ...this.options, indexes });
      this.informers.set(resource, inf);
    } else {
      for (const i of indexes) inf.addIndexer(i);
    }
    return inf;
  }

  lister(resource: string): Lister {
    return this.informer(resource).lister;
  }

  /** Starts every informer asked for so far (and is safe to call again for later ones). */
  start(): void {
    for (const inf of this.informers.values()) inf.start();
  }

  async waitForCacheSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
  }

  hasSynced(): boolean {
    for (const i of this.informers.values()) if (!i.hasSynced()) return false;
    return true;
  }

  stop(): void {
    for (const inf of this.informers.values()) inf.stop();
  }

  resources(): string[] {
    return [...this.informers.keys()];
  }
}
