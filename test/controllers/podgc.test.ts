import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { PodGCController, type PodGCOptions } from '../../controllers/podgc.js';
import { getCondition } from '../../controllers/podutil.js';
import { harness, node, pod, type Harness } from './helpers.js';

async function start(objects: KubeObject[], options: PodGCOptions = {}): Promise<{ h: Harness; gc: PodGCController }> {
  const h = await harness(objects, { gracefulPodDeletion: true });
  const gc = new PodGCController(h.ctx, options);
  gc.start();
  await h.sync();
  return { h, gc };
}

const names = (h: Harness) => h.client.objects('pods').map((p) => p.metadata.name).sort();

/** Deletes a pod bound to a node the way `kubectl delete pod` does: it stays, Terminating. */
async function deleteGracefully(h: Harness, name: string): Promise<void> {
  await h.client.delete('pods', 'default', name);
  expect(h.client.peek('pods', 'default', name)?.metadata.deletionTimestamp).toBeDefined();
}

suite('pod garbage collection', () => {
  it('force-deletes pods of a deleted node after the 40 s quarantine, marking them Failed with DeletionByPodGC', async () => {
    const { h, gc } = await start([node('n1'), pod('a', { node: 'n1', phase: 'Running', ready: true }), pod('b', { node: 'n2', phase: 'Running', ready: true })]);
    // n2 never existed: seen missing at the first check (20 s), quarantined 40 s, gone at 60 s.
    await h.run(20_000);
    expect(names(h)).toEqual(['a', 'b']);
    await h.run(20_000);
    expect(names(h)).toEqual(['a', 'b']);
    await h.run(20_000);
    expect(names(h)).toEqual(['a']);
    expect(gc.deleted.orphaned).toBe(1);
    const writes = h.writes();
    expect(writes).toContain('update pods/status default/b');
    expect(writes).toContain('delete pods default/b');
    // A node deleted later goes the same way; its pod was Terminating and is now gone for good.
    await deleteGracefully(h, 'a');
    await h.client.delete('nodes', '', 'n1');
    await h.run(40_000);
    expect(names(h)).toEqual(['a']);
    await h.run(20_000);
    expect(names(h)).toEqual([]);
  });

  it('records DisruptionTarget and phase Failed before deleting a live orphan', async () => {
    const { h } = await start([pod('o', { node: 'gone', phase: 'Running', ready: true })], { checkPeriodMs: 1_000, quarantineMs: 2_000 });
    let seen: KubeObject | undefined;
    const update = h.client.updateStatus.bind(h.client);
    h.client.updateStatus = async (resource: string, ns: string, body: KubeObject) => {
      seen = body;
      return update(resource, ns, body);
    };
    await h.run(4_000);
    expect(h.client.peek('pods', 'default', 'o')).toBeUndefined();
    expect(seen?.status.phase).toBe('Failed');
    expect(getCondition(seen?.status, 'DisruptionTarget')).toMatchObject({ status: 'True', reason: 'DeletionByPodGC', message: 'PodGC: node no longer exists' });
  });

  it('keeps the pods of a node that the API still has, even when the cache misses it', async () => {
    const { h, gc } = await start([pod('p', { node: 'late', phase: 'Running' })], { checkPeriodMs: 1_000, quarantineMs: 2_000 });
    // The node exists in the API but the informer has not seen it: hide it from the cache.
    await h.client.create('nodes', '', node('late'));
    const lister = h.informers.lister('nodes');
    const get = lister.get.bind(lister);
    lister.get = (ns: string, name: string) => (name === 'late' ? undefined : get(ns, name));
    await h.run(10_000);
    expect(names(h)).toEqual(['p']);
    expect(gc.deleted.orphaned).toBe(0);
  });

  it('force-deletes terminating pods on a NotReady node tainted out-of-service, and only those', async () => {
    const down = node('down', { ready: 'Unknown', taints: [{ key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' }] });
    const unknown = node('unknown', { ready: 'Unknown' });
    const { h, gc } = await start([down, unknown, pod('x', { node: 'down', phase: 'Running' }), pod('y', { node: 'unknown', phase: 'Running' }), pod('z', { node: 'down', phase: 'Running' })]);
    await deleteGracefully(h, 'x');
    await deleteGracefully(h, 'y');
    await h.run(20_000);
    // x: terminating on an out-of-service node. y: its node is only unreachable. z: not terminating.
    expect(names(h)).toEqual(['y', 'z']);
    expect(gc.deleted.outOfService).toBe(1);
  });

  it('force-deletes terminating pods that were never scheduled', async () => {
    const p = pod('never', {});
    p.metadata.finalizers = ['example.com/hold'];
    const { h, gc } = await start([p]);
    await h.client.delete('pods', 'default', 'never');
    expect(h.client.peek('pods', 'default', 'never')?.metadata.deletionTimestamp).toBeDefined();
    await h.run(20_000);
    // A finalizer still holds it: the delete was issued, the object waits for its finalizer.
    expect(h.writes()).toContain('delete pods default/never');
    expect(gc.deleted.unscheduled).toBe(1);
  });

  it('deletes the oldest terminated pods beyond the threshold', async () => {
    const pods = [
      pod('old', { node: 'n1', phase: 'Succeeded', createdMs: 1_000 }),
      pod('mid', { node: 'n1', phase: 'Failed', createdMs: 2_000 }),
      pod('new', { node: 'n1', phase: 'Succeeded', createdMs: 3_000 }),
      pod('live', { node: 'n1', phase: 'Running', createdMs: 0 }),
    ];
    const { h, gc } = await start([node('n1'), ...pods], { terminatedPodThreshold: 1 });
    await h.run(20_000);
    expect(names(h)).toEqual(['live', 'new']);
    expect(gc.deleted.terminated).toBe(2);
  });
});
