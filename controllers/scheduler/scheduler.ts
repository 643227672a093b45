/**
 * The scheduler shell (kube-scheduler's scheduleOne loop) around the pure framework: informer
 * events feed the cache and the queue; each cycle pops a pod, runs the framework, assumes the
 * pod onto the chosen node in the cache (so the next cycle sees it there) and binds it through
 * the API's pods/binding subresource in the background. A pod that fits nowhere gets the
 * PodScheduled=False / Unschedulable condition with the FitError message, a FailedScheduling
 * event, and waits in the queue for a cluster event that may help it.
 */
import type { KubeObject } from '../../api/types.js';
import { errorMessage } from '../apiutil.js';
import { isConflict, isNotFound, type ApiClient } from '../client.js';
import type { EventRecorder } from '../events.js';
import type { InformerFactory } from '../informer.js';
import { getCondition } from '../podutil.js';
import type { Clock, Timers } from '../time.js';
import { formatTime } from '../time.js';
import type { StorageClassInfo } from '../volume.js';
import { DEFAULT_STORAGE_CLASSES, SELECTED_NODE_ANNOTATION } from '../volume.js';
import { SchedulerCache } from './cache.js';
import { FitError, Framework, type ScheduleResult } from './framework.js';
import { buildPodInfo, type PodInfo } from './nodeinfo.js';
import { SchedulingQueue, type QueueOptions, type QueuedPod } from './queue.js';

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
const POD_KIND = { apiVersion: 'v1', kind: 'Pod' };

export interface SchedulerOptions {
  client: ApiClient;
  clock: Clock;
  timers: Timers;
  /** Uniform in [0, 1): breaks ties between equally good nodes (seeded on the simulator). */
  random: () => number;
  recorder?: EventRecorder;
  schedulerName?: string;
  /** 0 / undefined: adaptive, as kube-scheduler. */
  percentageOfNodesToScore?: number;
  storageClasses?: StorageClassInfo[];
  queue?: QueueOptions;
  /** Cycles run back to back before yielding to other work. */
  maxCyclesPerTurn?: number;
}

function isTerminal(pod: KubeObject): boolean {
  const p = pod.status?.phase;
  return p === 'Succeeded' || p === 'Failed';
}

export class Scheduler {
  readonly cache = new SchedulerCache();
  readonly queue: SchedulingQueue;
  readonly framework: Framework;
  readonly schedulerName: string;
  readonly stats = { attempts: 0, scheduled: 0, unschedulable: 0, bindErrors: 0 };
  private readonly client: ApiClient;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly recorder: EventRecorder | undefined;
  private readonly maxCyclesPerTurn: number;
  private readonly inFlight = new Set<Promise<void>>();
  private started = false;
  private stopped = false;
  private runScheduled = false;
  private wakeTimer: number | undefined;
  private wakeAtMs: number | undefined;

  constructor(opts: SchedulerOptions) {
    this.client = opts.client;
    this.clock = opts.clock;
    this.timers = opts.timers;
    this.recorder = opts.recorder;
    this.schedulerName = opts.schedulerName ?? DEFAULT_SCHEDULER_NAME;
    this.maxCyclesPerTurn = opts.maxCyclesPerTurn ?? 200;
    this.queue = new SchedulingQueue(opts.clock, opts.queue);
    this.framework = new Framework(this.cache, {
      random: opts.random,
      percentageOfNodesToScore: opts.percentageOfNodesToScore,
      storageClasses: opts.storageClasses ?? DEFAULT_STORAGE_CLASSES,
    });
  }

  /** Feeds the scheduler from shared informers (pods, nodes, claims, volumes). */
  attach(informers: InformerFactory): void {
    informers.informer('nodes').addEventHandler({
      add: (n) => this.onNodeAdd(n),
      update: (o, n) => this.onNodeUpdate(o, n),
      delete: (n) => this.onNodeDelete(n),
    });
    informers.informer('pods').addEventHandler({
      add: (p) => this.onPodAdd(p),
      update: (o, p) => this.onPodUpdate(o, p),
      delete: (p) => this.onPodDelete(p),
    });
    informers.informer('persistentvolumeclaims').addEventHandler({
      add: (c) => this.onClaim(c, false),
      update: (_o, c) => this.onClaim(c, false),
      delete: (c) => this.onClaim(c, true),
    });
    informers.informer('persistentvolumes').addEventHandler({
      add: (v) => this.onVolume(v, false),
      update: (_o, v) => this.onVolume(v, false),
      delete: (v) => this.onVolume(v, true),
    });
  }

  // --- events -----------------------------------------------------------------------------------

