/**
 * The Deployment controller (pkg/controller/deployment): a Deployment owns ReplicaSets, one per
 * pod template it has had, named `<deployment>-<pod-template-hash>`. Rolling updates move
 * replicas from the old sets to the new one within maxSurge / maxUnavailable; Recreate scales
 * the old sets to zero and waits for their pods to go before scaling up the new one. The
 * `deployment.kubernetes.io/revision` annotation numbers the templates; going back to an old
 * template (what `kubectl rollout undo` does) makes its ReplicaSet the new one again with the
 * next revision. Paused deployments only scale. Status reports replicas / updated / ready /
 * available / unavailable and the Available and Progressing conditions, with the progress
 * deadline turning Progressing to False / ProgressDeadlineExceeded.
 */
import { selectorFromObject, matchesLabels } from '../api/selectors.js';
import { clone, deepEqual, type KubeObject } from '../api/types.js';
import { deleteIgnoringNotFound, errorMessage } from './apiutil.js';
import { isAlreadyExists, isNotFound } from './client.js';
import { Controller, type ControllerContext } from './controller.js';
import type { Lister } from './informer.js';
import { byCreation, computeHash, getCondition, scaledValue, type Condition } from './podutil.js';
import { claimObjects } from './refmanager.js';
import { controllerRef, newControllerRef, objectKey, splitKey } from './resources.js';
import { formatTime, parseTime } from './time.js';

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

/** Progressing condition reasons. */
export const REASONS = {
  newRSCreated: 'NewReplicaSetCreated',
  foundNewRS: 'FoundNewReplicaSet',
  rsUpdated: 'ReplicaSetUpdated',
  newRSAvailable: 'NewReplicaSetAvailable',
  timedOut: 'ProgressDeadlineExceeded',
  paused: 'DeploymentPaused',
  resumed: 'DeploymentResumed',
  failedRSCreate: 'ReplicaSetCreateError',
  minimumAvailable: 'MinimumReplicasAvailable',
  minimumUnavailable: 'MinimumReplicasUnavailable',
} as const;

const SKIP_ANNOTATIONS = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  'deprecated.deployment.rollback.to',
]);

const MAX_INT32 = 2147483647;
const KIND = { apiVersion: 'apps/v1', kind: 'Deployment' };

// ---------------------------------------------------------------------------------------------
// Pure helpers (deploymentutil)

const specReplicas = (o: KubeObject | undefined): number => (o ? (o.spec?.replicas ?? 1) : 0);
const statusOf = (o: KubeObject | undefined, f: string): number => (o ? (o.status?.[f] ?? 0) : 0);

