/**
 * Scheduling throughput over 1,000 nodes, printed (no timed assertion: speed is measured by
 * numbers, not asserted).
 */
import { performance } from 'node:perf_hooks';
import { describe as suite, expect, it } from 'vitest';
import { Scheduler } from '../../controllers/scheduler/index.js';
import { buildPodInfo } from '../../controllers/scheduler/nodeinfo.js';
import { FakeClient } from '../../controllers/client.js';
import { FakeClock } from '../../controllers/time.js';
import { node } from '../controllers/helpers.js';
import { podRequesting, seeded } from './helpers.js';

function cluster(nodes: number): Scheduler {
  const clock = new FakeClock();
  const s = new Scheduler({ client: new FakeClient({ clock }), clock, timers: clock, random: seeded(42) });
  for (let i = 0; i < nodes; i++) s.cache.upsertNode(node(`node-${String(i).padStart(4, '0')}`, { cpu: '32', memory: '128Gi', labels: { 'topology.kubernetes.io/zone': `zone-${i % 3}` } }));
  return s;
}

function measure(s: Scheduler, pods: ReturnType<typeof podRequesting>[]): { perPodUs: number; podsPerSec: number } {
  const infos = pods.map(buildPodInfo);
  const t0 = performance.now();
  for (const info of infos) {
    const r = s.framework.schedulePod(info);
    if (!r.node) throw new Error(r.error?.message);
    s.cache.assume(info, r.node);
  }
  const ms = performance.now() - t0;
  return { perPodUs: Math.round((ms * 1000) / pods.length), podsPerSec: Math.round(pods.length / (ms / 1000)) };
}

suite('scheduler throughput (printed)', () => {
  it('schedules simple pods over 1,000 nodes', () => {
    const s = cluster(1000);
    // Warm up the JIT, then measure.
    measure(s, Array.from({ length: 500 }, (_, i) => podRequesting(`warm-${i}`, '10m', '16Mi')));
    const r = measure(s, Array.from({ length: 5000 }, (_, i) => podRequesting(`web-${i}`, '100m', '128Mi')));
    console.log(`scheduler: 1000 nodes, 5000 simple pods: ${r.perPodUs} µs/pod, ${r.podsPerSec} pods/s`);
    expect(r.podsPerSec).toBeGreaterThan(0);
  });

  it('schedules pods with zone spreading and hostname anti-affinity over 1,000 nodes', () => {
    const s = cluster(1000);
    const pods = Array.from({ length: 1000 }, (_, i) =>
      podRequesting(
        `db-${i}`,
        '100m',
        '128Mi',
        {
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'db' } } }],
          affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' }] } },
        },
        { app: 'db' },
      ),
    );
    const r = measure(s, pods);
    console.log(`scheduler: 1000 nodes, 1000 pods with spread + anti-affinity: ${r.perPodUs} µs/pod, ${r.podsPerSec} pods/s`);
    // Anti-affinity on hostname: every pod on its own node.
    const perNode = s.cache.nodes().map((n) => n.pods.size);
    expect(Math.max(...perNode)).toBe(1);
  });

  it('runs the whole loop with bindings through the fake API', async () => {
    const clock = new FakeClock();
    const client = new FakeClient({ clock });
    const s = new Scheduler({ client, clock, timers: clock, random: seeded(7) });
    for (let i = 0; i < 1000; i++) s.cache.upsertNode(node(`node-${i}`, { cpu: '32', memory: '128Gi' }));
    const pods = Array.from({ length: 2000 }, (_, i) => client.add(podRequesting(`p-${i}`, '100m', '128Mi')));
    for (const p of pods) s.onPodAdd(p);
    const t0 = performance.now();
    const n = await s.runUntilIdle();
    const ms = performance.now() - t0;
    console.log(`scheduler: 1000 nodes, 2000 pods incl. binding via FakeClient: ${Math.round(n / (ms / 1000))} pods/s`);
    expect(s.stats.scheduled).toBe(2000);
  });
});
