/**
 * Pod garbage collection (pkg/controller/podgc). Every check period (20 s) it force-deletes
 * (grace period 0) what no kubelet will ever finish deleting:
 * - orphaned pods: bound to a node that no longer exists. A node missing from the cache is
 *   quarantined first (40 s) and then looked up through the API, so a node that is only slow
 *   to appear in the cache is not taken for gone. A pod not yet terminal is marked Failed with
 *   the condition DisruptionTarget (reason DeletionByPodGC) before it goes;
 * - terminating pods on a node that is not Ready and carries the
 *   `node.kubernetes.io/out-of-service` taint (the operator says the node is down for good);
 * - terminating pods that were never scheduled;
 * - terminated pods (Succeeded / Failed) beyond the threshold (12,500), oldest first.
 *
 * This is what lets a StatefulSet recreate `<set>-<ordinal>` after its node died: the old pod
 * stays Terminating (its kubelet cannot confirm the stop), so the ordinal is never run twice,
 * until the node is deleted or tainted out-of-service.
 */
import { clone, type KubeObject } from '../api/types.js';
import { deleteIgnoringNotFound, errorMessage } from './apiutil.js';
import { isNotFound } from './client.js';
import { Controller, type ControllerContext } from './controller.js';
import type { Lister } from './informer.js';
import { nodeTaints } from './nodeaffinity.js';
import { byCreation, getCondition, isPodFinished } from './podutil.js';
import { formatTime } from './time.js';

export const TAINT_OUT_OF_SERVICE = 'node.kubernetes.io/out-of-service';
export const POD_GC_CHECK_PERIOD_MS = 20_000;
export const POD_GC_QUARANTINE_MS = 40_000;
export const TERMINATED_POD_GC_THRESHOLD = 12_500;

export interface PodGCOptions {
  checkPeriodMs?: number;
  quarantineMs?: number;
  /** Terminated pods kept before the oldest are deleted; 0 turns that part off. */
  terminatedPodThreshold?: number;
}

const RUN_KEY = 'podgc';

export class PodGCController extends Controller {
  private readonly nodes: Lister;
  private readonly pods: Lister;
  private readonly checkPeriodMs: number;
  private readonly quarantineMs: number;
  private readonly threshold: number;
  /** Nodes pods name that the cache does not hold: when each was first missed. */
  private readonly missing = new Map<string, number>();
  private timer: number | undefined;
  /** Pods force-deleted, by reason, for status pages and tests. */
  readonly deleted = { orphaned: 0, outOfService: 0, unscheduled: 0, terminated: 0 };

  constructor(ctx: ControllerContext, options: PodGCOptions = {}) {
    super('pod-garbage-collector', ctx, { component: 'pod-garbage-collector' });
    this.checkPeriodMs = options.checkPeriodMs ?? POD_GC_CHECK_PERIOD_MS;
    this.quarantineMs = options.quarantineMs ?? POD_GC_QUARANTINE_MS;
    this.threshold = options.terminatedPodThreshold ?? TERMINATED_POD_GC_THRESHOLD;
    this.nodes = ctx.informers.informer('nodes').lister;
    this.pods = ctx.informers.informer('pods').lister;
  }

  override start(): void {
    super.start();
    this.schedule();
  }

  override stop(): void {
    if (this.timer !== undefined) this.timers.cancelTimer(this.timer);
    super.stop();
  }

  private schedule(): void {
    this.timer = this.timers.setTimer(this.checkPeriodMs, () => {
      this.enqueueKey(RUN_KEY);
      this.schedule();
    });
  }

  override async reconcile(): Promise<void> {
    const pods = this.pods.list();
    const failures: string[] = [];
    const run = async (pod: KubeObject, kind: keyof PodGCController['deleted'], condition?: string): Promise<void> => {
      try {
        if (await this.forceDelete(pod, condition)) this.deleted[kind]++;
      } catch (err) {
        failures.push(`${pod.metadata.namespace}/${pod.metadata.name}: ${errorMessage(err)}`);
      }
    };
    // Terminated pods beyond the threshold, oldest first.
    if (this.threshold > 0) {
      const terminated = pods.filter((p) => isPodFinished(p) && !p.metadata.deletionTimestamp);
      const excess = terminated.length - this.threshold;
      if (excess > 0) {
        terminated.sort(byCreation);
        for (const p of terminated.slice(0, excess)) await run(p, 'terminated');
      }
    }
    // Terminating pods on out-of-service nodes.
    for (const p of pods) {
      const nodeName = p.spec?.nodeName as string | undefined;
      if (!p.metadata.deletionTimestamp || !nodeName) continue;
      const node = this.nodes.get('', nodeName);
      if (!node || getCondition(node.status, 'Ready')?.status === 'True') continue;
      if (!nodeTaints(node).some((t) => t.key === TAINT_OUT_OF_SERVICE && t.effect === 'NoExecute')) continue;
      await run(p, 'outOfService');
    }
    // Orphaned pods, once their node has been missing for the quarantine and the API agrees.
    const gone = await this.deletedNodes(pods);
    for (const p of pods) {
      const nodeName = p.spec?.nodeName as string | undefined;
      if (nodeName && gone.has(nodeName)) await run(p, 'orphaned', 'PodGC: node no longer exists');
    }
    // Terminating pods that were never scheduled.
    for (const p of pods) if (p.metadata.deletionTimestamp && !p.spec?.nodeName) await run(p, 'unscheduled');
    if (failures.length) throw new Error(`pod garbage collection: ${failures.join('; ')}`);
  }

  private async deletedNodes(pods: KubeObject[]): Promise<Set<string>> {
    const now = this.clock.now();
    const named = new Set<string>();
    for (const p of pods) if (p.spec?.nodeName) named.add(String(p.spec.nodeName));
    for (const n of [...this.missing.keys()]) if (!named.has(n) || this.nodes.get('', n)) this.missing.delete(n);
    const gone = new Set<string>();
    for (const n of named) {
      if (this.nodes.get('', n)) continue;
      const since = this.missing.get(n);
      if (since === undefined) {
        this.missing.set(n, now);
        continue;
      }
      if (now - since < this.quarantineMs) continue;
      try {
        await this.client.get('nodes', '', n);
        this.missing.delete(n); // it exists after all; the cache is behind
      } catch (err) {
        if (!isNotFound(err)) throw err;
        gone.add(n);
      }
    }
    return gone;
  }

  /** Marks a live pod Failed (with a DisruptionTarget condition when given) and deletes it at once. */
  private async forceDelete(pod: KubeObject, condition?: string): Promise<boolean> {
    const ns = pod.metadata.namespace!;
    if (!isPodFinished(pod)) {
      const status = clone(pod.status ?? {});
      status.phase = 'Failed';
      if (condition) {
        status.conditions = [
          ...(status.conditions ?? []).filter((c: any) => c.type !== 'DisruptionTarget'),
          { type: 'DisruptionTarget', status: 'True', reason: 'DeletionByPodGC', message: condition, lastTransitionTime: formatTime(this.clock.now()) },
        ];
      }
      try {
        await this.client.updateStatus('pods', ns, { ...pod, status });
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    }
    return deleteIgnoringNotFound(this.client, 'pods', ns, pod.metadata.name!, { gracePeriodSeconds: 0 });
  }
}
