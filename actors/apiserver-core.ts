/**
 * The API's semantics, independent of HTTP: create, get, list, update, patch, delete,
 * deletecollection, the status / scale / binding subresources, namespace lifecycle and service
 * address allocation, over ObjectStorage (the replicated store) and the WatchCache.
 *
 * Every write is an optimistic txn on the key's modRevision; a lost race re-reads and retries
 * (unless the client gave a resourceVersion, which then answers 409 Conflict). A rejected
 * request writes nothing.
 */
import { applyPatch, type PatchType } from '../api/patch.js';
import { budgetSelects, markDisrupted } from '../controllers/disruption.js';
import { groupVersion, lookupResource, RESOURCES, type ResourceInfo } from '../api/registry.js';
import { parseFieldSelector, parseLabelSelector, matchesFields, matchesLabels, type FieldSelector, type LabelSelector } from '../api/selectors.js';
import { fromScale, prepareCreate, prepareStatusUpdate, prepareUpdate, rfc3339, toScale, unknownFields } from '../api/strategy.js';
import { ApiError, clone, deepEqual, errors, fieldErrors, isObject, successStatus, type KubeList, type KubeObject, type Status } from '../api/types.js';
import { validateObject } from '../api/validation.js';
import type { WatchCache } from './apiserver-cache.js';
import { objectKey, resourcePrefix, type ObjectStorage, type SideKeys, type Stored } from './apiserver-storage.js';

export const NAMESPACES = lookupResource('', 'v1', 'namespaces')!;
const SERVICES = lookupResource('', 'v1', 'services')!;
const PDBS = lookupResource('policy', 'v1', 'poddisruptionbudgets')!;
/** Namespaces the server creates and never lets go. */
export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
const UNDELETABLE_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);
const MAX_UPDATE_ATTEMPTS = 16;
const CLUSTER_IP_PREFIX = [10, 96];
const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface Result<T> {
  value: T;
  /** HTTP code to answer with (201 on create). */
  code: number;
  warnings: string[];
}

export interface CoreDeps {
  storage: ObjectStorage;
  cache: WatchCache;
  /** Wall-clock milliseconds (timestamps are wall time by definition). */
  wallNow: () => number;
  random: () => number;
}

/** A random RFC 4122 version-4 UUID from the given source. */
export function uuid4(random: () => number): string {
  const b = Array.from({ length: 16 }, () => Math.floor(random() * 256));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: t.rv, start: t.start })).toString('base64url');
}

function decodeContinue(s: string, prefix: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as { rv?: unknown; start?: unknown };
    if (typeof t.rv !== 'number' || typeof t.start !== 'string' || !t.start.startsWith(prefix)) throw new Error('bad');
    return { rv: t.rv, start: t.start };
  } catch {
    throw errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

function parseRv(v: string | undefined, what = 'resourceVersion'): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw errors.badRequest(`invalid ${what}: ${JSON.stringify(v)}`);
  return Number(v);
}

export class ApiCore {
  constructor(private readonly deps: CoreDeps) {}

  private get storage(): ObjectStorage {
    return this.deps.storage;
  }

  private get cache(): WatchCache {
    return this.deps.cache;
  }

  newUid(): string {
    return uuid4(this.deps.random);
  }

  // ---- reads -------------------------------------------------------------------------------------

  async get(r: ResourceInfo, ns: string, name: string, opts: { resourceVersion?: string } = {}): Promise<KubeObject> {
    const key = objectKey(r, ns, name);
    if (opts.resourceVersion === '0' && this.cache.ready) {
      const o = this.cache.get(key);
      if (o) return o;
    }
    const s = await this.storage.get(key);
    if (!s) throw errors.notFound(r.group, r.plural, name);
    return s.obj;
  }

  private selectors(r: ResourceInfo, opts: ListOptions): { labels: LabelSelector; fields: FieldSelector } {
    return { labels: parseLabelSelector(opts.labelSelector), fields: parseFieldSelector(opts.fieldSelector, r.kind) };
  }

