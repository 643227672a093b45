/**
 * The Job controller (pkg/controller/job) and the TTL-after-finished controller.
 *
 * A Job runs pods until `completions` succeed (or, without completions, until one succeeds and
 * the rest finish), at most `parallelism` at a time. Failed pods are replaced after a back-off
 * of 10 s doubling per consecutive failure, capped at 6 minutes; more than `backoffLimit`
 * failures, or running longer than `activeDeadlineSeconds`, fails the Job. Indexed jobs give
 * each pod a completion index (annotation, label, env JOB_COMPLETION_INDEX, hostname
 * `<job>-<index>`) and finish when every index has succeeded. Pods carry the
 * `batch.kubernetes.io/job-tracking` finalizer until the controller has counted them, so a pod
 * deleted early is still counted exactly once (uncountedTerminatedPods).
 */
import { selectorFromObject } from '../api/selectors.js';
import { clone, type KubeObject } from '../api/types.js';
import { deleteIgnoringNotFound, errorMessage, writeStatus } from './apiutil.js';
import { isNotFound } from './client.js';
import { Controller, Expectations, slowStartBatch, type ControllerContext } from './controller.js';
import type { Lister } from './informer.js';
import { getCondition, isPodActive, isPodReady, podsToDelete, type Condition } from './podutil.js';
import { claimObjects } from './refmanager.js';
import { controllerRef, newControllerRef, objectKey, splitKey } from './resources.js';
import { formatTime, parseTime } from './time.js';

export const TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
export const COMPLETION_INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';
export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const DEFAULT_BACKOFF_MS = 10_000;
export const MAX_BACKOFF_MS = 6 * 60_000;
const MAX_POD_CREATE_DELETE_PER_SYNC = 500;
const KIND = { apiVersion: 'batch/v1', kind: 'Job' };
/** Work-queue keys of orphaned pods (no Job key contains ':'). */
const ORPHAN_POD_PREFIX = 'orphan-pod:';

