import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { StatefulSetController } from '../../controllers/statefulset.js';
import { isPodReady } from '../../controllers/podutil.js';
import { finishPod, harness, makeReady, podTemplate, settle, type Harness } from './helpers.js';

function statefulSet(name: string, replicas: number, extra: Record<string, any> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: podTemplate({ app: name }),
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      revisionHistoryLimit: 10,
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      ...extra,
    },
  };
}

async function start(set: KubeObject, opts: { graceful?: boolean } = {}): Promise<Harness> {
  const h = await harness([set], { gracefulPodDeletion: opts.graceful });
  new StatefulSetController(h.ctx).start();
  await h.sync();
  return h;
}

const podNames = (h: Harness) => h.client.objects('pods').map((p) => p.metadata.name!).sort();

async function readyAll(h: Harness): Promise<void> {
  for (const p of h.client.objects('pods')) if (!isPodReady(p) && !p.metadata.deletionTimestamp) makeReady(h, 'default', p.metadata.name!);
  await settle();
}

async function scale(h: Harness, name: string, replicas: number): Promise<void> {
  const s = h.client.peek('statefulsets', 'default', name)!;
  s.spec.replicas = replicas;
  await h.client.update('statefulsets', 'default', s);
  await settle();
}

suite('StatefulSet controller', () => {
  it('OrderedReady creates web-0, and web-1 only once web-0 is Running and Ready', async () => {
    const h = await start(statefulSet('web', 3));
    expect(podNames(h)).toEqual(['web-0']);
    const seen = [podNames(h)];
    for (let i = 0; i < 3; i++) {
      await readyAll(h);
      seen.push(podNames(h));
    }
    expect(seen).toEqual([['web-0'], ['web-0', 'web-1'], ['web-0', 'web-1', 'web-2'], ['web-0', 'web-1', 'web-2']]);
    expect(h.recorder.events.slice(0, 2)).toEqual(['Normal SuccessfulCreate create Claim data-web-0 Pod web-0 in StatefulSet web success', 'Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful']);
    const s = h.client.peek('statefulsets', 'default', 'web')!;
    expect(s.status).toMatchObject({ replicas: 3, readyReplicas: 3, availableReplicas: 3, currentReplicas: 3, updatedReplicas: 3 });
    expect(s.status.currentRevision).toBe(s.status.updateRevision);
  });

  it('gives each pod its identity and a claim <template>-<set>-<ordinal>', async () => {
    const h = await start(statefulSet('db', 1));
    const p = h.client.peek('pods', 'default', 'db-0')!;
    expect(p.metadata.labels).toMatchObject({ app: 'db', 'statefulset.kubernetes.io/pod-name': 'db-0', 'apps.kubernetes.io/pod-index': '0' });
    expect(p.metadata.labels!['controller-revision-hash']).toMatch(/^db-\w+$/);
    expect(p.spec).toMatchObject({ hostname: 'db-0', subdomain: 'db' });
    expect(p.spec.volumes).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: 'data-db-0' } }]);
    const pvc = h.client.peek('persistentvolumeclaims', 'default', 'data-db-0')!;
    expect(pvc.metadata.labels).toEqual({ app: 'db' });
    expect(pvc.metadata.ownerReferences).toBeUndefined();
    expect(pvc.spec.resources.requests.storage).toBe('1Gi');
    const revs = h.client.objects('controllerrevisions');
    expect(revs).toHaveLength(1);
    expect(revs[0]!.revision).toBe(1);
  });

  it('scales down from the highest ordinal, one healthy step at a time, keeping the claims', async () => {
    const h = await start(statefulSet('web', 3));
    for (let i = 0; i < 3; i++) await readyAll(h);
    await scale(h, 'web', 1);
    // OrderedReady deletes web-2, then web-1 once web-2 is gone (immediately here).
    expect(podNames(h)).toEqual(['web-0']);
    const deletes = h.client.writes().filter((a) => a.verb === 'delete').map((a) => a.name);
    expect(deletes).toEqual(['web-2', 'web-1']);
    expect(h.client.objects('persistentvolumeclaims').map((c) => c.metadata.name).sort()).toEqual(['data-web-0', 'data-web-1', 'data-web-2']);
  });

  it('Parallel creates every ordinal at once', async () => {
    const h = await start(statefulSet('web', 3, { podManagementPolicy: 'Parallel' }));
    expect(podNames(h)).toEqual(['web-0', 'web-1', 'web-2']);
  });

  it('never makes a second pod for an ordinal whose pod is still terminating', async () => {
    const h = await start(statefulSet('web', 2, { podManagementPolicy: 'Parallel' }), { graceful: true });
    for (const p of h.client.objects('pods')) h.client.mutate('pods', 'default', p.metadata.name!, (x) => (x.spec.nodeName = 'n1'));
    await readyAll(h);
    // Someone deletes web-1: with a grace period it stays, terminating, until its kubelet is done.
    await h.client.delete('pods', 'default', 'web-1');
    await settle();
    const p1 = h.client.peek('pods', 'default', 'web-1')!;
    expect(p1.metadata.deletionTimestamp).toBeDefined();
    await h.run(5_000);
    expect(h.client.objects('pods').filter((p) => p.metadata.name === 'web-1')).toHaveLength(1);
    expect(h.client.peek('pods', 'default', 'web-1')!.metadata.uid).toBe(p1.metadata.uid);
    // The kubelet finishes the deletion: now the replacement is made.
    h.client.remove('pods', 'default', 'web-1');
    await settle();
    const replacement = h.client.peek('pods', 'default', 'web-1')!;
    expect(replacement.metadata.uid).not.toBe(p1.metadata.uid);
    expect(replacement.metadata.deletionTimestamp).toBeUndefined();
  });

  it('replaces a failed pod under the same name', async () => {
    const h = await start(statefulSet('web', 2));
    for (let i = 0; i < 2; i++) await readyAll(h);
    const old = h.client.peek('pods', 'default', 'web-1')!;
    finishPod(h, 'default', 'web-1', 'Failed');
    await settle();
    expect(h.recorder.events).toContain('Warning RecreatingFailedPod StatefulSet default/web is recreating failed Pod web-1');
    const now = h.client.peek('pods', 'default', 'web-1')!;
    expect(now.metadata.uid).not.toBe(old.metadata.uid);
    expect(now.spec.volumes).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: 'data-web-1' } }]);
  });

  it('rolls an update from the highest ordinal down to the partition', async () => {
    const h = await start(statefulSet('web', 3, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }));
    for (let i = 0; i < 3; i++) await readyAll(h);
    const before = h.client.peek('pods', 'default', 'web-0')!.metadata.labels!['controller-revision-hash'];
    const s = h.client.peek('statefulsets', 'default', 'web')!;
    s.spec.template.spec.containers[0].image = 'nginx:1.28';
    await h.client.update('statefulsets', 'default', s);
    await settle();
    const order: string[] = [];
    for (const a of h.client.writes()) if (a.verb === 'delete' && a.resource === 'pods') order.push(a.name);
    for (let i = 0; i < 4; i++) {
      h.client.clearActions();
      await readyAll(h);
      for (const a of h.client.writes()) if (a.verb === 'delete' && a.resource === 'pods') order.push(a.name);
    }
    expect(order).toEqual(['web-2', 'web-1']);
    const status = h.client.peek('statefulsets', 'default', 'web')!.status;
    const rev = (n: string) => h.client.peek('pods', 'default', n)!.metadata.labels!['controller-revision-hash'];
    expect(rev('web-0')).toBe(before);
    expect(rev('web-1')).toBe(status.updateRevision);
    expect(rev('web-2')).toBe(status.updateRevision);
    expect(h.client.peek('pods', 'default', 'web-2')!.spec.containers[0].image).toBe('nginx:1.28');
    expect(status).toMatchObject({ replicas: 3, updatedReplicas: 2, currentReplicas: 1, currentRevision: before });
    expect(h.client.objects('controllerrevisions').map((r) => r.revision).sort()).toEqual([1, 2]);
  });
});
