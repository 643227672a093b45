/**
 * The garbage collector (pkg/controller/garbagecollector): a graph of owner references over
 * every watched resource. An object whose owners are all gone is deleted (background: the API
 * deletes the owner at once and the collector deletes the dependents after; foreground: the
 * owner waits with the `foregroundDeletion` finalizer until every dependent that has
 * `blockOwnerDeletion` is gone; orphan: the `orphan` finalizer makes the collector remove the
 * owner reference from every dependent, then lets the owner go). An owner reference to an
 * object that exists but not in the graph yet is checked against the API before anything is
 * deleted.
 *
 * Work items are `delete/<uid>` (attemptToDelete) and `orphan/<uid>` (attemptToOrphan).
 */
import type { KubeObject, OwnerReference } from '../api/types.js';
import { deleteIgnoringNotFound } from './apiutil.js';
import { isNotFound, type PropagationPolicy } from './client.js';
import { Controller, type ControllerContext } from './controller.js';
import { resourceForKind, resourceMeta } from './resources.js';

export const FOREGROUND_FINALIZER = 'foregroundDeletion';
export const ORPHAN_FINALIZER = 'orphan';

/** What the collector watches unless told otherwise: everything that owns or is owned. */
export const DEFAULT_GC_RESOURCES = [
  'pods',
  'replicasets',
  'deployments',
  'statefulsets',
  'daemonsets',
  'replicationcontrollers',
  'jobs',
  'cronjobs',
  'controllerrevisions',
  'services',
  'endpoints',
  'endpointslices',
  'configmaps',
  'secrets',
  'persistentvolumeclaims',
  'persistentvolumes',
  'horizontalpodautoscalers',
  'leases',
  'nodes',
  'serviceaccounts',
  'ingresses',
];

interface Identity {
  resource: string;
  namespace: string;
  name: string;
  uid: string;
}

interface GraphNode {
  id: Identity;
  owners: OwnerReference[];
  dependents: Set<string>;
  /** Seen only as someone's owner so far; its existence is unverified. */
  virtual: boolean;
  beingDeleted: boolean;
  deletingDependents: boolean;
}

const hasFinalizer = (o: KubeObject, f: string) => (o.metadata.finalizers ?? []).includes(f);

export interface GarbageCollectorOptions {
  resources?: string[];
  workers?: number;
}

export class GarbageCollector extends Controller {
  private readonly graph = new Map<string, GraphNode>();
  readonly resources: string[];

  constructor(ctx: ControllerContext, options: GarbageCollectorOptions = {}) {
    super('garbage-collector', ctx, { workers: options.workers, component: 'garbage-collector-controller' });
    this.resources = options.resources ?? DEFAULT_GC_RESOURCES;
    for (const resource of this.resources) {
      const inf = ctx.informers.informer(resource);
      inf.addEventHandler({
        add: (o) => this.observe(resource, undefined, o),
        update: (old, o) => {
          if (old !== o && old.metadata.resourceVersion === o.metadata.resourceVersion) return;
          this.observe(resource, old, o);
        },
        delete: (o) => this.forget(o),
      });
    }
  }

  /** Nodes in the graph (for tests and status). */
  get graphSize(): number {
    return this.graph.size;
  }

  dependentsOf(uid: string): string[] {
    return [...(this.graph.get(uid)?.dependents ?? [])];
  }

  // --- the graph ------------------------------------------------------------------------------

  private ownerIdentity(ref: OwnerReference, dependentNamespace: string): Identity | undefined {
    const meta = resourceForKind(ref.apiVersion, ref.kind);
    if (!meta) return undefined;
    return { resource: meta.plural, namespace: meta.namespaced ? dependentNamespace : '', name: ref.name, uid: ref.uid };
  }

  private link(node: GraphNode, ref: OwnerReference): void {
    let owner = this.graph.get(ref.uid);
    if (!owner) {
      const id = this.ownerIdentity(ref, node.id.namespace);
      if (!id) return;
      owner = { id, owners: [], dependents: new Set(), virtual: true, beingDeleted: false, deletingDependents: false };
      this.graph.set(ref.uid, owner);
      // Check whether this owner exists at all.
      this.enqueueKey(`delete/${ref.uid}`);
    }
    owner.dependents.add(node.id.uid);
  }

  private unlink(node: GraphNode, ref: OwnerReference): void {
    const owner = this.graph.get(ref.uid);
    if (!owner) return;
    owner.dependents.delete(node.id.uid);
    if (owner.deletingDependents) this.enqueueKey(`delete/${owner.id.uid}`);
    if (owner.virtual && owner.dependents.size === 0) this.graph.delete(owner.id.uid);
  }

