import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { CronJobController, formatInZone, jobNameFor, parseSchedule } from '../../controllers/cronjob.js';
import { EPOCH_2024_MS, formatTime } from '../../controllers/time.js';
import { harness, settle, type Harness } from './helpers.js';

const MIN = 60_000;
const T0 = EPOCH_2024_MS; // 2024-01-01T00:00:00Z, a Monday

function cronJob(name: string, spec: Record<string, any> = {}, createdMs = T0): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: 'default', creationTimestamp: formatTime(createdMs) },
    spec: {
      schedule: '*/5 * * * *',
      concurrencyPolicy: 'Allow',
      suspend: false,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 1,
      jobTemplate: { metadata: { labels: { team: 'a' } }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } },
      ...spec,
    },
  };
}

async function start(cj: KubeObject, startMs = T0): Promise<Harness> {
  const h = await harness([cj], { startMs });
  new CronJobController(h.ctx).start();
  await h.sync();
  return h;
}

const jobNames = (h: Harness) => h.client.objects('jobs').map((j) => j.metadata.name!).sort();
const minutes = (ms: number) => Math.floor(ms / MIN);

function complete(h: Harness, name: string, type: 'Complete' | 'Failed' = 'Complete'): void {
  h.client.mutate('jobs', 'default', name, (j) => {
    const t = formatTime(h.clock.now());
    j.status = { startTime: j.metadata.creationTimestamp, conditions: [{ type, status: 'True', lastTransitionTime: t }] };
    if (type === 'Complete') j.status.completionTime = t;
  });
}

