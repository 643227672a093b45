import type { KubeObject } from '../../api/types.js';
import { FakeClient } from '../../controllers/client.js';
import { Scheduler } from '../../controllers/scheduler/index.js';
import { FakeClock } from '../../controllers/time.js';
import { pod } from '../controllers/helpers.js';
import { mulberry32 } from '../../raft/core/testing.js';

/** The seeded PRNG of the Raft test harness (mulberry32). */
export const seeded = mulberry32;

export function makeScheduler(nodes: KubeObject[], pods: KubeObject[] = [], extra: { claims?: KubeObject[]; volumes?: KubeObject[]; seed?: number } = {}): Scheduler {
  const clock = new FakeClock();
  const s = new Scheduler({ client: new FakeClient({ clock }), clock, timers: clock, random: seeded(extra.seed ?? 1) });
  for (const n of nodes) s.cache.upsertNode(n);
  let uid = 0;
  for (const p of pods) {
    p.metadata.uid ??= `existing-${uid++}`;
    s.cache.upsertAssignedPod(p);
  }
  for (const c of extra.claims ?? []) s.cache.upsertClaim(c);
  for (const v of extra.volumes ?? []) s.cache.upsertVolume(v);
  return s;
}

export function podRequesting(name: string, cpu?: string, memory?: string, spec: Record<string, any> = {}, labels: Record<string, string> = {}): KubeObject {
  const requests: Record<string, string> = {};
  if (cpu) requests.cpu = cpu;
  if (memory) requests.memory = memory;
  const p = pod(name, { labels, spec: { containers: [{ name: 'app', image: 'x', resources: { requests } }], ...spec } });
  p.metadata.uid = `uid-${name}`;
  return p;
}

