import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { GarbageCollector } from '../../controllers/gc.js';
import { harness, pod, podTemplate, replicaSet, settle, type Harness } from './helpers.js';

function owned(obj: KubeObject, owner: KubeObject, block = true): KubeObject {
  obj.metadata.ownerReferences = [
    { apiVersion: owner.apiVersion!, kind: owner.kind!, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: block },
  ];
  return obj;
}

/** A Deployment → ReplicaSet → 2 pods chain, stored. */
function chain(h: Harness): { d: KubeObject; rs: KubeObject; pods: KubeObject[] } {
  const d = h.client.add({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: podTemplate({ app: 'web' }) } });
  const rs = h.client.add(owned(replicaSet('web-abc', 2), d));
  const pods = [0, 1].map((i) => h.client.add(pod(`web-abc-${i}`, { labels: { app: 'web' }, owner: rs })));
  return { d, rs, pods };
}

async function start(): Promise<{ h: Harness; gc: GarbageCollector; deleted: string[] }> {
  const h = await harness();
  const gc = new GarbageCollector(h.ctx, { resources: ['deployments', 'replicasets', 'pods', 'configmaps'] });
  const deleted: string[] = [];
  for (const r of gc.resources) {
    h.informers.informer(r).addEventHandler({ delete: (o) => deleted.push(o.metadata.name!) });
  }
  return { h, gc, deleted };
}

suite('garbage collector', () => {
  it('background: the owner goes at once, then the collector deletes its dependents', async () => {
    const { h, gc, deleted } = await start();
    chain(h);
    gc.start();
    await h.sync();
    expect(h.client.objects('pods')).toHaveLength(2);
    await h.client.delete('deployments', 'default', 'web', { propagationPolicy: 'Background' });
    await settle(6);
    expect(h.client.objects('deployments')).toHaveLength(0);
    expect(h.client.objects('replicasets')).toHaveLength(0);
    expect(h.client.objects('pods')).toHaveLength(0);
    expect(deleted[0]).toBe('web');
    expect(deleted.slice(1).sort()).toEqual(['web-abc', 'web-abc-0', 'web-abc-1']);
  });

  it('foreground: dependents with blockOwnerDeletion go first, the owner last', async () => {
    const { h, gc, deleted } = await start();
    chain(h);
    gc.start();
    await h.sync();
    await h.client.delete('deployments', 'default', 'web', { propagationPolicy: 'Foreground' });
    const d = h.client.peek('deployments', 'default', 'web')!;
    expect(d.metadata.finalizers).toEqual(['foregroundDeletion']);
    expect(d.metadata.deletionTimestamp).toBeDefined();
    await settle(8);
    expect(h.client.objects('deployments')).toHaveLength(0);
    expect(h.client.objects('replicasets')).toHaveLength(0);
    expect(h.client.objects('pods')).toHaveLength(0);
    // Pods before their ReplicaSet, the ReplicaSet before the Deployment.
    expect(deleted.indexOf('web-abc-0')).toBeLessThan(deleted.indexOf('web-abc'));
    expect(deleted.indexOf('web-abc-1')).toBeLessThan(deleted.indexOf('web-abc'));
    expect(deleted.indexOf('web-abc')).toBeLessThan(deleted.indexOf('web'));
    // The ReplicaSet was itself deleted in the foreground, as it had dependents.
    const rsDelete = h.client.writes().find((a) => a.verb === 'delete' && a.resource === 'replicasets')!;
    expect(rsDelete.options).toMatchObject({ propagationPolicy: 'Foreground' });
  });

  it('orphan: dependents lose the owner reference and stay', async () => {
    const { h, gc } = await start();
    const { rs } = chain(h);
    gc.start();
    await h.sync();
    await h.client.delete('replicasets', 'default', rs.metadata.name!, { propagationPolicy: 'Orphan' });
    await settle(6);
    expect(h.client.objects('replicasets')).toHaveLength(0);
    const pods = h.client.objects('pods');
    expect(pods).toHaveLength(2);
    for (const p of pods) expect(p.metadata.ownerReferences).toBeUndefined();
    // The deployment was not touched.
    expect(h.client.objects('deployments')).toHaveLength(1);
  });

  it('deletes an object whose owner never existed, after checking the API', async () => {
    const { h, gc } = await start();
    h.client.add({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'stray', namespace: 'default', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'ghost', uid: 'no-such-uid' }] } });
    gc.start();
    await h.sync();
    await settle(4);
    expect(h.client.objects('configmaps')).toHaveLength(0);
    expect(h.client.actions().some((a) => a.verb === 'get' && a.resource === 'deployments' && a.name === 'ghost')).toBe(true);
  });

  it('keeps an object with a living owner, dropping only the dangling reference', async () => {
    const { h, gc } = await start();
    const d = h.client.add({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'alive', namespace: 'default' }, spec: {} });
    h.client.add({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'shared',
        namespace: 'default',
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: 'alive', uid: d.metadata.uid! },
          { apiVersion: 'apps/v1', kind: 'Deployment', name: 'gone', uid: 'gone-uid' },
        ],
      },
    });
    gc.start();
    await h.sync();
    await settle(4);
    const cm = h.client.peek('configmaps', 'default', 'shared')!;
    expect(cm.metadata.ownerReferences!.map((r) => r.name)).toEqual(['alive']);
  });

  it('tracks dependents in its graph', async () => {
    const { h, gc } = await start();
    const { rs, pods } = chain(h);
    gc.start();
    await h.sync();
    expect(gc.dependentsOf(rs.metadata.uid!).sort()).toEqual(pods.map((p) => p.metadata.uid!).sort());
  });
});
