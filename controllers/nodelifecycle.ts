/**
 * Node lifecycle (pkg/controller/nodelifecycle) and NoExecute taint eviction
 * (pkg/controller/tainteviction).
 *
 * Every monitor period (5 s) the lifecycle controller looks at each node's heartbeats: its
 * Lease in `kube-node-lease` and its Ready condition's lastHeartbeatTime. Heard from means
 * "changed since the last look", timed by the controller's own clock, never the kubelet's.
 * A node not heard from for the grace period (50 s) has Ready, MemoryPressure, DiskPressure and
 * PIDPressure set to Unknown ("Kubelet stopped posting node status.") and its pods marked not
 * ready. Ready False / Unknown put the `node.kubernetes.io/not-ready` / `unreachable` taints on
 * the node, NoExecute and NoSchedule; Ready True takes them off.
 *
 * The taint eviction controller deletes pods on nodes with NoExecute taints they do not
 * tolerate at once, and pods that tolerate them for tolerationSeconds (300 s by default) that
 * long after it first saw the taint; a pod tolerating without a time limit stays.
 */
import { clone, type KubeObject } from '../api/types.js';
import { deleteIgnoringNotFound, errorMessage } from './apiutil.js';
import { isNotFound } from './client.js';
import { Controller, type ControllerContext } from './controller.js';
import { NODE_NAME_INDEX, type Lister } from './informer.js';
import {
  TAINT_DISK_PRESSURE,
  TAINT_MEMORY_PRESSURE,
  TAINT_NOT_READY,
  TAINT_PID_PRESSURE,
  TAINT_UNREACHABLE,
  TAINT_UNSCHEDULABLE,
  nodeTaints,
  podTolerations,
  toleratesTaint,
  type Taint,
} from './nodeaffinity.js';
import { getCondition } from './podutil.js';
import { objectKey, splitKey } from './resources.js';
import { formatTime } from './time.js';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
export const NODE_MONITOR_GRACE_PERIOD_MS = 50_000;
export const NODE_STARTUP_GRACE_PERIOD_MS = 60_000;
export const NODE_MONITOR_PERIOD_MS = 5_000;

interface Health {
  probeMs: number;
  heartbeat?: string;
  lease?: string;
}

export interface NodeLifecycleOptions {
  gracePeriodMs?: number;
  startupGracePeriodMs?: number;
  monitorPeriodMs?: number;
}

const CONDITIONS_TO_UNKNOWN = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

export class NodeLifecycleController extends Controller {
  private readonly nodes: Lister;
  private readonly leases: Lister;
  private readonly pods: Lister;
  private readonly health = new Map<string, Health>();
  private readonly gracePeriodMs: number;
  private readonly startupGracePeriodMs: number;
  private readonly monitorPeriodMs: number;
  private monitorTimer: number | undefined;

  constructor(ctx: ControllerContext, options: NodeLifecycleOptions = {}) {
    super('node-lifecycle-controller', ctx, { component: 'node-controller' });
    this.gracePeriodMs = options.gracePeriodMs ?? NODE_MONITOR_GRACE_PERIOD_MS;
    this.startupGracePeriodMs = options.startupGracePeriodMs ?? NODE_STARTUP_GRACE_PERIOD_MS;
    this.monitorPeriodMs = options.monitorPeriodMs ?? NODE_MONITOR_PERIOD_MS;
    const nodeInf = ctx.informers.informer('nodes');
    this.nodes = nodeInf.lister;
    this.leases = ctx.informers.informer('leases').lister;
    this.pods = ctx.informers.informer('pods', [NODE_NAME_INDEX]).lister;
    nodeInf.addEventHandler({
      add: (n) => this.enqueue(n),
      update: (old, n) => {
        // Taints follow conditions and spec.unschedulable; heartbeats are read on the monitor tick.
        if (JSON.stringify([old.spec, conditionStatuses(old)]) !== JSON.stringify([n.spec, conditionStatuses(n)])) this.enqueue(n);
      },
      delete: (n) => this.health.delete(n.metadata.name!),
    });
  }

