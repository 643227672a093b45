/**
 * The API server's in-cluster interface: the same operations as its REST API, asked as actor
 * messages by the controller manager, the scheduler and the kubelets, with no HTTP or TLS in
 * between. Watches are pushed to the watching actor as `K8sWatchNotice` messages, fed by the
 * same watch cache that serves HTTP watchers.
 */
import { RESOURCES, resourceKey, type ResourceInfo } from '../api/registry.js';
import { parseFieldSelector, parseLabelSelector } from '../api/selectors.js';
import { ApiError, errors, type KubeObject, type Status } from '../api/types.js';
import type { ApiCore, DeleteOptions, ListOptions } from './apiserver-core.js';
import type { EventType, WatchCache, Watcher } from './apiserver-cache.js';

export type K8sRequest =
  | { op: 'k8s'; verb: 'get'; resource: string; namespace: string; name: string; subresource?: 'scale' }
  | { op: 'k8s'; verb: 'list'; resource: string; namespace: string; options?: ListOptions }
  | { op: 'k8s'; verb: 'create'; resource: string; namespace: string; body: KubeObject }
  | { op: 'k8s'; verb: 'update' | 'updateStatus'; resource: string; namespace: string; body: KubeObject }
  | { op: 'k8s'; verb: 'patch'; resource: string; namespace: string; name: string; patch: unknown; subresource?: 'status' | 'scale' }
  | { op: 'k8s'; verb: 'delete'; resource: string; namespace: string; name: string; options?: DeleteOptions }
  | { op: 'k8s'; verb: 'bind'; namespace: string; name: string; node: string; uid?: string }
  /** `watchId` is chosen by the watcher, unique among its own watches. */
  | { op: 'k8s'; verb: 'watch'; resource: string; namespace: string; watchId: number; options?: ListOptions & { sendInitialEvents?: boolean } }
  | { op: 'k8s'; verb: 'unwatch'; watchId: number };

export type K8sReply = { ok: true; value: unknown } | { ok: false; status: Status };

export interface K8sWatchNotice {
  t: 'k8sWatch';
  watchId: number;
  events: { type: EventType | 'ERROR'; object: unknown }[];
  /** Set when the watch ended; the watcher relists (a 410 Status arrives as an ERROR event first). */
  closed?: string;
}

/** Watch events are batched per turn per watcher, and a watcher holds at most this many unsent. */
const MAX_PENDING_EVENTS = 50_000;

const byPlural = new Map<string, ResourceInfo>();
for (const r of RESOURCES) if (!byPlural.has(r.plural)) byPlural.set(r.plural, r);

function resourceOf(plural: string): ResourceInfo {
  const r = byPlural.get(plural);
  if (!r) throw errors.notFound('', plural, '');
  return r;
}

export interface MessageApiDeps {
  core: () => ApiCore;
  cache: WatchCache;
  send(to: string, msg: unknown): void;
  ready(): boolean;
  /** The server's restart count: a watcher that sees it change knows its watches are gone. */
  incarnation(): number;
}

