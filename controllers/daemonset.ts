/**
 * The DaemonSet controller (pkg/controller/daemon): one pod per eligible node. A node is
 * eligible when the template's nodeSelector and required node affinity match it and its
 * NoSchedule / NoExecute taints are tolerated (daemon pods tolerate not-ready, unreachable,
 * the pressure taints and unschedulable by default); a pod stays while the node's NoExecute
 * taints are tolerated. Pods are pinned to their node by required node affinity on
 * `metadata.name` and placed by the scheduler. Failed pods are replaced with back-off. Rolling
 * updates replace at most maxUnavailable pods at a time (or surge maxSurge new pods first).
 */
import { selectorFromObject } from '../api/selectors.js';
import { clone, type KubeObject } from '../api/types.js';
import { deleteIgnoringNotFound, errorMessage, writeStatus } from './apiutil.js';
import { Controller, Expectations, slowStartBatch, type ControllerContext } from './controller.js';
import { CONTROLLER_REVISION_HASH_LABEL, sortRevisions, syncUpdateRevision } from './history.js';
import type { Lister } from './informer.js';
import {
  TAINT_DISK_PRESSURE,
  TAINT_MEMORY_PRESSURE,
  TAINT_NETWORK_UNAVAILABLE,
  TAINT_NOT_READY,
  TAINT_PID_PRESSURE,
  TAINT_UNREACHABLE,
  TAINT_UNSCHEDULABLE,
  findUntoleratedTaint,
  nodeTaints,
  podMatchesNodeSelectorAndAffinity,
  type Toleration,
} from './nodeaffinity.js';
import { byCreation, isPodAvailable, isPodReady, scaledValue } from './podutil.js';
import { claimObjects } from './refmanager.js';
import { controllerRef, newControllerRef, objectKey, splitKey } from './resources.js';

const KIND = { apiVersion: 'apps/v1', kind: 'DaemonSet' };
export const TEMPLATE_GENERATION_LABEL = 'pod-template-generation';
const BURST_REPLICAS = 250;
const FAILED_POD_BACKOFF_INITIAL_MS = 1000;
const FAILED_POD_BACKOFF_MAX_MS = 15 * 60_000;

