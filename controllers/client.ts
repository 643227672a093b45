/**
 * The API client the controllers and the scheduler use, its typed errors, and `FakeClient`, an
 * in-memory API for tests in the style of client-go's fake clientset: it keeps objects with
 * resourceVersions, serves watches, and records every action as
 * `{verb, resource, subresource?, namespace, name, object?}` so a test can compare what a
 * reconciler did with what it should have done.
 *
 * Resources are named by plural (`pods`, `deployments`); `namespace` is '' for cluster-scoped
 * resources and for lists across all namespaces.
 */
import { mergePatch } from '../api/patch.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector, selectorFromObject, selectorToString } from '../api/selectors.js';
import { ApiError, clone, deepEqual, errors, isApiError, isObject, type JsonObject, type KubeList, type KubeObject, type Status } from '../api/types.js';
import { RESOURCES } from '../api/registry.js';
import { resourceForKind, resourceMeta } from './resources.js';
import { formatTime, type Clock } from './time.js';

// ---------------------------------------------------------------------------------------------
// The interface

export interface GetOptions {
  /** `scale` answers an autoscaling/v1 Scale for kinds that have one. */
  subresource?: 'scale';
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
}

export interface WatchOptions extends ListOptions {
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  type: WatchEventType;
  /** The object; for ERROR a Status (`code: 410, reason: Expired` asks the watcher to relist). */
  object: KubeObject;
}

export interface WatchHandler {
  onEvent(e: WatchEvent): void;
  /** The server ended the watch (timeout, restart); `err` when it failed. Not called after stop(). */
  onClose(err?: unknown): void;
}

export interface WatchHandle {
  stop(): void;
}

export interface PatchOptions {
  subresource?: 'status' | 'scale';
}

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

