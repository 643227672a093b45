// Pods that hold the Job tracking finalizer after their Job is gone: the job controller lets
// them go (its orphan-pod queue), or they would stay Terminating forever.
import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { JobController, TRACKING_FINALIZER } from '../../controllers/job.js';
import { harness, settle } from './helpers.js';

const job: KubeObject = {
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'work', namespace: 'default' },
  spec: { completions: 1, parallelism: 1, backoffLimit: 6, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'w', image: 'busybox' }] } } },
};

const finalizers = (p: KubeObject | undefined) => p?.metadata.finalizers ?? [];

suite('Job controller: orphaned pods', () => {
  it('removes the tracking finalizer from the pods of a deleted Job, and keeps it while the Job lives', async () => {
    const h = await harness([job], { gracefulPodDeletion: true });
    new JobController(h.ctx).start();
    await h.sync();
    const [pod] = h.client.objects('pods');
    expect(finalizers(pod)).toEqual([TRACKING_FINALIZER]);
    // A pod update while its Job runs: the finalizer stays.
    h.client.mutate('pods', 'default', pod!.metadata.name!, (p) => {
      p.spec.nodeName = 'n1';
      p.status = { phase: 'Running' };
    });
    await settle();
    expect(finalizers(h.client.peek('pods', 'default', pod!.metadata.name!))).toEqual([TRACKING_FINALIZER]);
    // The Job goes (as a CronJob with Replace deletes it); the running pod is an orphan now.
    await h.client.delete('jobs', 'default', 'work', { propagationPolicy: 'Background' });
    await settle();
    const orphan = h.client.peek('pods', 'default', pod!.metadata.name!)!;
    expect(orphan).toBeDefined();
    expect(finalizers(orphan)).toEqual([]);
    // With the finalizer gone, the graceful delete the collector sends ends as the kubelet finishes.
    await h.client.delete('pods', 'default', orphan.metadata.name!);
    h.client.remove('pods', 'default', orphan.metadata.name!);
    expect(h.client.objects('pods')).toHaveLength(0);
  });

  it('asks the API before letting go when the Job is missing from the cache only', async () => {
    const h = await harness([job]);
    const ctl = new JobController(h.ctx);
    ctl.start();
    await h.sync();
    const [pod] = h.client.objects('pods');
    // A Job of the same name and uid that the cache has not seen is still the owner.
    const reconcile = (key: string) => (ctl as unknown as { reconcile(k: string): Promise<void> }).reconcile(key);
    const cached = h.informers.lister('jobs');
    const get = cached.get.bind(cached);
    cached.get = () => undefined;
    await reconcile(`orphan-pod:default/${pod!.metadata.name}`);
    cached.get = get;
    expect(finalizers(h.client.peek('pods', 'default', pod!.metadata.name!))).toEqual([TRACKING_FINALIZER]);
    expect(h.writes()).not.toContain(`patch pods default/${pod!.metadata.name}`);
  });
});