  private observe(resource: string, old: KubeObject | undefined, o: KubeObject): void {
    const uid = o.metadata.uid;
    if (!uid) return;
    const id: Identity = { resource, namespace: resourceMeta(resource).namespaced ? (o.metadata.namespace ?? '') : '', name: o.metadata.name!, uid };
    const owners = o.metadata.ownerReferences ?? [];
    let node = this.graph.get(uid);
    if (!node) {
      node = { id, owners: [], dependents: new Set(), virtual: false, beingDeleted: false, deletingDependents: false };
      this.graph.set(uid, node);
    } else if (node.virtual) {
      node.virtual = false;
      node.id = id;
    }
    // Owner references added, removed or changed.
    const before = new Map(node.owners.map((r) => [r.uid, r]));
    const after = new Map(owners.map((r) => [r.uid, r]));
    for (const [u, r] of before) {
      if (!after.has(u)) this.unlink(node, r);
      else if (r.blockOwnerDeletion && !after.get(u)!.blockOwnerDeletion) {
        const ow = this.graph.get(u);
        if (ow?.deletingDependents) this.enqueueKey(`delete/${u}`);
      }
    }
    node.owners = owners.map((r) => ({ ...r }));
    for (const [u, r] of after) if (!before.has(u)) this.link(node, r);

    const deleting = !!o.metadata.deletionTimestamp;
    node.beingDeleted = deleting;
    const wasOrphaning = !!old?.metadata.deletionTimestamp && hasFinalizer(old, ORPHAN_FINALIZER);
    const wasForeground = !!old?.metadata.deletionTimestamp && hasFinalizer(old, FOREGROUND_FINALIZER);
    if (deleting && hasFinalizer(o, ORPHAN_FINALIZER) && !wasOrphaning) this.enqueueKey(`orphan/${uid}`);
    if (deleting && hasFinalizer(o, FOREGROUND_FINALIZER)) {
      node.deletingDependents = true;
      if (!wasForeground) {
        for (const d of node.dependents) this.enqueueKey(`delete/${d}`);
        this.enqueueKey(`delete/${uid}`);
      }
    } else node.deletingDependents = false;
    // Any owner absent or being deleted: this object may be garbage.
    if (owners.length && owners.some((r) => { const ow = this.graph.get(r.uid); return !ow || ow.virtual || ow.deletingDependents; })) {
      this.enqueueKey(`delete/${uid}`);
    }
  }

  private forget(o: KubeObject): void {
    const uid = o.metadata.uid;
    if (!uid) return;
    const node = this.graph.get(uid);
    if (!node) return;
    this.graph.delete(uid);
    for (const r of node.owners) {
      const owner = this.graph.get(r.uid);
      if (!owner) continue;
      owner.dependents.delete(uid);
      if (owner.deletingDependents) this.enqueueKey(`delete/${owner.id.uid}`);
      if (owner.virtual && owner.dependents.size === 0) this.graph.delete(owner.id.uid);
    }
    // Its dependents just lost an owner.
    if (node.dependents.size) {
      const virtual: GraphNode = { ...node, virtual: true, owners: [], deletingDependents: false };
      this.graph.set(uid, virtual);
      for (const d of node.dependents) this.enqueueKey(`delete/${d}`);
    }
  }

  // --- work -------------------------------------------------------------------------------------

  override async reconcile(key: string): Promise<void> {
    const slash = key.indexOf('/');
    const verb = key.slice(0, slash);
    const uid = key.slice(slash + 1);
    if (verb === 'orphan') await this.attemptToOrphan(uid);
    else await this.attemptToDelete(uid);
  }