export interface DeleteOptions {
  propagationPolicy?: PropagationPolicy;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

/** What controllers need from the API server. Every call may reject with an `ApiError`. */
export interface ApiClient {
  get(resource: string, namespace: string, name: string, options?: GetOptions): Promise<KubeObject>;
  list(resource: string, namespace: string, options?: ListOptions): Promise<KubeList>;
  /** Resolves once the watch is established; rejects with 410 Expired for a compacted resourceVersion. */
  watch(resource: string, namespace: string, options: WatchOptions, handler: WatchHandler): Promise<WatchHandle>;
  create(resource: string, namespace: string, obj: KubeObject): Promise<KubeObject>;
  /** Replaces the object; a set `metadata.resourceVersion` is a precondition (409 Conflict). */
  update(resource: string, namespace: string, obj: KubeObject): Promise<KubeObject>;
  /** Replaces the status only (the status subresource). */
  updateStatus(resource: string, namespace: string, obj: KubeObject): Promise<KubeObject>;
  /** JSON merge patch (RFC 7386); `metadata.resourceVersion` / `metadata.uid` in it are preconditions. */
  patch(resource: string, namespace: string, name: string, patch: JsonObject, options?: PatchOptions): Promise<KubeObject>;
  delete(resource: string, namespace: string, name: string, options?: DeleteOptions): Promise<void>;
  /** POST pods/<name>/binding: assigns the pod to a node. */
  bind(namespace: string, podName: string, nodeName: string, podUid?: string): Promise<void>;
  createEvent(event: KubeObject): Promise<KubeObject>;
}

// ---------------------------------------------------------------------------------------------
// Typed errors: the API's Status objects, told apart as apimachinery's errors.IsXxx do.

export { ApiError, isApiError };

function hasReason(e: unknown, reason: string, code: number): boolean {
  return isApiError(e) && (e.reason === reason || (e.reason === undefined && e.code === code));
}
export const isNotFound = (e: unknown): boolean => hasReason(e, 'NotFound', 404);
export const isAlreadyExists = (e: unknown): boolean => hasReason(e, 'AlreadyExists', 409);
export const isConflict = (e: unknown): boolean => hasReason(e, 'Conflict', 409);
export const isInvalid = (e: unknown): boolean => hasReason(e, 'Invalid', 422);
/** 410: the resourceVersion is older than the kept history; relist. */
export const isExpired = (e: unknown): boolean => isApiError(e) && (e.code === 410 || e.reason === 'Expired' || e.reason === 'Gone');

/** The same test on the Status an ERROR watch event carries. */
export function statusIsExpired(s: unknown): boolean {
  return isObject(s) && (s.code === 410 || s.reason === 'Expired' || s.reason === 'Gone');
}

function groupOf(resource: string): string {
  try {
    return resourceMeta(resource).group;
  } catch {
    return '';
  }
}

/** Error factories keyed by resource plural, worded as the API server words them. */
export const clientErrors = {
  notFound: (resource: string, name: string) => errors.notFound(groupOf(resource), resource, name),
  alreadyExists: (resource: string, name: string) => errors.alreadyExists(groupOf(resource), resource, name),
  conflict: (resource: string, name: string, why?: string) => errors.conflict(groupOf(resource), resource, name, why),
  invalid: (resource: string, name: string, field: string, detail: string) =>
    errors.invalid(groupOf(resource), resourceMeta(resource).kind, name, [{ type: 'FieldValueInvalid', field, detail }]),
  expired: (message = 'too old resource version') => errors.expired(message),
};

// ---------------------------------------------------------------------------------------------
// FakeClient

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export interface Action {
  verb: Verb;
  resource: string;
  subresource?: string;
  namespace: string;
  name: string;
  /** What the caller sent (create/update), as sent. */
  object?: KubeObject;
  /** The merge patch (patch). */
  patch?: JsonObject;
  options?: DeleteOptions | ListOptions;
}

/** A reactor's answer: `undefined` lets the next reactor (and finally the store) handle it. */
export type ReactorResult = { error: unknown } | { result: KubeObject | undefined } | undefined | void;
export type Reactor = (action: Action) => ReactorResult;

export interface FakeClientOptions {
  clock: Clock;
  /** Seeds the generateName suffixes and uids (deterministic). */
  seed?: number;
  /** Objects present from the start (not recorded as actions). */
  objects?: KubeObject[];
  /** Watch history kept for resuming watches; older resourceVersions get 410 Expired. */
  historyLimit?: number;
  /**
   * A delete of a pod bound to a node only marks it terminating (deletionTimestamp) as the API
   * server does, leaving the kubelet (the test) to finish it with `finishPodDeletion`.
   */
  gracefulPodDeletion?: boolean;
}

interface HistoryEntry {
  rv: number;
  resource: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  old?: KubeObject;
}

interface Watcher {
  resource: string;
  namespace: string;
  labels: ReturnType<typeof parseLabelSelector>;
  fields: ReturnType<typeof parseFieldSelector>;
  handler: WatchHandler;
  open: boolean;
}

const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const STATUS_SUBRESOURCE = new Set(RESOURCES.filter((r) => r.subresources.includes('status')).map((r) => r.plural));
const SCALE_SUBRESOURCE = new Set(RESOURCES.filter((r) => r.subresources.includes('scale')).map((r) => r.plural));

/** mulberry32: a tiny seeded PRNG so generated names are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FakeClient implements ApiClient {
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly reactors: { verb: string; resource: string; fn: Reactor }[] = [];
  private readonly recorded: Action[] = [];
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly historyLimit: number;
  private readonly gracefulPodDeletion: boolean;
  private rv = 1;
  private uidCounter = 0;
  /** Oldest resourceVersion a watch may resume from. */
  private compactedRv = 0;

  constructor(options: FakeClientOptions) {
    this.clock = options.clock;
    this.random = prng(options.seed ?? 1);
    this.historyLimit = options.historyLimit ?? 100_000;
    this.gracefulPodDeletion = options.gracefulPodDeletion ?? false;
    for (const o of options.objects ?? []) this.add(o);
  }

  // --- test helpers ---------------------------------------------------------------------

  /** Every action so far, in order. */
  actions(): Action[] {
    return this.recorded.slice();
  }

  /** The actions that change something (no get / list / watch). */
  writes(): Action[] {
    return this.recorded.filter((a) => a.verb !== 'get' && a.verb !== 'list' && a.verb !== 'watch');
  }

  clearActions(): void {
    this.recorded.length = 0;
  }

