import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { FakeClient, isConflict, isExpired, isNotFound, isAlreadyExists, type WatchEvent } from '../../controllers/client.js';
import { Controller, Expectations, slowStartBatch, type ControllerContext } from '../../controllers/controller.js';
import { ClientEventRecorder } from '../../controllers/events.js';
import { Informer, InformerFactory } from '../../controllers/informer.js';
import { FakeClock, formatMicroTime, formatTime, formatRfc1123z, parseTime } from '../../controllers/time.js';
import { BucketRateLimiter, ItemExponentialFailureRateLimiter, WorkQueue, defaultControllerRateLimiter } from '../../controllers/workqueue.js';
import { harness, pod, settle } from './helpers.js';

const cm = (name: string, labels: Record<string, string> = {}, data: Record<string, string> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels }, data });

suite('FakeClient', () => {
  it('assigns uids and resourceVersions, records actions, and types its errors', async () => {
    const clock = new FakeClock();
    const c = new FakeClient({ clock });
    const a = await c.create('configmaps', 'default', cm('a'));
    expect(a.metadata).toMatchObject({ name: 'a', namespace: 'default', generation: 1, creationTimestamp: '2024-01-01T00:00:00Z' });
    expect(Number(a.metadata.resourceVersion)).toBeGreaterThan(0);
    await expect(c.create('configmaps', 'default', cm('a'))).rejects.toSatisfy(isAlreadyExists);
    await expect(c.get('configmaps', 'default', 'nope')).rejects.toSatisfy(isNotFound);
    const stale = { ...a, data: { x: '1' } };
    await c.update('configmaps', 'default', stale);
    await expect(c.update('configmaps', 'default', { ...a, data: { x: '2' } })).rejects.toSatisfy(isConflict);
    const generated = await c.create('configmaps', 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-' } });
    expect(generated.metadata.name).toMatch(/^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(c.actions().map((x) => `${x.verb} ${x.name}`)).toEqual(['create a', 'create a', 'get nope', 'update a', 'update a', `create ${generated.metadata.name}`]);
  });

  it('keeps status out of main-resource writes and bumps generation on spec changes', async () => {
    const c = new FakeClient({ clock: new FakeClock() });
    const d = await c.create('deployments', 'default', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 1 }, status: { replicas: 9 } });
    const upd = await c.update('deployments', 'default', { ...d, spec: { replicas: 2 }, status: { replicas: 5 } });
    expect(upd.metadata.generation).toBe(2);
    expect(upd.status).toEqual({ replicas: 9 });
    const st = await c.updateStatus('deployments', 'default', { ...upd, spec: { replicas: 7 }, status: { replicas: 2 } });
    expect(st.spec).toEqual({ replicas: 2 });
    expect(st.metadata.generation).toBe(2);
    const scaled = await c.patch('deployments', 'default', 'd', { spec: { replicas: 4 } }, { subresource: 'scale' });
    expect(scaled).toMatchObject({ kind: 'Scale', spec: { replicas: 4 } });
  });

  it('finalizers hold a delete; removing the last one completes it', async () => {
    const c = new FakeClient({ clock: new FakeClock() });
    await c.create('configmaps', 'default', { ...cm('f'), metadata: { ...cm('f').metadata, finalizers: ['example.com/hold'] } });
    await c.delete('configmaps', 'default', 'f', { propagationPolicy: 'Foreground' });
    const held = c.peek('configmaps', 'default', 'f')!;
    expect(held.metadata.deletionTimestamp).toBeDefined();
    expect(held.metadata.finalizers).toEqual(['example.com/hold', 'foregroundDeletion']);
    await c.patch('configmaps', 'default', 'f', { metadata: { finalizers: null } });
    expect(c.peek('configmaps', 'default', 'f')).toBeUndefined();
  });

  it('serves watches with selectors, resumes from a resourceVersion, and expires old ones', async () => {
    const c = new FakeClient({ clock: new FakeClock(), historyLimit: 3 });
    const seen: string[] = [];
    const onEvent = (e: WatchEvent) => seen.push(`${e.type} ${e.object.metadata.name}`);
    await c.watch('configmaps', 'default', { labelSelector: 'app=x', resourceVersion: c.resourceVersion }, { onEvent, onClose: () => seen.push('closed') });
    await c.create('configmaps', 'default', cm('in', { app: 'x' }));
    await c.create('configmaps', 'default', cm('out', { app: 'y' }));
    const moved = c.peek('configmaps', 'default', 'out')!;
    await c.update('configmaps', 'default', { ...moved, metadata: { ...moved.metadata, labels: { app: 'x' } } });
    await c.delete('configmaps', 'default', 'in');
    expect(seen).toEqual(['ADDED in', 'ADDED out', 'DELETED in']);
    await expect(c.watch('configmaps', 'default', { resourceVersion: '1' }, { onEvent, onClose: () => {} })).rejects.toSatisfy(isExpired);
    c.expireWatches();
    expect(seen.slice(-1)).toEqual(['closed']);
  });
});

