/**
 * The ReplicaSet controller (and, with the same code, the ReplicationController manager):
 * keeps `spec.replicas` active pods matching the selector. It adopts matching orphans and
 * releases pods that stopped matching, creates missing pods in slow-start batches, deletes the
 * least valuable surplus pods first, and reports replicas / fullyLabeled / ready / available.
 * Expectations keep it from acting twice before its own writes come back through the informer.
 */
import { matchesLabels, selectorFromObject, type LabelSelector } from '../api/selectors.js';
import type { KubeObject } from '../api/types.js';
import { deleteIgnoringNotFound, errorMessage, writeStatus } from './apiutil.js';
import { Controller, Expectations, slowStartBatch, type ControllerContext } from './controller.js';
import type { Lister } from './informer.js';
import { getCondition, isPodActive, isPodAvailable, isPodReady, podFromTemplate, podsToDelete, setCondition, removeCondition } from './podutil.js';
import { claimObjects } from './refmanager.js';
import { controllerRef, newControllerRef, objectKey, splitKey } from './resources.js';

/** The most pods one sync creates or deletes (the controller's burstReplicas). */
export const BURST_REPLICAS = 500;

interface Flavor {
  resource: 'replicasets' | 'replicationcontrollers';
  apiVersion: string;
  kind: 'ReplicaSet' | 'ReplicationController';
  component: string;
  selector(o: KubeObject): LabelSelector;
}

const FLAVORS: Record<'ReplicaSet' | 'ReplicationController', Flavor> = {
  ReplicaSet: {
    resource: 'replicasets',
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    component: 'replicaset-controller',
    selector: (o) => selectorFromObject(o.spec?.selector),
  },
  ReplicationController: {
    resource: 'replicationcontrollers',
    apiVersion: 'v1',
    kind: 'ReplicationController',
    component: 'replication-controller',
    selector: (o) => selectorFromObject({ matchLabels: o.spec?.selector ?? {} }),
  },
};

export interface ReplicaSetControllerOptions {
  kind?: 'ReplicaSet' | 'ReplicationController';
  burstReplicas?: number;
  workers?: number;
}

export class ReplicaSetController extends Controller {
  readonly expectations: Expectations;
  private readonly flavor: Flavor;
  private readonly burstReplicas: number;
  private readonly sets: Lister;
  private readonly pods: Lister;

  constructor(ctx: ControllerContext, options: ReplicaSetControllerOptions = {}) {
    const flavor = FLAVORS[options.kind ?? 'ReplicaSet'];
    super(flavor.component, ctx, { workers: options.workers, component: flavor.component });
    this.flavor = flavor;
    this.burstReplicas = options.burstReplicas ?? BURST_REPLICAS;
    this.expectations = new Expectations(ctx.clock);
    const setInformer = ctx.informers.informer(flavor.resource);
    const podInformer = ctx.informers.informer('pods');
    this.sets = setInformer.lister;
    this.pods = podInformer.lister;
    setInformer.addEventHandler({
      add: (o) => this.enqueue(o),
      update: (_old, o) => this.enqueue(o),
      delete: (o) => {
        this.expectations.delete(objectKey(o));
        this.enqueue(o);
      },
    });
    podInformer.addEventHandler({
      add: (p) => this.addPod(p),
      update: (old, p) => this.updatePod(old, p),
      delete: (p) => this.deletePod(p),
    });
  }

  // --- event handlers -----------------------------------------------------------------------

  private resolve(namespace: string, ref: { kind: string; name: string; uid: string } | undefined): KubeObject | undefined {
    if (!ref || ref.kind !== this.flavor.kind) return undefined;
    const set = this.sets.get(namespace, ref.name);
    return set && set.metadata.uid === ref.uid ? set : undefined;
  }

  /** Sets whose selector matches an orphan pod. */
  private setsMatching(pod: KubeObject): KubeObject[] {
    const out: KubeObject[] = [];
    for (const s of this.sets.list(pod.metadata.namespace)) {
      const sel = this.flavor.selector(s);
      if (sel.length === 0) continue;
      if (matchesLabels(sel, pod.metadata.labels)) out.push(s);
    }
    return out;
  }

