import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { DisruptionController, markDisrupted } from '../../controllers/disruption.js';
import { getCondition } from '../../controllers/podutil.js';
import { harness, pod, replicaSet, type Harness } from './helpers.js';

function pdb(name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name, namespace: 'default', generation: 1 }, spec: { selector: { matchLabels: { app: 'web' } }, ...spec } };
}

async function start(objects: KubeObject[]): Promise<Harness> {
  const h = await harness(objects);
  new DisruptionController(h.ctx).start();
  await h.sync();
  await h.run(1);
  return h;
}

const status = (h: Harness, name = 'budget') => h.client.peek('poddisruptionbudgets', 'default', name)!.status;

/** Three ready pods of a ReplicaSet of `replicas`, plus one unready. */
function fleet(replicas = 4): KubeObject[] {
  const rs = replicaSet('web', replicas);
  rs.metadata.uid = 'rs-uid';
  return [rs, ...['a', 'b', 'c'].map((n) => pod(`web-${n}`, { owner: rs, labels: { app: 'web' }, node: 'n1', ready: true })), pod('web-d', { owner: rs, labels: { app: 'web' }, node: 'n1', ready: false })];
}

suite('disruption controller', () => {
  it('minAvailable counts the matching pods: 3 healthy of 4, 2 needed, 1 disruption allowed', async () => {
    const h = await start([...fleet(), pdb('budget', { minAvailable: 2 }), pod('other', { labels: { app: 'db' }, ready: true })]);
    expect(status(h)).toMatchObject({ observedGeneration: 1, expectedPods: 4, desiredHealthy: 2, currentHealthy: 3, disruptionsAllowed: 1 });
    expect(getCondition(status(h), 'DisruptionAllowed')).toMatchObject({ status: 'True', reason: 'SufficientPods' });
  });

  it('maxUnavailable counts the controller replicas, not the pods there are', async () => {
    const h = await start([...fleet(6), pdb('budget', { maxUnavailable: 1 })]);
    // 6 wanted, 1 may be missing: 5 needed, 3 healthy.
    expect(status(h)).toMatchObject({ expectedPods: 6, desiredHealthy: 5, currentHealthy: 3, disruptionsAllowed: 0 });
    expect(getCondition(status(h), 'DisruptionAllowed')).toMatchObject({ status: 'False', reason: 'InsufficientPods' });
  });

  it('a percentage of minAvailable rounds up', async () => {
    const h = await start([...fleet(4), pdb('budget', { minAvailable: '50%' })]);
    expect(status(h)).toMatchObject({ expectedPods: 4, desiredHealthy: 2, disruptionsAllowed: 1 });
  });

  it('follows pods becoming ready and going', async () => {
    const h = await start([...fleet(), pdb('budget', { minAvailable: 2 })]);
    h.client.mutate('pods', 'default', 'web-d', (p) => (p.status.conditions = [{ type: 'Ready', status: 'True' }]));
    await h.run(1);
    expect(status(h).disruptionsAllowed).toBe(2);
    await h.client.delete('pods', 'default', 'web-a');
    await h.client.delete('pods', 'default', 'web-b');
    await h.run(1);
    expect(status(h)).toMatchObject({ expectedPods: 2, currentHealthy: 2, disruptionsAllowed: 0 });
  });

  it('counts an evicted pod as disrupted until it is gone, or for two minutes', async () => {
    const h = await start([...fleet(), pdb('budget', { minAvailable: 2 })]);
    // What the eviction API writes: one disruption taken, web-a recorded.
    h.client.mutate('poddisruptionbudgets', 'default', 'budget', (b) => (b.status = markDisrupted(b, 'web-a', h.clock.now())));
    await h.run(1);
    expect(status(h)).toMatchObject({ currentHealthy: 2, disruptionsAllowed: 0, disruptedPods: { 'web-a': expect.any(String) } });
    await h.run(120_000);
    expect(status(h)).toMatchObject({ currentHealthy: 3, disruptionsAllowed: 1 });
    expect(status(h).disruptedPods).toBeUndefined();
  });

  it('refuses disruptions when a pod has no controller to size maxUnavailable by', async () => {
    const h = await start([pod('bare', { labels: { app: 'web' }, ready: true }), pdb('budget', { maxUnavailable: 1 })]);
    expect(status(h).disruptionsAllowed).toBe(0);
    expect(getCondition(status(h), 'DisruptionAllowed')).toMatchObject({ status: 'False', reason: 'SyncFailed', message: 'found no controller ref for pod "bare"' });
  });
});