suite('workqueue', () => {
  it('deduplicates, and processes again an item re-added while processing', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock, timers: clock });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    const a = q.get()!;
    expect(a).toBe('a');
    q.add('a');
    expect(q.len()).toBe(1);
    expect(q.get()).toBe('b');
    expect(q.get()).toBeUndefined();
    q.done('a');
    expect(q.get()).toBe('a');
  });

  it('addAfter keeps the earliest pending delay', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock, timers: clock });
    q.addAfter('x', 1000);
    q.addAfter('x', 500);
    q.addAfter('x', 2000);
    clock.advance(499);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
    expect(clock.pendingCount).toBe(0);
  });

  it('the default rate limiter: per-item 5 ms doubling to 1000 s, overall 10 qps after a burst of 100', () => {
    const clock = new FakeClock();
    const item = new ItemExponentialFailureRateLimiter<string>();
    expect([1, 2, 3, 4].map(() => item.when('k'))).toEqual([5, 10, 20, 40]);
    for (let i = 0; i < 40; i++) item.when('k');
    expect(item.when('k')).toBe(1_000_000);
    item.forget('k');
    expect(item.when('k')).toBe(5);
    const bucket = new BucketRateLimiter<string>(clock, 10, 100);
    const waits = Array.from({ length: 103 }, (_, i) => bucket.when(`i${i}`));
    expect(waits.slice(0, 100).every((w) => w === 0)).toBe(true);
    expect(waits.slice(100)).toEqual([100, 200, 300]);
    const both = defaultControllerRateLimiter<string>(clock);
    expect(both.when('z')).toBe(5);
  });
});

