/**
 * The StatefulSet controller (pkg/controller/statefulset): pods with stable names
 * `<set>-<ordinal>`, hostnames and storage. Each pod gets PersistentVolumeClaims
 * `<template>-<set>-<ordinal>` from the volumeClaimTemplates; claims outlive their pods (the
 * Retain policy). OrderedReady creates ordinals in order, each Running and Ready before the
 * next, and removes from the highest down; Parallel does both at once. A rolling update
 * replaces pods from the highest ordinal down to the partition, one at a time, each healthy
 * before the next. Templates are recorded as ControllerRevisions; pods carry the
 * `controller-revision-hash` of theirs. There is never more than one pod per ordinal: a pod is
 * only made once the previous holder of its name is gone.
 */
import { matchesLabels, selectorFromObject } from '../api/selectors.js';
import { clone, type KubeObject } from '../api/types.js';
import { deleteIgnoringNotFound, errorMessage, writeStatus } from './apiutil.js';
import { isAlreadyExists } from './client.js';
import { Controller, type ControllerContext } from './controller.js';
import { CONTROLLER_REVISION_HASH_LABEL, sortRevisions, syncUpdateRevision, templateOf } from './history.js';
import type { Lister } from './informer.js';
import { isPodAvailable, isPodReady, isPodTerminating } from './podutil.js';
import { claimObjects } from './refmanager.js';
import { controllerRef, newControllerRef, splitKey } from './resources.js';

export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
const KIND = { apiVersion: 'apps/v1', kind: 'StatefulSet' };

/** The ordinal of a pod named `<set>-<n>`, or -1. */
export function ordinalOf(setName: string, podName: string): number {
  if (!podName.startsWith(`${setName}-`)) return -1;
  const rest = podName.slice(setName.length + 1);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : -1;
}

export function claimName(template: string, setName: string, ordinal: number): string {
  return `${template}-${setName}-${ordinal}`;
}

const isFailed = (p: KubeObject) => p.status?.phase === 'Failed';
const isSucceeded = (p: KubeObject) => p.status?.phase === 'Succeeded';
const isRunningAndReady = (p: KubeObject) => p.status?.phase === 'Running' && isPodReady(p);
const revisionOfPod = (p: KubeObject) => p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] ?? '';

export class StatefulSetController extends Controller {
  private readonly sets: Lister;
  private readonly pods: Lister;
  private readonly claims: Lister;
  private readonly revisions: Lister;

  constructor(ctx: ControllerContext, options: { workers?: number } = {}) {
    super('statefulset-controller', ctx, { workers: options.workers, component: 'statefulset-controller' });
    const setInf = ctx.informers.informer('statefulsets');
    const podInf = ctx.informers.informer('pods');
    this.sets = setInf.lister;
    this.pods = podInf.lister;
    this.claims = ctx.informers.informer('persistentvolumeclaims').lister;
    this.revisions = ctx.informers.informer('controllerrevisions').lister;
    setInf.addEventHandler({ add: (s) => this.enqueue(s), update: (_o, s) => this.enqueue(s), delete: (s) => this.enqueue(s) });
    podInf.addEventHandler({
      add: (p) => this.onPod(p),
      update: (old, p) => {
        if (old.metadata.resourceVersion === p.metadata.resourceVersion) return;
        const oldRef = controllerRef(old);
        if (oldRef && oldRef.uid !== controllerRef(p)?.uid) this.onPod(old);
        this.onPod(p);
        const set = this.owner(p);
        const minReady = set?.spec?.minReadySeconds ?? 0;
        if (set && minReady > 0 && !isPodReady(old) && isPodReady(p)) this.enqueueAfter(set, minReady * 1000);
      },
      delete: (p) => this.onPod(p),
    });
  }

  private owner(p: KubeObject): KubeObject | undefined {
    const ref = controllerRef(p);
    if (!ref || ref.kind !== 'StatefulSet') return undefined;
    const s = this.sets.get(p.metadata.namespace ?? '', ref.name);
    return s && s.metadata.uid === ref.uid ? s : undefined;
  }

  private onPod(p: KubeObject): void {
    if (controllerRef(p)) {
      const s = this.owner(p);
      if (s) this.enqueue(s);
      return;
    }
    for (const s of this.sets.list(p.metadata.namespace)) {
      const sel = selectorFromObject(s.spec?.selector);
      if (sel.length && matchesLabels(sel, p.metadata.labels)) this.enqueue(s);
    }
  }