export function createMessageApi(deps: MessageApiDeps) {
  /** Open watches by `${watcher}/${watchId}`. */
  const watches = new Map<string, { watcher: Watcher; pending: K8sWatchNotice['events']; scheduled: boolean }>();

  function flush(owner: string, watchId: number): void {
    const w = watches.get(`${owner}/${watchId}`);
    if (!w) return;
    w.scheduled = false;
    if (w.pending.length === 0) return;
    const events = w.pending;
    w.pending = [];
    try {
      deps.send(owner, { t: 'k8sWatch', watchId, events } satisfies K8sWatchNotice);
    } catch {
      stopWatch(owner, watchId, undefined);
    }
  }

  function stopWatch(owner: string, watchId: number, reason: string | undefined): void {
    const key = `${owner}/${watchId}`;
    const w = watches.get(key);
    if (!w) return;
    watches.delete(key);
    deps.cache.unwatch(w.watcher);
    if (reason === undefined) return;
    try {
      deps.send(owner, { t: 'k8sWatch', watchId, events: w.pending, closed: reason } satisfies K8sWatchNotice);
    } catch {
      /* the watcher is gone */
    }
  }

  function watch(owner: string, req: Extract<K8sRequest, { verb: 'watch' }>): unknown {
    const r = resourceOf(req.resource);
    const key = `${owner}/${req.watchId}`;
    if (watches.has(key)) throw errors.badRequest(`watch ${req.watchId} is already open`);
    if (!deps.ready()) throw errors.unavailable('the watch cache is not ready yet');
    const opts = req.options ?? {};
    const rv = opts.resourceVersion ?? '';
    if (rv !== '' && !/^\d+$/.test(rv)) throw errors.badRequest(`invalid resourceVersion: ${JSON.stringify(rv)}`);
    const fromRev = rv === '' || rv === '0' ? ('now' as const) : Number(rv);
    const initial = fromRev === 'now' ? opts.sendInitialEvents !== false : opts.sendInitialEvents === true;
    const entry = { watcher: undefined as unknown as Watcher, pending: [] as K8sWatchNotice['events'], scheduled: false };
    entry.watcher = {
      rkey: resourceKey(r),
      ...(req.namespace ? { namespace: req.namespace } : {}),
      labels: parseLabelSelector(opts.labelSelector ?? null),
      fields: parseFieldSelector(opts.fieldSelector ?? null, r.kind),
      deliver(type, obj) {
        if (entry.pending.length >= MAX_PENDING_EVENTS) return false;
        entry.pending.push({ type, object: obj });
        if (!entry.scheduled) {
          entry.scheduled = true;
          queueMicrotask(() => flush(owner, req.watchId));
        }
        return true;
      },
      close(reason) {
        stopWatch(owner, req.watchId, reason);
      },
    };
    watches.set(key, entry);
    try {
      deps.cache.watch(entry.watcher, fromRev, initial);
    } catch (err) {
      watches.delete(key);
      throw err;
    }
    return { watchId: req.watchId, resourceVersion: String(deps.cache.revision), incarnation: deps.incarnation() };
  }

  async function run(owner: string, req: K8sRequest): Promise<unknown> {
    const core = deps.core();
    switch (req.verb) {
      case 'get': {
        const r = resourceOf(req.resource);
        return req.subresource === 'scale' ? core.getScale(r, req.namespace, req.name) : core.get(r, req.namespace, req.name);
      }
      case 'list':
        return core.list(resourceOf(req.resource), req.namespace || undefined, req.options ?? {});
      case 'create':
        return (await core.create(resourceOf(req.resource), req.namespace, req.body)).value;
      case 'update':
      case 'updateStatus': {
        const name = req.body?.metadata?.name;
        if (typeof name !== 'string') throw errors.badRequest('metadata.name is required');
        const opts = req.verb === 'updateStatus' ? { sub: 'status' as const } : {};
        return (await core.update(resourceOf(req.resource), req.namespace, name, req.body, opts)).value;
      }
      case 'patch': {
        const r = resourceOf(req.resource);
        if (req.subresource === 'scale') return core.patchScale(r, req.namespace, req.name, 'merge', req.patch);
        const opts = req.subresource === 'status' ? { sub: 'status' as const } : {};
        return (await core.patch(r, req.namespace, req.name, 'merge', req.patch, opts)).value;
      }
      case 'delete':
        return (await core.delete(resourceOf(req.resource), req.namespace, req.name, req.options ?? {})).value;
      case 'bind': {
        const binding = {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: req.name, namespace: req.namespace, ...(req.uid ? { uid: req.uid } : {}) },
          target: { apiVersion: 'v1', kind: 'Node', name: req.node },
        };
        return core.bind(resourceOf('pods'), req.namespace, req.name, binding);
      }
      case 'watch':
        return watch(owner, req);
      case 'unwatch':
        stopWatch(owner, req.watchId, undefined);
        return { watchId: req.watchId };
      default:
        throw errors.badRequest(`unknown verb ${JSON.stringify((req as { verb?: unknown }).verb)}`);
    }
  }

  return {
    /** Answers one request; errors come back as Status objects, never as crashes. */
    handle(owner: string, req: K8sRequest, reply: (r: K8sReply) => void): void {
      run(owner, req).then(
        (value) => reply({ ok: true, value }),
        (err) => reply({ ok: false, status: err instanceof ApiError ? err.status : errors.internal(String((err as Error)?.message ?? err)).status }),
      );
    },
    /** Ends every watch (the cache was reset or the server stops). */
    closeAll(reason: string): void {
      for (const key of [...watches.keys()]) {
        const [owner, id] = [key.slice(0, key.lastIndexOf('/')), Number(key.slice(key.lastIndexOf('/') + 1))];
        stopWatch(owner, id, reason);
      }
    },
    get watchCount(): number {
      return watches.size;
    },
  };
}

export type { KubeObject };