suite('informer', () => {
  it('lists, then watches, telling handlers about adds, updates and deletes', async () => {
    const clock = new FakeClock();
    const client = new FakeClient({ clock, objects: [cm('a')] });
    const inf = new Informer('configmaps', { client, clock, timers: clock, freeze: true });
    const log: string[] = [];
    inf.addEventHandler({ add: (o) => log.push(`add ${o.metadata.name}`), update: (_o, n) => log.push(`update ${n.metadata.name}`), delete: (o) => log.push(`delete ${o.metadata.name}`) });
    inf.start();
    await inf.waitForSync();
    await client.create('configmaps', 'default', cm('b'));
    await client.update('configmaps', 'default', { ...client.peek('configmaps', 'default', 'b')!, data: { k: 'v' } });
    await client.delete('configmaps', 'default', 'a');
    expect(log).toEqual(['add a', 'add b', 'update b', 'delete a']);
    expect(inf.lister.list('default').map((o) => o.metadata.name)).toEqual(['b']);
    expect(Object.isFrozen(inf.lister.get('default', 'b')!.metadata)).toBe(true);
  });

  it('relists on 410 Expired, inferring deletes it missed', async () => {
    const clock = new FakeClock();
    const client = new FakeClient({ clock, objects: [cm('a'), cm('b')] });
    const inf = new Informer('configmaps', { client, clock, timers: clock });
    const deleted: string[] = [];
    inf.addEventHandler({ delete: (o, unknown) => deleted.push(`${o.metadata.name}${unknown ? ' (inferred)' : ''}`) });
    inf.start();
    await inf.waitForSync();
    await settle();
    // The watch is cut with 410 while a delete happens out of its sight.
    client.expireWatches();
    client.remove('configmaps', 'default', 'a');
    await settle();
    expect(inf.stats.relistsOnExpired).toBe(1);
    expect(deleted).toEqual(['a (inferred)']);
    await client.create('configmaps', 'default', cm('c'));
    expect(inf.lister.list().map((o) => o.metadata.name).sort()).toEqual(['b', 'c']);
  });

  it('re-watches from the last resourceVersion when a watch just ends', async () => {
    const clock = new FakeClock();
    const client = new FakeClient({ clock });
    const inf = new Informer('configmaps', { client, clock, timers: clock });
    inf.start();
    await inf.waitForSync();
    await settle();
    client.closeWatches();
    await settle();
    await client.create('configmaps', 'default', cm('late'));
    expect(inf.lister.get('default', 'late')).toBeDefined();
    expect(inf.stats).toMatchObject({ lists: 1, watches: 2 });
  });

  it('resyncs the cache to the handlers every resync period', async () => {
    const clock = new FakeClock();
    const client = new FakeClient({ clock, objects: [cm('a')] });
    const factory = new InformerFactory({ client, clock, timers: clock, resyncPeriodMs: 30_000 });
    const updates: string[] = [];
    factory.informer('configmaps').addEventHandler({ update: (o, n) => updates.push(o === n ? 'resync' : 'change') });
    factory.start();
    await factory.waitForCacheSync();
    clock.advance(60_000);
    expect(updates).toEqual(['resync', 'resync']);
  });

  it('indexes by namespace, controller and node name', async () => {
    const clock = new FakeClock();
    const owner = { metadata: { name: 'rs', uid: 'rs-uid' }, apiVersion: 'apps/v1', kind: 'ReplicaSet' } as KubeObject;
    const client = new FakeClient({ clock, objects: [pod('p1', { owner, node: 'n1' }), pod('p2', { node: 'n1', namespace: 'other' })] });
    const factory = new InformerFactory({ client, clock, timers: clock });
    const inf = factory.informer('pods', ['nodeName']);
    factory.start();
    await factory.waitForCacheSync();
    expect(inf.lister.controlledBy('rs-uid').map((p) => p.metadata.name)).toEqual(['p1']);
    expect(inf.lister.byIndex('nodeName', 'n1')).toHaveLength(2);
    expect(inf.lister.list('other').map((p) => p.metadata.name)).toEqual(['p2']);
  });
});

suite('Controller base', () => {
  class Echo extends Controller {
    seen: string[] = [];
    failures = 0;
    constructor(ctx: ControllerContext) {
      super('echo', ctx);
      ctx.informers.informer('configmaps').addEventHandler({ add: (o) => this.enqueue(o), update: (_o, n) => this.enqueue(n) });
    }
    override async reconcile(key: string): Promise<void> {
      this.seen.push(key);
      if (this.failures-- > 0) throw new Error('boom');
    }
  }

  it('turns informer events into keys, and retries failures with back-off', async () => {
    const h = await harness([cm('a')]);
    const c = new Echo(h.ctx);
    c.failures = 2;
    c.start();
    await h.sync();
    expect(c.seen).toEqual(['default/a']);
    await h.run(5);
    expect(c.seen).toEqual(['default/a', 'default/a']);
    await h.run(10);
    expect(c.seen).toEqual(['default/a', 'default/a', 'default/a']);
    expect(c.stats).toEqual({ reconciles: 3, errors: 2 });
    expect(c.queue.numRequeues('default/a')).toBe(0);
  });

  it('a reconciler that writes to a cached object fails (the caches are frozen)', async () => {
    const h = await harness([cm('a', { app: 'x' })]);
    class Bad extends Controller {
      override async reconcile(key: string): Promise<void> {
        const o = h.informers.lister('configmaps').getByKey(key)!;
        o.metadata.labels!.app = 'changed';
      }
    }
    const c = new Bad('bad', h.ctx);
    h.informers.informer('configmaps').addEventHandler({ add: (o) => c.enqueue(o) });
    c.start();
    await h.sync();
    expect(c.stats.errors).toBeGreaterThan(0);
    expect(String(c.lastErrors.get('default/a'))).toMatch(/read only|read-only|Cannot assign/);
  });
});

