/**
 * The CronJob controller (pkg/controller/cronjob, the v2 controller): at each scheduled time
 * it creates a Job `<cronjob>-<scheduled time in minutes since the epoch>` from the job
 * template, following the concurrency policy (Allow, Forbid: skip while one runs, Replace:
 * delete the running ones first), skipping times missed by more than startingDeadlineSeconds,
 * doing nothing while suspended, and keeping successfulJobsHistoryLimit / failedJobsHistoryLimit
 * finished jobs. After a gap it runs only the most recent missed time. Schedules are parsed by
 * cron-parser in the CronJob's timeZone (UTC by default).
 */
import { CronExpressionParser } from 'cron-parser';
import { clone, type KubeObject } from '../api/types.js';
import { deleteIgnoringNotFound, errorMessage, writeStatus } from './apiutil.js';
import { isAlreadyExists, isNotFound } from './client.js';
import { Controller, type ControllerContext } from './controller.js';
import type { Lister } from './informer.js';
import { jobFinished } from './job.js';
import { controllerRef, newControllerRef, splitKey } from './resources.js';
import { formatRfc1123z, formatTime, parseTime } from './time.js';

export const SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** Looks again this long after the next scheduled time, so the time has surely come. */
const NEXT_SCHEDULE_DELTA_MS = 100;
const KIND = { apiVersion: 'batch/v1', kind: 'CronJob' };

export interface CronSchedule {
  /** The first scheduled time strictly after `ms`. */
  next(ms: number): number;
  /** The last scheduled time strictly before `ms`. */
  prev(ms: number): number;
}

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Whether `tz` names an IANA time zone this runtime knows. */
export function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * A standard five-field cron schedule (or a descriptor such as `@hourly`), as Kubernetes
 * accepts them (robfig/cron's ParseStandard); throws with the parser's message otherwise.
 */
export function parseSchedule(expr: string, timeZone?: string): CronSchedule {
  const trimmed = expr.trim();
  if (/^(CRON_)?TZ=/.test(trimmed)) throw new Error('TZ and CRON_TZ are not supported in the schedule, use timeZone');
  const std = DESCRIPTORS[trimmed] ?? trimmed;
  if (std.startsWith('@')) throw new Error(`unrecognized descriptor: ${trimmed}`);
  const fields = std.split(/\s+/);
  if (fields.length !== 5) throw new Error(`expected exactly 5 fields, found ${fields.length}: ${trimmed}`);
  const tz = timeZone || 'UTC';
  // Validates the expression once up front.
  CronExpressionParser.parse(std, { currentDate: 0, tz });
  return {
    next: (ms) => CronExpressionParser.parse(std, { currentDate: ms, tz }).next().getTime(),
    prev: (ms) => CronExpressionParser.parse(std, { currentDate: ms, tz }).prev().getTime(),
  };
}

/** `<cronjob>-<minutes since epoch>`: the same name for the same scheduled time, always. */
export function jobNameFor(cj: KubeObject, scheduledMs: number): string {
  return `${cj.metadata.name}-${Math.floor(scheduledMs / 60_000)}`;
}

/** RFC 3339 in a time zone (`2024-01-01T09:00:00-05:00`), as the scheduled-timestamp annotation has it. */
export function formatInZone(ms: number, timeZone?: string): string {
  if (!timeZone || timeZone === 'UTC') return formatTime(ms);
  const name = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d\d):(\d\d)/.exec(name);
  if (!m) return formatTime(ms);
  const offsetMin = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  return `${formatTime(ms + offsetMin * 60_000).slice(0, -1)}${m[1]}${m[2]}:${m[3]}`;
}

interface Recent {
  earliestMs: number;
  mostRecentMs?: number;
  missed: number;
}

/** The most recent scheduled time not yet acted on, and roughly how many were missed. */
export function mostRecentScheduleTime(cj: KubeObject, nowMs: number, sched: CronSchedule, withDeadline: boolean): Recent {
  let earliest = parseTime(cj.status?.lastScheduleTime) ?? parseTime(cj.metadata.creationTimestamp) ?? nowMs;
  const deadline = cj.spec?.startingDeadlineSeconds;
  if (withDeadline && deadline !== undefined && deadline !== null) {
    const schedulingDeadline = nowMs - deadline * 1000;
    if (schedulingDeadline > earliest) earliest = schedulingDeadline;
  }
  const t1 = sched.next(earliest);
  if (nowMs < t1) return { earliestMs: earliest, missed: 0 };
  const t2 = sched.next(t1);
  if (nowMs < t2) return { earliestMs: earliest, mostRecentMs: t1, missed: 1 };
  const interval = Math.max(1, Math.round((t2 - t1) / 1000));
  const missed = Math.floor((nowMs - t1) / 1000 / interval) + 1;
  return { earliestMs: earliest, mostRecentMs: sched.prev(nowMs + 1), missed };
}

function nextScheduleDelayMs(cj: KubeObject, nowMs: number, sched: CronSchedule): number {
  const r = mostRecentScheduleTime(cj, nowMs, sched, false);
  const from = r.mostRecentMs ?? r.earliestMs;
  return sched.next(from) + NEXT_SCHEDULE_DELTA_MS - nowMs;
}