  /** The object behind an identity, fresh from the API; undefined when absent (or replaced). */
  private async fetch(id: Identity): Promise<KubeObject | undefined> {
    try {
      const o = await this.client.get(id.resource, id.namespace, id.name);
      return o.metadata.uid === id.uid ? o : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async attemptToDelete(uid: string): Promise<void> {
    const node = this.graph.get(uid);
    if (!node) return;
    if (node.virtual) {
      // An owner we have only heard of: if it does not exist, its dependents are garbage.
      const exists = await this.fetch(node.id);
      if (exists) return;
      for (const d of node.dependents) this.enqueueKey(`delete/${d}`);
      if (node.dependents.size === 0) this.graph.delete(uid);
      return;
    }
    const latest = await this.fetch(node.id);
    if (!latest) return;
    if (latest.metadata.deletionTimestamp) {
      if (hasFinalizer(latest, FOREGROUND_FINALIZER)) await this.processDeletingDependents(node, latest);
      return;
    }
    const refs = latest.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const solid: OwnerReference[] = [];
    const dangling: OwnerReference[] = [];
    const waiting: OwnerReference[] = [];
    for (const ref of refs) {
      const id = this.ownerIdentity(ref, node.id.namespace);
      if (!id) {
        // An owner kind we cannot look up: never delete on its account.
        solid.push(ref);
        continue;
      }
      const cached = this.graph.get(ref.uid);
      if (cached && !cached.virtual) {
        if (cached.deletingDependents) waiting.push(ref);
        else solid.push(ref);
        continue;
      }
      const owner = await this.fetch(id);
      if (!owner) dangling.push(ref);
      else if (owner.metadata.deletionTimestamp && hasFinalizer(owner, FOREGROUND_FINALIZER)) waiting.push(ref);
      else solid.push(ref);
    }
    if (solid.length > 0) {
      if (dangling.length === 0 && waiting.length === 0) return;
      const drop = new Set([...dangling, ...waiting].map((r) => r.uid));
      await this.patchOwners(node, latest, refs.filter((r) => !drop.has(r.uid)));
      return;
    }
    if (waiting.length > 0 && node.dependents.size > 0) {
      // It has dependents of its own: delete it in the foreground, after unblocking its owners
      // if a dependent is itself deleting its dependents (a possible cycle).
      for (const d of node.dependents) {
        if (this.graph.get(d)?.deletingDependents) {
          await this.patchOwners(node, latest, refs.map((r) => ({ ...r, blockOwnerDeletion: false })));
          break;
        }
      }
      await this.deleteObject(node.id, 'Foreground');
      return;
    }
    let policy: PropagationPolicy = 'Background';
    if (hasFinalizer(latest, ORPHAN_FINALIZER)) policy = 'Orphan';
    else if (hasFinalizer(latest, FOREGROUND_FINALIZER)) policy = 'Foreground';
    await this.deleteObject(node.id, policy);
  }

  /** An owner in foreground deletion: wait for blocking dependents, then drop the finalizer. */
  private async processDeletingDependents(node: GraphNode, latest: KubeObject): Promise<void> {
    const blocking: string[] = [];
    for (const d of node.dependents) {
      const dep = this.graph.get(d);
      if (!dep || dep.virtual) continue;
      const ref = dep.owners.find((r) => r.uid === node.id.uid);
      if (ref?.blockOwnerDeletion) blocking.push(d);
    }
    if (blocking.length === 0) {
      await this.removeFinalizer(latest, node.id, FOREGROUND_FINALIZER);
      return;
    }
    for (const d of blocking) {
      if (!this.graph.get(d)?.deletingDependents) this.enqueueKey(`delete/${d}`);
    }
  }

  private async attemptToOrphan(uid: string): Promise<void> {
    const node = this.graph.get(uid);
    if (!node) return;
    const latest = await this.fetch(node.id);
    if (!latest || !hasFinalizer(latest, ORPHAN_FINALIZER)) return;
    for (const d of [...node.dependents]) {
      const dep = this.graph.get(d);
      if (!dep || dep.virtual) continue;
      const fresh = await this.fetch(dep.id);
      if (!fresh) continue;
      const refs = (fresh.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
      await this.patchOwners(dep, fresh, refs);
    }
    await this.removeFinalizer(latest, node.id, ORPHAN_FINALIZER);
  }

  private async patchOwners(node: GraphNode, latest: KubeObject, refs: OwnerReference[]): Promise<void> {
    try {
      await this.client.patch(node.id.resource, node.id.namespace, node.id.name, {
        metadata: { ownerReferences: (refs.length ? refs : null) as any, uid: latest.metadata.uid!, resourceVersion: latest.metadata.resourceVersion! },
      });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }

  private async removeFinalizer(latest: KubeObject, id: Identity, finalizer: string): Promise<void> {
    const finalizers = (latest.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    try {
      await this.client.patch(id.resource, id.namespace, id.name, {
        metadata: { finalizers: finalizers.length ? finalizers : null, resourceVersion: latest.metadata.resourceVersion! },
      });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }

  private async deleteObject(id: Identity, policy: PropagationPolicy): Promise<void> {
    await deleteIgnoringNotFound(this.client, id.resource, id.namespace, id.name, { propagationPolicy: policy, preconditions: { uid: id.uid } });
  }
}