  /** Whether this scheduler should place the pod. */
  responsibleFor(pod: KubeObject): boolean {
    return (pod.spec?.schedulerName ?? DEFAULT_SCHEDULER_NAME) === this.schedulerName && !pod.spec?.nodeName && !pod.metadata.deletionTimestamp && !isTerminal(pod);
  }

  onNodeAdd(node: KubeObject): void {
    this.cache.upsertNode(node);
    this.queue.moveAllToActiveOrBackoff('NodeAdd');
    this.kick();
  }

  onNodeUpdate(old: KubeObject, node: KubeObject): void {
    this.cache.upsertNode(node);
    const relevant =
      JSON.stringify([old.metadata.labels, old.spec?.taints, old.spec?.unschedulable, old.status?.allocatable]) !==
      JSON.stringify([node.metadata.labels, node.spec?.taints, node.spec?.unschedulable, node.status?.allocatable]);
    if (relevant) {
      this.queue.moveAllToActiveOrBackoff('NodeUpdate');
      this.kick();
    }
  }

  onNodeDelete(node: KubeObject): void {
    this.cache.removeNode(node.metadata.name!);
  }

  onPodAdd(pod: KubeObject): void {
    if (pod.spec?.nodeName) {
      if (isTerminal(pod)) return;
      this.cache.upsertAssignedPod(pod);
      this.queue.delete(`${pod.metadata.namespace}/${pod.metadata.name}`);
      this.queue.moveAllToActiveOrBackoff('AssignedPodAdd');
      this.kick();
      return;
    }
    if (this.responsibleFor(pod)) {
      this.queue.add(buildPodInfo(pod));
      this.kick();
    }
  }

  onPodUpdate(old: KubeObject, pod: KubeObject): void {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (pod.spec?.nodeName) {
      if (isTerminal(pod)) {
        // A finished pod frees its node.
        if (this.cache.nodeOf(pod.metadata.uid!) !== undefined) {
          this.cache.removePod(pod.metadata.uid!);
          this.queue.moveAllToActiveOrBackoff('AssignedPodDelete');
          this.kick();
        }
        return;
      }
      this.cache.upsertAssignedPod(pod);
      this.queue.delete(key);
      if (old.spec?.nodeName) {
        if (JSON.stringify(old.metadata.labels) !== JSON.stringify(pod.metadata.labels)) this.queue.moveAllToActiveOrBackoff('AssignedPodUpdate');
      } else this.queue.moveAllToActiveOrBackoff('AssignedPodAdd');
      this.kick();
      return;
    }
    if (this.responsibleFor(pod)) {
      const specChanged = JSON.stringify([old.metadata.labels, old.metadata.annotations, old.spec]) !== JSON.stringify([pod.metadata.labels, pod.metadata.annotations, pod.spec]);
      this.queue.update(buildPodInfo(pod), specChanged);
      this.kick();
    } else this.queue.delete(key);
  }

  onPodDelete(pod: KubeObject): void {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    this.queue.delete(key);
    if (this.cache.nodeOf(pod.metadata.uid!) !== undefined || pod.spec?.nodeName) {
      this.cache.removePod(pod.metadata.uid!);
      this.queue.moveAllToActiveOrBackoff('AssignedPodDelete');
      this.kick();
    }
  }

  onClaim(pvc: KubeObject, deleted: boolean): void {
    if (deleted) this.cache.removeClaim(pvc);
    else this.cache.upsertClaim(pvc);
    this.queue.moveAllToActiveOrBackoff('PvcChange');
    this.kick();
  }

  onVolume(pv: KubeObject, deleted: boolean): void {
    if (deleted) this.cache.removeVolume(pv);
    else this.cache.upsertVolume(pv);
    this.queue.moveAllToActiveOrBackoff('PvChange');
    this.kick();
  }

  // --- the loop ---------------------------------------------------------------------------------