  override start(): void {
    super.start();
    this.scheduleMonitor();
  }

  override stop(): void {
    if (this.monitorTimer !== undefined) this.timers.cancelTimer(this.monitorTimer);
    super.stop();
  }

  private scheduleMonitor(): void {
    this.monitorTimer = this.timers.setTimer(this.monitorPeriodMs, () => {
      for (const n of this.nodes.list()) this.enqueue(n);
      this.scheduleMonitor();
    });
  }

  override async reconcile(key: string): Promise<void> {
    const { name } = splitKey(key);
    const cached = this.nodes.get('', name);
    if (!cached) {
      this.health.delete(name);
      return;
    }
    let node = await this.updateHealth(cached);
    node = await this.updateTaints(node);
    if (readyStatus(node) !== 'True') await this.markPodsNotReady(node);
  }

  private async updateHealth(node: KubeObject): Promise<KubeObject> {
    const now = this.clock.now();
    const name = node.metadata.name!;
    const ready = getCondition(node.status, 'Ready');
    const heartbeat = ready?.lastHeartbeatTime as string | undefined;
    const lease = this.leases.get(NODE_LEASE_NAMESPACE, name)?.spec?.renewTime as string | undefined;
    let h = this.health.get(name);
    if (!h) {
      h = { probeMs: now, heartbeat, lease };
      this.health.set(name, h);
    }
    if (heartbeat !== h.heartbeat) {
      h.heartbeat = heartbeat;
      h.probeMs = now;
    }
    if (lease !== undefined && lease !== h.lease) {
      h.lease = lease;
      h.probeMs = now;
    }
    const grace = ready ? this.gracePeriodMs : this.startupGracePeriodMs;
    if (now <= h.probeMs + grace) return node;
    const copy = clone(node);
    copy.status ??= {};
    const conds: any[] = (copy.status.conditions ??= []);
    let changed = false;
    for (const type of CONDITIONS_TO_UNKNOWN) {
      const c = conds.find((x) => x.type === type);
      if (!c) {
        conds.push({
          type,
          status: 'Unknown',
          reason: 'NodeStatusNeverUpdated',
          message: 'Kubelet never posted node status.',
          lastHeartbeatTime: node.metadata.creationTimestamp,
          lastTransitionTime: formatTime(now),
        });
        changed = true;
      } else if (c.status !== 'Unknown') {
        c.status = 'Unknown';
        c.reason = 'NodeStatusUnknown';
        c.message = 'Kubelet stopped posting node status.';
        c.lastTransitionTime = formatTime(now);
        changed = true;
      }
    }
    if (!changed) return node;
    this.recorder.event(node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`, { apiVersion: 'v1', kind: 'Node' });
    return this.client.updateStatus('nodes', '', copy);
  }

  /** The NoExecute and NoSchedule taints the node's conditions call for. */
  static wantedTaints(node: KubeObject): { noExecute: string | undefined; noSchedule: Set<string> } {
    const ready = readyStatus(node);
    const noExecute = ready === 'False' ? TAINT_NOT_READY : ready === 'Unknown' ? TAINT_UNREACHABLE : undefined;
    const noSchedule = new Set<string>();
    if (ready === 'False') noSchedule.add(TAINT_NOT_READY);
    if (ready === 'Unknown') noSchedule.add(TAINT_UNREACHABLE);
    const byCond: Record<string, string> = { MemoryPressure: TAINT_MEMORY_PRESSURE, DiskPressure: TAINT_DISK_PRESSURE, PIDPressure: TAINT_PID_PRESSURE };
    for (const [type, taint] of Object.entries(byCond)) if (getCondition(node.status, type)?.status === 'True') noSchedule.add(taint);
    if (node.spec?.unschedulable) noSchedule.add(TAINT_UNSCHEDULABLE);
    return { noExecute, noSchedule };
  }

  private async updateTaints(node: KubeObject): Promise<KubeObject> {
    const now = this.clock.now();
    const { noExecute, noSchedule } = NodeLifecycleController.wantedTaints(node);
    const managedNoExecute = new Set([TAINT_NOT_READY, TAINT_UNREACHABLE]);
    const managedNoSchedule = new Set([TAINT_NOT_READY, TAINT_UNREACHABLE, TAINT_MEMORY_PRESSURE, TAINT_DISK_PRESSURE, TAINT_PID_PRESSURE, TAINT_UNSCHEDULABLE]);
    const current = nodeTaints(node);
    const next: Taint[] = [];
    for (const t of current) {
      if (t.effect === 'NoExecute' && managedNoExecute.has(t.key) && t.key !== noExecute) continue;
      if (t.effect === 'NoSchedule' && managedNoSchedule.has(t.key) && !noSchedule.has(t.key)) continue;
      next.push(t);
    }
    if (noExecute && !next.some((t) => t.key === noExecute && t.effect === 'NoExecute')) next.push({ key: noExecute, effect: 'NoExecute', timeAdded: formatTime(now) });
    for (const key of noSchedule) if (!next.some((t) => t.key === key && t.effect === 'NoSchedule')) next.push({ key, effect: 'NoSchedule' });
    if (JSON.stringify(next) === JSON.stringify(current)) return node;
    const copy = clone(node);
    copy.spec ??= {};
    if (next.length) copy.spec.taints = next;
    else delete copy.spec.taints;
    try {
      return await this.client.update('nodes', '', copy);
    } catch (err) {
      if (isNotFound(err)) return node;
      throw err;
    }
  }

  /** MarkPodsNotReady: pods on an unhealthy node are not ready, whatever they last said. */
  private async markPodsNotReady(node: KubeObject): Promise<void> {
    if (readyStatus(node) !== 'Unknown') return;
    const now = this.clock.now();
    for (const pod of this.pods.byIndex(NODE_NAME_INDEX, node.metadata.name!)) {
      const ready = getCondition(pod.status, 'Ready');
      if (!ready || ready.status === 'False') continue;
      const status = clone(pod.status ?? {});
      status.conditions = (status.conditions ?? []).map((c: any) => (c.type === 'Ready' ? { ...c, status: 'False', lastTransitionTime: formatTime(now) } : c));
      try {
        await this.client.updateStatus('pods', pod.metadata.namespace!, { ...pod, status });
        this.recorder.event(pod, 'Warning', 'NodeNotReady', 'Node is not ready', { apiVersion: 'v1', kind: 'Pod' });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
}

function readyStatus(node: KubeObject): string {
  return getCondition(node.status, 'Ready')?.status ?? 'Unknown';
}

function conditionStatuses(node: KubeObject): string {
  return (node.status?.conditions ?? []).map((c: any) => `${c.type}=${c.status}`).join(',');
}

// ---------------------------------------------------------------------------------------------

/**
 * The minimum tolerationSeconds over the tolerations that match the taints (getMinTolerationTime);
 * -1 when none of them has a time limit (tolerated forever); undefined when some taint is not
 * tolerated at all.
 */
export function minTolerationMs(taints: Taint[], pod: KubeObject): number | undefined {
  const tolerations = podTolerations(pod);
  let min = Infinity;
  for (const taint of taints) {
    const used = tolerations.filter((t) => toleratesTaint(t, taint));
    if (used.length === 0) return undefined;
    for (const t of used) {
      if (t.tolerationSeconds === undefined || t.tolerationSeconds === null) continue;
      min = Math.min(min, Math.max(0, t.tolerationSeconds) * 1000);
    }
  }
  return min === Infinity ? -1 : min;
}

export class TaintEvictionController extends Controller {
  private readonly nodes: Lister;
  private readonly pods: Lister;
  /** Pods with an eviction scheduled: when it was first planned and when it is due. */
  private readonly scheduled = new Map<string, { sinceMs: number; dueMs: number }>();

  constructor(ctx: ControllerContext) {
    super('taint-eviction-controller', ctx, { component: 'taint-eviction-controller' });
    const nodeInf = ctx.informers.informer('nodes');
    const podInf = ctx.informers.informer('pods', [NODE_NAME_INDEX]);
    this.nodes = nodeInf.lister;
    this.pods = podInf.lister;
    const onNode = (n: KubeObject) => {
      for (const p of this.pods.byIndex(NODE_NAME_INDEX, n.metadata.name!)) this.enqueue(p);
    };
    nodeInf.addEventHandler({
      add: onNode,
      update: (old, n) => {
        if (JSON.stringify(noExecuteTaints(old)) !== JSON.stringify(noExecuteTaints(n))) onNode(n);
      },
    });
    podInf.addEventHandler({
      add: (p) => {
        if (p.spec?.nodeName) this.enqueue(p);
      },
      update: (old, p) => {
        if (old.spec?.nodeName !== p.spec?.nodeName || JSON.stringify(old.spec?.tolerations) !== JSON.stringify(p.spec?.tolerations)) this.enqueue(p);
      },
      delete: (p) => this.scheduled.delete(objectKey(p)),
    });
  }

  override async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pod = this.pods.get(namespace, name);
    if (!pod || !pod.spec?.nodeName || pod.metadata.deletionTimestamp) {
      this.scheduled.delete(key);
      return;
    }
    const node = this.nodes.get('', pod.spec.nodeName);
    const taints = node ? noExecuteTaints(node) : [];
    if (taints.length === 0) {
      this.cancel(key, pod);
      return;
    }
    const min = minTolerationMs(taints, pod);
    const now = this.clock.now();
    if (min === undefined) {
      await this.evict(key, pod);
      return;
    }
    if (min < 0) {
      this.cancel(key, pod);
      return;
    }
    let plan = this.scheduled.get(key);
    if (!plan) {
      plan = { sinceMs: now, dueMs: now + min };
      this.scheduled.set(key, plan);
    } else plan.dueMs = plan.sinceMs + min;
    if (plan.dueMs <= now) await this.evict(key, pod);
    else this.enqueueAfter(key, plan.dueMs - now);
  }

  private cancel(key: string, pod: KubeObject): void {
    if (!this.scheduled.delete(key)) return;
    this.recorder.event(pod, 'Normal', 'TaintManagerEviction', `Cancelling deletion of Pod ${key}`, { apiVersion: 'v1', kind: 'Pod' });
  }

  private async evict(key: string, pod: KubeObject): Promise<void> {
    this.scheduled.delete(key);
    this.recorder.event(pod, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${key}`, { apiVersion: 'v1', kind: 'Pod' });
    const now = formatTime(this.clock.now());
    const status = clone(pod.status ?? {});
    status.conditions = [
      ...(status.conditions ?? []).filter((c: any) => c.type !== 'DisruptionTarget'),
      { type: 'DisruptionTarget', status: 'True', reason: 'DeletionByTaintManager', message: 'Taint manager: deleting due to NoExecute taint', lastTransitionTime: now },
    ];
    try {
      await this.client.updateStatus('pods', pod.metadata.namespace!, { ...pod, status });
    } catch (err) {
      if (isNotFound(err)) return;
      throw new Error(`adding DisruptionTarget to ${key}: ${errorMessage(err)}`);
    }
    await deleteIgnoringNotFound(this.client, 'pods', pod.metadata.namespace!, pod.metadata.name!);
  }
}

function noExecuteTaints(node: KubeObject): Taint[] {
  return nodeTaints(node).filter((t) => t.effect === 'NoExecute');
}