  /** Handles matching actions before the store does (client-go's PrependReactor). */
  prependReactor(verb: Verb | '*', resource: string, fn: Reactor): void {
    this.reactors.unshift({ verb, resource, fn });
  }

  /** Stores an object as-is, without recording an action (the tracker's Add). */
  add(obj: KubeObject, resource?: string): KubeObject {
    const res = resource ?? this.resourceOf(obj);
    const o = clone(obj);
    o.metadata.uid ??= this.newUid();
    o.metadata.creationTimestamp ??= formatTime(this.clock.now());
    if (resourceMeta(res).namespaced) o.metadata.namespace ??= 'default';
    else delete o.metadata.namespace;
    o.metadata.generation ??= 1;
    const stored = this.put(res, o, 'ADDED');
    return clone(stored);
  }

  /** The stored object, or undefined; records nothing. */
  peek(resource: string, namespace: string, name: string): KubeObject | undefined {
    const o = this.bucket(resource).get(this.key(resource, namespace, name));
    return o ? clone(o) : undefined;
  }

  /** All stored objects of a resource (optionally one namespace); records nothing. */
  objects(resource: string, namespace = ''): KubeObject[] {
    return [...this.bucket(resource).values()].filter((o) => !namespace || o.metadata.namespace === namespace).map((o) => clone(o));
  }

  /** Changes a stored object in place of the API (a kubelet's or a user's write); records nothing. */
  mutate(resource: string, namespace: string, name: string, fn: (o: KubeObject) => void): KubeObject {
    const cur = this.bucket(resource).get(this.key(resource, namespace, name));
    if (!cur) throw clientErrors.notFound(resource, name);
    const next = clone(cur);
    fn(next);
    return clone(this.put(resource, next, 'MODIFIED'));
  }

  /** Removes a stored object at once (a kubelet finishing a graceful delete); records nothing. */
  remove(resource: string, namespace: string, name: string): void {
    const k = this.key(resource, namespace, name);
    const cur = this.bucket(resource).get(k);
    if (cur) this.drop(resource, k, cur);
  }

  /** Ends every open watch with a 410 Expired ERROR event and forgets the history. */
  expireWatches(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
    for (const w of [...this.watchers]) {
      if (!w.open) continue;
      w.open = false;
      this.watchers.delete(w);
      const status = clientErrors.expired('too old resource version').status;
      this.safeDeliver(w, { type: 'ERROR', object: status as unknown as KubeObject });
      this.safeClose(w);
    }
  }

  /** Ends every open watch normally (as a server timeout does). */
  closeWatches(): void {
    for (const w of [...this.watchers]) {
      w.open = false;
      this.watchers.delete(w);
      this.safeClose(w);
    }
  }

  get watchCount(): number {
    return this.watchers.size;
  }