  override async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const set = this.sets.get(namespace, name);
    if (!set) return;
    const selector = selectorFromObject(set.spec?.selector);
    if (selector.length === 0) {
      this.recorder.event(set, 'Warning', 'InvalidSelector', 'empty selector is invalid for statefulset', KIND);
      return;
    }
    const pods = await claimObjects({
      client: this.client,
      resource: 'pods',
      owner: set,
      ownerRef: newControllerRef(set, KIND.apiVersion, KIND.kind),
      ownerResource: 'statefulsets',
      selector,
      candidates: this.pods.list(namespace),
      match: (p) => ordinalOf(name, p.metadata.name!) >= 0,
    });
    const revisions = sortRevisions(this.revisions.controlledBy(set.metadata.uid!));
    const { revision: updateRevision, collisionCount } = await syncUpdateRevision(this.client, set, KIND, revisions, set.status?.collisionCount ?? 0);
    const all = sortRevisions([...revisions.filter((r) => r.metadata.name !== updateRevision.metadata.name), updateRevision]);
    const currentRevision = all.find((r) => r.metadata.name === set.status?.currentRevision) ?? updateRevision;
    const sync = new StatefulSetSync(this, set, pods, currentRevision, updateRevision, collisionCount);
    const status = await sync.run();
    await writeStatus(this.client, 'statefulsets', set, status);
    await this.truncateHistory(set, pods, all, currentRevision, updateRevision);
  }

  private async truncateHistory(set: KubeObject, pods: KubeObject[], revisions: KubeObject[], current: KubeObject, update: KubeObject): Promise<void> {
    const live = new Set<string>([current.metadata.name!, update.metadata.name!]);
    for (const p of pods) live.add(revisionOfPod(p));
    const nonLive = revisions.filter((r) => !live.has(r.metadata.name!));
    const limit = set.spec?.revisionHistoryLimit ?? 10;
    for (let i = 0; i < nonLive.length - limit; i++) {
      await deleteIgnoringNotFound(this.client, 'controllerrevisions', set.metadata.namespace!, nonLive[i]!.metadata.name!);
    }
  }

  /** @internal */
  get internals() {
    return { client: this.client, clock: this.clock, recorder: this.recorder, claims: this.claims };
  }
}

/** One pass of UpdateStatefulSet over one set. */
class StatefulSetSync {
  private readonly status: any;
  private readonly currentTemplate: any;
  private readonly updateTemplate: any;
  private readonly ns: string;
  private readonly name: string;
  private readonly minReady: number;

  constructor(
    private readonly ctl: StatefulSetController,
    private readonly set: KubeObject,
    private readonly pods: KubeObject[],
    private readonly currentRevision: KubeObject,
    private readonly updateRevision: KubeObject,
    collisionCount: number,
  ) {
    this.ns = set.metadata.namespace!;
    this.name = set.metadata.name!;
    this.minReady = set.spec?.minReadySeconds ?? 0;
    this.currentTemplate = templateOf(currentRevision);
    this.updateTemplate = templateOf(updateRevision);
    this.status = {
      observedGeneration: set.metadata.generation ?? 0,
      replicas: 0,
      readyReplicas: 0,
      currentReplicas: 0,
      updatedReplicas: 0,
      availableReplicas: 0,
      currentRevision: currentRevision.metadata.name,
      updateRevision: updateRevision.metadata.name,
      collisionCount,
    };
  }

  private get now(): number {
    return this.ctl.internals.clock.now();
  }

  private healthy(p: KubeObject): boolean {
    return isRunningAndReady(p) && !isPodTerminating(p) && isPodAvailable(p, this.minReady, this.now);
  }