export function isRollingUpdate(d: KubeObject): boolean {
  return (d.spec?.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

/** maxSurge rounded up and maxUnavailable rounded down; both zero makes maxUnavailable 1. */
export function resolveFenceposts(d: KubeObject): { surge: number; unavailable: number } {
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  const replicas = specReplicas(d);
  const surge = scaledValue(ru.maxSurge ?? '25%', replicas, true);
  let unavailable = scaledValue(ru.maxUnavailable ?? '25%', replicas, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

export function maxSurge(d: KubeObject): number {
  return isRollingUpdate(d) ? resolveFenceposts(d).surge : 0;
}

export function maxUnavailable(d: KubeObject): number {
  const replicas = specReplicas(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  return Math.min(resolveFenceposts(d).unavailable, replicas);
}

export function revisionOf(o: KubeObject | undefined): number {
  const v = o?.metadata.annotations?.[REVISION_ANNOTATION];
  const n = v === undefined ? 0 : Number(v);
  return Number.isInteger(n) ? n : 0;
}

function maxRevision(sets: KubeObject[]): number {
  let max = 0;
  for (const s of sets) max = Math.max(max, revisionOf(s));
  return max;
}

/** Templates equal once the pod-template-hash label is ignored (EqualIgnoreHash). */
export function equalIgnoreHash(a: any, b: any): boolean {
  const strip = (t: any) => {
    const c = clone(t ?? {});
    if (c.metadata?.labels) {
      delete c.metadata.labels[POD_TEMPLATE_HASH_LABEL];
      if (Object.keys(c.metadata.labels).length === 0) delete c.metadata.labels;
    }
    if (c.metadata && Object.keys(c.metadata).length === 0) delete c.metadata;
    return c;
  };
  return deepEqual(strip(a), strip(b));
}

function hasProgressDeadline(d: KubeObject): boolean {
  const p = d.spec?.progressDeadlineSeconds;
  return p !== undefined && p !== null && p !== MAX_INT32;
}

function newCondition(type: string, status: Condition['status'], reason: string, message: string, nowMs: number): Condition {
  const t = formatTime(nowMs);
  return { type, status, lastUpdateTime: t, lastTransitionTime: t, reason, message };
}

/** SetDeploymentCondition: no change for the same status and reason. */
function setDeploymentCondition(status: any, cond: Condition): void {
  const cur = getCondition(status, cond.type);
  if (cur && cur.status === cond.status && cur.reason === cond.reason) return;
  const next = { ...cond };
  if (cur && cur.status === cond.status) next.lastTransitionTime = cur.lastTransitionTime;
  status.conditions = [...(status.conditions ?? []).filter((c: Condition) => c.type !== cond.type), next];
}

function removeDeploymentCondition(status: any, type: string): void {
  if (Array.isArray(status.conditions)) status.conditions = status.conditions.filter((c: Condition) => c.type !== type);
}

/** Updated, total and available all at the desired count, and the spec observed. */
export function deploymentComplete(d: KubeObject, s: any): boolean {
  const r = specReplicas(d);
  return s.updatedReplicas === r && s.replicas === r && s.availableReplicas === r && (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
}

function deploymentProgressing(d: KubeObject, s: any): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) || newOld < oldOld || (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
}

function deploymentTimedOut(d: KubeObject, s: any, nowMs: number): boolean {
  if (!hasProgressDeadline(d)) return false;
  const c = getCondition(s, 'Progressing');
  if (!c) return false;
  if (c.reason === REASONS.newRSAvailable) return false;
  if (c.reason === REASONS.timedOut) return true;
  const from = parseTime(c.lastUpdateTime) ?? 0;
  return from + d.spec.progressDeadlineSeconds * 1000 < nowMs;
}

function sumSpec(sets: (KubeObject | undefined)[]): number {
  let n = 0;
  for (const s of sets) if (s) n += specReplicas(s);
  return n;
}

function sumStatus(sets: (KubeObject | undefined)[], f: string): number {
  let n = 0;
  for (const s of sets) if (s) n += statusOf(s, f);
  return n;
}

function filterActive(sets: (KubeObject | undefined)[]): KubeObject[] {
  return sets.filter((s): s is KubeObject => !!s && specReplicas(s) > 0);
}

/** Replicas the new set should have now (NewRSNewReplicas). */
export function newRSNewReplicas(d: KubeObject, all: KubeObject[], newRS: KubeObject): number {
  if (!isRollingUpdate(d)) return specReplicas(d);
  const surge = scaledValue(d.spec?.strategy?.rollingUpdate?.maxSurge ?? '25%', specReplicas(d), true);
  const current = sumSpec(all);
  const maxTotal = specReplicas(d) + surge;
  if (current >= maxTotal) return specReplicas(newRS);
  const up = Math.min(maxTotal - current, specReplicas(d) - specReplicas(newRS));
  return specReplicas(newRS) + up;
}

function annotationInt(o: KubeObject, key: string): number | undefined {
  const v = o.metadata.annotations?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isInteger(n) ? n : undefined;
}

/** Go's math.Round: half away from zero. */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

// ---------------------------------------------------------------------------------------------

export class DeploymentController extends Controller {
  private readonly deployments: Lister;
  private readonly sets: Lister;
  private readonly pods: Lister;

  constructor(ctx: ControllerContext, options: { workers?: number } = {}) {
    super('deployment-controller', ctx, { workers: options.workers, component: 'deployment-controller' });
    const dInf = ctx.informers.informer('deployments');
    const rsInf = ctx.informers.informer('replicasets');
    const podInf = ctx.informers.informer('pods');
    this.deployments = dInf.lister;
    this.sets = rsInf.lister;
    this.pods = podInf.lister;
    dInf.addEventHandler({ add: (d) => this.enqueue(d), update: (_o, d) => this.enqueue(d), delete: (d) => this.enqueue(d) });
    rsInf.addEventHandler({
      add: (rs) => this.onReplicaSet(rs),
      update: (old, rs) => {
        if (old.metadata.resourceVersion === rs.metadata.resourceVersion) return;
        const oldRef = controllerRef(old);
        if (oldRef && oldRef.uid !== controllerRef(rs)?.uid) this.enqueueOwner(old);
        this.onReplicaSet(rs);
      },
      delete: (rs) => this.enqueueOwner(rs),
    });
    podInf.addEventHandler({
      delete: (pod) => {
        // Recreate waits for the old pods to be gone.
        const rsRef = controllerRef(pod);
        if (!rsRef || rsRef.kind !== 'ReplicaSet') return;
        const rs = this.sets.get(pod.metadata.namespace ?? '', rsRef.name);
        const d = rs && this.ownerOf(rs);
        if (d && d.spec?.strategy?.type === 'Recreate') this.enqueue(d);
      },
    });
  }

  private ownerOf(rs: KubeObject): KubeObject | undefined {
    const ref = controllerRef(rs);
    if (!ref || ref.kind !== 'Deployment') return undefined;
    const d = this.deployments.get(rs.metadata.namespace ?? '', ref.name);
    return d && d.metadata.uid === ref.uid ? d : undefined;
  }

  private enqueueOwner(rs: KubeObject): void {
    const d = this.ownerOf(rs);
    if (d) this.enqueue(d);
  }

  private onReplicaSet(rs: KubeObject): void {
    if (controllerRef(rs)) {
      this.enqueueOwner(rs);
      return;
    }
    for (const d of this.deployments.list(rs.metadata.namespace)) {
      const sel = selectorFromObject(d.spec?.selector);
      if (sel.length && matchesLabels(sel, rs.metadata.labels)) this.enqueue(d);
    }
  }

  override async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const cached = this.deployments.get(namespace, name);
    if (!cached) return;
    const s = new DeploymentSync(this, clone(cached));
    await s.run();
  }

  /** @internal for DeploymentSync */
  get internals() {
    return { client: this.client, clock: this.clock, recorder: this.recorder, sets: this.sets, pods: this.pods };
  }
}

/** One sync of one Deployment; `d` is a private copy the sync may change. */
class DeploymentSync {
  private readonly client;
  private readonly clock;
  private readonly recorder;
  private readonly setsLister: Lister;
  private readonly podsLister: Lister;

  /** The status as the API has it, so unchanged status is not written again. */
  private storedStatus: any;

  constructor(
    private readonly ctl: DeploymentController,
    private d: KubeObject,
  ) {
    this.storedStatus = clone(d.status ?? {});
    const i = ctl.internals;
    this.client = i.client;
    this.clock = i.clock;
    this.recorder = i.recorder;
    this.setsLister = i.sets;
    this.podsLister = i.pods;
  }

  private get now(): number {
    return this.clock.now();
  }

  private get ns(): string {
    return this.d.metadata.namespace ?? '';
  }

  async run(): Promise<void> {
    const d = this.d;
    d.status ??= {};
    const selObj = d.spec?.selector;
    if (!selObj || (Object.keys(selObj.matchLabels ?? {}).length === 0 && (selObj.matchExpressions ?? []).length === 0)) {
      this.recorder.event(d, 'Warning', 'SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.', KIND);
      if ((d.status.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) {
        d.status.observedGeneration = d.metadata.generation;
        await this.updateStatus();
      }
      return;
    }
    const sets = await this.claimReplicaSets();
    if (d.metadata.deletionTimestamp) {
      await this.syncStatusOnly(sets);
      return;
    }
    await this.checkPausedConditions();
    if (d.spec?.paused) {
      await this.sync(sets);
      return;
    }
    if (this.isScalingEvent(sets)) {
      await this.sync(sets);
      return;
    }
    if (d.spec?.strategy?.type === 'Recreate') await this.rolloutRecreate(sets);
    else await this.rolloutRolling(sets);
  }

  // --- lookups ----------------------------------------------------------------------------

  private async claimReplicaSets(): Promise<KubeObject[]> {
    return claimObjects({
      client: this.client,
      resource: 'replicasets',
      owner: this.d,
      ownerRef: newControllerRef(this.d, KIND.apiVersion, KIND.kind),
      ownerResource: 'deployments',
      selector: selectorFromObject(this.d.spec.selector),
      candidates: this.setsLister.list(this.ns),
    });
  }

  private findNewReplicaSet(sets: KubeObject[]): KubeObject | undefined {
    const sorted = [...sets].sort(byCreation);
    return sorted.find((rs) => equalIgnoreHash(rs.spec?.template, this.d.spec.template));
  }

  private findOldReplicaSets(sets: KubeObject[], newRS: KubeObject | undefined): KubeObject[] {
    return sets.filter((rs) => !newRS || rs.metadata.uid !== newRS.metadata.uid);
  }

  private async getAllReplicaSetsAndSyncRevision(sets: KubeObject[], create: boolean): Promise<{ newRS: KubeObject | undefined; oldRSs: KubeObject[] }> {
    const existing = this.findNewReplicaSet(sets);
    const oldRSs = this.findOldReplicaSets(sets, existing);
    const newRS = await this.getNewReplicaSet(sets, oldRSs, existing, create);
    return { newRS, oldRSs };
  }

  // --- the new ReplicaSet -------------------------------------------------------------------

  /** SetNewReplicaSetAnnotations; returns whether anything changed. */
  private setNewReplicaSetAnnotations(rs: KubeObject, newRevision: number, exists: boolean): boolean {
    const ann: Record<string, string> = (rs.metadata.annotations ??= {});
    let changed = false;
    for (const [k, v] of Object.entries((this.d.metadata.annotations ?? {}) as Record<string, string>)) {
      if (SKIP_ANNOTATIONS.has(k) || ann[k] === v) continue;
      ann[k] = v;
      changed = true;
    }
    const had = ann[REVISION_ANNOTATION];
    const oldRevision = had === undefined ? 0 : Number(had);
    if (oldRevision < newRevision) {
      ann[REVISION_ANNOTATION] = String(newRevision);
      changed = true;
      if (had !== undefined) {
        // A rollback to this set: keep the revisions it had.
        const hist = ann[REVISION_HISTORY_ANNOTATION];
        ann[REVISION_HISTORY_ANNOTATION] = hist ? `${hist},${had}` : had;
      }
    }
    if (!exists && this.setReplicasAnnotations(rs)) changed = true;
    return changed;
  }

  private setReplicasAnnotations(rs: KubeObject): boolean {
    const ann: Record<string, string> = (rs.metadata.annotations ??= {});
    const desired = String(specReplicas(this.d));
    const max = String(specReplicas(this.d) + maxSurge(this.d));
    if (ann[DESIRED_REPLICAS_ANNOTATION] === desired && ann[MAX_REPLICAS_ANNOTATION] === max) return false;
    ann[DESIRED_REPLICAS_ANNOTATION] = desired;
    ann[MAX_REPLICAS_ANNOTATION] = max;
    return true;
  }

  /** Sets the deployment's own revision annotation; true when it changed. */
  private setDeploymentRevision(revision: string): boolean {
    const ann: Record<string, string> = (this.d.metadata.annotations ??= {});
    if (ann[REVISION_ANNOTATION] === revision) return false;
    ann[REVISION_ANNOTATION] = revision;
    return true;
  }

  private async getNewReplicaSet(sets: KubeObject[], oldRSs: KubeObject[], existing: KubeObject | undefined, create: boolean): Promise<KubeObject | undefined> {
    const d = this.d;
    const newRevision = maxRevision(oldRSs) + 1;
    if (existing) {
      const rsCopy = clone(existing);
      const annotationsUpdated = this.setNewReplicaSetAnnotations(rsCopy, newRevision, true);
      const minReady = d.spec.minReadySeconds ?? 0;
      if (annotationsUpdated || (rsCopy.spec.minReadySeconds ?? 0) !== minReady) {
        rsCopy.spec.minReadySeconds = minReady;
        return await this.client.update('replicasets', this.ns, rsCopy);
      }
      const revisionChanged = this.setDeploymentRevision(rsCopy.metadata.annotations?.[REVISION_ANNOTATION] ?? '');
      if (hasProgressDeadline(d) && !getCondition(d.status, 'Progressing')) {
        setDeploymentCondition(d.status, newCondition('Progressing', 'True', REASONS.foundNewRS, `Found new replica set "${rsCopy.metadata.name}"`, this.now));
      }
      await this.saveDeployment(revisionChanged);
      return rsCopy;
    }
    if (!create) return undefined;

    const collisionCount = d.status.collisionCount;
    const hash = computeHash(d.spec.template, collisionCount);
    const template = clone(d.spec.template ?? {});
    template.metadata ??= {};
    template.metadata.labels = { ...(template.metadata.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
    const selector = clone(d.spec.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
    const rs: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: this.ns,
        labels: { ...template.metadata.labels },
        ownerReferences: [newControllerRef(d, KIND.apiVersion, KIND.kind)],
      },
      spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
    };
    rs.spec.replicas = newRSNewReplicas(d, [...oldRSs, rs], rs);
    this.setNewReplicaSetAnnotations(rs, newRevision, false);
    let created: KubeObject;
    let alreadyExists = false;
    try {
      created = await this.client.create('replicasets', this.ns, rs);
    } catch (err) {
      if (isAlreadyExists(err)) {
        const found = this.setsLister.get(this.ns, rs.metadata.name!);
        if (found && controllerRef(found)?.uid === d.metadata.uid && equalIgnoreHash(d.spec.template, found.spec?.template)) {
          created = found;
          alreadyExists = true;
        } else {
          // A hash collision: bump collisionCount so the next sync hashes differently.
          d.status.collisionCount = (d.status.collisionCount ?? 0) + 1;
          await this.updateStatus().catch(() => undefined);
          throw err;
        }
      } else {
        const msg = `Failed to create new replica set "${rs.metadata.name}": ${errorMessage(err)}`;
        if (hasProgressDeadline(d)) {
          setDeploymentCondition(d.status, newCondition('Progressing', 'False', REASONS.failedRSCreate, msg, this.now));
          await this.updateStatus().catch(() => undefined);
        }
        this.recorder.event(d, 'Warning', REASONS.failedRSCreate, msg, KIND);
        throw err;
      }
    }
    if (!alreadyExists && specReplicas(rs) > 0) {
      this.recorder.event(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${created.metadata.name} from 0 to ${specReplicas(rs)}`, KIND);
    }
    const revisionChanged = this.setDeploymentRevision(String(newRevision));
    if (!alreadyExists && hasProgressDeadline(d)) {
      setDeploymentCondition(d.status, newCondition('Progressing', 'True', REASONS.newRSCreated, `Created new replica set "${created.metadata.name}"`, this.now));
    }
    await this.saveDeployment(revisionChanged);
    return created;
  }

  // --- scaling ------------------------------------------------------------------------------

  /** Scales one set, with the ScalingReplicaSet event; returns the set as written. */
  private async scaleReplicaSet(rs: KubeObject, newScale: number, op: 'up' | 'down'): Promise<KubeObject> {
    const sizeChanged = specReplicas(rs) !== newScale;
    const copy = clone(rs);
    const annChanged = this.setReplicasAnnotations(copy);
    if (!sizeChanged && !annChanged) return rs;
    copy.spec.replicas = newScale;
    const out = await this.client.update('replicasets', this.ns, copy);
    if (sizeChanged) {
      this.recorder.event(this.d, 'Normal', 'ScalingReplicaSet', `Scaled ${op} replica set ${rs.metadata.name} from ${specReplicas(rs)} to ${newScale}`, KIND);
    }
    return out;
  }

  private async scaleAndRecord(rs: KubeObject, newScale: number): Promise<{ scaled: boolean; rs: KubeObject }> {
    if (specReplicas(rs) === newScale) return { scaled: false, rs };
    const op = specReplicas(rs) < newScale ? 'up' : 'down';
    return { scaled: true, rs: await this.scaleReplicaSet(rs, newScale, op) };
  }

  private isScalingEvent(sets: KubeObject[]): boolean {
    const newRS = this.findNewReplicaSet(sets);
    const all = [...this.findOldReplicaSets(sets, newRS), ...(newRS ? [newRS] : [])];
    for (const rs of filterActive(all)) {
      const desired = annotationInt(rs, DESIRED_REPLICAS_ANNOTATION);
      if (desired === undefined) continue;
      if (desired !== specReplicas(this.d)) return true;
    }
    return false;
  }

  /** Proportional scaling of a deployment in the middle of a rollout (or paused). */
  private async scale(newRS: KubeObject | undefined, oldRSs: KubeObject[]): Promise<void> {
    const d = this.d;
    const replicas = specReplicas(d);
    const activeOrLatest = this.findActiveOrLatest(newRS, oldRSs);
    if (activeOrLatest) {
      if (specReplicas(activeOrLatest) === replicas) return;
      await this.scaleAndRecord(activeOrLatest, replicas);
      return;
    }
    if (this.isSaturated(newRS)) {
      for (const old of filterActive(oldRSs)) await this.scaleAndRecord(old, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const all = filterActive([...oldRSs, newRS]);
    const allReplicas = sumSpec(all);
    const allowed = replicas > 0 ? replicas + maxSurge(d) : 0;
    const toAdd = allowed - allReplicas;
    const op: 'up' | 'down' = toAdd > 0 ? 'up' : 'down';
    // Bigger first; among equals, newer first when adding, older first when removing.
    all.sort((a, b) => {
      const diff = specReplicas(b) - specReplicas(a);
      if (diff !== 0) return diff;
      return toAdd > 0 ? byCreation(b, a) : byCreation(a, b);
    });
    const sizes = new Map<string, number>();
    let added = 0;
    for (const rs of all) {
      if (toAdd !== 0) {
        const p = this.proportion(rs, toAdd, added);
        sizes.set(rs.metadata.name!, specReplicas(rs) + p);
        added += p;
      } else sizes.set(rs.metadata.name!, specReplicas(rs));
    }
    if (toAdd !== 0 && all.length > 0) {
      const first = all[0]!.metadata.name!;
      sizes.set(first, Math.max(0, sizes.get(first)! + (toAdd - added)));
    }
    for (const rs of all) await this.scaleReplicaSet(rs, sizes.get(rs.metadata.name!)!, op);
  }

  private proportion(rs: KubeObject, toAdd: number, added: number): number {
    if (specReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
    const fraction = this.fraction(rs);
    const allowed = toAdd - added;
    return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
  }

  private fraction(rs: KubeObject): number {
    const d = this.d;
    if (specReplicas(d) === 0) return -specReplicas(rs);
    const deploymentReplicas = specReplicas(d) + maxSurge(d);
    const annotated = annotationInt(rs, MAX_REPLICAS_ANNOTATION) ?? d.status?.replicas ?? 0;
    if (annotated === 0) return 0;
    return roundHalfAway((specReplicas(rs) * deploymentReplicas) / annotated) - specReplicas(rs);
  }

  private findActiveOrLatest(newRS: KubeObject | undefined, oldRSs: KubeObject[]): KubeObject | undefined {
    if (!newRS && oldRSs.length === 0) return undefined;
    const sortedOld = [...oldRSs].sort((a, b) => byCreation(b, a));
    const active = filterActive([...oldRSs, newRS]);
    if (active.length === 0) return newRS ?? sortedOld[0];
    if (active.length === 1) return active[0];
    return undefined;
  }

  private isSaturated(rs: KubeObject | undefined): boolean {
    if (!rs) return false;
    const r = specReplicas(this.d);
    return specReplicas(rs) === r && annotationInt(rs, DESIRED_REPLICAS_ANNOTATION) === r && statusOf(rs, 'availableReplicas') === r;
  }

  // --- strategies ---------------------------------------------------------------------------

  private async sync(sets: KubeObject[]): Promise<void> {
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(sets, false);
    await this.scale(newRS, oldRSs);
    if (this.d.spec?.paused) await this.cleanupDeployment(oldRSs);
    const fresh = this.refresh([...oldRSs, ...(newRS ? [newRS] : [])]);
    await this.syncDeploymentStatus(fresh.all, fresh.newRS);
  }

  private async syncStatusOnly(sets: KubeObject[]): Promise<void> {
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(sets, false);
    await this.syncDeploymentStatus([...oldRSs, ...(newRS ? [newRS] : [])], newRS);
  }

  private async rolloutRolling(sets: KubeObject[]): Promise<void> {
    let { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(sets, true);
    let all = [...oldRSs, ...(newRS ? [newRS] : [])];
    const scaledUp = await this.reconcileNewReplicaSet(all, newRS);
    if (scaledUp.scaled) {
      newRS = scaledUp.rs;
      const fresh = this.refresh([...oldRSs, newRS!], newRS);
      await this.syncRolloutStatus(fresh.all, fresh.newRS);
      return;
    }
    const scaledDown = await this.reconcileOldReplicaSets(all, filterActive(oldRSs), newRS);
    if (scaledDown) {
      const fresh = this.refresh(all, newRS);
      await this.syncRolloutStatus(fresh.all, fresh.newRS);
      return;
    }
    if (deploymentComplete(this.d, this.d.status)) await this.cleanupDeployment(oldRSs);
    all = [...oldRSs, ...(newRS ? [newRS] : [])];
    await this.syncRolloutStatus(all, newRS);
  }

  /** Re-reads sets from the cache after writes (keeping what we wrote where newer). */
  private refresh(sets: KubeObject[], newRS?: KubeObject): { all: KubeObject[]; newRS: KubeObject | undefined } {
    const pick = (rs: KubeObject): KubeObject => {
      const cached = this.setsLister.get(this.ns, rs.metadata.name!);
      if (!cached) return rs;
      return Number(cached.metadata.resourceVersion ?? 0) >= Number(rs.metadata.resourceVersion ?? 0) ? cached : rs;
    };
    const all = sets.map(pick);
    const n = newRS ? all.find((x) => x.metadata.uid === newRS.metadata.uid) : undefined;
    return { all, newRS: n };
  }

  private async reconcileNewReplicaSet(all: KubeObject[], newRS: KubeObject | undefined): Promise<{ scaled: boolean; rs?: KubeObject }> {
    if (!newRS) return { scaled: false };
    const d = this.d;
    if (specReplicas(newRS) === specReplicas(d)) return { scaled: false };
    if (specReplicas(newRS) > specReplicas(d)) return this.scaleAndRecord(newRS, specReplicas(d));
    return this.scaleAndRecord(newRS, newRSNewReplicas(d, all, newRS));
  }

  private async reconcileOldReplicaSets(all: KubeObject[], oldRSs: KubeObject[], newRS: KubeObject | undefined): Promise<boolean> {
    const d = this.d;
    if (sumSpec(oldRSs) === 0) return false;
    const allPods = sumSpec(all);
    const minAvailable = specReplicas(d) - maxUnavailable(d);
    const newUnavailable = specReplicas(newRS) - statusOf(newRS, 'availableReplicas');
    const maxScaledDown = allPods - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    const cleaned = await this.cleanupUnhealthyReplicas(oldRSs, maxScaledDown);
    const allAfter = [...cleaned.oldRSs, ...(newRS ? [newRS] : [])];
    const scaledDown = await this.scaleDownOldReplicaSetsForRollingUpdate(allAfter, cleaned.oldRSs);
    return cleaned.count + scaledDown > 0;
  }

  private async cleanupUnhealthyReplicas(oldRSs: KubeObject[], maxCleanup: number): Promise<{ oldRSs: KubeObject[]; count: number }> {
    const sorted = [...oldRSs].sort(byCreation);
    let total = 0;
    const out: KubeObject[] = [];
    for (const rs of sorted) {
      if (total >= maxCleanup || specReplicas(rs) === 0 || specReplicas(rs) === statusOf(rs, 'availableReplicas')) {
        out.push(rs);
        continue;
      }
      const n = Math.min(maxCleanup - total, specReplicas(rs) - statusOf(rs, 'availableReplicas'));
      const written = await this.scaleReplicaSet(rs, specReplicas(rs) - n, 'down');
      out.push(written);
      total += n;
    }
    return { oldRSs: out, count: total };
  }

  private async scaleDownOldReplicaSetsForRollingUpdate(all: KubeObject[], oldRSs: KubeObject[]): Promise<number> {
    const d = this.d;
    const minAvailable = specReplicas(d) - maxUnavailable(d);
    const available = sumStatus(all, 'availableReplicas');
    if (available <= minAvailable) return 0;
    const sorted = [...oldRSs].sort(byCreation);
    const budget = available - minAvailable;
    let total = 0;
    for (const rs of sorted) {
      if (total >= budget) break;
      if (specReplicas(rs) === 0) continue;
      const n = Math.min(specReplicas(rs), budget - total);
      await this.scaleReplicaSet(rs, specReplicas(rs) - n, 'down');
      total += n;
    }
    return total;
  }

  private async rolloutRecreate(sets: KubeObject[]): Promise<void> {
    let { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(sets, false);
    const activeOld = filterActive(oldRSs);
    let scaledDown = false;
    for (const rs of activeOld) {
      const r = await this.scaleAndRecord(rs, 0);
      scaledDown ||= r.scaled;
    }
    if (scaledDown) {
      const fresh = this.refresh([...oldRSs, ...(newRS ? [newRS] : [])], newRS);
      await this.syncRolloutStatus(fresh.all, fresh.newRS);
      return;
    }
    if (this.oldPodsRunning(newRS, oldRSs)) {
      await this.syncRolloutStatus([...oldRSs, ...(newRS ? [newRS] : [])], newRS);
      return;
    }
    if (!newRS) ({ newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(sets, true));
    if (newRS && specReplicas(newRS) !== specReplicas(this.d)) {
      newRS = (await this.scaleAndRecord(newRS, specReplicas(this.d))).rs;
    }
    if (deploymentComplete(this.d, this.d.status)) await this.cleanupDeployment(oldRSs);
    const fresh = this.refresh([...oldRSs, ...(newRS ? [newRS] : [])], newRS);
    await this.syncRolloutStatus(fresh.all, fresh.newRS);
  }

  private oldPodsRunning(newRS: KubeObject | undefined, oldRSs: KubeObject[]): boolean {
    if (sumStatus(oldRSs, 'replicas') > 0) return true;
    for (const rs of oldRSs) {
      if (newRS && rs.metadata.uid === newRS.metadata.uid) continue;
      for (const p of this.podsLister.controlledBy(rs.metadata.uid!)) {
        const phase = p.status?.phase;
        if (phase === 'Failed' || phase === 'Succeeded') continue;
        return true;
      }
    }
    return false;
  }

  // --- history ------------------------------------------------------------------------------

  private async cleanupDeployment(oldRSs: KubeObject[]): Promise<void> {
    const limit = this.d.spec?.revisionHistoryLimit;
    if (limit === undefined || limit === null) return;
    const cleanable = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp);
    const diff = cleanable.length - limit;
    if (diff <= 0) return;
    cleanable.sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    for (let i = 0; i < diff; i++) {
      const rs = cleanable[i]!;
      if (statusOf(rs, 'replicas') !== 0 || specReplicas(rs) !== 0 || (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0)) continue;
      await deleteIgnoringNotFound(this.client, 'replicasets', this.ns, rs.metadata.name!);
    }
  }

  // --- status -------------------------------------------------------------------------------

  private calculateStatus(all: KubeObject[], newRS: KubeObject | undefined): any {
    const d = this.d;
    const available = sumStatus(all, 'availableReplicas');
    const total = sumStatus(all, 'replicas');
    const status: any = {
      observedGeneration: d.metadata.generation ?? 0,
      replicas: total,
      updatedReplicas: statusOf(newRS, 'replicas'),
      readyReplicas: sumStatus(all, 'readyReplicas'),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, total - available),
    };
    if (d.status?.collisionCount !== undefined) status.collisionCount = d.status.collisionCount;
    status.conditions = (d.status?.conditions ?? []).map((c: Condition) => ({ ...c }));
    if (available >= specReplicas(d) - maxUnavailable(d)) {
      setDeploymentCondition(status, newCondition('Available', 'True', REASONS.minimumAvailable, 'Deployment has minimum availability.', this.now));
    } else {
      setDeploymentCondition(status, newCondition('Available', 'False', REASONS.minimumUnavailable, 'Deployment does not have minimum availability.', this.now));
    }
    return status;
  }

  private async syncDeploymentStatus(all: KubeObject[], newRS: KubeObject | undefined): Promise<void> {
    const status = this.calculateStatus(all, newRS);
    if (deepEqual(this.d.status ?? {}, status)) return;
    this.d.status = status;
    await this.updateStatus();
  }

  private async syncRolloutStatus(all: KubeObject[], newRS: KubeObject | undefined): Promise<void> {
    const d = this.d;
    const status = this.calculateStatus(all, newRS);
    if (!hasProgressDeadline(d)) removeDeploymentCondition(status, 'Progressing');
    const cur = getCondition(d.status, 'Progressing');
    const isComplete = status.replicas === status.updatedReplicas && cur?.reason === REASONS.newRSAvailable;
    if (hasProgressDeadline(d) && !isComplete) {
      const subject = newRS ? `ReplicaSet "${newRS.metadata.name}"` : `Deployment "${d.metadata.name}"`;
      if (deploymentComplete(d, status)) {
        setDeploymentCondition(status, newCondition('Progressing', 'True', REASONS.newRSAvailable, `${subject} has successfully progressed.`, this.now));
      } else if (deploymentProgressing(d, status)) {
        const c = newCondition('Progressing', 'True', REASONS.rsUpdated, `${subject} is progressing.`, this.now);
        if (cur && cur.status === 'True') c.lastTransitionTime = cur.lastTransitionTime;
        removeDeploymentCondition(status, 'Progressing');
        setDeploymentCondition(status, c);
      } else if (deploymentTimedOut(d, status, this.now)) {
        setDeploymentCondition(status, newCondition('Progressing', 'False', REASONS.timedOut, `${subject} has timed out progressing.`, this.now));
      }
    }
    const failure = all.map((rs) => getCondition(rs.status, 'ReplicaFailure')).find((c) => c?.status === 'True');
    if (failure) setDeploymentCondition(status, newCondition('ReplicaFailure', failure.status, failure.reason ?? '', failure.message ?? '', this.now));
    else removeDeploymentCondition(status, 'ReplicaFailure');
    if (deepEqual(d.status ?? {}, status)) {
      this.requeueStuckDeployment(status);
      return;
    }
    d.status = status;
    await this.updateStatus();
  }

  /** Looks again when the progress deadline would pass. */
  private requeueStuckDeployment(status: any): void {
    const d = this.d;
    const cur = getCondition(status, 'Progressing');
    if (!hasProgressDeadline(d) || !cur) return;
    if (status.replicas === status.updatedReplicas && cur.reason === REASONS.newRSAvailable) return;
    if (cur.reason === REASONS.timedOut) return;
    const after = (parseTime(cur.lastUpdateTime) ?? 0) + d.spec.progressDeadlineSeconds * 1000 - this.now;
    if (after < 1000) this.ctl.enqueueRateLimited(objectKey(d));
    else this.ctl.enqueueAfter(objectKey(d), after + 1000);
  }

  private async checkPausedConditions(): Promise<void> {
    const d = this.d;
    if (!hasProgressDeadline(d)) return;
    const cond = getCondition(d.status, 'Progressing');
    if (cond?.reason === REASONS.timedOut) return;
    const pausedCond = cond?.reason === REASONS.paused;
    if (d.spec?.paused && !pausedCond) {
      setDeploymentCondition(d.status, newCondition('Progressing', 'Unknown', REASONS.paused, 'Deployment is paused', this.now));
    } else if (!d.spec?.paused && pausedCond) {
      setDeploymentCondition(d.status, newCondition('Progressing', 'Unknown', REASONS.resumed, 'Deployment is resumed', this.now));
    } else return;
    await this.updateStatus();
  }

  // --- writes -------------------------------------------------------------------------------

  private async updateStatus(): Promise<void> {
    if (deepEqual(this.d.status ?? {}, this.storedStatus ?? {})) return;
    const out = await this.client.updateStatus('deployments', this.ns, this.d);
    this.storedStatus = clone(out.status ?? {});
    this.d = { ...clone(out), status: clone(out.status ?? {}) };
  }

  /** Writes the revision annotation (main resource) if it changed, then the status. */
  private async saveDeployment(revisionChanged: boolean): Promise<void> {
    if (revisionChanged) {
      const rev = this.d.metadata.annotations?.[REVISION_ANNOTATION];
      const status = this.d.status;
      try {
        const patched = await this.client.patch('deployments', this.ns, this.d.metadata.name!, { metadata: { annotations: { [REVISION_ANNOTATION]: rev ?? null } } });
        this.d = { ...clone(patched), status };
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
    }
    await this.updateStatus();
  }
}