  /** A list, from the store (consistent, paged) or, for resourceVersion=0, from the cache. */
  async list(r: ResourceInfo, ns: string | undefined, opts: ListOptions = {}): Promise<KubeList> {
    const { labels, fields } = this.selectors(r, opts);
    const limit = opts.limit && opts.limit > 0 ? Math.floor(opts.limit) : 0;
    const listOf = (items: KubeObject[], meta: KubeList['metadata']): KubeList => ({ kind: r.listKind, apiVersion: groupVersion(r), metadata: meta, items });
    if (opts.resourceVersion === '0' && !opts.continue && this.cache.ready) {
      const items = this.cache.list({ rkey: `${r.group || 'core'}/${r.plural}`, ...(ns ? { namespace: ns } : {}), labels, fields });
      return listOf(items, { resourceVersion: String(this.cache.revision) });
    }
    const prefix = resourcePrefix(r, ns);
    let revision = 0;
    let startKey: string | undefined;
    if (opts.continue) {
      const t = decodeContinue(opts.continue, prefix);
      revision = t.rv;
      startKey = t.start;
    } else if (opts.resourceVersionMatch === 'Exact') {
      revision = parseRv(opts.resourceVersion) ?? 0;
    }
    const out: KubeObject[] = [];
    let next: string | undefined;
    const pageSize = limit ? Math.max(limit + 1, 64) : 0;
    try {
      outer: for (;;) {
        const page = await this.storage.list(prefix, { ...(revision ? { revision } : {}), ...(startKey ? { startKey } : {}), ...(pageSize ? { limit: pageSize } : {}) });
        revision = page.revision;
        for (const it of page.items) {
          if (!matchesLabels(labels, it.obj.metadata.labels) || !matchesFields(fields, it.obj)) continue;
          if (limit && out.length === limit) {
            next = it.key;
            break outer;
          }
          out.push(it.obj);
        }
        if (!page.nextKey) break;
        startKey = page.nextKey;
      }
    } catch (err) {
      if (err instanceof ApiError && err.code === 410 && opts.continue) {
        throw errors.expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
      }
      throw err;
    }
    const meta: KubeList['metadata'] = { resourceVersion: String(revision) };
    if (next) meta.continue = encodeContinue({ rv: revision, start: next });
    return listOf(out, meta);
  }

  // ---- create ------------------------------------------------------------------------------------

