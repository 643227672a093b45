/**
 * The disruption controller (pkg/controller/disruption): keeps each PodDisruptionBudget's status
 * current, which is what the eviction API reads to allow or refuse an eviction.
 *
 * - expectedPods: with an integer minAvailable, the number of pods the selector matches; with
 *   maxUnavailable or a percentage, the replicas their controllers ask for (a Deployment's for
 *   pods of its ReplicaSets, a StatefulSet's, a ReplicaSet's or ReplicationController's own).
 * - desiredHealthy: minAvailable (a percentage rounds up), or expectedPods - maxUnavailable.
 * - currentHealthy: matching pods Ready and not being deleted, less those an eviction just took
 *   (status.disruptedPods, until they are seen deleted or two minutes pass).
 * - disruptionsAllowed: currentHealthy - desiredHealthy, at least 0; the condition
 *   DisruptionAllowed says whether it is above 0.
 * A budget whose pods have no controller it can size (with maxUnavailable or a percentage) allows
 * nothing, with reason SyncFailed, as Kubernetes does.
 */
import { matchesLabels, selectorFromObject } from '../api/selectors.js';
import { deepEqual, type KubeObject } from '../api/types.js';
import { writeStatus } from './apiutil.js';
import { Controller, type ControllerContext } from './controller.js';
import type { Lister } from './informer.js';
import { isPodReady, setCondition } from './podutil.js';
import { objectKey, splitKey } from './resources.js';
import { formatTime, parseTime } from './time.js';

/** How long an eviction's pod counts as disrupted without being seen deleted. */
export const DELETION_TIMEOUT_MS = 2 * 60_000;

type Obj = Record<string, any>;

/** An integer, or a percentage of `total` rounded up (intstr.GetScaledValueFromIntOrPercent). */
function scaled(v: unknown, total: number): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+%$/.test(v)) return Math.ceil((Number(v.slice(0, -1)) * total) / 100);
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

export class DisruptionController extends Controller {
  private readonly pdbs: Lister;
  private readonly pods: Lister;
  private readonly replicaSets: Lister;
  private readonly deployments: Lister;
  private readonly statefulSets: Lister;
  private readonly controllers: Lister;

  constructor(ctx: ControllerContext) {
    super('disruption-controller', ctx, { component: 'controllermanager' });
    const pdbInf = ctx.informers.informer('poddisruptionbudgets');
    const podInf = ctx.informers.informer('pods');
    this.pdbs = pdbInf.lister;
    this.pods = podInf.lister;
    this.replicaSets = ctx.informers.lister('replicasets');
    this.deployments = ctx.informers.lister('deployments');
    this.statefulSets = ctx.informers.lister('statefulsets');
    this.controllers = ctx.informers.lister('replicationcontrollers');
    pdbInf.addEventHandler({ add: (p) => this.enqueue(p), update: (_o, p) => this.enqueue(p), delete: (p) => this.enqueue(p) });
    const onPod = (p: KubeObject) => {
      for (const b of this.budgetsOf(p)) this.enqueue(b);
    };
    podInf.addEventHandler({ add: onPod, update: (old, p) => (onPod(old), onPod(p)), delete: onPod });
    // Scale changes move expectedPods.
    for (const resource of ['replicasets', 'deployments', 'statefulsets', 'replicationcontrollers']) {
      ctx.informers.informer(resource).addEventHandler({
        update: (old, o) => {
          if (old.spec?.replicas === o.spec?.replicas) return;
          for (const b of this.pdbs.list(o.metadata.namespace ?? '')) this.enqueue(b);
        },
      });
    }
  }

  private budgetsOf(pod: KubeObject): KubeObject[] {
    return this.pdbs.list(pod.metadata.namespace ?? '').filter((b) => budgetSelects(b, pod));
  }

  override async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pdb = this.pdbs.get(namespace, name);
    if (!pdb) return;
    const now = this.clock.now();
    const pods = this.pods.list(namespace).filter((p) => budgetSelects(pdb, p));
    const status: Obj = { ...(pdb.status ?? {}) };
    status.observedGeneration = pdb.metadata.generation ?? 0;