  async run(): Promise<any> {
    const set = this.set;
    const status = this.status;
    const replicaCount = set.spec?.replicas ?? 1;
    const replicas: (KubeObject | undefined)[] = new Array(replicaCount).fill(undefined);
    const condemned: KubeObject[] = [];
    for (const p of this.pods) {
      status.replicas++;
      if (isRunningAndReady(p)) {
        status.readyReplicas++;
        if (isPodAvailable(p, this.minReady, this.now)) status.availableReplicas++;
      }
      if (!isPodTerminating(p)) {
        if (revisionOfPod(p) === this.currentRevision.metadata.name) status.currentReplicas++;
        if (revisionOfPod(p) === this.updateRevision.metadata.name) status.updatedReplicas++;
      }
      const ord = ordinalOf(this.name, p.metadata.name!);
      if (ord >= 0 && ord < replicaCount) replicas[ord] = p;
      else if (ord >= replicaCount) condemned.push(p);
    }
    condemned.sort((a, b) => ordinalOf(this.name, a.metadata.name!) - ordinalOf(this.name, b.metadata.name!));
    let firstUnhealthy: KubeObject | undefined;
    for (const r of replicas) {
      if (r && !this.healthy(r)) {
        firstUnhealthy = r;
        break;
      }
    }
    if (!firstUnhealthy) {
      for (const c of condemned) {
        if (!this.healthy(c)) {
          firstUnhealthy = c;
          break;
        }
      }
    }
    if (set.metadata.deletionTimestamp) return this.finish();
    const monotonic = set.spec?.podManagementPolicy !== 'Parallel';

    // Replicas: create what is missing, replace what finished, fix identities.
    for (let ord = 0; ord < replicaCount; ord++) {
      const pod = replicas[ord];
      if (!pod) {
        const created = await this.createPod(ord);
        if (created) {
          status.replicas++;
          if (revisionOfPod(created) === this.currentRevision.metadata.name) status.currentReplicas++;
          if (revisionOfPod(created) === this.updateRevision.metadata.name) status.updatedReplicas++;
        }
        if (monotonic) return this.finish();
        continue;
      }
      if (isFailed(pod) || isSucceeded(pod)) {
        if (!pod.metadata.deletionTimestamp) await this.deletePod(pod, isFailed(pod) ? 'failed' : 'succeeded');
        // The replacement is made once the old pod is gone from the API.
        if (monotonic) return this.finish();
        continue;
      }
      if (pod.status?.phase === 'Pending') await this.createClaims(pod, ord);
      if (isPodTerminating(pod) && monotonic) return this.finish();
      if (!this.healthy(pod) && monotonic) return this.finish();
      if (!this.identityMatches(pod, ord)) await this.fixIdentity(pod, ord);
    }

    // Scale down, highest ordinal first.
    for (let i = condemned.length - 1; i >= 0; i--) {
      const pod = condemned[i]!;
      if (isPodTerminating(pod)) {
        if (monotonic) return this.finish();
        continue;
      }
      if (!isRunningAndReady(pod) && monotonic && pod !== firstUnhealthy) return this.finish();
      await this.deletePod(pod);
      if (revisionOfPod(pod) === this.currentRevision.metadata.name) status.currentReplicas--;
      if (revisionOfPod(pod) === this.updateRevision.metadata.name) status.updatedReplicas--;
      if (monotonic) return this.finish();
    }

    // Rolling update from the highest ordinal down to the partition.
    const strategy = set.spec?.updateStrategy ?? { type: 'RollingUpdate' };
    if (strategy.type === 'OnDelete') return this.finish();
    const partition = strategy.rollingUpdate?.partition ?? 0;
    for (let ord = replicaCount - 1; ord >= partition; ord--) {
      const pod = replicas[ord];
      if (!pod) return this.finish();
      if (revisionOfPod(pod) !== this.updateRevision.metadata.name && !isPodTerminating(pod)) {
        await this.deletePod(pod);
        status.currentReplicas--;
        return this.finish();
      }
      if (!this.healthy(pod)) return this.finish();
    }
    return this.finish();
  }

  /** completeRollingUpdate: once every pod is updated and ready, the update is the current. */
  private finish(): any {
    const s = this.status;
    const type = this.set.spec?.updateStrategy?.type ?? 'RollingUpdate';
    if (type === 'RollingUpdate' && s.updatedReplicas === s.replicas && s.readyReplicas === s.replicas) {
      s.currentReplicas = s.updatedReplicas;
      s.currentRevision = s.updateRevision;
    }
    return s;
  }