export class CronJobController extends Controller {
  private readonly cronJobs: Lister;
  private readonly jobs: Lister;

  constructor(ctx: ControllerContext, options: { workers?: number } = {}) {
    super('cronjob-controller', ctx, { workers: options.workers, component: 'cronjob-controller' });
    const cjInf = ctx.informers.informer('cronjobs');
    const jobInf = ctx.informers.informer('jobs');
    this.cronJobs = cjInf.lister;
    this.jobs = jobInf.lister;
    cjInf.addEventHandler({ add: (c) => this.enqueue(c), update: (_o, c) => this.enqueue(c) });
    const onJob = (j: KubeObject) => {
      const ref = controllerRef(j);
      if (!ref || ref.kind !== 'CronJob') return;
      const cj = this.cronJobs.get(j.metadata.namespace ?? '', ref.name);
      if (cj && cj.metadata.uid === ref.uid) this.enqueue(cj);
    };
    jobInf.addEventHandler({
      add: onJob,
      update: (old, j) => {
        if (old.metadata.resourceVersion === j.metadata.resourceVersion) return;
        onJob(j);
      },
      delete: onJob,
    });
  }

  override async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const cached = this.cronJobs.get(namespace, name);
    if (!cached) return;
    const cj = clone(cached);
    cj.status ??= {};
    const jobs = this.jobs.controlledBy(cj.metadata.uid!);
    let requeueMs: number | undefined;
    let syncErr: unknown;
    let changed = false;
    try {
      const r = await this.syncCronJob(cj, jobs);
      requeueMs = r.requeueMs;
      changed = r.changed;
    } catch (err) {
      syncErr = err;
      changed = true;
    }
    if (await this.cleanupFinishedJobs(cj, jobs)) changed = true;
    if (changed) await writeStatus(this.client, 'cronjobs', cached, cj.status);
    if (syncErr) throw syncErr;
    if (requeueMs !== undefined) this.enqueueAfter(key, Math.max(0, requeueMs));
  }

  private event(cj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.recorder.event(cj, type, reason, message, KIND);
  }

  private async syncCronJob(cj: KubeObject, jobs: KubeObject[]): Promise<{ requeueMs?: number; changed: boolean }> {
    const now = this.clock.now();
    const status = cj.status;
    let changed = false;
    const active: any[] = (status.active ??= []);
    const inActive = (uid: string) => active.some((r) => r.uid === uid);
    const children = new Set<string>();
    for (const j of jobs) {
      children.add(j.metadata.uid!);
      const finished = jobFinished(j);
      const found = inActive(j.metadata.uid!);
      if (!found && !finished) {
        this.event(cj, 'Warning', 'UnexpectedJob', `Saw a job that the controller did not create or forgot: ${j.metadata.name}`);
      } else if (found && finished) {
        status.active = active.filter((r) => r.uid !== j.metadata.uid);
        active.length = 0;
        active.push(...status.active);
        this.event(cj, 'Normal', 'SawCompletedJob', `Saw completed job: ${j.metadata.name}, condition: ${finished}`);
        changed = true;
      } else if (finished) {
        const done = parseTime(j.status?.completionTime);
        if (done !== undefined && (status.lastSuccessfulTime === undefined || done > (parseTime(status.lastSuccessfulTime) ?? 0))) {
          status.lastSuccessfulTime = j.status.completionTime;
          changed = true;
        }
      }
    }
    for (const ref of [...active]) {
      if (children.has(ref.uid)) continue;
      try {
        await this.client.get('jobs', ref.namespace ?? cj.metadata.namespace, ref.name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        this.event(cj, 'Normal', 'MissingJob', `Active job went missing: ${ref.name}`);
        const i = active.findIndex((r) => r.uid === ref.uid);
        if (i >= 0) active.splice(i, 1);
        changed = true;
      }
    }
    if (active.length === 0) delete status.active;
    if (cj.metadata.deletionTimestamp) return { changed };

    const tz: string | undefined = cj.spec?.timeZone ?? undefined;
    if (tz && !validTimeZone(tz)) {
      this.event(cj, 'Warning', 'UnknownTimeZone', `invalid timeZone: ${JSON.stringify(tz)}: unknown time zone ${tz}`);
      return { changed };
    }
    if (cj.spec?.suspend) return { changed };
    let sched: CronSchedule;
    try {
      sched = parseSchedule(String(cj.spec?.schedule ?? ''), tz);
    } catch (err) {
      this.event(cj, 'Warning', 'UnparseableSchedule', `unparseable schedule: ${JSON.stringify(cj.spec?.schedule)} : ${errorMessage(err)}`);
      return { changed };
    }
    const recent = mostRecentScheduleTime(cj, now, sched, true);
    if (recent.missed > 100) {
      this.event(cj, 'Warning', 'TooManyMissedTimes', `too many missed start times: ${recent.missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew`);
    }
    const scheduled = recent.mostRecentMs;
    const next = () => nextScheduleDelayMs(cj, now, sched);
    if (scheduled === undefined || scheduled > now) return { requeueMs: next(), changed };
    const deadline = cj.spec?.startingDeadlineSeconds;
    if (deadline !== undefined && deadline !== null && scheduled + deadline * 1000 < now) {
      this.event(cj, 'Warning', 'MissSchedule', `Missed scheduled time to start a job: ${formatRfc1123z(scheduled)}`);
      return { requeueMs: next(), changed };
    }
    const name = jobNameFor(cj, scheduled);
    const current: any[] = status.active ?? [];
    if (current.some((r) => r.name === name) || parseTime(status.lastScheduleTime) === scheduled) return { requeueMs: next(), changed };
    const policy = cj.spec?.concurrencyPolicy ?? 'Allow';
    if (policy === 'Forbid' && current.length > 0) {
      this.event(cj, 'Normal', 'JobAlreadyActive', 'Not starting job because prior execution is running and concurrency policy is Forbid');
      return { requeueMs: next(), changed };
    }
    if (policy === 'Replace') {
      for (const ref of [...current]) {
        await deleteIgnoringNotFound(this.client, 'jobs', ref.namespace ?? cj.metadata.namespace, ref.name, { propagationPolicy: 'Background' });
        this.event(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${ref.name}`);
        status.active = (status.active ?? []).filter((r: any) => r.uid !== ref.uid);
        changed = true;
      }
      if (status.active?.length === 0) delete status.active;
    }
    const job = this.jobFromTemplate(cj, scheduled, tz);
    let created: KubeObject;
    try {
      created = await this.client.create('jobs', cj.metadata.namespace!, job);
    } catch (err) {
      if (!isAlreadyExists(err)) this.event(cj, 'Warning', 'FailedCreate', `Error creating job: ${errorMessage(err)}`);
      throw err;
    }
    this.event(cj, 'Normal', 'SuccessfulCreate', `Created job ${created.metadata.name}`);
    status.active = [
      ...(status.active ?? []),
      { kind: 'Job', namespace: created.metadata.namespace, name: created.metadata.name, uid: created.metadata.uid, apiVersion: 'batch/v1', resourceVersion: created.metadata.resourceVersion },
    ];
    status.lastScheduleTime = formatTime(scheduled);
    return { requeueMs: next(), changed: true };
  }

  private jobFromTemplate(cj: KubeObject, scheduledMs: number, tz: string | undefined): KubeObject {
    const tmpl = cj.spec?.jobTemplate ?? {};
    return {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: jobNameFor(cj, scheduledMs),
        namespace: cj.metadata.namespace,
        labels: { ...(tmpl.metadata?.labels ?? {}) },
        annotations: { ...(tmpl.metadata?.annotations ?? {}), [SCHEDULED_TIMESTAMP_ANNOTATION]: formatInZone(scheduledMs, tz) },
        ownerReferences: [newControllerRef(cj, KIND.apiVersion, KIND.kind)],
      },
      spec: clone(tmpl.spec ?? {}),
    };
  }

  /** Deletes the oldest finished jobs beyond the history limits; true if any went. */
  private async cleanupFinishedJobs(cj: KubeObject, jobs: KubeObject[]): Promise<boolean> {
    const okLimit = cj.spec?.successfulJobsHistoryLimit;
    const failLimit = cj.spec?.failedJobsHistoryLimit;
    if ((okLimit === undefined || okLimit === null) && (failLimit === undefined || failLimit === null)) return false;
    const ok = jobs.filter((j) => jobFinished(j) === 'Complete' && !j.metadata.deletionTimestamp);
    const failed = jobs.filter((j) => jobFinished(j) === 'Failed' && !j.metadata.deletionTimestamp);
    let changed = false;
    if (okLimit !== undefined && okLimit !== null) changed = (await this.removeOldest(cj, ok, okLimit)) || changed;
    if (failLimit !== undefined && failLimit !== null) changed = (await this.removeOldest(cj, failed, failLimit)) || changed;
    return changed;
  }

  private async removeOldest(cj: KubeObject, jobs: KubeObject[], keep: number): Promise<boolean> {
    const n = jobs.length - keep;
    if (n <= 0) return false;
    const sorted = [...jobs].sort((a, b) => {
      const ta = parseTime(a.status?.startTime);
      const tb = parseTime(b.status?.startTime);
      if (ta === undefined && tb !== undefined) return 1;
      if (tb === undefined && ta !== undefined) return -1;
      if (ta !== tb) return (ta ?? 0) - (tb ?? 0);
      return a.metadata.name! < b.metadata.name! ? -1 : 1;
    });
    for (const j of sorted.slice(0, n)) {
      await deleteIgnoringNotFound(this.client, 'jobs', j.metadata.namespace!, j.metadata.name!, { propagationPolicy: 'Background' });
      this.event(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${j.metadata.name}`);
      if (cj.status?.active) cj.status.active = cj.status.active.filter((r: any) => r.uid !== j.metadata.uid);
    }
    return true;
  }
}