  /** The current resourceVersion of the store. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  // --- ApiClient ------------------------------------------------------------------------

  async get(resource: string, namespace: string, name: string, options?: GetOptions): Promise<KubeObject> {
    const action: Action = { verb: 'get', resource, namespace, name };
    if (options?.subresource) action.subresource = options.subresource;
    const r = this.react(action);
    if (r) return this.reacted(r);
    const o = this.bucket(resource).get(this.key(resource, namespace, name));
    if (!o) throw clientErrors.notFound(resource, name);
    if (options?.subresource === 'scale') return this.scaleOf(resource, o);
    return clone(o);
  }

  async list(resource: string, namespace: string, options: ListOptions = {}): Promise<KubeList> {
    const action: Action = { verb: 'list', resource, namespace, name: '' };
    if (options.labelSelector || options.fieldSelector) action.options = { ...options };
    const r = this.react(action);
    if (r) return this.reacted(r) as unknown as KubeList;
    const meta = resourceMeta(resource);
    const labels = parseLabelSelector(options.labelSelector);
    const fields = parseFieldSelector(options.fieldSelector, meta.kind);
    const items: KubeObject[] = [];
    for (const o of this.bucket(resource).values()) {
      if (namespace && o.metadata.namespace !== namespace) continue;
      if (!matchesLabels(labels, o.metadata.labels) || !matchesFields(fields, o)) continue;
      items.push(clone(o));
    }
    return { apiVersion: meta.apiVersion, kind: `${meta.kind}List`, metadata: { resourceVersion: String(this.rv) }, items };
  }

  async watch(resource: string, namespace: string, options: WatchOptions, handler: WatchHandler): Promise<WatchHandle> {
    const action: Action = { verb: 'watch', resource, namespace, name: '' };
    const r = this.react(action);
    if (r && 'error' in r) throw r.error;
    const meta = resourceMeta(resource);
    const w: Watcher = {
      resource,
      namespace,
      labels: parseLabelSelector(options.labelSelector),
      fields: parseFieldSelector(options.fieldSelector, meta.kind),
      handler,
      open: true,
    };
    const from = options.resourceVersion;
    if (from && from !== '0') {
      const fromRv = Number(from);
      if (!Number.isFinite(fromRv)) throw errors.badRequest(`invalid resource version: ${from}`);
      if (fromRv < this.compactedRv) throw clientErrors.expired(`too old resource version: ${from} (${this.compactedRv})`);
      this.recordAction(action);
      this.watchers.add(w);
      for (const h of this.history) if (h.rv > fromRv && h.resource === resource) this.deliver(w, h);
    } else {
      this.recordAction(action);
      this.watchers.add(w);
      for (const o of this.bucket(resource).values()) {
        if (this.matches(w, o)) this.safeDeliver(w, { type: 'ADDED', object: clone(o) });
      }
    }
    return {
      stop: () => {
        w.open = false;
        this.watchers.delete(w);
      },
    };
  }

  async create(resource: string, namespace: string, obj: KubeObject): Promise<KubeObject> {
    const meta = resourceMeta(resource);
    const action: Action = { verb: 'create', resource, namespace, name: obj.metadata?.name ?? '', object: clone(obj) };
    const r = this.react(action);
    if (r) return this.reacted(r);
    const o = clone(obj);
    o.metadata ??= {};
    if (meta.namespaced) {
      if (o.metadata.namespace && namespace && o.metadata.namespace !== namespace) {
        throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      o.metadata.namespace = namespace || o.metadata.namespace || 'default';
    } else delete o.metadata.namespace;
    if (!o.metadata.name) {
      if (!o.metadata.generateName) throw clientErrors.invalid(resource, '', 'metadata.name', 'name or generateName is required');
      o.metadata.name = this.generateName(resource, o.metadata.namespace ?? '', o.metadata.generateName);
    }
    action.name = o.metadata.name;
    const k = this.key(resource, o.metadata.namespace ?? '', o.metadata.name);
    if (this.bucket(resource).has(k)) throw clientErrors.alreadyExists(resource, o.metadata.name);
    o.metadata.uid = this.newUid();
    o.metadata.creationTimestamp = formatTime(this.clock.now());
    o.metadata.generation = 1;
    delete o.metadata.deletionTimestamp;
    delete o.metadata.resourceVersion;
    return clone(this.put(resource, o, 'ADDED'));
  }

  async update(resource: string, namespace: string, obj: KubeObject): Promise<KubeObject> {
    const name = obj.metadata.name ?? '';
    const r = this.react({ verb: 'update', resource, namespace, name, object: clone(obj) });
    if (r) return this.reacted(r);
    const cur = this.current(resource, namespace, name);
    this.checkPreconditions(resource, cur, obj.metadata.resourceVersion, obj.metadata.uid);
    const next = clone(obj);
    this.keepServerFields(resource, cur, next);
    if (STATUS_SUBRESOURCE.has(resource)) next.status = clone(cur.status);
    return this.commitUpdate(resource, cur, next);
  }

  async updateStatus(resource: string, namespace: string, obj: KubeObject): Promise<KubeObject> {
    const name = obj.metadata.name ?? '';
    const r = this.react({ verb: 'update', subresource: 'status', resource, namespace, name, object: clone(obj) });
    if (r) return this.reacted(r);
    const cur = this.current(resource, namespace, name);
    this.checkPreconditions(resource, cur, obj.metadata.resourceVersion, obj.metadata.uid);
    const next = clone(cur);
    next.status = clone(obj.status);
    return this.commitUpdate(resource, cur, next);
  }

  async patch(resource: string, namespace: string, name: string, patch: JsonObject, options: PatchOptions = {}): Promise<KubeObject> {
    const action: Action = { verb: 'patch', resource, namespace, name, patch: clone(patch) };
    if (options.subresource) action.subresource = options.subresource;
    const r = this.react(action);
    if (r) return this.reacted(r);
    const cur = this.current(resource, namespace, name);
    const pm = (isObject(patch.metadata) ? patch.metadata : {}) as Record<string, unknown>;
    this.checkPreconditions(resource, cur, pm.resourceVersion as string | undefined, pm.uid as string | undefined);
    let next: KubeObject;
    if (options.subresource === 'scale') {
      if (!SCALE_SUBRESOURCE.has(resource)) throw errors.notFoundPath();
      const scale = mergePatch(this.scaleOf(resource, cur), patch) as KubeObject;
      next = clone(cur);
      next.spec = { ...(next.spec ?? {}), replicas: scale.spec?.replicas };
    } else if (options.subresource === 'status') {
      const patched = mergePatch(cur, patch) as KubeObject;
      next = clone(cur);
      next.status = patched.status;
    } else {
      next = mergePatch(cur, patch) as KubeObject;
      this.keepServerFields(resource, cur, next);
      if (STATUS_SUBRESOURCE.has(resource)) next.status = clone(cur.status);
    }
    const out = await this.commitUpdate(resource, cur, next);
    return options.subresource === 'scale' ? this.scaleOf(resource, out) : out;
  }

  async delete(resource: string, namespace: string, name: string, options: DeleteOptions = {}): Promise<void> {
    const action: Action = { verb: 'delete', resource, namespace, name };
    if (Object.keys(options).length) action.options = clone(options);
    const r = this.react(action);
    if (r) {
      if ('error' in r) throw r.error;
      return;
    }
    const cur = this.current(resource, namespace, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== cur.metadata.uid) {
      throw clientErrors.conflict(resource, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
      throw clientErrors.conflict(resource, name);
    }
    const next = clone(cur);
    const finalizers = [...(next.metadata.finalizers ?? [])];
    const policy = options.propagationPolicy;
    if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (policy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    if (policy === 'Foreground' || policy === 'Background') {
      // Switching policy on an object already being deleted replaces the other GC finalizer.
      const drop = policy === 'Foreground' ? 'orphan' : 'foregroundDeletion';
      const i = finalizers.indexOf(drop);
      if (i >= 0 && cur.metadata.deletionTimestamp) finalizers.splice(i, 1);
    }
    const graceful = this.gracefulPodDeletion && resource === 'pods' && !!cur.spec?.nodeName && options.gracePeriodSeconds !== 0 && !isFinished(cur);
    if (finalizers.length === 0 && !graceful) {
      this.drop(resource, this.key(resource, namespace, name), cur);
      return;
    }
    next.metadata.finalizers = finalizers;
    if (finalizers.length === 0) delete next.metadata.finalizers;
    if (!next.metadata.deletionTimestamp) {
      const grace = graceful ? (options.gracePeriodSeconds ?? cur.spec?.terminationGracePeriodSeconds ?? 30) : 0;
      next.metadata.deletionTimestamp = formatTime(this.clock.now() + grace * 1000);
      next.metadata.deletionGracePeriodSeconds = grace;
      next.metadata.generation = (next.metadata.generation ?? 0) + 1;
    }
    if (deepEqual(next, cur)) return;
    this.put(resource, next, 'MODIFIED');
  }

  async bind(namespace: string, podName: string, nodeName: string, podUid?: string): Promise<void> {
    const binding: KubeObject = { apiVersion: 'v1', kind: 'Binding', metadata: { name: podName, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } };
    if (podUid) binding.metadata.uid = podUid;
    const r = this.react({ verb: 'create', resource: 'pods', subresource: 'binding', namespace, name: podName, object: binding });
    if (r) {
      if ('error' in r) throw r.error;
      return;
    }
    const cur = this.current('pods', namespace, podName);
    if (podUid && cur.metadata.uid !== podUid) throw clientErrors.conflict('pods', podName, 'the UID in the precondition does not match');
    if (cur.spec?.nodeName) throw clientErrors.conflict('pods', podName, `pod ${podName} is already assigned to node "${cur.spec.nodeName}"`);
    if (cur.metadata.deletionTimestamp) throw clientErrors.conflict('pods', podName, `pod ${podName} is being deleted, cannot be assigned to a host`);
    const next = clone(cur);
    next.spec = { ...(next.spec ?? {}), nodeName };
    const status = (next.status ??= {});
    const conds: any[] = (status.conditions ?? []).filter((c: any) => c.type !== 'PodScheduled');
    conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: formatTime(this.clock.now()) });
    status.conditions = conds;
    this.put('pods', next, 'MODIFIED');
  }

  async createEvent(event: KubeObject): Promise<KubeObject> {
    return this.create('events', event.metadata.namespace || 'default', event);
  }

  // --- internals --------------------------------------------------------------------------

  private resourceOf(obj: KubeObject): string {
    const m = resourceForKind(obj.apiVersion, obj.kind ?? '');
    if (!m) throw new Error(`FakeClient: no resource for ${obj.apiVersion}/${obj.kind}`);
    return m.plural;
  }

  private bucket(resource: string): Map<string, KubeObject> {
    let b = this.store.get(resource);
    if (!b) this.store.set(resource, (b = new Map()));
    return b;
  }

  private key(resource: string, namespace: string, name: string): string {
    return resourceMeta(resource).namespaced ? `${namespace}/${name}` : name;
  }

  private current(resource: string, namespace: string, name: string): KubeObject {
    const o = this.bucket(resource).get(this.key(resource, namespace, name));
    if (!o) throw clientErrors.notFound(resource, name);
    return o;
  }

  private newUid(): string {
    this.uidCounter++;
    return `00000000-0000-4000-8000-${this.uidCounter.toString(16).padStart(12, '0')}`;
  }

  private generateName(resource: string, namespace: string, prefix: string): string {
    for (;;) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += NAME_ALPHABET[Math.floor(this.random() * NAME_ALPHABET.length)];
      const name = `${prefix}${suffix}`;
      if (!this.bucket(resource).has(this.key(resource, namespace, name))) return name;
    }
  }

  private recordAction(a: Action): void {
    this.recorded.push(a);
  }

  private react(a: Action): { error: unknown } | { result: KubeObject | undefined } | undefined {
    this.recordAction(a);
    for (const r of this.reactors) {
      if ((r.verb === '*' || r.verb === a.verb) && (r.resource === '*' || r.resource === a.resource)) {
        const out = r.fn(a);
        if (out) return out;
      }
    }
    return undefined;
  }

  private reacted(r: { error: unknown } | { result: KubeObject | undefined }): KubeObject {
    if ('error' in r) throw r.error;
    return r.result ? clone(r.result) : ({ metadata: {} } as KubeObject);
  }

  private checkPreconditions(resource: string, cur: KubeObject, rv: string | undefined, uid: string | undefined): void {
    const name = cur.metadata.name ?? '';
    if (uid && uid !== cur.metadata.uid) {
      throw clientErrors.conflict(resource, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${cur.metadata.uid}`);
    }
    if (rv && rv !== cur.metadata.resourceVersion) throw clientErrors.conflict(resource, name);
  }

  /** Fields a client cannot change through a main-resource write. */
  private keepServerFields(resource: string, cur: KubeObject, next: KubeObject): void {
    next.metadata ??= {};
    next.metadata.name = cur.metadata.name;
    if (cur.metadata.namespace) next.metadata.namespace = cur.metadata.namespace;
    next.metadata.uid = cur.metadata.uid;
    next.metadata.creationTimestamp = cur.metadata.creationTimestamp;
    next.metadata.generation = cur.metadata.generation;
    if (cur.metadata.deletionTimestamp) {
      next.metadata.deletionTimestamp = cur.metadata.deletionTimestamp;
      next.metadata.deletionGracePeriodSeconds = cur.metadata.deletionGracePeriodSeconds;
    } else {
      delete next.metadata.deletionTimestamp;
      delete next.metadata.deletionGracePeriodSeconds;
    }
    if (resource !== 'pods') {
      const specOf = (o: KubeObject) => {
        const { metadata: _m, status: _s, ...rest } = o;
        return rest;
      };
      if (!deepEqual(specOf(cur), specOf(next))) next.metadata.generation = (cur.metadata.generation ?? 0) + 1;
    }
  }