    // Evicted pods count as disrupted until seen deleted, or for two minutes.
    const disrupted: Record<string, string> = {};
    let nextExpiry = Infinity;
    for (const [pod, at] of Object.entries((pdb.status?.disruptedPods ?? {}) as Record<string, string>)) {
      const p = pods.find((x) => x.metadata.name === pod);
      if (!p || p.metadata.deletionTimestamp) continue;
      const t = parseTime(at) ?? 0;
      if (t + DELETION_TIMEOUT_MS <= now) continue;
      disrupted[pod] = at;
      nextExpiry = Math.min(nextExpiry, t + DELETION_TIMEOUT_MS);
    }
    const currentHealthy = pods.filter((p) => !p.metadata.deletionTimestamp && isPodReady(p) && disrupted[p.metadata.name!] === undefined).length;

    const spec: Obj = pdb.spec ?? {};
    let expected: number | undefined;
    let desired: number | undefined;
    let failure = '';
    if (typeof spec.minAvailable === 'number' || (typeof spec.minAvailable === 'string' && /^\d+$/.test(spec.minAvailable))) {
      expected = pods.length;
      desired = scaled(spec.minAvailable, expected)!;
    } else {
      const sized = this.expectedCount(pods);
      if (typeof sized === 'string') failure = sized;
      else {
        expected = sized;
        if (spec.maxUnavailable !== undefined) desired = Math.max(0, expected - (scaled(spec.maxUnavailable, expected) ?? 0));
        else if (spec.minAvailable !== undefined) desired = scaled(spec.minAvailable, expected);
        else desired = expected; // neither set: no voluntary disruption
      }
    }

    if (failure || expected === undefined || desired === undefined) {
      status.disruptionsAllowed = 0;
      setCondition(status, { type: 'DisruptionAllowed', status: 'False', reason: 'SyncFailed', message: failure || 'the budget could not be computed' }, now);
    } else {
      status.expectedPods = expected;
      status.desiredHealthy = desired;
      status.currentHealthy = currentHealthy;
      status.disruptionsAllowed = expected > 0 ? Math.max(0, currentHealthy - desired) : 0;
      if (status.disruptionsAllowed > 0) setCondition(status, { type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods', message: '' }, now);
      else setCondition(status, { type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods', message: '' }, now);
    }
    if (Object.keys(disrupted).length) status.disruptedPods = disrupted;
    else delete status.disruptedPods;
    if (!deepEqual(status, pdb.status ?? {})) await writeStatus(this.client, 'poddisruptionbudgets', pdb, status);
    if (nextExpiry !== Infinity) this.enqueueAfter(key, nextExpiry - now);
  }

  /** Replicas the pods' controllers ask for, or why they cannot be counted. */
  private expectedCount(pods: KubeObject[]): number | string {
    const counted = new Map<string, number>();
    for (const p of pods) {
      const ref = (p.metadata.ownerReferences ?? []).find((r) => r.controller);
      if (!ref) return `found no controller ref for pod "${p.metadata.name}"`;
      const ns = p.metadata.namespace ?? '';
      let owner: KubeObject | undefined;
      if (ref.kind === 'ReplicaSet') {
        const rs = this.replicaSets.get(ns, ref.name);
        const dref = rs && (rs.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === 'Deployment');
        owner = dref ? this.deployments.get(ns, dref.name) : rs;
      } else if (ref.kind === 'StatefulSet') owner = this.statefulSets.get(ns, ref.name);
      else if (ref.kind === 'ReplicationController') owner = this.controllers.get(ns, ref.name);
      else return `found no controllers for pod "${p.metadata.name}" (${ref.kind} has no scale)`;
      if (!owner) return `found no controllers for pod "${p.metadata.name}"`;
      counted.set(owner.metadata.uid ?? objectKey(owner), Number(owner.spec?.replicas ?? 1));
    }
    let sum = 0;
    for (const n of counted.values()) sum += n;
    return sum;
  }
}

/** Whether a budget covers a pod: same namespace, selector matches (a null selector matches none). */
export function budgetSelects(pdb: KubeObject, pod: KubeObject): boolean {
  if ((pdb.metadata.namespace ?? '') !== (pod.metadata.namespace ?? '')) return false;
  const sel = pdb.spec?.selector;
  if (sel === undefined || sel === null) return false;
  return matchesLabels(selectorFromObject(sel), pod.metadata.labels);
}

/** For the eviction API: the pod counted as disrupted from `nowMs` on. */
export function markDisrupted(pdb: KubeObject, pod: string, nowMs: number): Obj {
  const status: Obj = { ...(pdb.status ?? {}) };
  status.disruptionsAllowed = Math.max(0, Number(status.disruptionsAllowed ?? 0) - 1);
  status.disruptedPods = { ...(status.disruptedPods ?? {}), [pod]: formatTime(nowMs) };
  return status;
}
