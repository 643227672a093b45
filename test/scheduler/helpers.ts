import type { KubeObject } from '../../api/types.js';
import { FakeClient } from '../../controllers/client.js';
import { Scheduler } from '../../controllers/scheduler/index.js';
import { FakeClock } from '../../controllers/time.js';
import { pod } from '../controllers/helpers.js';

/** A seeded PRNG for tie-breaks. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