  private addPod(pod: KubeObject): void {
    if (pod.metadata.deletionTimestamp) {
      this.deletePod(pod);
      return;
    }
    const ref = controllerRef(pod);
    if (ref) {
      const set = this.resolve(pod.metadata.namespace ?? '', ref);
      if (!set) return;
      this.expectations.creationObserved(objectKey(set));
      this.enqueue(set);
      return;
    }
    for (const s of this.setsMatching(pod)) this.enqueue(s);
  }

  private updatePod(old: KubeObject, pod: KubeObject): void {
    if (old.metadata.resourceVersion === pod.metadata.resourceVersion) return;
    if (pod.metadata.deletionTimestamp && !old.metadata.deletionTimestamp) {
      // A graceful delete: count it as the deletion we expected, at once.
      this.deletePod(pod);
      if (!labelsEqual(old, pod)) this.deletePod(old);
      return;
    }
    const oldRef = controllerRef(old);
    const ref = controllerRef(pod);
    if (oldRef && (!ref || oldRef.uid !== ref.uid)) {
      const oldSet = this.resolve(old.metadata.namespace ?? '', oldRef);
      if (oldSet) this.enqueue(oldSet);
    }
    if (ref) {
      const set = this.resolve(pod.metadata.namespace ?? '', ref);
      if (!set) return;
      this.enqueue(set);
      // A pod that just became ready is available minReadySeconds later: look again then.
      const minReady = set.spec?.minReadySeconds ?? 0;
      if (minReady > 0 && !isPodReady(old) && isPodReady(pod)) this.enqueueAfter(set, minReady * 1000);
      return;
    }
    if (!labelsEqual(old, pod) || oldRef) for (const s of this.setsMatching(pod)) this.enqueue(s);
  }

  private deletePod(pod: KubeObject): void {
    const ref = controllerRef(pod);
    if (!ref) return;
    const set = this.resolve(pod.metadata.namespace ?? '', ref);
    if (!set) return;
    const key = objectKey(set);
    this.expectations.deletionObserved(key, objectKey(pod));
    this.enqueue(set);
  }

  // --- reconcile ------------------------------------------------------------------------------

