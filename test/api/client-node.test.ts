// @kubernetes/client-node against the API server: typed CRUD, errors, and an informer that
// follows adds, updates and deletes through list + watch.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, until, type TestCluster } from './harness.js';

let c: TestCluster;
let kc: k8s.KubeConfig;

beforeAll(async () => {
  c = await startCluster();
  kc = new k8s.KubeConfig();
  kc.loadFromFile(c.kubeconfig);
});

afterAll(async () => {
  await c?.stop();
});

describe('@kubernetes/client-node', () => {
  it('creates, reads, updates, patches and deletes', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: 'crud' } } });
    const created = await core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'cfg', labels: { app: 'x' } }, data: { a: '1' } } });
    expect(created.metadata?.uid).toBeTruthy();
    const read = await core.readNamespacedConfigMap({ namespace: 'crud', name: 'cfg' });
    expect(read.data).toEqual({ a: '1' });
    read.data = { a: '2' };
    const replaced = await core.replaceNamespacedConfigMap({ namespace: 'crud', name: 'cfg', body: read });
    expect(Number(replaced.metadata!.resourceVersion)).toBeGreaterThan(Number(read.metadata!.resourceVersion));
    const patched = await core.patchNamespacedConfigMap(
      { namespace: 'crud', name: 'cfg', body: { data: { b: '3' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(patched.data).toEqual({ a: '2', b: '3' });
    const list = await core.listNamespacedConfigMap({ namespace: 'crud', labelSelector: 'app=x' });
    expect(list.items.map((i) => i.metadata?.name)).toEqual(['cfg']);

    const d = await apps.createNamespacedDeployment({
      namespace: 'crud',
      body: {
        metadata: { name: 'api' },
        spec: { selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
      },
    });
    expect(d.spec?.replicas).toBe(1);
    expect(d.spec?.strategy?.type).toBe('RollingUpdate');
    const scale = await apps.readNamespacedDeploymentScale({ namespace: 'crud', name: 'api' });
    expect(scale.spec?.replicas).toBe(1);

    // A stale update is a 409 the client surfaces as an ApiException.
    read.data = { a: 'stale' };
    await expect(core.replaceNamespacedConfigMap({ namespace: 'crud', name: 'cfg', body: read })).rejects.toMatchObject({ code: 409 });
    await expect(core.readNamespacedConfigMap({ namespace: 'crud', name: 'missing' })).rejects.toMatchObject({ code: 404 });

    await core.deleteNamespacedConfigMap({ namespace: 'crud', name: 'cfg' });
    await expect(core.readNamespacedConfigMap({ namespace: 'crud', name: 'cfg' })).rejects.toMatchObject({ code: 404 });
  });

  it('an informer sees adds, updates and deletes', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'informed' } } });
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/informed/configmaps', () => core.listNamespacedConfigMap({ namespace: 'informed' }));
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name} ${(o as k8s.V1ConfigMap).data?.v}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    await core.createNamespacedConfigMap({ namespace: 'informed', body: { metadata: { name: 'before' }, data: { v: '0' } } });
    await informer.start();
    await until(() => seen.includes('add before'), 10_000, 'the listed object');
    await core.createNamespacedConfigMap({ namespace: 'informed', body: { metadata: { name: 'live' }, data: { v: '1' } } });
    await core.patchNamespacedConfigMap({ namespace: 'informed', name: 'live', body: { data: { v: '2' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await core.deleteNamespacedConfigMap({ namespace: 'informed', name: 'live' });
    await until(() => seen.includes('delete live'), 10_000, 'the watched delete');
    expect(seen).toEqual(['add before', 'add live', 'update live 2', 'delete live']);
    expect(informer.list().map((o) => o.metadata?.name)).toEqual(['before']);
    await informer.stop();
  });
});