  private async commitUpdate(resource: string, cur: KubeObject, next: KubeObject): Promise<KubeObject> {
    next.metadata.resourceVersion = cur.metadata.resourceVersion;
    if (next.metadata.finalizers && next.metadata.finalizers.length === 0) delete next.metadata.finalizers;
    if (next.metadata.deletionTimestamp && !(next.metadata.finalizers?.length)) {
      // The last finalizer went: the object goes with it.
      if (!(this.gracefulPodDeletion && resource === 'pods' && cur.spec?.nodeName && !isFinished(cur))) {
        this.drop(resource, this.key(resource, cur.metadata.namespace ?? '', cur.metadata.name!), cur);
        return clone(next);
      }
    }
    if (deepEqual(next, cur)) return clone(cur);
    return clone(this.put(resource, next, 'MODIFIED'));
  }

  private put(resource: string, o: KubeObject, type: 'ADDED' | 'MODIFIED'): KubeObject {
    const k = this.key(resource, o.metadata.namespace ?? '', o.metadata.name!);
    const b = this.bucket(resource);
    const old = b.get(k);
    this.rv++;
    o.metadata.resourceVersion = String(this.rv);
    b.set(k, o);
    this.emit({ rv: this.rv, resource, type: old ? 'MODIFIED' : type, object: o, old });
    return o;
  }

