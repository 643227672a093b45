import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { node, pod } from '../controllers/helpers.js';
import { makeScheduler, podRequesting } from './helpers.js';

function placed(name: string, nodeName: string, cpu: string, memory: string, labels: Record<string, string> = {}): KubeObject {
  const p = podRequesting(name, cpu, memory, {}, labels);
  p.spec.nodeName = nodeName;
  return p;
}

suite('scheduler scores', () => {
  it('LeastAllocated prefers the node with more room', () => {
    const s = makeScheduler([node('busy'), node('idle')], [placed('x', 'busy', '3', '6Gi')]);
    expect(s.schedulePod(podRequesting('p', '100m', '100Mi')).node).toBe('idle');
  });

  it('BalancedAllocation prefers the node whose cpu and memory use stay balanced', () => {
    const s = makeScheduler([node('x', { cpu: '4', memory: '4Gi' }), node('y', { cpu: '4', memory: '4Gi' })], [placed('a', 'x', '2', '1Mi'), placed('b', 'y', '1', '1Gi')]);
    expect(s.schedulePod(podRequesting('p')).node).toBe('y');
  });

  it('preferred node affinity adds its weights', () => {
    const s = makeScheduler([node('a', { labels: { disk: 'hdd' } }), node('b', { labels: { disk: 'ssd' } })]);
    const p = podRequesting('p', undefined, undefined, {
      affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 80, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } }] } },
    });
    for (let i = 0; i < 5; i++) expect(s.schedulePod(p).node).toBe('b');
  });

  it('avoids PreferNoSchedule taints it does not tolerate', () => {
    const s = makeScheduler([node('a', { taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] }), node('b')]);
    for (let i = 0; i < 5; i++) expect(s.schedulePod(podRequesting(`p${i}`)).node).toBe('b');
  });

  it('preferred pod affinity moves a pod next to the pods it likes, anti-affinity away', () => {
    const s = makeScheduler([node('a'), node('b'), node('c')], [placed('cache', 'b', '100m', '100Mi', { app: 'cache' })]);
    const likes = podRequesting('web', undefined, undefined, {
      affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'kubernetes.io/hostname' } }] } },
    });
    expect(s.schedulePod(likes).node).toBe('b');
    const dislikes = podRequesting('batch', undefined, undefined, {
      affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'kubernetes.io/hostname' } }] } },
    });
    expect(s.schedulePod(dislikes).node).not.toBe('b');
  });

  it('ScheduleAnyway spreading prefers the emptier zone', () => {
    const s = makeScheduler(
      [node('a', { labels: { zone: 'z1' } }), node('b', { labels: { zone: 'z2' } })],
      [placed('w0', 'a', '100m', '100Mi', { app: 'w' }), placed('w1', 'a', '100m', '100Mi', { app: 'w' })],
    );
    const p = podRequesting('w2', undefined, undefined, { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'w' } } }] }, { app: 'w' });
    expect(s.schedulePod(p).node).toBe('b');
  });

  it('breaks ties with the injected random function: same seed, same choices', () => {
    const nodes = () => Array.from({ length: 8 }, (_, i) => node(`n${i}`));
    const picks = (seed: number) => {
      const s = makeScheduler(nodes(), [], { seed });
      return Array.from({ length: 12 }, (_, i) => s.schedulePod(podRequesting(`p${i}`)).node);
    };
    expect(picks(7)).toEqual(picks(7));
    expect(new Set(picks(7)).size).toBeGreaterThan(2);
    expect(picks(7)).not.toEqual(picks(8));
  });

  it('searches only enough nodes in a large cluster, starting where it stopped', () => {
    const s = makeScheduler(Array.from({ length: 1000 }, (_, i) => node(`n${String(i).padStart(4, '0')}`)));
    expect(s.framework.numFeasibleNodesToFind(1000)).toBe(420);
    expect(s.framework.numFeasibleNodesToFind(50)).toBe(50);
    expect(s.framework.numFeasibleNodesToFind(5000)).toBe(500);
    const r = s.schedulePod(podRequesting('p'));
    expect(r).toMatchObject({ evaluatedNodes: 420, feasibleNodes: 420 });
    void pod;
  });
});