  start(): void {
    this.started = true;
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.wakeTimer !== undefined) this.timers.cancelTimer(this.wakeTimer);
  }

  private kick(): void {
    if (!this.started || this.stopped || this.runScheduled) return;
    this.runScheduled = true;
    queueMicrotask(() => this.runTurn());
  }

  private runTurn(): void {
    this.runScheduled = false;
    if (this.stopped) return;
    let n = 0;
    while (n < this.maxCyclesPerTurn && this.scheduleOne()) n++;
    if (n >= this.maxCyclesPerTurn) {
      // Yield to other work, then go on.
      this.runScheduled = true;
      this.timers.setTimer(0, () => this.runTurn());
      return;
    }
    this.armWake();
  }

  /** A timer for the next back-off expiry or unschedulable timeout. */
  private armWake(): void {
    const at = this.queue.nextWakeMs();
    if (at === undefined) return;
    if (this.wakeTimer !== undefined && this.wakeAtMs !== undefined && this.wakeAtMs <= at) return;
    if (this.wakeTimer !== undefined) this.timers.cancelTimer(this.wakeTimer);
    this.wakeAtMs = at;
    this.wakeTimer = this.timers.setTimer(Math.max(0, at - this.clock.now()), () => {
      this.wakeTimer = undefined;
      this.wakeAtMs = undefined;
      this.queue.flush();
      this.kick();
      this.armWake();
    });
  }

  /** One scheduling cycle; false when no pod was ready. The binding goes on in the background. */
  scheduleOne(): boolean {
    const q = this.queue.pop();
    if (!q) return false;
    this.stats.attempts++;
    const result = this.framework.schedulePod(q.info);
    if (result.error) {
      this.handleFailure(q, result.error);
      return true;
    }
    const node = result.node!;
    this.cache.assume(q.info, node);
    this.track(this.bind(q, node));
    return true;
  }

  /** Runs the framework for a pod without changing anything (for tests and diagnostics). */
  schedulePod(pod: KubeObject): ScheduleResult {
    return this.framework.schedulePod(buildPodInfo(pod));
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Resolves when every binding and status write started so far has finished. */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  /** Schedules every ready pod and waits for the bindings (tests and benchmarks). */
  async runUntilIdle(): Promise<number> {
    let n = 0;
    while (this.scheduleOne()) n++;
    await this.settled();
    return n;
  }

  private async bind(q: QueuedPod, nodeName: string): Promise<void> {
    const pod = q.info.pod;
    const ns = pod.metadata.namespace!;
    const name = pod.metadata.name!;
    try {
      await this.preBindVolumes(q.info, nodeName);
      await this.client.bind(ns, name, nodeName, pod.metadata.uid);
      this.stats.scheduled++;
      this.queue.done(q.info.key);
      this.recorder?.event(pod, 'Normal', 'Scheduled', `Successfully assigned ${ns}/${name} to ${nodeName}`, POD_KIND);
    } catch (err) {
      this.stats.bindErrors++;
      this.cache.forget(q.info.uid);
      if (isNotFound(err) || (isConflict(err) && /already assigned|being deleted/.test(errorMessage(err)))) {
        this.queue.done(q.info.key);
        return;
      }
      this.recorder?.event(pod, 'Warning', 'FailedScheduling', `Binding rejected: ${errorMessage(err)}`, POD_KIND);
      this.queue.requeueBackoff(q);
      await this.setUnschedulableCondition(pod, 'SchedulerError', errorMessage(err));
      this.kick();
      this.armWake();
    }
  }

  /** VolumeBinding's PreBind: delayed-binding claims learn the chosen node. */
  private async preBindVolumes(info: PodInfo, nodeName: string): Promise<void> {
    for (const v of info.pod.spec?.volumes ?? []) {
      const claimName = v?.persistentVolumeClaim?.claimName;
      if (!claimName) continue;
      const pvc = this.cache.claims.get(`${info.namespace}/${claimName}`);
      if (!pvc || pvc.spec?.volumeName || pvc.metadata.annotations?.[SELECTED_NODE_ANNOTATION]) continue;
      await this.client.patch('persistentvolumeclaims', info.namespace, claimName, { metadata: { annotations: { [SELECTED_NODE_ANNOTATION]: nodeName } } });
    }
  }

  private handleFailure(q: QueuedPod, err: FitError): void {
    this.stats.unschedulable++;
    this.queue.requeueUnschedulable(q, err.unschedulablePlugins);
    const pod = q.info.pod;
    this.recorder?.event(pod, 'Warning', 'FailedScheduling', err.message, POD_KIND);
    this.track(this.setUnschedulableCondition(pod, 'Unschedulable', err.message));
  }

  /** PodScheduled=False with the reason and message, written only when they change. */
  private async setUnschedulableCondition(pod: KubeObject, reason: string, message: string): Promise<void> {
    const cur = getCondition(pod.status, 'PodScheduled');
    if (cur && cur.status === 'False' && cur.reason === reason && cur.message === message) return;
    const conditions = [
      ...(pod.status?.conditions ?? []).filter((c: any) => c.type !== 'PodScheduled'),
      { type: 'PodScheduled', status: 'False', lastProbeTime: null, lastTransitionTime: cur?.status === 'False' ? cur.lastTransitionTime : formatTime(this.clock.now()), reason, message },
    ];
    try {
      await this.client.patch('pods', pod.metadata.namespace!, pod.metadata.name!, { status: { conditions } }, { subresource: 'status' });
    } catch (err) {
      if (!isNotFound(err)) this.recorder?.event(pod, 'Warning', 'FailedScheduling', `updating pod condition: ${errorMessage(err)}`, POD_KIND);
    }
  }
}


