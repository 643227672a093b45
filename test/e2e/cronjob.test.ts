/**
 * CronJobs end to end on real threads and the wall clock, driven with kubectl: two CronJobs on
 * the every-minute schedule run a job that outlasts the minute. Both fire at the first minute
 * boundary; at the second, the Forbid one skips (JobAlreadyActive) while the Allow one starts a
 * second job beside the first. Cron has minute granularity, so this file takes up to two
 * minutes of mostly idle waiting; the SimHost suite covers the rest of the policies on a
 * virtual clock.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveKubectl, kubectlIn, startOneNodeCluster, until, type TestCluster } from '../api/harness.js';

let c: TestCluster;
const kubectl = (...args: string[]) => kubectlIn(c, ...args);

beforeAll(async () => {
  if (haveKubectl) c = await startOneNodeCluster({ controllers: ['cronjob', 'job', 'garbagecollector'] });
});

afterAll(async () => {
  await c?.stop();
});

const cronJob = (name: string, policy: string) => `apiVersion: batch/v1
kind: CronJob
metadata: {name: ${name}}
spec:
  schedule: "* * * * *"
  concurrencyPolicy: ${policy}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: work, image: busybox, command: [sleep, "600"]}]
`;

describe.skipIf(!haveKubectl)('CronJobs on the wall clock', () => {
  it('fire on the minute; at the next one Forbid skips while the first job runs and Allow starts another', { timeout: 180_000 }, async () => {
    const manifest = join(c.dir, 'cron.yaml');
    writeFileSync(manifest, `${cronJob('forbid', 'Forbid')}---\n${cronJob('allow', 'Allow')}`);
    const out = await kubectl('apply', '-f', manifest);
    expect(out).toContain('cronjob.batch/forbid created');
    expect(out).toContain('cronjob.batch/allow created');
    const jobsOf = async (owner: string) => {
      const all = JSON.parse(await kubectl('get', 'jobs', '-o', 'json')).items as any[];
      return all.filter((j) => j.metadata.ownerReferences?.some((r: any) => r.kind === 'CronJob' && r.name === owner));
    };

    const first = await until(async () => {
      const [f, a] = [await jobsOf('forbid'), await jobsOf('allow')];
      return f.length === 1 && a.length === 1 ? f[0] : undefined;
    }, 70_000, 'both CronJobs to fire once');
    // Jobs are named <cronjob>-<scheduled time in minutes since the epoch>.
    const minute = Number(first.metadata.name.split('-')[1]);
    expect(first.metadata.annotations['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe(new Date(minute * 60_000).toISOString().replace('.000', ''));
    await until(async () => JSON.parse(await kubectl('get', 'cronjob', 'forbid', '-o', 'json')).status?.active?.length === 1, 20_000, 'forbid listing its active job');

    // The next minute boundary, plus time for the controller to act on it.
    const next = (minute + 1) * 60_000;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now()) + 5_000));
    await until(async () => (await jobsOf('allow')).length === 2, 20_000, 'allow to start a second job');
    const forbidJobs = await jobsOf('forbid');
    expect(forbidJobs.map((j) => j.metadata.name)).toEqual([first.metadata.name]);
    const events = await kubectl('get', 'events', '--field-selector', 'involvedObject.name=forbid,reason=JobAlreadyActive', '-o', 'json');
    const skipped = JSON.parse(events).items as any[];
    expect(skipped.length).toBeGreaterThan(0);
    expect(skipped[0].message).toBe('Not starting job because prior execution is running and concurrency policy is Forbid');
    const status = JSON.parse(await kubectl('get', 'cronjob', 'forbid', '-o', 'json')).status;
    expect(status.active.map((r: any) => r.name)).toEqual([first.metadata.name]);
    expect(Date.parse(status.lastScheduleTime)).toBe(minute * 60_000);
  });
});
