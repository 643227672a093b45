import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { errors } from '../../api/types.js';
import { Scheduler } from '../../controllers/scheduler/index.js';
import { SchedulingQueue } from '../../controllers/scheduler/queue.js';
import { buildPodInfo } from '../../controllers/scheduler/nodeinfo.js';
import { getCondition } from '../../controllers/podutil.js';
import { FakeClock } from '../../controllers/time.js';
import { harness, node, settle, type Harness } from '../controllers/helpers.js';
import { podRequesting, seeded } from './helpers.js';

async function start(objects: KubeObject[]): Promise<{ h: Harness; s: Scheduler }> {
  const h = await harness(objects);
  const s = new Scheduler({ client: h.client, clock: h.clock, timers: h.clock, random: seeded(3), recorder: h.recorder });
  s.attach(h.informers);
  s.start();
  await h.sync();
  await s.settled();
  await settle();
  return { h, s };
}

const nodeOf = (h: Harness, name: string) => h.client.peek('pods', 'default', name)!.spec.nodeName;

suite('scheduler loop', () => {
  it('binds a pending pod through pods/binding and records Scheduled', async () => {
    const { h } = await start([node('n1'), podRequesting('web', '500m')]);
    expect(nodeOf(h, 'web')).toBe('n1');
    expect(h.client.writes().map((a) => `${a.verb} ${a.resource}/${a.subresource} ${a.name}`)).toContain('create pods/binding web');
    expect(getCondition(h.client.peek('pods', 'default', 'web')!.status, 'PodScheduled')!.status).toBe('True');
    expect(h.recorder.events).toContain('Normal Scheduled Successfully assigned default/web to n1');
  });

  it('marks an unschedulable pod PodScheduled=False and schedules it when a node that fits arrives', async () => {
    const { h, s } = await start([node('n1', { cpu: '1' }), podRequesting('big', '2')]);
    const cond = getCondition(h.client.peek('pods', 'default', 'big')!.status, 'PodScheduled')!;
    expect(cond).toMatchObject({ status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient cpu.' });
    expect(h.recorder.events).toContain('Warning FailedScheduling 0/1 nodes are available: 1 Insufficient cpu.');
    expect(s.queue.where('default/big')).toBe('unschedulable');
    h.client.add(node('n2', { cpu: '4' }));
    await settle();
    // Moved by the NodeAdd event; its 1 s back-off runs first.
    expect(['backoff', 'active', 'inFlight', undefined]).toContain(s.queue.where('default/big'));
    await h.run(1_000);
    await s.settled();
    expect(nodeOf(h, 'big')).toBe('n2');
  });

  it('assumes pods onto nodes so back-to-back cycles do not overcommit', async () => {
    const pods = [0, 1, 2].map((i) => podRequesting(`p${i}`, '400m'));
    const { h } = await start([node('n1', { cpu: '1' }), ...pods]);
    const placed = pods.map((p) => nodeOf(h, p.metadata.name!));
    expect(placed.filter((n) => n === 'n1')).toHaveLength(2);
    expect(placed.filter((n) => n === undefined)).toHaveLength(1);
  });

  it('a freed node lets an unschedulable pod in (AssignedPodDelete)', async () => {
    const { h, s } = await start([node('n1', { cpu: '1' }), podRequesting('first', '800m')]);
    h.client.add(podRequesting('second', '800m'));
    await settle();
    await s.settled();
    expect(nodeOf(h, 'second')).toBeUndefined();
    await h.client.delete('pods', 'default', 'first');
    await settle();
    await h.run(2_000);
    await s.settled();
    expect(nodeOf(h, 'second')).toBe('n1');
  });

  it('retries a failed binding after back-off', async () => {
    const h = await harness([node('n1'), podRequesting('web')]);
    let fail = true;
    h.client.prependReactor('create', 'pods', (a) => {
      if (a.subresource !== 'binding' || !fail) return undefined;
      fail = false;
      return { error: errors.internal('etcdserver: request timed out') };
    });
    const s = new Scheduler({ client: h.client, clock: h.clock, timers: h.clock, random: seeded(1), recorder: h.recorder });
    s.attach(h.informers);
    s.start();
    await h.sync();
    await s.settled();
    expect(nodeOf(h, 'web')).toBeUndefined();
    expect(h.recorder.events.some((e) => e.startsWith('Warning FailedScheduling Binding rejected: Internal error occurred: etcdserver'))).toBe(true);
    await h.run(1_000);
    await s.settled();
    expect(nodeOf(h, 'web')).toBe('n1');
    expect(s.stats).toMatchObject({ scheduled: 1, bindErrors: 1 });
  });

  it('leaves pods of other schedulers alone', async () => {
    const other = podRequesting('custom');
    other.spec.schedulerName = 'my-scheduler';
    const { h } = await start([node('n1'), other]);
    expect(nodeOf(h, 'custom')).toBeUndefined();
  });
});

suite('scheduling queue', () => {
  it('backs off 1 s, 2 s, 4 s … up to 10 s per attempt', () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue(clock);
    const info = buildPodInfo(podRequesting('p'));
    q.add(info);
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const popped = q.pop()!;
      q.requeueBackoff(popped);
      const wake = q.nextWakeMs()!;
      waits.push(wake - clock.now());
      expect(q.pop()).toBeUndefined();
      clock.advance(wake - clock.now());
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 10000, 10000]);
  });

  it('pops higher priority first, then the longest waiting', () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue(clock);
    const mk = (name: string, priority: number) => {
      const p = podRequesting(name);
      p.spec.priority = priority;
      return buildPodInfo(p);
    };
    q.add(mk('low-old', 0));
    clock.advance(1);
    q.add(mk('high', 100));
    clock.advance(1);
    q.add(mk('low-new', 0));
    expect([q.pop()!.info.key, q.pop()!.info.key, q.pop()!.info.key]).toEqual(['default/high', 'default/low-old', 'default/low-new']);
  });

  it('moves unschedulable pods on events their failing plugins care about', () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue(clock);
    q.add(buildPodInfo(podRequesting('fit')));
    q.add(buildPodInfo(podRequesting('affinity')));
    const a = q.pop()!;
    const b = q.pop()!;
    q.requeueUnschedulable(a, new Set(['NodeResourcesFit']));
    q.requeueUnschedulable(b, new Set(['InterPodAffinity']));
    expect(q.counts).toEqual({ active: 0, backoff: 0, unschedulable: 2 });
    clock.advance(5_000);
    expect(q.moveAllToActiveOrBackoff('PvcChange')).toBe(0);
    expect(q.moveAllToActiveOrBackoff('AssignedPodDelete')).toBe(2);
    q.add(buildPodInfo(podRequesting('x')));
    const c = q.pop()!;
    expect(c.info.key).toBe('default/fit');
    q.requeueUnschedulable(c, new Set(['NodeResourcesFit']));
    // A move request came after it was popped? No: it goes back to unschedulable.
    expect(q.where('default/fit')).toBe('unschedulable');
    q.moveAllToActiveOrBackoff('AssignedPodAdd');
    expect(q.where('default/fit')).toBe('unschedulable');
    q.moveAllToActiveOrBackoff('NodeAdd');
    expect(q.where('default/fit')).toBe('backoff');
  });

  it('a pod failing while a move request happened goes to back-off, not unschedulable', () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue(clock);
    q.add(buildPodInfo(podRequesting('p')));
    const p = q.pop()!;
    q.moveAllToActiveOrBackoff('NodeAdd');
    q.requeueUnschedulable(p, new Set(['NodeResourcesFit']));
    expect(q.where('default/p')).toBe('backoff');
  });

  it('retries unschedulable pods after 5 minutes at the latest', () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue(clock);
    q.add(buildPodInfo(podRequesting('p')));
    q.requeueUnschedulable(q.pop()!, new Set(['NodeAffinity']));
    expect(q.nextWakeMs()! - clock.now()).toBe(300_000);
    clock.advance(299_999);
    q.flush();
    expect(q.where('default/p')).toBe('unschedulable');
    clock.advance(1);
    q.flush();
    expect(q.where('default/p')).toBe('active');
  });
});