suite('CronJob controller', () => {
  it('creates a job at each scheduled time, named by the scheduled minute', async () => {
    const h = await start(cronJob('tick'));
    expect(jobNames(h)).toEqual([]);
    await h.run(16 * MIN);
    const expected = [5, 10, 15].map((m) => `tick-${minutes(T0) + m}`);
    expect(jobNames(h)).toEqual(expected);
    const j = h.client.peek('jobs', 'default', expected[0]!)!;
    expect(j.metadata.labels).toEqual({ team: 'a' });
    expect(j.metadata.annotations!['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe('2024-01-01T00:05:00Z');
    expect(j.metadata.ownerReferences![0]).toMatchObject({ kind: 'CronJob', name: 'tick', controller: true });
    const cj = h.client.peek('cronjobs', 'default', 'tick')!;
    expect(cj.status.active.map((r: any) => r.name)).toEqual(expected);
    expect(cj.status.lastScheduleTime).toBe('2024-01-01T00:15:00Z');
    expect(h.recorder.events).toContain(`Normal SuccessfulCreate Created job ${expected[0]}`);
  });

  it('Forbid skips a run while the previous job is active', async () => {
    const h = await start(cronJob('solo', { concurrencyPolicy: 'Forbid' }));
    await h.run(11 * MIN);
    expect(jobNames(h)).toEqual([`solo-${minutes(T0) + 5}`]);
    expect(h.recorder.events).toContain('Normal JobAlreadyActive Not starting job because prior execution is running and concurrency policy is Forbid');
    // When the job finishes at 00:11, the skipped 00:10 run is still the most recent unmet
    // time (there is no startingDeadlineSeconds), so it starts at once, late.
    complete(h, `solo-${minutes(T0) + 5}`);
    await settle();
    expect(jobNames(h)).toEqual([`solo-${minutes(T0) + 5}`, `solo-${minutes(T0) + 10}`]);
    await h.run(5 * MIN);
    expect(jobNames(h)).toEqual([`solo-${minutes(T0) + 5}`, `solo-${minutes(T0) + 10}`]);
    expect(h.recorder.events.some((e) => e.startsWith('Normal SawCompletedJob Saw completed job: solo-'))).toBe(true);
  });

  it('Replace deletes the running job before starting the next', async () => {
    const h = await start(cronJob('swap', { concurrencyPolicy: 'Replace' }));
    await h.run(6 * MIN);
    await h.run(5 * MIN);
    expect(jobNames(h)).toEqual([`swap-${minutes(T0) + 10}`]);
    const del = h.client.writes().find((a) => a.verb === 'delete' && a.resource === 'jobs')!;
    expect(del).toMatchObject({ name: `swap-${minutes(T0) + 5}`, options: { propagationPolicy: 'Background' } });
  });

  it('after downtime runs only the most recent missed time, and none older than startingDeadlineSeconds', async () => {
    // The controller starts 17.5 minutes after creation: 00:05, 00:10, 00:15 were missed.
    const late = await start(cronJob('late'), T0 + 17.5 * MIN);
    expect(jobNames(late)).toEqual([`late-${minutes(T0) + 15}`]);

    // With a 60 s starting deadline nothing older than 00:16:30 is considered: no job now.
    const strict = await start(cronJob('strict', { startingDeadlineSeconds: 60 }), T0 + 17.5 * MIN);
    expect(jobNames(strict)).toEqual([]);
    await strict.run(3 * MIN);
    expect(jobNames(strict)).toEqual([`strict-${minutes(T0) + 20}`]);
  });

  it('a suspended CronJob creates nothing until resumed', async () => {
    const h = await start(cronJob('paused', { suspend: true }));
    await h.run(20 * MIN);
    expect(jobNames(h)).toEqual([]);
    const cj = h.client.peek('cronjobs', 'default', 'paused')!;
    cj.spec.suspend = false;
    await h.client.update('cronjobs', 'default', cj);
    await settle();
    // Resuming runs the most recent missed time at once (no startingDeadlineSeconds).
    expect(jobNames(h)).toEqual([`paused-${minutes(T0) + 20}`]);
  });

  it('keeps successfulJobsHistoryLimit finished jobs and records lastSuccessfulTime', async () => {
    const h = await start(cronJob('hist', { successfulJobsHistoryLimit: 1, schedule: '* * * * *' }));
    await h.run(1000);
    for (let i = 0; i < 3; i++) {
      await h.run(MIN);
      for (const n of jobNames(h)) if (!h.client.peek('jobs', 'default', n)!.status?.conditions) complete(h, n);
      await settle();
    }
    expect(jobNames(h)).toEqual([`hist-${minutes(T0) + 3}`]);
    expect(h.client.peek('cronjobs', 'default', 'hist')!.status.lastSuccessfulTime).toBeDefined();
  });

  it('schedules in the CronJob timeZone', async () => {
    const h = await start(cronJob('ny', { schedule: '0 9 * * *', timeZone: 'America/New_York' }));
    await h.run(15 * 60 * MIN);
    // 09:00 in New York in January is 14:00 UTC.
    expect(jobNames(h)).toEqual([jobNameFor({ metadata: { name: 'ny' } }, T0 + 14 * 60 * MIN)]);
    const j = h.client.objects('jobs')[0]!;
    expect(j.metadata.annotations!['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe('2024-01-01T09:00:00-05:00');
  });

  it('reports unparseable schedules and unknown time zones', async () => {
    const bad = await start(cronJob('bad', { schedule: '61 * * * *' }));
    expect(bad.recorder.events.some((e) => e.startsWith('Warning UnparseableSchedule unparseable schedule: "61 * * * *"'))).toBe(true);
    const tz = await start(cronJob('tz', { timeZone: 'Mars/Olympus' }));
    expect(tz.recorder.events.some((e) => e.startsWith('Warning UnknownTimeZone invalid timeZone: "Mars/Olympus"'))).toBe(true);
  });

  it('parses standard schedules and descriptors, and formats zoned timestamps', () => {
    const s = parseSchedule('@hourly');
    expect(s.next(T0) - T0).toBe(60 * MIN);
    expect(() => parseSchedule('* * * * * *')).toThrow(/5 fields/);
    expect(() => parseSchedule('TZ=UTC * * * * *')).toThrow(/timeZone/);
    expect(formatInZone(T0, 'Asia/Kolkata')).toBe('2024-01-01T05:30:00+05:30');
  });
});