  /** The pod for an ordinal, from the current template below the partition, else the update. */
  private newPod(ord: number): KubeObject {
    const strategy = this.set.spec?.updateStrategy ?? { type: 'RollingUpdate' };
    let useCurrent = false;
    if (strategy.type === 'RollingUpdate') {
      if (strategy.rollingUpdate) useCurrent = ord < (strategy.rollingUpdate.partition ?? 0);
      else useCurrent = ord < (this.set.status?.currentReplicas ?? 0);
    }
    const template = useCurrent ? this.currentTemplate : this.updateTemplate;
    const revision = useCurrent ? this.currentRevision : this.updateRevision;
    const podName = `${this.name}-${ord}`;
    const meta = template.metadata ?? {};
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        namespace: this.ns,
        labels: { ...(meta.labels ?? {}), [POD_NAME_LABEL]: podName, [POD_INDEX_LABEL]: String(ord), [CONTROLLER_REVISION_HASH_LABEL]: revision.metadata.name! },
        ownerReferences: [newControllerRef(this.set, KIND.apiVersion, KIND.kind)],
      },
      spec: clone(template.spec ?? {}),
    };
    if (meta.annotations) pod.metadata.annotations = { ...meta.annotations };
    this.applyIdentity(pod, ord);
    this.applyStorage(pod, ord);
    return pod;
  }

  private applyIdentity(pod: KubeObject, ord: number): void {
    const podName = `${this.name}-${ord}`;
    pod.metadata.labels = { ...(pod.metadata.labels ?? {}), [POD_NAME_LABEL]: podName, [POD_INDEX_LABEL]: String(ord) };
    pod.spec.hostname = podName;
    if (this.set.spec?.serviceName) pod.spec.subdomain = this.set.spec.serviceName;
  }

  private applyStorage(pod: KubeObject, ord: number): void {
    const templates: any[] = this.set.spec?.volumeClaimTemplates ?? [];
    if (templates.length === 0) return;
    const volumes: any[] = (pod.spec.volumes ?? []).filter((v: any) => !templates.some((t) => t.metadata?.name === v.name));
    for (const t of templates) {
      volumes.push({ name: t.metadata.name, persistentVolumeClaim: { claimName: claimName(t.metadata.name, this.name, ord) } });
    }
    pod.spec.volumes = volumes;
  }

  private identityMatches(pod: KubeObject, ord: number): boolean {
    const podName = `${this.name}-${ord}`;
    const sub = this.set.spec?.serviceName;
    return pod.metadata.labels?.[POD_NAME_LABEL] === podName && pod.spec?.hostname === podName && (!sub || pod.spec?.subdomain === sub);
  }

  private async fixIdentity(pod: KubeObject, ord: number): Promise<void> {
    const copy = clone(pod);
    this.applyIdentity(copy, ord);
    await this.ctl.internals.client.update('pods', this.ns, copy);
    this.event('Normal', 'SuccessfulUpdate', `update Pod ${pod.metadata.name} in StatefulSet ${this.name} successful`);
  }

  private claimsFor(ord: number): KubeObject[] {
    const templates: any[] = this.set.spec?.volumeClaimTemplates ?? [];
    const matchLabels = this.set.spec?.selector?.matchLabels ?? {};
    return templates.map((t) => {
      const c: KubeObject = {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name: claimName(t.metadata.name, this.name, ord),
          namespace: this.ns,
          labels: { ...(t.metadata?.labels ?? {}), ...matchLabels },
        },
        spec: clone(t.spec ?? {}),
      };
      if (t.metadata?.annotations) c.metadata.annotations = { ...t.metadata.annotations };
      return c;
    });
  }

  /** Creates the pod's missing claims; a claim being deleted blocks the pod. */
  private async createClaims(pod: KubeObject, ord: number): Promise<void> {
    const { client, claims } = this.ctl.internals;
    for (const c of this.claimsFor(ord)) {
      const existing = claims.get(this.ns, c.metadata.name!);
      if (existing) {
        if (existing.metadata.deletionTimestamp) throw new Error(`pvc ${c.metadata.name} is being deleted`);
        continue;
      }
      try {
        await client.create('persistentvolumeclaims', this.ns, c);
        this.event('Normal', 'SuccessfulCreate', `create Claim ${c.metadata.name} Pod ${pod.metadata.name} in StatefulSet ${this.name} success`);
      } catch (err) {
        if (isAlreadyExists(err)) continue;
        this.event('Warning', 'FailedCreate', `create Claim ${c.metadata.name} for Pod ${pod.metadata.name} in StatefulSet ${this.name} failed error: ${errorMessage(err)}`);
        throw err;
      }
    }
  }

  private async createPod(ord: number): Promise<KubeObject | undefined> {
    const pod = this.newPod(ord);
    await this.createClaims(pod, ord);
    try {
      const created = await this.ctl.internals.client.create('pods', this.ns, pod);
      this.event('Normal', 'SuccessfulCreate', `create Pod ${pod.metadata.name} in StatefulSet ${this.name} successful`);
      return created;
    } catch (err) {
      // The previous holder of the name is still there: wait for it to go.
      if (isAlreadyExists(err)) return undefined;
      this.event('Warning', 'FailedCreate', `create Pod ${pod.metadata.name} in StatefulSet ${this.name} failed error: ${errorMessage(err)}`);
      throw err;
    }
  }

  private async deletePod(pod: KubeObject, why?: string): Promise<void> {
    try {
      await deleteIgnoringNotFound(this.ctl.internals.client, 'pods', this.ns, pod.metadata.name!);
      if (why) this.event('Warning', 'RecreatingFailedPod', `StatefulSet ${this.ns}/${this.name} is recreating ${why} Pod ${pod.metadata.name}`);
      this.event('Normal', 'SuccessfulDelete', `delete Pod ${pod.metadata.name} in StatefulSet ${this.name} successful`);
    } catch (err) {
      this.event('Warning', 'FailedDelete', `delete Pod ${pod.metadata.name} in StatefulSet ${this.name} failed error: ${errorMessage(err)}`);
      throw err;
    }
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.ctl.internals.recorder.event(this.set, type, reason, message, KIND);
  }
}