export function jobFinished(job: KubeObject): 'Complete' | 'Failed' | undefined {
  for (const c of job.status?.conditions ?? []) {
    if ((c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') return c.type;
  }
  return undefined;
}

/** The selector a Job's pods match: its own, or the controller-uid label the API would set. */
export function jobSelector(job: KubeObject): any {
  if (job.spec?.selector && (job.spec.manualSelector || Object.keys(job.spec.selector).length)) return job.spec.selector;
  return { matchLabels: { [CONTROLLER_UID_LABEL]: job.metadata.uid } };
}

// ---------------------------------------------------------------------------------------------
// Completed-index sets as the API writes them: "0-2,4,6-7".

export function parseIndexes(s: string | undefined, completions: number): Set<number> {
  const out = new Set<number>();
  if (!s) return out;
  for (const part of s.split(',')) {
    const [a, b] = part.split('-');
    const lo = Number(a);
    const hi = b === undefined ? lo : Number(b);
    if (!Number.isInteger(lo) || !Number.isInteger(hi)) continue;
    for (let i = lo; i <= hi && i < completions; i++) out.add(i);
  }
  return out;
}

export function formatIndexes(set: Set<number>): string {
  const sorted = [...set].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export function podIndex(pod: KubeObject): number | undefined {
  const v = pod.metadata.annotations?.[COMPLETION_INDEX_ANNOTATION] ?? pod.metadata.labels?.[COMPLETION_INDEX_ANNOTATION];
  const n = Number(v);
  return v !== undefined && Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** When a pod finished: its containers' last finishedAt, else its Ready condition's last change. */
function finishedTimeMs(pod: KubeObject, nowMs: number): number {
  let latest: number | undefined;
  for (const s of pod.status?.containerStatuses ?? []) {
    const t = parseTime(s?.state?.terminated?.finishedAt);
    if (t !== undefined && (latest === undefined || t > latest)) latest = t;
  }
  if (latest !== undefined) return latest;
  const ready = getCondition(pod.status, 'Ready');
  return parseTime(ready?.lastTransitionTime) ?? parseTime(pod.metadata.deletionTimestamp) ?? nowMs;
}

const isSucceeded = (p: KubeObject) => p.status?.phase === 'Succeeded';
/** Failed, or deleted before finishing (an orphan that will never reach a phase). */
const isFailed = (p: KubeObject) => p.status?.phase === 'Failed' || (!!p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded');
const hasFinalizer = (p: KubeObject) => (p.metadata.finalizers ?? []).includes(TRACKING_FINALIZER);

interface BackoffRecord {
  failuresAfterLastSuccess: number;
  lastFailureMs?: number;
}

/** How long until a replacement may be made after `failures` consecutive failures. */
export function remainingBackoffMs(rec: BackoffRecord | undefined, nowMs: number): number {
  if (!rec || rec.failuresAfterLastSuccess === 0 || rec.lastFailureMs === undefined) return 0;
  let backoff = DEFAULT_BACKOFF_MS;
  for (let i = 1; i < rec.failuresAfterLastSuccess && backoff < MAX_BACKOFF_MS; i++) backoff *= 2;
  backoff = Math.min(backoff, MAX_BACKOFF_MS);
  const elapsed = nowMs - rec.lastFailureMs;
  return backoff < elapsed ? 0 : backoff - elapsed;
}

export class JobController extends Controller {
  readonly expectations: Expectations;
  private readonly jobs: Lister;
  private readonly pods: Lister;
  private readonly backoff = new Map<string, BackoffRecord>();

  constructor(ctx: ControllerContext, options: { workers?: number } = {}) {
    super('job-controller', ctx, { workers: options.workers, component: 'job-controller' });
    this.expectations = new Expectations(ctx.clock);
    const jobInf = ctx.informers.informer('jobs');
    const podInf = ctx.informers.informer('pods');
    this.jobs = jobInf.lister;
    this.pods = podInf.lister;
    jobInf.addEventHandler({
      add: (j) => this.enqueue(j),
      update: (_o, j) => this.enqueue(j),
      delete: (j) => {
        this.expectations.delete(objectKey(j));
        this.backoff.delete(objectKey(j));
        this.enqueue(j);
        // Its pods still holding the tracking finalizer are orphans now: let them go.
        for (const p of this.pods.controlledBy(j.metadata.uid!)) this.enqueueOrphanPod(p);
      },
    });
    podInf.addEventHandler({
      add: (p) => {
        const j = this.owner(p);
        if (!j) return this.enqueueOrphanPod(p);
        this.expectations.creationObserved(objectKey(j));
        this.enqueue(j);
      },
      update: (old, p) => {
        if (old.metadata.resourceVersion === p.metadata.resourceVersion) return;
        const j = this.owner(p);
        if (!j) return this.enqueueOrphanPod(p);
        if (p.metadata.deletionTimestamp && !old.metadata.deletionTimestamp) this.expectations.deletionObserved(objectKey(j), objectKey(p));
        this.enqueue(j);
      },
      delete: (p) => {
        const j = this.owner(p);
        if (!j) return;
        this.expectations.deletionObserved(objectKey(j), objectKey(p));
        this.enqueue(j);
      },
    });
  }

  private owner(p: KubeObject): KubeObject | undefined {
    const ref = controllerRef(p);
    if (!ref || ref.kind !== 'Job') return undefined;
    const j = this.jobs.get(p.metadata.namespace ?? '', ref.name);
    return j && j.metadata.uid === ref.uid ? j : undefined;
  }

  /**
   * A pod with the tracking finalizer whose Job is gone (or that no controller owns) would
   * never lose it, and so never go away: the orphan-pod queue of the Kubernetes job controller.
   */
  private enqueueOrphanPod(p: KubeObject): void {
    const ref = controllerRef(p);
    if (!hasFinalizer(p) || (ref && ref.kind !== 'Job')) return;
    this.enqueueKey(ORPHAN_POD_PREFIX + objectKey(p));
  }

  private async syncOrphanPod(podKey: string): Promise<void> {
    const { namespace, name } = splitKey(podKey);
    const pod = this.pods.get(namespace, name);
    if (!pod || !hasFinalizer(pod)) return;
    const ref = controllerRef(pod);
    if (ref) {
      if (ref.kind !== 'Job' || ref.apiVersion !== KIND.apiVersion) return;
      // The cache may not have the Job yet (the informers just started): ask the API.
      let job = this.jobs.get(namespace, ref.name);
      if (!job || job.metadata.uid !== ref.uid) {
        try {
          job = await this.client.get('jobs', namespace, ref.name);
        } catch (err) {
          if (!isNotFound(err)) throw err;
          job = undefined;
        }
      }
      // Still owned by a running Job: that Job's sync counts it and lets it go.
      if (job && job.metadata.uid === ref.uid && !jobFinished(job)) return;
    }
    await this.removeFinalizers([pod]);
  }

  override async reconcile(key: string): Promise<void> {
    if (key.startsWith(ORPHAN_POD_PREFIX)) return this.syncOrphanPod(key.slice(ORPHAN_POD_PREFIX.length));
    const { namespace, name } = splitKey(key);
    const job = this.jobs.get(namespace, name);
    if (!job) {
      this.expectations.delete(key);
      this.backoff.delete(key);
      return;
    }
    const pods = await claimObjects({
      client: this.client,
      resource: 'pods',
      owner: job,
      ownerRef: newControllerRef(job, KIND.apiVersion, KIND.kind),
      ownerResource: 'jobs',
      selector: selectorFromObject(jobSelector(job)),
      candidates: this.pods.list(namespace),
    });
    if (jobFinished(job)) {
      // Nothing left to do but let go of the pods' finalizers.
      await this.removeFinalizers(pods.filter(hasFinalizer));
      return;
    }
    await new JobSync(this, job, pods, key).run();
  }

  /** @internal */
  get internals() {
    return { client: this.client, clock: this.clock, recorder: this.recorder, backoff: this.backoff };
  }

  /** @internal Removes the tracking finalizer; returns the uids that no longer hold it. */
  async removeFinalizers(pods: KubeObject[]): Promise<Set<string>> {
    const done = new Set<string>();
    await Promise.all(
      pods.map(async (p) => {
        const finalizers = (p.metadata.finalizers ?? []).filter((f) => f !== TRACKING_FINALIZER);
        try {
          await this.client.patch('pods', p.metadata.namespace!, p.metadata.name!, { metadata: { finalizers: finalizers.length ? finalizers : null, resourceVersion: p.metadata.resourceVersion! } });
          done.add(p.metadata.uid!);
        } catch (err) {
          if (isNotFound(err)) done.add(p.metadata.uid!);
        }
      }),
    );
    return done;
  }
}

class JobSync {
  private readonly status: any;
  private readonly spec: any;
  private readonly now: number;
  private readonly indexed: boolean;
  private readonly completions: number | undefined;
  /** The Job as last written (status writes chain on its resourceVersion). */
  private current: KubeObject;

  constructor(
    private readonly ctl: JobController,
    private readonly job: KubeObject,
    private readonly pods: KubeObject[],
    private readonly key: string,
  ) {
    this.spec = job.spec ?? {};
    this.current = job;
    this.status = clone(job.status ?? {});
    this.now = ctl.internals.clock.now();
    this.indexed = this.spec.completionMode === 'Indexed';
    this.completions = this.spec.completions ?? undefined;
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.ctl.internals.recorder.event(this.job, type, reason, message, KIND);
  }

  async run(): Promise<void> {
    const { job, status, spec } = this;
    const suspended = !!spec.suspend;
    const uncounted = { succeeded: [...(status.uncountedTerminatedPods?.succeeded ?? [])], failed: [...(status.uncountedTerminatedPods?.failed ?? [])] };
    const uncountedSet = new Set<string>([...uncounted.succeeded, ...uncounted.failed]);

    // Pods that finished and still hold our finalizer: count them (once).
    const newSucceeded = this.pods.filter((p) => hasFinalizer(p) && isSucceeded(p) && !uncountedSet.has(p.metadata.uid!));
    const newFailed = this.pods.filter((p) => hasFinalizer(p) && !isSucceeded(p) && isFailed(p) && !uncountedSet.has(p.metadata.uid!));
    this.updateBackoff(newSucceeded, newFailed);

    const completedIndexes = this.indexed ? parseIndexes(status.completedIndexes, this.completions ?? 0) : new Set<number>();
    if (this.indexed) {
      for (const p of this.pods) {
        const idx = podIndex(p);
        if (idx !== undefined && isSucceeded(p) && idx < (this.completions ?? 0) && (hasFinalizer(p) || uncountedSet.has(p.metadata.uid!))) completedIndexes.add(idx);
      }
    }
    const succeeded = this.indexed ? completedIndexes.size : (status.succeeded ?? 0) + uncounted.succeeded.length + newSucceeded.length;
    const failed = (status.failed ?? 0) + uncounted.failed.length + newFailed.length;
    let active = this.pods.filter(isPodActive);
    const ready = active.filter(isPodReady).length;

    if (!status.startTime && !suspended) {
      status.startTime = formatTime(this.now);
      if (spec.activeDeadlineSeconds) this.ctl.enqueueAfter(this.key, spec.activeDeadlineSeconds * 1000);
    }

    let finished: Condition | undefined;
    const backoffLimit = spec.backoffLimit ?? 6;
    if (failed > backoffLimit || this.pastBackoffLimitOnFailure(active, backoffLimit)) {
      finished = { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' };
    } else if (this.pastActiveDeadline(suspended)) {
      finished = { type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' };
    } else if (spec.activeDeadlineSeconds && !suspended && status.startTime) {
      const left = (parseTime(status.startTime) ?? this.now) + spec.activeDeadlineSeconds * 1000 - this.now;
      this.ctl.enqueueAfter(this.key, Math.max(0, left));
    }

    let manageErr: unknown;
    if (finished) {
      await this.deletePods(active);
      active = [];
    } else {
      if (this.ctl.expectations.satisfied(this.key) && !job.metadata.deletionTimestamp) {
        try {
          active = await this.manage(active, succeeded, completedIndexes, suspended);
        } catch (err) {
          manageErr = err;
        }
      }
      const complete = this.indexed
        ? completedIndexes.size >= (this.completions ?? 0)
        : this.completions === undefined
          ? succeeded > 0 && active.length === 0
          : succeeded >= this.completions;
      if (complete) finished = { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' };
      this.suspendCondition(suspended);
    }

    // Count the newly finished pods: record them as uncounted, release their finalizers, then
    // move them into the counters (trackJobStatusAndRemoveFinalizers).
    const toRelease = [...newSucceeded, ...newFailed];
    if (toRelease.length) {
      status.uncountedTerminatedPods = {
        succeeded: [...uncounted.succeeded, ...newSucceeded.map((p) => p.metadata.uid!)],
        failed: [...uncounted.failed, ...newFailed.map((p) => p.metadata.uid!)],
      };
      await this.write();
    }
    const releasable = this.pods.filter((p) => hasFinalizer(p) && (uncountedSet.has(p.metadata.uid!) || toRelease.includes(p)));
    const released = await this.ctl.removeFinalizers(releasable);
    const stillHeld = (uid: string) => this.pods.some((p) => p.metadata.uid === uid && hasFinalizer(p)) && !released.has(uid);
    const allUncounted = status.uncountedTerminatedPods ?? { succeeded: [], failed: [] };
    const keep = { succeeded: allUncounted.succeeded.filter(stillHeld), failed: allUncounted.failed.filter(stillHeld) };
    const countedSucceeded = allUncounted.succeeded.length - keep.succeeded.length;
    const countedFailed = allUncounted.failed.length - keep.failed.length;
    if (!this.indexed) status.succeeded = (job.status?.succeeded ?? 0) + countedSucceeded;
    else status.succeeded = completedIndexes.size;
    status.failed = (job.status?.failed ?? 0) + countedFailed;
    status.uncountedTerminatedPods = keep;
    if (this.indexed) status.completedIndexes = formatIndexes(completedIndexes);
    status.active = active.length;
    status.ready = ready;
    status.terminating = this.pods.filter((p) => p.metadata.deletionTimestamp && !isSucceeded(p) && p.status?.phase !== 'Failed').length;
    if (finished && keep.succeeded.length === 0 && keep.failed.length === 0) {
      this.setCondition(finished);
      if (finished.type === 'Complete') {
        status.completionTime = formatTime(this.now);
        this.event('Normal', 'Completed', 'Job completed');
      } else this.event('Warning', finished.reason!, finished.message!);
    }
    await this.write();
    if (manageErr) throw manageErr;
  }

  private async write(): Promise<void> {
    this.current = await writeStatus(this.ctl.internals.client, 'jobs', this.current, clone(this.status));
  }

  private setCondition(c: Condition): void {
    const t = formatTime(this.now);
    const list: Condition[] = (this.status.conditions ?? []).filter((x: Condition) => x.type !== c.type);
    list.push({ ...c, lastProbeTime: t, lastTransitionTime: t });
    this.status.conditions = list;
  }

  private suspendCondition(suspended: boolean): void {
    const cur = getCondition(this.status, 'Suspended');
    if (suspended && cur?.status !== 'True') {
      this.setCondition({ type: 'Suspended', status: 'True', reason: 'JobSuspended', message: 'Job suspended' });
      this.event('Normal', 'Suspended', 'Job suspended');
    } else if (!suspended && cur?.status === 'True') {
      this.setCondition({ type: 'Suspended', status: 'False', reason: 'JobResumed', message: 'Job resumed' });
      this.status.startTime = formatTime(this.now);
      this.event('Normal', 'Resumed', 'Job resumed');
    }
  }

  private pastActiveDeadline(suspended: boolean): boolean {
    const d = this.spec.activeDeadlineSeconds;
    if (!d || suspended || !this.status.startTime) return false;
    return this.now - (parseTime(this.status.startTime) ?? this.now) >= d * 1000;
  }

  /** With restartPolicy OnFailure, container restarts count against the backoff limit. */
  private pastBackoffLimitOnFailure(active: KubeObject[], limit: number): boolean {
    if (this.spec.template?.spec?.restartPolicy !== 'OnFailure') return false;
    let restarts = 0;
    for (const p of active) for (const s of p.status?.containerStatuses ?? []) restarts += s?.restartCount ?? 0;
    return limit === 0 ? restarts > 0 : restarts >= limit;
  }

  private updateBackoff(newSucceeded: KubeObject[], newFailed: KubeObject[]): void {
    const store = this.ctl.internals.backoff;
    const rec: BackoffRecord = { ...(store.get(this.key) ?? { failuresAfterLastSuccess: 0 }) };
    const fTimes = newFailed.map((p) => finishedTimeMs(p, this.now)).sort((a, b) => a - b);
    if (newSucceeded.length === 0) {
      if (fTimes.length === 0) return;
      rec.failuresAfterLastSuccess += fTimes.length;
      rec.lastFailureMs = fTimes[fTimes.length - 1];
    } else {
      const lastSuccess = Math.max(...newSucceeded.map((p) => finishedTimeMs(p, this.now)));
      rec.failuresAfterLastSuccess = 0;
      rec.lastFailureMs = undefined;
      for (let i = fTimes.length - 1; i >= 0; i--) {
        if (fTimes[i]! <= lastSuccess) break;
        rec.lastFailureMs ??= fTimes[i];
        rec.failuresAfterLastSuccess++;
      }
    }
    store.set(this.key, rec);
  }

  private async manage(active: KubeObject[], succeeded: number, completedIndexes: Set<number>, suspended: boolean): Promise<KubeObject[]> {
    const parallelism = this.spec.parallelism ?? 1;
    if (suspended) {
      await this.deletePods(active);
      return [];
    }
    let wantActive: number;
    if (this.completions === undefined) wantActive = succeeded > 0 ? active.length : parallelism;
    else wantActive = Math.max(0, Math.min(parallelism, this.completions - succeeded));

    // Indexed: pods for indexes already done, out of range, or duplicated go first.
    let remove: KubeObject[] = [];
    if (this.indexed) {
      const seen = new Set<number>();
      for (const p of active) {
        const idx = podIndex(p);
        if (idx === undefined || idx >= (this.completions ?? 0) || completedIndexes.has(idx) || seen.has(idx)) remove.push(p);
        else seen.add(idx);
      }
    }
    const keepers = active.filter((p) => !remove.includes(p));
    const rmAtLeast = Math.max(0, keepers.length - wantActive);
    if (rmAtLeast > 0) remove = [...remove, ...podsToDelete(keepers, keepers, rmAtLeast, this.now)];
    remove = remove.slice(0, MAX_POD_CREATE_DELETE_PER_SYNC);
    if (remove.length) {
      await this.deletePods(remove);
      return active.filter((p) => !remove.includes(p));
    }
    const diff = Math.min(wantActive - active.length, MAX_POD_CREATE_DELETE_PER_SYNC);
    if (diff <= 0) return active;
    const wait = remainingBackoffMs(this.ctl.internals.backoff.get(this.key), this.now);
    if (wait > 0) {
      this.ctl.enqueueAfter(this.key, wait);
      return active;
    }
    let indexes: number[] = [];
    if (this.indexed) {
      const taken = new Set<number>([...completedIndexes]);
      for (const p of active) {
        const idx = podIndex(p);
        if (idx !== undefined) taken.add(idx);
      }
      for (let i = 0; i < (this.completions ?? 0) && indexes.length < diff; i++) if (!taken.has(i)) indexes.push(i);
    }
    const n = this.indexed ? indexes.length : diff;
    if (n === 0) return active;
    this.ctl.expectations.expectCreations(this.key, n);
    const created: KubeObject[] = [];
    const { successes, error } = await slowStartBatch(n, 1, async (i) => {
      const pod = this.newPod(this.indexed ? indexes[i] : undefined);
      try {
        const out = await this.ctl.internals.client.create('pods', this.job.metadata.namespace!, pod);
        created.push(out);
        this.event('Normal', 'SuccessfulCreate', `Created pod: ${out.metadata.name}`);
      } catch (err) {
        this.event('Warning', 'FailedCreate', `Error creating: ${errorMessage(err)}`);
        throw err;
      }
    });
    for (let i = successes; i < n; i++) this.ctl.expectations.creationObserved(this.key);
    if (error) throw error;
    return [...active, ...created];
  }

  private newPod(index: number | undefined): KubeObject {
    const job = this.job;
    const tmpl = this.spec.template ?? {};
    const labels: Record<string, string> = { ...(tmpl.metadata?.labels ?? {}) };
    if (!this.spec.manualSelector) {
      labels[CONTROLLER_UID_LABEL] = job.metadata.uid!;
      labels[JOB_NAME_LABEL] = job.metadata.name!;
      labels['controller-uid'] = job.metadata.uid!;
      labels['job-name'] = job.metadata.name!;
    }
    const spec = clone(tmpl.spec ?? {});
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: index === undefined ? `${job.metadata.name}-` : `${job.metadata.name}-${index}-`,
        namespace: job.metadata.namespace,
        labels,
        finalizers: [...(tmpl.metadata?.finalizers ?? []), TRACKING_FINALIZER],
        ownerReferences: [newControllerRef(job, KIND.apiVersion, KIND.kind)],
      },
      spec,
    };
    const annotations: Record<string, string> = { ...(tmpl.metadata?.annotations ?? {}) };
    if (index !== undefined) {
      annotations[COMPLETION_INDEX_ANNOTATION] = String(index);
      labels[COMPLETION_INDEX_ANNOTATION] = String(index);
      spec.hostname ??= `${job.metadata.name}-${index}`;
      if (spec.subdomain === undefined) delete spec.subdomain;
      const env = { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${COMPLETION_INDEX_ANNOTATION}']` } } };
      for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
        c.env = [...(c.env ?? []).filter((e: any) => e.name !== 'JOB_COMPLETION_INDEX'), env];
      }
    }
    if (Object.keys(annotations).length) pod.metadata.annotations = annotations;
    return pod;
  }

  private async deletePods(pods: KubeObject[]): Promise<void> {
    if (pods.length === 0) return;
    this.ctl.expectations.expectDeletions(this.key, pods.map(objectKey));
    let first: unknown;
    await Promise.all(
      pods.map(async (p) => {
        try {
          const ok = await deleteIgnoringNotFound(this.ctl.internals.client, 'pods', p.metadata.namespace!, p.metadata.name!);
          if (ok) this.event('Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
          else this.ctl.expectations.deletionObserved(this.key, objectKey(p));
        } catch (err) {
          this.ctl.expectations.deletionObserved(this.key, objectKey(p));
          first ??= err;
        }
      }),
    );
    if (first) throw first;
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Deletes finished Jobs `ttlSecondsAfterFinished` after they finished (foreground, so their
 * pods go first), re-reading the Job before deleting in case its TTL was changed.
 */
export class TTLAfterFinishedController extends Controller {
  private readonly jobs: Lister;

  constructor(ctx: ControllerContext) {
    super('ttl-after-finished-controller', ctx, { component: 'ttl-after-finished-controller' });
    const inf = ctx.informers.informer('jobs');
    this.jobs = inf.lister;
    const consider = (j: KubeObject) => {
      if (j.spec?.ttlSecondsAfterFinished !== undefined && j.spec?.ttlSecondsAfterFinished !== null && jobFinished(j)) this.enqueue(j);
    };
    inf.addEventHandler({ add: consider, update: (_o, j) => consider(j) });
  }

  /** When the job may be deleted (ms), or undefined if it has no TTL or is not finished. */
  static expiresAtMs(job: KubeObject): number | undefined {
    const ttl = job.spec?.ttlSecondsAfterFinished;
    const type = jobFinished(job);
    if (ttl === undefined || ttl === null || !type) return undefined;
    const finishedAt = parseTime(job.status?.completionTime) ?? parseTime(getCondition(job.status, type)?.lastTransitionTime);
    if (finishedAt === undefined) return undefined;
    return finishedAt + ttl * 1000;
  }

  override async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const cached = this.jobs.get(namespace, name);
    if (!cached || cached.metadata.deletionTimestamp) return;
    const at = TTLAfterFinishedController.expiresAtMs(cached);
    if (at === undefined) return;
    const now = this.clock.now();
    if (at > now) {
      this.enqueueAfter(key, at - now);
      return;
    }
    const fresh = await this.client.get('jobs', namespace, name);
    const freshAt = TTLAfterFinishedController.expiresAtMs(fresh);
    if (freshAt === undefined) return;
    if (freshAt > now) {
      this.enqueueAfter(key, freshAt - now);
      return;
    }
    await deleteIgnoringNotFound(this.client, 'jobs', namespace, name, { propagationPolicy: 'Foreground', preconditions: { resourceVersion: fresh.metadata.resourceVersion } });
  }
}