  private drop(resource: string, k: string, cur: KubeObject): void {
    this.bucket(resource).delete(k);
    this.rv++;
    const o = clone(cur);
    o.metadata.resourceVersion = String(this.rv);
    this.emit({ rv: this.rv, resource, type: 'DELETED', object: o });
  }

  private emit(h: HistoryEntry): void {
    this.history.push(h);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.shift()!;
      this.compactedRv = dropped.rv;
    }
    for (const w of [...this.watchers]) if (w.resource === h.resource) this.deliver(w, h);
  }

  private matches(w: Watcher, o: KubeObject): boolean {
    if (w.namespace && o.metadata.namespace !== w.namespace) return false;
    return matchesLabels(w.labels, o.metadata.labels) && matchesFields(w.fields, o);
  }

  /** Delivers one change, turning selector transitions into ADDED / DELETED as the API does. */
  private deliver(w: Watcher, h: HistoryEntry): void {
    if (!w.open) return;
    const now = this.matches(w, h.object);
    if (h.type === 'MODIFIED' && h.old) {
      const before = this.matches(w, h.old);
      if (before && now) this.safeDeliver(w, { type: 'MODIFIED', object: clone(h.object) });
      else if (!before && now) this.safeDeliver(w, { type: 'ADDED', object: clone(h.object) });
      else if (before && !now) this.safeDeliver(w, { type: 'DELETED', object: clone(h.object) });
      return;
    }
    if (now) this.safeDeliver(w, { type: h.type, object: clone(h.object) });
  }

  private safeDeliver(w: Watcher, e: WatchEvent): void {
    try {
      w.handler.onEvent(e);
    } catch {
      // A watcher's bug must not fail the write that fed it.
    }
  }

  private safeClose(w: Watcher, err?: unknown): void {
    try {
      w.handler.onClose(err);
    } catch {
      /* ignore */
    }
  }

  private scaleOf(resource: string, o: KubeObject): KubeObject {
    if (!SCALE_SUBRESOURCE.has(resource)) throw errors.notFoundPath();
    const sel = o.spec?.selector;
    const selector = resource === 'replicationcontrollers' ? selectorToString(selectorFromObject({ matchLabels: sel ?? {} })) : selectorToString(selectorFromObject(sel));
    return {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, creationTimestamp: o.metadata.creationTimestamp },
      spec: { replicas: o.spec?.replicas ?? 0 },
      status: { replicas: o.status?.replicas ?? 0, selector },
    };
  }
}

function isFinished(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** A Status as an ERROR event carries it (exported for servers that feed informers). */
export function expiredStatus(message = 'too old resource version'): Status {
  return clientErrors.expired(message).status;
}

export type { JsonObject };