  override async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const set = this.sets.get(namespace, name);
    if (!set) {
      this.expectations.delete(key);
      return;
    }
    const selector = this.flavor.selector(set);
    const needsSync = this.expectations.satisfied(key) && !set.metadata.deletionTimestamp;
    const active = this.pods.list(namespace).filter(isPodActive);
    const pods = await claimObjects({
      client: this.client,
      resource: 'pods',
      owner: set,
      ownerRef: newControllerRef(set, this.flavor.apiVersion, this.flavor.kind),
      ownerResource: this.flavor.resource,
      selector,
      candidates: active,
    });
    let manageErr: unknown;
    if (needsSync) {
      try {
        await this.manageReplicas(key, set, pods);
      } catch (err) {
        manageErr = err;
      }
    }
    const status = this.calculateStatus(set, pods, manageErr);
    const updated = await writeStatus(this.client, this.flavor.resource, set, status);
    const minReady = set.spec?.minReadySeconds ?? 0;
    const replicas = set.spec?.replicas ?? 1;
    if (!manageErr && minReady > 0 && updated.status?.readyReplicas === replicas && updated.status?.availableReplicas !== replicas) {
      this.enqueueAfter(key, minReady * 1000);
    }
    if (manageErr) throw manageErr;
  }

  private async manageReplicas(key: string, set: KubeObject, pods: KubeObject[]): Promise<void> {
    const want = set.spec?.replicas ?? 1;
    const diff = pods.length - want;
    const kind = { apiVersion: this.flavor.apiVersion, kind: this.flavor.kind };
    if (diff < 0) {
      const n = Math.min(-diff, this.burstReplicas);
      this.expectations.expectCreations(key, n);
      const ref = newControllerRef(set, this.flavor.apiVersion, this.flavor.kind);
      const { successes, error } = await slowStartBatch(n, 1, async () => {
        try {
          const created = await this.client.create('pods', set.metadata.namespace!, podFromTemplate(set.spec?.template, set.metadata.name!, set.metadata.namespace!, ref));
          this.recorder.event(set, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`, kind);
        } catch (err) {
          this.recorder.event(set, 'Warning', 'FailedCreate', `Error creating: ${errorMessage(err)}`, kind);
          throw err;
        }
      });
      // Creations that failed or were skipped will never be observed.
      const notCreated = n - successes;
      for (let i = 0; i < notCreated; i++) this.expectations.creationObserved(key);
      if (error) throw error;
      return;
    }
    if (diff > 0) {
      const n = Math.min(diff, this.burstReplicas);
      const victims = podsToDelete(pods, this.relatedPods(set), n, this.clock.now());
      this.expectations.expectDeletions(key, victims.map(objectKey));
      const results = await Promise.allSettled(
        victims.map(async (p) => {
          try {
            const deleted = await deleteIgnoringNotFound(this.client, 'pods', p.metadata.namespace!, p.metadata.name!);
            if (!deleted) this.expectations.deletionObserved(key, objectKey(p));
            else this.recorder.event(set, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`, kind);
          } catch (err) {
            this.expectations.deletionObserved(key, objectKey(p));
            this.recorder.event(set, 'Warning', 'FailedDelete', `Error deleting: ${errorMessage(err)}`, kind);
            throw err;
          }
        }),
      );
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) throw failed.reason;
    }
  }

  /** The pods of every ReplicaSet under the same controller (for co-location ranks). */
  private relatedPods(set: KubeObject): KubeObject[] {
    const owner = controllerRef(set);
    if (!owner) return this.pods.controlledBy(set.metadata.uid!);
    const out: KubeObject[] = [];
    for (const sibling of this.sets.list(set.metadata.namespace)) {
      if (controllerRef(sibling)?.uid !== owner.uid) continue;
      out.push(...this.pods.controlledBy(sibling.metadata.uid!));
    }
    return out;
  }

  private calculateStatus(set: KubeObject, pods: KubeObject[], manageErr: unknown): any {
    const now = this.clock.now();
    const templateLabels: Record<string, string> = set.spec?.template?.metadata?.labels ?? {};
    const minReady = set.spec?.minReadySeconds ?? 0;
    let fullyLabeled = 0;
    let ready = 0;
    let available = 0;
    for (const p of pods) {
      const labels = p.metadata.labels ?? {};
      if (Object.entries(templateLabels).every(([k, v]) => labels[k] === v)) fullyLabeled++;
      if (isPodReady(p)) {
        ready++;
        if (isPodAvailable(p, minReady, now)) available++;
      }
    }
    const status: any = {
      ...(set.status ?? {}),
      replicas: pods.length,
      fullyLabeledReplicas: fullyLabeled,
      readyReplicas: ready,
      availableReplicas: available,
      observedGeneration: set.metadata.generation ?? 0,
    };
    if (Array.isArray(status.conditions)) status.conditions = status.conditions.map((c: any) => ({ ...c }));
    const failure = getCondition(status, 'ReplicaFailure');
    if (manageErr && !failure) {
      const want = set.spec?.replicas ?? 1;
      const reason = pods.length - want < 0 ? 'FailedCreate' : 'FailedDelete';
      setCondition(status, { type: 'ReplicaFailure', status: 'True', reason, message: errorMessage(manageErr) }, now);
    } else if (!manageErr && failure) {
      removeCondition(status, 'ReplicaFailure');
    }
    if (Array.isArray(status.conditions) && status.conditions.length === 0) delete status.conditions;
    return status;
  }
}

/** The ReplicationController manager: the ReplicaSet controller over v1 ReplicationControllers. */
export class ReplicationControllerController extends ReplicaSetController {
  constructor(ctx: ControllerContext, options: Omit<ReplicaSetControllerOptions, 'kind'> = {}) {
    super(ctx, { ...options, kind: 'ReplicationController' });
  }
}

function labelsEqual(a: KubeObject, b: KubeObject): boolean {
  const la = a.metadata.labels ?? {};
  const lb = b.metadata.labels ?? {};
  const ka = Object.keys(la);
  if (ka.length !== Object.keys(lb).length) return false;
  return ka.every((k) => la[k] === lb[k]);
}
