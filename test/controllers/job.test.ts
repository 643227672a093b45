import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { JobController, TTLAfterFinishedController, formatIndexes, parseIndexes, remainingBackoffMs } from '../../controllers/job.js';
import { getCondition } from '../../controllers/podutil.js';
import { finishPod, harness, settle, type Harness } from './helpers.js';

function job(name: string, spec: Record<string, any> = {}): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default' },
    spec: {
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      completionMode: 'NonIndexed',
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox' }] } },
      ...spec,
    },
  };
}

async function start(j: KubeObject, ttl = false): Promise<Harness> {
  const h = await harness([j]);
  new JobController(h.ctx).start();
  if (ttl) new TTLAfterFinishedController(h.ctx).start();
  await h.sync();
  return h;
}

const live = (h: Harness) => h.client.objects('pods').filter((p) => !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status?.phase));

async function finishAll(h: Harness, phase: 'Succeeded' | 'Failed'): Promise<void> {
  for (const p of live(h)) finishPod(h, 'default', p.metadata.name!, phase);
  await settle();
}

suite('Job controller', () => {
  it('runs parallelism pods at a time until completions succeed, then completes', async () => {
    const h = await start(job('pi', { completions: 3, parallelism: 2 }));
    expect(live(h)).toHaveLength(2);
    const p = live(h)[0]!;
    expect(p.metadata.finalizers).toEqual(['batch.kubernetes.io/job-tracking']);
    expect(p.metadata.labels).toMatchObject({ 'batch.kubernetes.io/job-name': 'pi', 'job-name': 'pi' });
    expect(p.metadata.generateName).toBe('pi-');
    await finishAll(h, 'Succeeded');
    expect(live(h)).toHaveLength(1);
    expect(h.client.peek('jobs', 'default', 'pi')!.status).toMatchObject({ succeeded: 2, active: 1, failed: 0 });
    await finishAll(h, 'Succeeded');
    const j = h.client.peek('jobs', 'default', 'pi')!;
    expect(j.status).toMatchObject({ succeeded: 3, active: 0, uncountedTerminatedPods: { succeeded: [], failed: [] } });
    expect(getCondition(j.status, 'Complete')).toMatchObject({ status: 'True' });
    expect(j.status.completionTime).toBeDefined();
    expect(h.recorder.events).toContain('Normal Completed Job completed');
    // Every pod was counted and let go of.
    expect(h.client.objects('pods').every((x) => !x.metadata.finalizers)).toBe(true);
  });

  it('computes the back-off as 10 s doubling per failure, capped at 6 minutes', () => {
    const at = (failures: number) => remainingBackoffMs({ failuresAfterLastSuccess: failures, lastFailureMs: 0 }, 0);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(at)).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 360_000, 360_000]);
    expect(remainingBackoffMs({ failuresAfterLastSuccess: 2, lastFailureMs: 0 }, 15_000)).toBe(5_000);
  });

  it('replaces failed pods after 10 s, 20 s, 40 s on the virtual clock', async () => {
    const h = await start(job('flaky', { backoffLimit: 6 }));
    const created: number[] = [];
    const t0 = h.clock.now();
    for (let i = 0; i < 3; i++) {
      const before = h.client.objects('pods').length;
      await finishAll(h, 'Failed');
      let waited = 0;
      while (h.client.objects('pods').length === before && waited < 100_000) {
        await h.run(1000);
        waited += 1000;
      }
      created.push(Math.round((h.clock.now() - t0) / 1000));
      h.clock.set(h.clock.now());
    }
    // Each failure happens at the previous replacement's creation; gaps 10, 20, 40 s.
    expect(created).toEqual([10, 30, 70]);
    expect(h.client.peek('jobs', 'default', 'flaky')!.status.failed).toBe(3);
  });

  it('fails with BackoffLimitExceeded after more than backoffLimit failures', async () => {
    const h = await start(job('bad', { backoffLimit: 1, parallelism: 2, completions: 4 }));
    expect(live(h)).toHaveLength(2);
    finishPod(h, 'default', live(h)[0]!.metadata.name!, 'Failed');
    await settle();
    await h.run(10_000);
    finishPod(h, 'default', live(h)[0]!.metadata.name!, 'Failed');
    await settle();
    const j = h.client.peek('jobs', 'default', 'bad')!;
    expect(getCondition(j.status, 'Failed')).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    expect(j.status.failed).toBe(2);
    expect(live(h)).toHaveLength(0);
    expect(h.recorder.events).toContain('Warning BackoffLimitExceeded Job has reached the specified backoff limit');
  });

  it('fails with DeadlineExceeded once activeDeadlineSeconds pass', async () => {
    const h = await start(job('slow', { activeDeadlineSeconds: 30 }));
    expect(live(h)).toHaveLength(1);
    await h.run(29_000);
    expect(getCondition(h.client.peek('jobs', 'default', 'slow')!.status, 'Failed')).toBeUndefined();
    await h.run(1_000);
    const j = h.client.peek('jobs', 'default', 'slow')!;
    expect(getCondition(j.status, 'Failed')).toMatchObject({ reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' });
    expect(live(h)).toHaveLength(0);
  });

  it('Indexed: one pod per completion index, finished when every index succeeded', async () => {
    const h = await start(job('idx', { completions: 4, parallelism: 2, completionMode: 'Indexed' }));
    const indexes = () => live(h).map((p) => p.metadata.annotations!['batch.kubernetes.io/job-completion-index']).sort();
    expect(indexes()).toEqual(['0', '1']);
    const p0 = live(h).find((p) => p.metadata.annotations!['batch.kubernetes.io/job-completion-index'] === '0')!;
    expect(p0.metadata.generateName).toBe('idx-0-');
    expect(p0.metadata.labels!['batch.kubernetes.io/job-completion-index']).toBe('0');
    expect(p0.spec.hostname).toBe('idx-0');
    expect(p0.spec.containers[0].env).toContainEqual({ name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } });
    finishPod(h, 'default', p0.metadata.name!, 'Succeeded');
    await settle();
    expect(indexes()).toEqual(['1', '2']);
    expect(h.client.peek('jobs', 'default', 'idx')!.status.completedIndexes).toBe('0');
    await finishAll(h, 'Succeeded');
    expect(indexes()).toEqual(['3']);
    await finishAll(h, 'Succeeded');
    const j = h.client.peek('jobs', 'default', 'idx')!;
    expect(j.status).toMatchObject({ completedIndexes: '0-3', succeeded: 4 });
    expect(getCondition(j.status, 'Complete')!.status).toBe('True');
  });

  it('counts a pod deleted before finishing as one failure, exactly once', async () => {
    const h = await start(job('once', { backoffLimit: 3 }));
    const p = live(h)[0]!;
    await h.client.delete('pods', 'default', p.metadata.name!);
    await settle();
    // The finalizer held the pod until it was counted; now it is gone.
    expect(h.client.peek('pods', 'default', p.metadata.name!)).toBeUndefined();
    expect(h.client.peek('jobs', 'default', 'once')!.status.failed).toBe(1);
    await h.run(60_000);
    expect(h.client.peek('jobs', 'default', 'once')!.status.failed).toBe(1);
    expect(live(h)).toHaveLength(1);
  });

  it('a Job without completions finishes when a pod succeeded and none is left running', async () => {
    const h = await start(job('queue', { completions: undefined, parallelism: 3 }));
    expect(live(h)).toHaveLength(3);
    const [a, b, c] = live(h);
    finishPod(h, 'default', a!.metadata.name!, 'Succeeded');
    await settle();
    expect(live(h)).toHaveLength(2);
    expect(getCondition(h.client.peek('jobs', 'default', 'queue')!.status, 'Complete')).toBeUndefined();
    finishPod(h, 'default', b!.metadata.name!, 'Succeeded');
    finishPod(h, 'default', c!.metadata.name!, 'Succeeded');
    await settle();
    expect(getCondition(h.client.peek('jobs', 'default', 'queue')!.status, 'Complete')!.status).toBe('True');
  });

  it('deletes a finished Job ttlSecondsAfterFinished later, foreground', async () => {
    const h = await start(job('short', { ttlSecondsAfterFinished: 100 }), true);
    await finishAll(h, 'Succeeded');
    expect(getCondition(h.client.peek('jobs', 'default', 'short')!.status, 'Complete')!.status).toBe('True');
    await h.run(99_000);
    expect(h.client.peek('jobs', 'default', 'short')).toBeDefined();
    h.client.clearActions();
    await h.run(2_000);
    const del = h.client.writes().find((a) => a.verb === 'delete' && a.resource === 'jobs')!;
    expect(del.options).toMatchObject({ propagationPolicy: 'Foreground' });
  });

  it('formats and parses completed index sets', () => {
    expect(formatIndexes(new Set([0, 1, 2, 4, 6, 7]))).toBe('0-2,4,6-7');
    expect([...parseIndexes('0-2,4,6-7', 7)].sort()).toEqual([0, 1, 2, 4, 6]);
  });
});
