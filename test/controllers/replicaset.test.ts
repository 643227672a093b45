import { describe as suite, expect, it } from 'vitest';
import { errors } from '../../api/types.js';
import { ReplicaSetController, ReplicationControllerController } from '../../controllers/replicaset.js';
import { harness, makeReady, pod, replicaSet, settle } from './helpers.js';

suite('ReplicaSet controller', () => {
  it('a ReplicaSet with 3 replicas and 1 pod creates 2 pods with controller refs', async () => {
    const h = await harness([replicaSet('web', 3)]);
    const rsObj = h.client.peek('replicasets', 'default', 'web')!;
    h.client.add(pod('web-aaaaa', { labels: { app: 'web' }, owner: rsObj }));
    const c = new ReplicaSetController(h.ctx);
    await h.sync();
    h.client.clearActions();
    await c.reconcile('default/web');
    expect(h.writes()).toEqual([expect.stringMatching(/^create pods default\/web-\w{5}$/), expect.stringMatching(/^create pods default\/web-\w{5}$/), 'update replicasets/status default/web']);
    const pods = h.client.objects('pods');
    expect(pods).toHaveLength(3);
    for (const p of pods) {
      expect(p.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: rsObj.metadata.uid, controller: true, blockOwnerDeletion: true }]);
      expect(p.metadata.labels).toEqual({ app: 'web' });
    }
    const created = h.client.writes().filter((a) => a.verb === 'create');
    expect(created[0]!.object!.metadata.generateName).toBe('web-');
    expect(h.recorder.events.filter((e) => e.startsWith('Normal SuccessfulCreate Created pod: web-'))).toHaveLength(2);
    // Status counts the pods the sync started from, as Kubernetes does; the creations' own
    // events trigger the sync that counts them.
    expect(h.client.peek('replicasets', 'default', 'web')!.status).toMatchObject({ replicas: 1, readyReplicas: 0, availableReplicas: 0, fullyLabeledReplicas: 1, observedGeneration: 1 });
    await c.reconcile('default/web');
    expect(h.client.peek('replicasets', 'default', 'web')!.status).toMatchObject({ replicas: 3, fullyLabeledReplicas: 3 });
  });

  it('creates pods in slow-start batches and stops at the first failing batch', async () => {
    const h = await harness([replicaSet('web', 10)]);
    let creates = 0;
    h.client.prependReactor('create', 'pods', () => (++creates > 2 ? { error: errors.forbidden('', 'pods', 'x', 'exceeded quota') } : undefined));
    const c = new ReplicaSetController(h.ctx);
    await h.sync();
    await expect(c.reconcile('default/web')).rejects.toThrow(/exceeded quota/);
    // Batches of 1 and 2: the second batch's second create fails, so no batch of 4 is tried.
    expect(creates).toBe(3);
    expect(h.recorder.events.filter((e) => e.startsWith('Warning FailedCreate Error creating:'))).toHaveLength(1);
    const status = h.client.peek('replicasets', 'default', 'web')!.status;
    expect(status.conditions[0]).toMatchObject({ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate' });
    // Expectations were lowered for what was never created, so the next sync may act.
    expect(c.expectations.satisfied('default/web')).toBe(true);
  });

  it('scales down the least valuable pods first: unscheduled, pending, not ready, more restarts, newer', async () => {
    const h = await harness([replicaSet('web', 1)]);
    const rs = h.client.peek('replicasets', 'default', 'web')!;
    const t0 = h.clock.now() - 3600_000;
    const base = { labels: { app: 'web' }, owner: rs, createdMs: t0 };
    h.client.add(pod('keeper', { ...base, node: 'n1', ready: true, readySinceMs: t0 }));
    h.client.add(pod('unscheduled', { ...base }));
    h.client.add(pod('pending', { ...base, node: 'n2', phase: 'Pending' }));
    h.client.add(pod('not-ready', { ...base, node: 'n3', phase: 'Running', ready: false }));
    h.client.add(pod('restarts', { ...base, node: 'n4', ready: true, readySinceMs: t0, restarts: 5 }));
    h.client.add(pod('newer', { ...base, node: 'n5', ready: true, readySinceMs: t0, createdMs: h.clock.now() - 10_000 }));
    const c = new ReplicaSetController(h.ctx, { burstReplicas: 1 });
    await h.sync();
    const order: string[] = [];
    for (let i = 0; i < 5; i++) {
      h.client.clearActions();
      await c.reconcile('default/web');
      const del = h.client.writes().filter((a) => a.verb === 'delete');
      expect(del).toHaveLength(1);
      order.push(del[0]!.name);
    }
    expect(order).toEqual(['unscheduled', 'pending', 'not-ready', 'restarts', 'newer']);
    expect(h.client.objects('pods').map((p) => p.metadata.name)).toEqual(['keeper']);
    expect(h.recorder.events).toContain('Normal SuccessfulDelete Deleted pod: unscheduled');
  });

  it('prefers deleting pods doubled up on a node', async () => {
    const h = await harness([replicaSet('web', 2)]);
    const rs = h.client.peek('replicasets', 'default', 'web')!;
    const t = h.clock.now() - 3600_000;
    const base = { labels: { app: 'web' }, owner: rs, ready: true, readySinceMs: t, createdMs: t };
    h.client.add(pod('a', { ...base, node: 'n1' }));
    h.client.add(pod('b', { ...base, node: 'n2' }));
    h.client.add(pod('c', { ...base, node: 'n2' }));
    const c = new ReplicaSetController(h.ctx);
    await h.sync();
    await c.reconcile('default/web');
    const del = h.client.writes().filter((a) => a.verb === 'delete');
    expect(del.map((d) => d.name)).toHaveLength(1);
    expect(['b', 'c']).toContain(del[0]!.name);
  });

  it('adopts a matching orphan and releases an owned pod that stopped matching', async () => {
    const h = await harness([replicaSet('web', 2)]);
    const rs = h.client.peek('replicasets', 'default', 'web')!;
    h.client.add(pod('orphan', { labels: { app: 'web' } }));
    h.client.add(pod('strayed', { labels: { app: 'other' }, owner: rs }));
    h.client.add(pod('theirs', { labels: { app: 'web' }, owner: { ...rs, metadata: { ...rs.metadata, name: 'other', uid: 'someone-else' } } }));
    const c = new ReplicaSetController(h.ctx);
    await h.sync();
    h.client.clearActions();
    await c.reconcile('default/web');
    const w = h.writes();
    expect(w).toContain('patch pods default/orphan');
    expect(w).toContain('patch pods default/strayed');
    expect(w.filter((x) => x.startsWith('create pods'))).toHaveLength(1);
    expect(h.client.peek('pods', 'default', 'orphan')!.metadata.ownerReferences![0]!.uid).toBe(rs.metadata.uid);
    expect(h.client.peek('pods', 'default', 'strayed')!.metadata.ownerReferences).toBeUndefined();
    expect(h.client.peek('pods', 'default', 'theirs')!.metadata.ownerReferences![0]!.uid).toBe('someone-else');
    // The fresh read of the owner before adopting (RecheckDeletionTimestamp).
    expect(h.client.actions().some((a) => a.verb === 'get' && a.resource === 'replicasets')).toBe(true);
  });

  it('a ReplicaSet being deleted neither adopts nor creates', async () => {
    const h = await harness([{ ...replicaSet('web', 3), metadata: { ...replicaSet('web', 3).metadata, deletionTimestamp: '2024-01-01T00:00:00Z', finalizers: ['foregroundDeletion'] } }]);
    h.client.add(pod('orphan', { labels: { app: 'web' } }));
    const c = new ReplicaSetController(h.ctx);
    await h.sync();
    h.client.clearActions();
    await c.reconcile('default/web');
    expect(h.writes()).toEqual(['update replicasets/status default/web']);
  });

  it('reports available replicas only after minReadySeconds and looks again then', async () => {
    const rsObj = replicaSet('web', 1);
    rsObj.spec.minReadySeconds = 10;
    const h = await harness([rsObj]);
    const c = new ReplicaSetController(h.ctx);
    c.start();
    await h.sync();
    const [p] = h.client.objects('pods');
    makeReady(h, 'default', p!.metadata.name!);
    await settle();
    expect(h.client.peek('replicasets', 'default', 'web')!.status).toMatchObject({ readyReplicas: 1, availableReplicas: 0 });
    await h.run(10_000);
    expect(h.client.peek('replicasets', 'default', 'web')!.status).toMatchObject({ readyReplicas: 1, availableReplicas: 1 });
  });

  it('retries a failing reconcile with per-item exponential back-off', async () => {
    const h = await harness([replicaSet('web', 1)]);
    let fail = 3;
    const times: number[] = [];
    h.client.prependReactor('create', 'pods', () => {
      times.push(h.clock.now());
      return fail-- > 0 ? { error: errors.internal('etcd is down') } : undefined;
    });
    const c = new ReplicaSetController(h.ctx);
    c.start();
    await h.sync();
    await h.run(1000);
    expect(h.client.objects('pods')).toHaveLength(1);
    const t0 = times[0]!;
    // t=0 fails; the ReplicaFailure status write re-adds the key at once (t=0 again); then the
    // rate limiter's 5 ms, 10 ms (superseded by the earlier 5 ms wait) and 20 ms back-offs.
    expect(times.map((t) => t - t0)).toEqual([0, 0, 5, 25]);
    expect(c.stats.errors).toBe(3);
  });

  it('keeps replicas across pod deletion when running with informers', async () => {
    const h = await harness([replicaSet('web', 3)]);
    const c = new ReplicaSetController(h.ctx);
    c.start();
    await h.sync();
    expect(h.client.objects('pods')).toHaveLength(3);
    const victim = h.client.objects('pods')[1]!;
    await h.client.delete('pods', 'default', victim.metadata.name!);
    await settle();
    const pods = h.client.objects('pods');
    expect(pods).toHaveLength(3);
    expect(pods.map((p) => p.metadata.name)).not.toContain(victim.metadata.name);
  });

  it('a ReplicationController selects with its map selector', async () => {
    const rc = {
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name: 'legacy', namespace: 'default' },
      spec: { replicas: 2, selector: { app: 'legacy' }, template: { metadata: { labels: { app: 'legacy' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    };
    const h = await harness([rc]);
    const c = new ReplicationControllerController(h.ctx);
    await h.sync();
    await c.reconcile('default/legacy');
    const pods = h.client.objects('pods');
    expect(pods).toHaveLength(2);
    expect(pods[0]!.metadata.ownerReferences![0]).toMatchObject({ apiVersion: 'v1', kind: 'ReplicationController', name: 'legacy' });
    await c.reconcile('default/legacy');
    expect(h.client.peek('replicationcontrollers', 'default', 'legacy')!.status.replicas).toBe(2);
  });
});