suite('support', () => {
  it('expectations are satisfied when observed or expired', () => {
    const clock = new FakeClock();
    const e = new Expectations(clock);
    e.expectCreations('k', 2);
    expect(e.satisfied('k')).toBe(false);
    e.creationObserved('k');
    e.creationObserved('k');
    expect(e.satisfied('k')).toBe(true);
    e.expectDeletions('k', ['ns/a']);
    e.deletionObserved('k', 'ns/other');
    expect(e.satisfied('k')).toBe(false);
    clock.advance(5 * 60_000 + 1);
    expect(e.satisfied('k')).toBe(true);
  });

  it('slow-start batches grow 1, 2, 4 … and stop at the first failing batch', async () => {
    const calls: number[] = [];
    const r = await slowStartBatch(10, 1, async (i) => {
      calls.push(i);
      if (i === 4) throw new Error('quota');
    });
    expect(calls).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(r.successes).toBe(6);
  });

  it('events are named <object>.<hex nanos> and repeats bump count', async () => {
    const clock = new FakeClock();
    const client = new FakeClient({ clock });
    const rec = new ClientEventRecorder(client, clock, 'replicaset-controller');
    const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web', namespace: 'default', uid: 'u1' } };
    rec.event(rs, 'Normal', 'SuccessfulCreate', 'Created pod: web-abc12');
    rec.event(rs, 'Normal', 'SuccessfulCreate', 'Created pod: web-abc12');
    await rec.flush();
    const evs = client.objects('events');
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({
      reason: 'SuccessfulCreate',
      message: 'Created pod: web-abc12',
      type: 'Normal',
      count: 2,
      source: { component: 'replicaset-controller' },
      involvedObject: { kind: 'ReplicaSet', name: 'web', uid: 'u1', apiVersion: 'apps/v1' },
    });
    expect(evs[0]!.metadata.name).toMatch(/^web\.[0-9a-f]+$/);
  });

  it('records events on a clock with sub-millisecond time, as real threads have', async () => {
    const clock = new FakeClock(1_795_657_607_745.4534);
    const client = new FakeClient({ clock });
    const rec = new ClientEventRecorder(client, clock, 'default-scheduler');
    rec.event({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'u' } }, 'Warning', 'FailedScheduling', '0/1 nodes are available.');
    await rec.flush();
    expect(client.objects('events')).toHaveLength(1);
  });

  it('formats and parses times without a clock', () => {
    expect(formatTime(Date.UTC(2024, 1, 29, 13, 4, 5, 999))).toBe('2024-02-29T13:04:05Z');
    expect(formatRfc1123z(Date.UTC(2024, 0, 1))).toBe('Mon, 01 Jan 2024 00:00:00 +0000');
    expect(parseTime('2024-02-29T13:04:05Z')).toBe(Date.UTC(2024, 1, 29, 13, 4, 5));
    for (const ms of [0, 951782400000, 4102444800000, 1709212345000]) expect(parseTime(formatTime(ms))).toBe(ms - (ms % 1000));
    // MicroTime keeps whole microseconds of a clock that gives fractions of a millisecond.
    expect(formatMicroTime(Date.UTC(2024, 1, 29, 13, 4, 5, 7))).toBe('2024-02-29T13:04:05.007000Z');
    expect(formatMicroTime(Date.UTC(2024, 1, 29, 13, 4, 5, 700) + 0.8193359375)).toBe('2024-02-29T13:04:05.700819Z');
    expect(formatMicroTime(Date.UTC(2024, 1, 29, 13, 4, 5, 999) + 0.998)).toBe('2024-02-29T13:04:05.999998Z');
  });
});