/** The tolerations every daemon pod gets (AddOrUpdateDaemonPodTolerations). */
export function daemonTolerations(spec: any): Toleration[] {
  const out: Toleration[] = [...(spec?.tolerations ?? [])];
  const add = (t: Toleration) => {
    if (!out.some((x) => x.key === t.key && x.effect === t.effect && (x.operator ?? 'Equal') === t.operator)) out.push(t);
  };
  add({ key: TAINT_NOT_READY, operator: 'Exists', effect: 'NoExecute' });
  add({ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute' });
  add({ key: TAINT_DISK_PRESSURE, operator: 'Exists', effect: 'NoSchedule' });
  add({ key: TAINT_MEMORY_PRESSURE, operator: 'Exists', effect: 'NoSchedule' });
  add({ key: TAINT_PID_PRESSURE, operator: 'Exists', effect: 'NoSchedule' });
  add({ key: TAINT_UNSCHEDULABLE, operator: 'Exists', effect: 'NoSchedule' });
  if (spec?.hostNetwork) add({ key: TAINT_NETWORK_UNAVAILABLE, operator: 'Exists', effect: 'NoSchedule' });
  return out;
}

/** Whether a daemon pod should run on the node, and whether one there may keep running. */
export function nodeShouldRunDaemonPod(node: KubeObject, ds: KubeObject): { shouldRun: boolean; shouldContinueRunning: boolean } {
  const spec = ds.spec?.template?.spec ?? {};
  if (spec.nodeName && spec.nodeName !== node.metadata.name) return { shouldRun: false, shouldContinueRunning: false };
  const probe: KubeObject = { metadata: {}, spec: { nodeSelector: spec.nodeSelector, affinity: spec.affinity } };
  if (!podMatchesNodeSelectorAndAffinity(probe, node)) return { shouldRun: false, shouldContinueRunning: false };
  const tolerations = daemonTolerations(spec);
  const taints = nodeTaints(node);
  const untolerated = findUntoleratedTaint(taints, tolerations, (t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  if (!untolerated) return { shouldRun: true, shouldContinueRunning: true };
  const noExecute = findUntoleratedTaint(taints, tolerations, (t) => t.effect === 'NoExecute');
  return { shouldRun: false, shouldContinueRunning: !noExecute };
}

/** The node a daemon pod is for: its nodeName, or the node its affinity pins it to. */
export function targetNodeName(pod: KubeObject): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const t of terms) {
    for (const f of t?.matchFields ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
    }
  }
  return undefined;
}

export class DaemonSetController extends Controller {
  readonly expectations: Expectations;
  private readonly sets: Lister;
  private readonly pods: Lister;
  private readonly nodes: Lister;
  private readonly revisions: Lister;
  private readonly failedBackoff = new Map<string, { delayMs: number; lastMs: number }>();

  constructor(ctx: ControllerContext, options: { workers?: number } = {}) {
    super('daemonset-controller', ctx, { workers: options.workers, component: 'daemonset-controller' });
    this.expectations = new Expectations(ctx.clock);
    const dsInf = ctx.informers.informer('daemonsets');
    const podInf = ctx.informers.informer('pods');
    const nodeInf = ctx.informers.informer('nodes');
    this.sets = dsInf.lister;
    this.pods = podInf.lister;
    this.nodes = nodeInf.lister;
    this.revisions = ctx.informers.informer('controllerrevisions').lister;
    dsInf.addEventHandler({
      add: (d) => this.enqueue(d),
      update: (_o, d) => this.enqueue(d),
      delete: (d) => {
        this.expectations.delete(objectKey(d));
        this.enqueue(d);
      },
    });
    podInf.addEventHandler({
      add: (p) => {
        const ds = this.owner(p);
        if (!ds) return;
        this.expectations.creationObserved(objectKey(ds));
        this.enqueue(ds);
      },
      update: (old, p) => {
        if (old.metadata.resourceVersion === p.metadata.resourceVersion) return;
        const ds = this.owner(p);
        if (!ds) return;
        if (p.metadata.deletionTimestamp && !old.metadata.deletionTimestamp) this.expectations.deletionObserved(objectKey(ds), objectKey(p));
        this.enqueue(ds);
        const minReady = ds.spec?.minReadySeconds ?? 0;
        if (minReady > 0 && !isPodReady(old) && isPodReady(p)) this.enqueueAfter(ds, minReady * 1000);
      },
      delete: (p) => {
        const ds = this.owner(p);
        if (!ds) return;
        this.expectations.deletionObserved(objectKey(ds), objectKey(p));
        this.enqueue(ds);
      },
    });
    const allSets = () => {
      for (const ds of this.sets.list()) this.enqueue(ds);
    };
    nodeInf.addEventHandler({
      add: allSets,
      update: (old, n) => {
        if (old.metadata.resourceVersion === n.metadata.resourceVersion) return;
        const changed = JSON.stringify([old.metadata.labels, old.spec?.taints]) !== JSON.stringify([n.metadata.labels, n.spec?.taints]);
        if (changed) allSets();
      },
      delete: allSets,
    });
  }

  private owner(p: KubeObject): KubeObject | undefined {
    const ref = controllerRef(p);
    if (!ref || ref.kind !== 'DaemonSet') return undefined;
    const ds = this.sets.get(p.metadata.namespace ?? '', ref.name);
    return ds && ds.metadata.uid === ref.uid ? ds : undefined;
  }

  override async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const ds = this.sets.get(namespace, name);
    if (!ds) {
      this.expectations.delete(key);
      return;
    }
    const selector = selectorFromObject(ds.spec?.selector);
    if (selector.length === 0) {
      this.recorder.event(ds, 'Warning', 'SelectingAll', 'This daemon set is selecting all pods. A non-empty selector is required.', KIND);
      return;
    }
    const revisions = sortRevisions(this.revisions.controlledBy(ds.metadata.uid!));
    const { revision: cur, collisionCount } = await syncUpdateRevision(this.client, ds, KIND, revisions, ds.status?.collisionCount ?? 0);
    const hash = cur.metadata.name!.slice(ds.metadata.name!.length + 1);
    const nodes = [...this.nodes.list()].sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1));
    let byNode = await this.podsByNode(ds);
    if (this.expectations.satisfied(key) && !ds.metadata.deletionTimestamp) {
      await this.manage(ds, nodes, byNode, hash);
      if ((ds.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate' && this.expectations.satisfied(key)) {
        byNode = this.podsByNodeCached(ds);
        await this.rollingUpdate(ds, nodes, byNode, hash);
      }
      await this.cleanupHistory(ds, [...revisions, cur], cur);
    }
    byNode = this.podsByNodeCached(ds);
    await this.updateStatus(ds, nodes, byNode, hash, collisionCount);
  }

  private async podsByNode(ds: KubeObject): Promise<Map<string, KubeObject[]>> {
    const pods = await claimObjects({
      client: this.client,
      resource: 'pods',
      owner: ds,
      ownerRef: newControllerRef(ds, KIND.apiVersion, KIND.kind),
      ownerResource: 'daemonsets',
      selector: selectorFromObject(ds.spec.selector),
      candidates: this.pods.list(ds.metadata.namespace),
    });
    return groupByNode(pods);
  }

  private podsByNodeCached(ds: KubeObject): Map<string, KubeObject[]> {
    return groupByNode(this.pods.controlledBy(ds.metadata.uid!));
  }

  private async manage(ds: KubeObject, nodes: KubeObject[], byNode: Map<string, KubeObject[]>, hash: string): Promise<void> {
    const needing: string[] = [];
    const toDelete: KubeObject[] = [];
    const now = this.clock.now();
    const nodeNames = new Set<string>();
    for (const node of nodes) {
      const nodeName = node.metadata.name!;
      nodeNames.add(nodeName);
      const { shouldRun, shouldContinueRunning } = nodeShouldRunDaemonPod(node, ds);
      const pods = byNode.get(nodeName) ?? [];
      if (shouldRun && pods.length === 0) {
        needing.push(nodeName);
      } else if (shouldRun) {
        const running: KubeObject[] = [];
        for (const p of pods) {
          if (p.metadata.deletionTimestamp) continue;
          if (p.status?.phase === 'Failed') {
            const bkey = `${ds.metadata.uid}/${nodeName}`;
            const b = this.failedBackoff.get(bkey);
            if (b && now - b.lastMs < b.delayMs) {
              this.enqueueAfter(ds, b.lastMs + b.delayMs - now);
              continue;
            }
            this.failedBackoff.set(bkey, { delayMs: b ? Math.min(FAILED_POD_BACKOFF_MAX_MS, b.delayMs * 2) : FAILED_POD_BACKOFF_INITIAL_MS, lastMs: now });
            this.recorder.event(ds, 'Warning', 'FailedDaemonPod', `Found failed daemon pod ${p.metadata.namespace}/${p.metadata.name} on node ${nodeName}, will try to kill it`, KIND);
            toDelete.push(p);
            continue;
          }
          running.push(p);
        }
        const surge = scaledValue(ds.spec?.updateStrategy?.rollingUpdate?.maxSurge ?? 0, 1, true) > 0;
        if (!surge && running.length > 1) {
          running.sort(byCreation);
          toDelete.push(...running.slice(1));
        } else if (surge && running.length > 2) {
          // At most one old and one new pod per node while surging.
          running.sort(byCreation);
          const keepNew = running.find((p) => p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash);
          const keepOld = running.find((p) => p !== keepNew);
          toDelete.push(...running.filter((p) => p !== keepNew && p !== keepOld));
        }
      } else if (!shouldContinueRunning) {
        for (const p of pods) if (!p.metadata.deletionTimestamp) toDelete.push(p);
      }
    }
    // Pods for nodes that are gone.
    for (const [nodeName, pods] of byNode) {
      if (nodeNames.has(nodeName)) continue;
      for (const p of pods) if (!p.metadata.deletionTimestamp && !p.spec?.nodeName) toDelete.push(p);
    }
    await this.syncNodes(ds, toDelete, needing, hash);
  }

  private newPod(ds: KubeObject, nodeName: string, hash: string): KubeObject {
    const tmpl = ds.spec.template ?? {};
    const spec = clone(tmpl.spec ?? {});
    spec.tolerations = daemonTolerations(spec);
    const affinity = (spec.affinity ??= {});
    const nodeAffinity = (affinity.nodeAffinity ??= {});
    nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = {
      nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }],
    };
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${ds.metadata.name}-`,
        namespace: ds.metadata.namespace,
        labels: { ...(tmpl.metadata?.labels ?? {}), [CONTROLLER_REVISION_HASH_LABEL]: hash, [TEMPLATE_GENERATION_LABEL]: String(ds.metadata.generation ?? 1) },
        ownerReferences: [newControllerRef(ds, KIND.apiVersion, KIND.kind)],
      },
      spec,
    };
    if (tmpl.metadata?.annotations) pod.metadata.annotations = { ...tmpl.metadata.annotations };
    return pod;
  }

  private async syncNodes(ds: KubeObject, toDelete: KubeObject[], needing: string[], hash: string): Promise<void> {
    const key = objectKey(ds);
    const creates = needing.slice(0, BURST_REPLICAS);
    const deletes = toDelete.slice(0, BURST_REPLICAS);
    if (creates.length === 0 && deletes.length === 0) return;
    this.expectations.expect(key, creates.length, deletes.map(objectKey));
    let firstErr: unknown;
    const { successes, error } = await slowStartBatch(creates.length, 1, async (i) => {
      try {
        const created = await this.client.create('pods', ds.metadata.namespace!, this.newPod(ds, creates[i]!, hash));
        this.recorder.event(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`, KIND);
      } catch (err) {
        this.recorder.event(ds, 'Warning', 'FailedCreate', `Error creating: ${errorMessage(err)}`, KIND);
        throw err;
      }
    });
    for (let i = successes; i < creates.length; i++) this.expectations.creationObserved(key);
    if (error) firstErr = error;
    for (const p of deletes) {
      try {
        const done = await deleteIgnoringNotFound(this.client, 'pods', p.metadata.namespace!, p.metadata.name!);
        if (done) this.recorder.event(ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`, KIND);
        else this.expectations.deletionObserved(key, objectKey(p));
      } catch (err) {
        this.expectations.deletionObserved(key, objectKey(p));
        this.recorder.event(ds, 'Warning', 'FailedDelete', `Error deleting: ${errorMessage(err)}`, KIND);
        firstErr ??= err;
      }
    }
    if (firstErr) throw firstErr;
  }

  private budget(ds: KubeObject, desired: number): { maxSurge: number; maxUnavailable: number } {
    const ru = ds.spec?.updateStrategy?.rollingUpdate ?? {};
    const maxSurge = scaledValue(ru.maxSurge ?? 0, desired, true);
    let maxUnavailable = scaledValue(ru.maxUnavailable ?? 1, desired, true);
    if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
    return { maxSurge, maxUnavailable };
  }

  private async rollingUpdate(ds: KubeObject, nodes: KubeObject[], byNode: Map<string, KubeObject[]>, hash: string): Promise<void> {
    const now = this.clock.now();
    const minReady = ds.spec?.minReadySeconds ?? 0;
    const available = (p: KubeObject) => isPodAvailable(p, minReady, now);
    const eligible = nodes.filter((n) => nodeShouldRunDaemonPod(n, ds).shouldRun);
    const { maxSurge, maxUnavailable } = this.budget(ds, eligible.length);
    const toDelete: KubeObject[] = [];
    const needing: string[] = [];
    if (maxSurge === 0) {
      let numUnavailable = 0;
      const candidates: KubeObject[] = [];
      for (const node of eligible) {
        const split = splitPods(byNode.get(node.metadata.name!) ?? [], hash);
        if (!split) {
          numUnavailable++;
          continue;
        }
        const { newPod, oldPod } = split;
        if (!oldPod && !newPod) numUnavailable++;
        else if (!oldPod) {
          if (!available(newPod!)) numUnavailable++;
        } else if (!available(oldPod)) toDelete.push(oldPod);
        else candidates.push(oldPod);
      }
      const remaining = Math.min(Math.max(0, maxUnavailable - numUnavailable), candidates.length);
      toDelete.push(...candidates.slice(0, remaining));
    } else {
      let numSurge = 0;
      for (const node of eligible) {
        const split = splitPods(byNode.get(node.metadata.name!) ?? [], hash);
        if (!split) continue;
        const { newPod, oldPod } = split;
        if (oldPod && !newPod) {
          if (!available(oldPod) || numSurge < maxSurge) {
            needing.push(node.metadata.name!);
            if (available(oldPod)) numSurge++;
          }
        } else if (oldPod && newPod) {
          if (available(newPod)) toDelete.push(oldPod);
          else numSurge++;
        }
      }
    }
    await this.syncNodes(ds, toDelete, needing, hash);
  }

  private async cleanupHistory(ds: KubeObject, revisions: KubeObject[], cur: KubeObject): Promise<void> {
    const limit = ds.spec?.revisionHistoryLimit ?? 10;
    const live = new Set<string>([cur.metadata.name!]);
    for (const p of this.pods.controlledBy(ds.metadata.uid!)) {
      const h = p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL];
      if (h) live.add(`${ds.metadata.name}-${h}`);
    }
    const seen = new Set<string>();
    const old = sortRevisions(revisions).filter((r) => {
      if (seen.has(r.metadata.name!)) return false;
      seen.add(r.metadata.name!);
      return !live.has(r.metadata.name!);
    });
    for (let i = 0; i < old.length - limit; i++) await deleteIgnoringNotFound(this.client, 'controllerrevisions', ds.metadata.namespace!, old[i]!.metadata.name!);
  }

  private async updateStatus(ds: KubeObject, nodes: KubeObject[], byNode: Map<string, KubeObject[]>, hash: string, collisionCount: number): Promise<void> {
    const now = this.clock.now();
    const minReady = ds.spec?.minReadySeconds ?? 0;
    let desired = 0;
    let current = 0;
    let misscheduled = 0;
    let ready = 0;
    let available = 0;
    let updated = 0;
    for (const node of nodes) {
      const { shouldRun } = nodeShouldRunDaemonPod(node, ds);
      const scheduled = (byNode.get(node.metadata.name!) ?? []).filter((p) => p.spec?.nodeName && !p.metadata.deletionTimestamp);
      if (shouldRun) {
        desired++;
        if (scheduled.length === 0) continue;
        current++;
        const pod = [...scheduled].sort(byCreation)[0]!;
        if (isPodReady(pod)) {
          ready++;
          if (isPodAvailable(pod, minReady, now)) available++;
        }
        if (scheduled.some((p) => p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash)) updated++;
      } else if (scheduled.length > 0) misscheduled++;
    }
    const status: any = {
      ...(ds.status ?? {}),
      currentNumberScheduled: current,
      numberMisscheduled: misscheduled,
      desiredNumberScheduled: desired,
      numberReady: ready,
      updatedNumberScheduled: updated,
      numberAvailable: available,
      numberUnavailable: desired - available,
      observedGeneration: ds.metadata.generation ?? 0,
    };
    if (collisionCount) status.collisionCount = collisionCount;
    await writeStatus(this.client, 'daemonsets', ds, status);
    if (minReady > 0 && ready !== available) this.enqueueAfter(ds, minReady * 1000);
  }
}

function groupByNode(pods: KubeObject[]): Map<string, KubeObject[]> {
  const out = new Map<string, KubeObject[]>();
  for (const p of pods) {
    const n = targetNodeName(p);
    if (!n) continue;
    let list = out.get(n);
    if (!list) out.set(n, (list = []));
    list.push(p);
  }
  return out;
}

/** At most one updated and one old live pod on a node; undefined when there are more. */
function splitPods(pods: KubeObject[], hash: string): { newPod?: KubeObject; oldPod?: KubeObject } | undefined {
  let newPod: KubeObject | undefined;
  let oldPod: KubeObject | undefined;
  for (const p of pods) {
    if (p.metadata.deletionTimestamp) continue;
    if (p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash) {
      if (newPod) return undefined;
      newPod = p;
    } else {
      if (oldPod) return undefined;
      oldPod = p;
    }
  }
  return { newPod, oldPod };
}