  private checkBody(r: ResourceInfo, body: unknown, ns: string, name?: string): KubeObject {
    if (!isObject(body)) throw errors.badRequest(`the body of the request must be a ${r.kind} object`);
    const o = body as KubeObject;
    if (o.metadata !== undefined && !isObject(o.metadata)) throw errors.badRequest('metadata must be an object');
    o.metadata ??= {};
    if (o.kind !== undefined && o.kind !== r.kind) {
      throw errors.badRequest(`the kind in the data (${String(o.kind)}) does not match the expected kind (${r.kind})`);
    }
    if (o.apiVersion !== undefined && o.apiVersion !== groupVersion(r)) {
      throw errors.badRequest(`the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${groupVersion(r)})`);
    }
    if (r.namespaced && o.metadata.namespace && o.metadata.namespace !== ns) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (name !== undefined && o.metadata.name && o.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${String(o.metadata.name)}) does not match the name on the URL (${name})`);
    }
    return o;
  }

  private fieldWarnings(r: ResourceInfo, o: KubeObject, mode: FieldValidation | undefined): string[] {
    if (!mode || mode === 'Ignore') return [];
    const unknown = unknownFields(r, o);
    if (!unknown.length) return [];
    if (mode === 'Strict') {
      throw errors.badRequest(`strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`);
    }
    return unknown.map((f) => `unknown field "${f}"`);
  }

  private async checkNamespace(r: ResourceInfo, ns: string, name: string): Promise<void> {
    if (!r.namespaced) return;
    const key = objectKey(NAMESPACES, '', ns);
    let nsObj = this.cache.ready ? this.cache.get(key) : undefined;
    // The cache may lag a namespace created an instant ago: ask the store before saying no.
    if (!nsObj) nsObj = (await this.storage.get(key))?.obj;
    if (!nsObj) throw errors.notFound('', 'namespaces', ns);
    if (nsObj.metadata.deletionTimestamp || nsObj.status?.phase === 'Terminating') {
      throw errors.forbidden(r.group, r.plural, name, `unable to create new content in namespace ${ns} because it is being terminated`);
    }
  }

  private generateName(prefix: string): string {
    let s = '';
    for (let i = 0; i < 5; i++) s += NAME_ALPHABET[Math.floor(this.deps.random() * NAME_ALPHABET.length)];
    return `${prefix.slice(0, 58)}${s}`;
  }

  async create(r: ResourceInfo, ns: string, body: unknown, opts: WriteOptions = {}): Promise<Result<KubeObject>> {
    const input = this.checkBody(r, body, ns);
    const warnings = this.fieldWarnings(r, input, opts.fieldValidation);
    const generated = !input.metadata.name && typeof input.metadata.generateName === 'string' && input.metadata.generateName !== '';
    for (let attempt = 0; ; attempt++) {
      const candidate = clone(input);
      if (generated) candidate.metadata.name = this.generateName(String(input.metadata.generateName));
      const name = String(candidate.metadata.name ?? '');
      const o = prepareCreate(r, candidate, { uid: this.newUid(), nowMs: this.deps.wallNow(), namespace: ns });
      const errs = validateObject(r, o);
      if (errs.length) throw errors.invalid(r.group, r.kind, name, errs);
      await this.checkNamespace(r, ns, name);
      const side = r === SERVICES ? this.allocateServiceAddresses(o) : {};
      if (opts.dryRun) return { value: o, code: 201, warnings };
      const res = await this.storage.create(objectKey(r, ns, name), o, side);
      if (typeof res === 'number') {
        o.metadata.resourceVersion = String(res);
        return { value: o, code: 201, warnings };
      }
      if (res === 'exists') {
        if (generated && attempt < 5) continue;
        throw errors.alreadyExists(r.group, r.plural, name);
      }
      // An address this create claimed was taken meanwhile.
      if (attempt >= 5 || this.explicitAddresses(input)) {
        throw errors.invalid(r.group, r.kind, name, [fieldErrors.invalid('spec.clusterIPs', o.spec?.clusterIPs ?? [], 'failed to allocate IP: provided IP is already allocated')]);
      }
    }
  }

  // ---- service addresses ---------------------------------------------------------------------------

  private explicitAddresses(input: KubeObject): boolean {
    const spec = input.spec ?? {};
    return (typeof spec.clusterIP === 'string' && spec.clusterIP !== '' && spec.clusterIP !== 'None') || (spec.ports ?? []).some((p: any) => p?.nodePort);
  }

  /** Picks a cluster IP and node ports for a new Service; returns the allocation keys to claim. */
  private allocateServiceAddresses(o: KubeObject): SideKeys {
    const spec = o.spec ?? {};
    const claim: string[] = [];
    if (spec.type === 'ExternalName') return {};
    const used = new Set<string>();
    const usedPorts = new Set<number>();
    for (const s of this.cache.all(SERVICES)) {
      for (const ip of s.spec?.clusterIPs ?? [s.spec?.clusterIP]) if (ip) used.add(ip);
      for (const p of s.spec?.ports ?? []) if (p?.nodePort) usedPorts.add(p.nodePort);
    }
    if (spec.clusterIP !== 'None') {
      let ip = typeof spec.clusterIP === 'string' && spec.clusterIP ? spec.clusterIP : '';
      if (ip) {
        if (!inServiceRange(ip)) {
          throw errors.invalid('', 'Service', o.metadata.name ?? '', [
            fieldErrors.invalid('spec.clusterIPs', [ip], `failed to allocate IP ${ip}: provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12`),
          ]);
        }
        if (used.has(ip)) {
          throw errors.invalid('', 'Service', o.metadata.name ?? '', [fieldErrors.invalid('spec.clusterIPs', [ip], `failed to allocate IP ${ip}: provided IP is already allocated`)]);
        }
      } else {
        for (let i = 0; i < 1000 && !ip; i++) {
          const c = Math.floor(this.deps.random() * 65536);
          const cand = `${CLUSTER_IP_PREFIX[0]}.${CLUSTER_IP_PREFIX[1]}.${c >> 8}.${c & 255}`;
          if (c > 10 && (c & 255) !== 0 && (c & 255) !== 255 && !used.has(cand)) ip = cand;
        }
        if (!ip) throw errors.internal('no cluster IP left to allocate');
      }
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
      claim.push(`/allocations/clusterip/${ip}`);
    } else {
      spec.clusterIPs = ['None'];
    }
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
      for (const p of spec.ports ?? []) {
        if (!isObject(p)) continue;
        if (!p.nodePort) {
          for (let i = 0; i < 1000 && !p.nodePort; i++) {
            const cand = NODE_PORT_MIN + Math.floor(this.deps.random() * (NODE_PORT_MAX - NODE_PORT_MIN + 1));
            if (!usedPorts.has(cand)) p.nodePort = cand;
          }
        } else if (usedPorts.has(p.nodePort)) {
          throw errors.invalid('', 'Service', o.metadata.name ?? '', [fieldErrors.invalid('spec.ports[0].nodePort', p.nodePort, 'provided port is already allocated')]);
        }
        usedPorts.add(p.nodePort);
        claim.push(`/allocations/nodeport/${p.nodePort}`);
      }
    }
    o.spec = spec;
    return { claim };
  }

  private serviceReleases(o: KubeObject): SideKeys {
    const release: string[] = [];
    for (const ip of o.spec?.clusterIPs ?? []) if (ip && ip !== 'None') release.push(`/allocations/clusterip/${ip}`);
    for (const p of o.spec?.ports ?? []) if (p?.nodePort) release.push(`/allocations/nodeport/${p.nodePort}`);
    return { release };
  }

  // ---- updates -------------------------------------------------------------------------------------

  /** Whether an object is due to go: being deleted, no finalizer left, no grace period left. */
  private dueForRemoval(r: ResourceInfo, o: KubeObject): boolean {
    const m = o.metadata;
    if (!m.deletionTimestamp || (m.finalizers ?? []).length > 0) return false;
    if ((m.deletionGracePeriodSeconds ?? 0) > 0) return false;
    if (r.kind === 'Namespace' && (o.spec?.finalizers ?? []).length > 0) return false;
    return true;
  }

  /**
   * Read, transform, write with a compare on modRevision; on a lost race, again. `mutate` may
   * throw an ApiError (a stale resourceVersion precondition throws 409 on the re-read).
   */
  private async guaranteedUpdate(
    r: ResourceInfo,
    ns: string,
    name: string,
    mutate: (cur: KubeObject) => KubeObject,
    opts: { dryRun?: boolean; validate?: boolean } = {},
  ): Promise<KubeObject> {
    const key = objectKey(r, ns, name);
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      // First try against the watch cache's copy, as kube-apiserver's GuaranteedUpdate does: the
      // write compares on its revision, so a stale copy only costs a retry with a read from the
      // store, and the common case saves a linearizable read (a Raft round) per update.
      const cached = attempt === 0 && this.cache.ready ? this.cache.get(key) : undefined;
      const cur = cached ? { key, obj: cached, rev: Number(cached.metadata.resourceVersion) } : await this.storage.get(key);
      if (!cur) throw errors.notFound(r.group, r.plural, name);
      let next: KubeObject;
      try {
        next = mutate(clone(cur.obj));
        if (opts.validate !== false) {
          const errs = validateObject(r, next, cur.obj);
          if (errs.length) throw errors.invalid(r.group, r.kind, name, errs);
        }
      } catch (err) {
        // A refusal decided on a cached copy (a resourceVersion precondition, say) may only
        // mean the cache is behind: decide again on the store's copy.
        if (cached) continue;
        throw err;
      }
      next.metadata.resourceVersion = cur.obj.metadata.resourceVersion;
      if (deepEqual(next, cur.obj)) return cur.obj;
      if (this.dueForRemoval(r, next)) {
        if (opts.dryRun) return next;
        const rev = await this.storage.delete(key, cur.rev, r === SERVICES ? this.serviceReleases(cur.obj) : {});
        if (rev === null) continue;
        next.metadata.resourceVersion = String(rev);
        return next;
      }
      if (opts.dryRun) return next;
      const rev = await this.storage.update(key, next, cur.rev);
      if (rev === null) continue;
      next.metadata.resourceVersion = String(rev);
      return next;
    }
    throw errors.conflict(r.group, r.plural, name, 'the object is being modified too often; please try again');
  }

  private checkRv(r: ResourceInfo, name: string, want: unknown, cur: KubeObject): void {
    if (want === undefined || want === null || want === '') return;
    if (String(want) !== cur.metadata.resourceVersion) throw errors.conflict(r.group, r.plural, name);
  }

  /** PUT of the main resource or of its status. */
  async update(r: ResourceInfo, ns: string, name: string, body: unknown, opts: WriteOptions & { sub?: 'status' } = {}): Promise<Result<KubeObject>> {
    const input = this.checkBody(r, body, ns, name);
    const warnings = this.fieldWarnings(r, input, opts.fieldValidation);
    const want = input.metadata.resourceVersion;
    // These kinds may be created by an update (leader election, endpoint controllers do so);
    // only they need to know first whether the object exists.
    const upsert = !opts.sub && (r.kind === 'Endpoints' || r.kind === 'Lease');
    const key = objectKey(r, ns, name);
    const exists = upsert && (this.cache.ready && this.cache.get(key) ? true : await this.storage.get(key));
    if (upsert && !exists) {
      const { resourceVersion: _rv, ...meta } = input.metadata;
      return this.create(r, ns, { ...input, metadata: { ...meta, name } }, opts);
    }
    const value = await this.guaranteedUpdate(
      r,
      ns,
      name,
      (cur) => {
        this.checkRv(r, name, want, cur);
        return opts.sub === 'status' ? prepareStatusUpdate(r, input, cur) : prepareUpdate(r, input, cur);
      },
      opts,
    );
    return { value, code: 200, warnings };
  }

  /** PATCH of the main resource or of its status (all patch types; apply creates if absent). */
  async patch(r: ResourceInfo, ns: string, name: string, type: PatchType, patch: unknown, opts: WriteOptions & { sub?: 'status' } = {}): Promise<Result<KubeObject>> {
    if (type === 'apply') {
      if (!isObject(patch)) throw errors.badRequest('apply patch must be an object');
      const exists = await this.storage.get(objectKey(r, ns, name));
      if (!exists && !opts.sub) {
        const body = clone(patch) as KubeObject;
        body.metadata = { ...(isObject(body.metadata) ? body.metadata : {}), name };
        return this.create(r, ns, body, opts);
      }
    }
    let warnings: string[] = [];
    const value = await this.guaranteedUpdate(
      r,
      ns,
      name,
      (cur) => {
        const patched = applyPatch(type, cur, patch);
        if (!isObject(patched)) throw errors.unprocessable('the patch does not produce an object');
        const p = patched as KubeObject;
        if (!isObject(p.metadata)) p.metadata = {};
        if (p.metadata.name !== undefined && p.metadata.name !== name) {
          throw errors.badRequest(`the name of the object (${String(p.metadata.name)}) does not match the name on the URL (${name})`);
        }
        this.checkRv(r, name, p.metadata.resourceVersion, cur);
        warnings = this.fieldWarnings(r, p, opts.fieldValidation);
        return opts.sub === 'status' ? prepareStatusUpdate(r, p, cur) : prepareUpdate(r, p, cur);
      },
      opts,
    );
    return { value, code: 200, warnings };
  }

  // ---- scale -----------------------------------------------------------------------------------------

  async getScale(r: ResourceInfo, ns: string, name: string): Promise<KubeObject> {
    return toScale(r, await this.get(r, ns, name));
  }

  async updateScale(r: ResourceInfo, ns: string, name: string, body: unknown, opts: WriteOptions = {}): Promise<KubeObject> {
    if (!isObject(body)) throw errors.badRequest('the body of the request must be a Scale object');
    const scale = body as KubeObject;
    const o = await this.guaranteedUpdate(
      r,
      ns,
      name,
      (cur) => {
        this.checkRv(r, name, scale.metadata?.resourceVersion, cur);
        return prepareUpdate(r, fromScale(r, scale, cur), cur);
      },
      opts,
    );
    return toScale(r, o);
  }

  async patchScale(r: ResourceInfo, ns: string, name: string, type: PatchType, patch: unknown, opts: WriteOptions = {}): Promise<KubeObject> {
    const o = await this.guaranteedUpdate(
      r,
      ns,
      name,
      (cur) => {
        const patched = applyPatch(type === 'apply' ? 'merge' : type, toScale(r, cur), patch) as KubeObject;
        if (!isObject(patched)) throw errors.unprocessable('the patch does not produce a Scale');
        this.checkRv(r, name, patched.metadata?.resourceVersion, cur);
        return prepareUpdate(r, fromScale(r, patched, cur), cur);
      },
      opts,
    );
    return toScale(r, o);
  }

  // ---- binding ---------------------------------------------------------------------------------------

  /** POST pods/<name>/binding: assigns an unscheduled pod to a node. */
  async bind(r: ResourceInfo, ns: string, name: string, body: unknown, opts: WriteOptions = {}): Promise<Status> {
    const target = isObject(body) && isObject(body.target) ? body.target : null;
    if (!target || typeof target.name !== 'string' || !target.name) {
      throw errors.invalid('', 'Binding', name, [fieldErrors.required('target.name')]);
    }
    if (target.kind !== undefined && target.kind !== '' && target.kind !== 'Node') {
      throw errors.invalid('', 'Binding', name, [fieldErrors.notSupported('target.kind', target.kind, ['Node'])]);
    }
    await this.guaranteedUpdate(
      r,
      ns,
      name,
      (cur) => {
        if (cur.metadata.deletionTimestamp) throw errors.conflict(r.group, r.plural, name, `pod ${name} is being deleted, cannot be assigned to a host`);
        if (cur.spec?.nodeName) throw errors.conflict(r.group, r.plural, name, `pod ${name} is already assigned to node "${cur.spec.nodeName}"`);
        const next = clone(cur);
        next.spec = { ...next.spec, nodeName: target.name };
        const conds: any[] = (next.status?.conditions ?? []).filter((c: any) => c?.type !== 'PodScheduled');
        conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: rfc3339(this.deps.wallNow()) });
        next.status = { ...next.status, conditions: conds };
        return next;
      },
      { ...opts, validate: false },
    );
    return { ...successStatus(), code: 201 };
  }

  // ---- eviction -------------------------------------------------------------------------------------

  /**
   * POST pods/<name>/eviction (policy/v1 Eviction), what `kubectl drain` uses: the pod gets the
   * DisruptionTarget condition, then is deleted with the eviction's delete options. No
   * PodDisruptionBudget is served, so no budget refuses an eviction.
   */
  async evict(r: ResourceInfo, ns: string, name: string, body: unknown, opts: DeleteOptions): Promise<Status> {
    if (!isObject(body) || body.kind !== 'Eviction' || (body.apiVersion !== 'policy/v1' && body.apiVersion !== 'policy/v1beta1')) {
      throw errors.badRequest('the body of an eviction must be a policy/v1 Eviction');
    }
    const meta = isObject(body.metadata) ? body.metadata : {};
    if (meta.name !== undefined && meta.name !== name) throw errors.badRequest(`name in URL does not match name in Eviction object`);
    if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== ns) throw errors.badRequest('namespace in URL does not match namespace in Eviction object');
    const pod = await this.get(r, ns, name);
    const phase = pod.status?.phase;
    // A finished or already deleting pod goes without asking any budget, as in Kubernetes.
    if (!pod.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed') await this.checkBudget(pod, opts);
    if (!opts.dryRun && !pod.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed') {
      await this.guaranteedUpdate(
        r,
        ns,
        name,
        (cur) => {
          const conds: any[] = (cur.status?.conditions ?? []).filter((c: any) => c?.type !== 'DisruptionTarget');
          conds.push({ type: 'DisruptionTarget', status: 'True', lastProbeTime: null, lastTransitionTime: rfc3339(this.deps.wallNow()), reason: 'EvictionByEvictionAPI', message: 'Eviction API: evicting' });
          cur.status = { ...cur.status, conditions: conds };
          return cur;
        },
        { validate: false },
      );
    }
    await this.delete(r, ns, name, opts);
    return { ...successStatus(), code: 201 };
  }

  /**
   * The pod's PodDisruptionBudget must allow a disruption (a Ready pod takes one from
   * disruptionsAllowed, recorded in status.disruptedPods so the controller does not hand it out
   * again before the pod is gone); an unready pod may go when the budget is met
   * (IfHealthyBudget) or always (AlwaysAllow). Refusals are 429, which kubectl drain retries.
   */
  private async checkBudget(pod: KubeObject, opts: DeleteOptions): Promise<void> {
    const ns = pod.metadata.namespace ?? '';
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const budgets = (await this.list(PDBS, ns, {})).items.filter((b) => budgetSelects(b, pod));
      if (budgets.length === 0) return;
      if (budgets.length > 1) throw errors.internal('This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
      const pdb = budgets[0]!;
      const st = pdb.status ?? {};
      const refuse = (why: string) => {
        const e = errors.tooManyRequests('Cannot evict pod as it would violate the pod\'s disruption budget.');
        e.status.details = { causes: [{ reason: 'DisruptionBudget', message: why }] };
        return e;
      };
      if ((st.observedGeneration ?? -1) < (pdb.metadata.generation ?? 0)) throw refuse(`The disruption budget ${pdb.metadata.name} is still being processed by the server.`);
      const ready = (pod.status?.conditions ?? []).some((c: any) => c?.type === 'Ready' && c.status === 'True');
      if (!ready) {
        if (pdb.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' || (st.currentHealthy ?? 0) >= (st.desiredHealthy ?? 0)) return;
        throw refuse(`The disruption budget ${pdb.metadata.name} needs ${st.desiredHealthy ?? 0} healthy pods and has ${st.currentHealthy ?? 0} currently`);
      }
      if ((st.disruptionsAllowed ?? 0) <= 0) throw refuse(`The disruption budget ${pdb.metadata.name} needs ${st.desiredHealthy ?? 0} healthy pods and has ${st.currentHealthy ?? 0} currently`);
      if (opts.dryRun) return;
      const next = { ...pdb, status: markDisrupted(pdb, pod.metadata.name!, this.deps.wallNow()) };
      try {
        await this.update(PDBS, ns, pdb.metadata.name!, next, { sub: 'status' });
        return;
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 409) throw err; // another eviction took it: look again
      }
    }
    throw errors.tooManyRequests('the disruption budget is being updated by other evictions; try again');
  }

  // ---- delete --------------------------------------------------------------------------------------

  /**
   * Deletes an object, or starts its deletion: objects with finalizers (or a propagation policy
   * that adds one), bound pods with a grace period, and namespaces with content get a
   * deletionTimestamp and stay until their finalizers are gone.
   */
  async delete(r: ResourceInfo, ns: string, name: string, opts: DeleteOptions = {}): Promise<Result<KubeObject | Status>> {
    const key = objectKey(r, ns, name);
    if (r.kind === 'Namespace' && UNDELETABLE_NAMESPACES.has(name)) {
      throw errors.forbidden('', 'namespaces', name, 'this namespace may not be deleted');
    }
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const cur: Stored | null = await this.storage.get(key);
      if (!cur) throw errors.notFound(r.group, r.plural, name);
      const pre = opts.preconditions ?? {};
      if (pre.uid && pre.uid !== cur.obj.metadata.uid) {
        throw errors.conflict(r.group, r.plural, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.obj.metadata.uid}`);
      }
      if (pre.resourceVersion && pre.resourceVersion !== cur.obj.metadata.resourceVersion) {
        throw errors.conflict(r.group, r.plural, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.obj.metadata.resourceVersion}`);
      }
      const next = clone(cur.obj);
      const m = next.metadata;
      const finalizers = [...(m.finalizers ?? [])];
      const policy = opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : opts.orphanDependents === false ? 'Background' : undefined);
      if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
      if (policy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
      if (finalizers.length) m.finalizers = finalizers;
      let grace = 0;
      if (r.kind === 'Pod') {
        const phase = next.status?.phase;
        const bound = Boolean(next.spec?.nodeName) && phase !== 'Succeeded' && phase !== 'Failed';
        grace = bound ? (opts.gracePeriodSeconds ?? next.spec?.terminationGracePeriodSeconds ?? 30) : 0;
        if (m.deletionTimestamp && m.deletionGracePeriodSeconds !== undefined && grace > m.deletionGracePeriodSeconds) grace = m.deletionGracePeriodSeconds;
      }
      const nsPending = r.kind === 'Namespace' && (next.spec?.finalizers ?? []).length > 0;
      if (finalizers.length || grace > 0 || nsPending) {
        if (!m.deletionTimestamp || (m.deletionGracePeriodSeconds ?? 0) > grace) {
          m.deletionTimestamp = rfc3339(this.deps.wallNow() + grace * 1000);
          m.deletionGracePeriodSeconds = grace;
        }
        if (nsPending) next.status = { ...next.status, phase: 'Terminating' };
        if (deepEqual(next, cur.obj)) return { value: cur.obj, code: 200, warnings: [] };
        if (opts.dryRun) return { value: next, code: 200, warnings: [] };
        const rev = await this.storage.update(key, next, cur.rev);
        if (rev === null) continue;
        m.resourceVersion = String(rev);
        return { value: next, code: 200, warnings: [] };
      }
      if (opts.dryRun) return { value: cur.obj, code: 200, warnings: [] };
      const rev = await this.storage.delete(key, cur.rev, r === SERVICES ? this.serviceReleases(cur.obj) : {});
      if (rev === null) continue;
      if (r.kind === 'Pod' || r.kind === 'Namespace') {
        return { value: { ...cur.obj, metadata: { ...cur.obj.metadata, resourceVersion: String(rev) } }, code: 200, warnings: [] };
      }
      return { value: successStatus({ name, group: r.group, kind: r.plural, uid: cur.obj.metadata.uid }), code: 200, warnings: [] };
    }
    throw errors.conflict(r.group, r.plural, name, 'the object is being modified too often; please try again');
  }

  async deleteCollection(r: ResourceInfo, ns: string | undefined, listOpts: ListOptions, opts: DeleteOptions = {}): Promise<KubeList> {
    const list = await this.list(r, ns, { labelSelector: listOpts.labelSelector, fieldSelector: listOpts.fieldSelector });
    const items: KubeObject[] = [];
    for (const o of list.items) {
      try {
        const res = await this.delete(r, o.metadata.namespace ?? '', o.metadata.name!, opts);
        items.push(res.value.kind === 'Status' ? o : (res.value as KubeObject));
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 404) throw err;
      }
    }
    return { ...list, items };
  }

  // ---- namespaces --------------------------------------------------------------------------------

  /** Creates the system namespaces that are missing. */
  async ensureSystemNamespaces(): Promise<void> {
    for (const name of SYSTEM_NAMESPACES) {
      if (await this.storage.get(objectKey(NAMESPACES, '', name))) continue;
      try {
        await this.create(NAMESPACES, '', { metadata: { name } });
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 409) throw err;
      }
    }
  }

  /**
   * The `kubernetes` Service in `default` (cluster IP 10.96.0.1, port 443 named https) and its
   * Endpoints and EndpointSlice pointing at this server, as kube-apiserver keeps them: the name
   * clients in a cluster find the API by (`kubernetes.default.svc.cluster.local`). The endpoints
   * follow the server's port across restarts.
   */
  async ensureKubernetesService(host: string, port: number): Promise<void> {
    const ENDPOINTS = lookupResource('', 'v1', 'endpoints')!;
    const SLICES = lookupResource('discovery.k8s.io', 'v1', 'endpointslices')!;
    const labels = { component: 'apiserver', provider: 'kubernetes' };
    const upsert = async (r: ResourceInfo, body: KubeObject, same: (cur: KubeObject) => boolean) => {
      const cur = await this.storage.get(objectKey(r, 'default', body.metadata.name!));
      try {
        if (!cur) await this.create(r, 'default', body);
        else if (!same(cur.obj)) await this.update(r, 'default', body.metadata.name!, { ...body, metadata: { ...body.metadata, resourceVersion: cur.obj.metadata.resourceVersion } });
      } catch (err) {
        if (!(err instanceof ApiError) || (err.code !== 409 && err.code !== 422)) throw err; // raced, or the IP is taken: leave it
      }
    };
    await upsert(
      SERVICES,
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'kubernetes', labels }, spec: { type: 'ClusterIP', clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }], sessionAffinity: 'None' } },
      (cur) => cur.spec?.ports?.[0]?.targetPort === port,
    );
    await upsert(
      ENDPOINTS,
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'kubernetes', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } }, subsets: [{ addresses: [{ ip: host }], ports: [{ name: 'https', port, protocol: 'TCP' }] }] } as KubeObject,
      (cur) => cur.subsets?.[0]?.ports?.[0]?.port === port && cur.subsets?.[0]?.addresses?.[0]?.ip === host,
    );
    await upsert(
      SLICES,
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'kubernetes', labels: { 'kubernetes.io/service-name': 'kubernetes' } }, addressType: 'IPv4', endpoints: [{ addresses: [host], conditions: { ready: true } }], ports: [{ name: 'https', port, protocol: 'TCP' }] } as KubeObject,
      (cur) => (cur as { ports?: { port?: number }[] }).ports?.[0]?.port === port,
    );
  }

  /**
   * Empties terminating namespaces and lets them go once empty (the namespace controller's
   * job, done here until there is a controller manager). Returns the namespaces still pending.
   */
  async reapNamespaces(): Promise<string[]> {
    const pending: string[] = [];
    const terminating = this.cache.all(NAMESPACES).filter((n) => n.metadata.deletionTimestamp && (n.spec?.finalizers ?? []).includes('kubernetes'));
    for (const nsObj of terminating) {
      const ns = nsObj.metadata.name!;
      let remaining = 0;
      for (const r of RESOURCES) {
        if (!r.namespaced) continue;
        const page = await this.storage.list(resourcePrefix(r, ns));
        for (const it of page.items) {
          if (it.obj.metadata.deletionTimestamp) {
            remaining++;
            continue;
          }
          try {
            const res = await this.delete(r, ns, it.obj.metadata.name!, { propagationPolicy: 'Background' });
            if (res.value.kind !== 'Status' && (res.value as KubeObject).metadata?.deletionTimestamp) remaining++;
          } catch (err) {
            if (!(err instanceof ApiError) || err.code !== 404) throw err;
          }
        }
      }
      if (remaining > 0) {
        pending.push(ns);
        continue;
      }
      try {
        await this.guaranteedUpdate(
          NAMESPACES,
          '',
          ns,
          (cur) => {
            const next = clone(cur);
            next.spec = { ...next.spec, finalizers: (cur.spec?.finalizers ?? []).filter((f: string) => f !== 'kubernetes') };
            return next;
          },
          { validate: false },
        );
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 404) throw err;
      }
    }
    return pending;
  }
}

function inServiceRange(ip: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (!m) return false;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return false;
  // 10.96.0.0/12 = 10.96.0.0 - 10.111.255.255
  return o[0] === 10 && o[1]! >= 96 && o[1]! <= 111;
}
