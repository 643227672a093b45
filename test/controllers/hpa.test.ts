import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { HorizontalPodAutoscalerController, StaticMetrics, behaviorOf, scaleDownLimit, scaleUpLimit } from '../../controllers/hpa.js';
import { getCondition } from '../../controllers/podutil.js';
import { formatTime } from '../../controllers/time.js';
import { harness, pod, podTemplate, settle, type Harness } from './helpers.js';

function deployment(replicas: number): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: podTemplate({ app: 'web' }) },
  };
}

function hpa(spec: Record<string, any> = {}): KubeObject {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      maxReplicas: 20,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
      ...spec,
    },
  };
}

/** Running, ready pods started long ago, requesting 100m cpu each. */
function webPods(h: Harness, n: number): void {
  const long = h.clock.now() - 3600_000;
  for (let i = 0; i < n; i++) {
    const p = pod(`web-${i}`, { labels: { app: 'web' }, node: 'n1', ready: true, readySinceMs: long, spec: { containers: [{ name: 'app', image: 'x', resources: { requests: { cpu: '100m' } } }] } });
    p.status.startTime = formatTime(long);
    h.client.add(p);
  }
}

async function start(replicas: number, spec: Record<string, any> = {}): Promise<{ h: Harness; metrics: StaticMetrics }> {
  const h = await harness([deployment(replicas), hpa(spec)]);
  webPods(h, replicas);
  const metrics = new StaticMetrics(h.clock);
  new HorizontalPodAutoscalerController(h.ctx, { metrics }).start();
  return { h, metrics };
}

function load(metrics: StaticMetrics, n: number, milliCpu: number): void {
  for (let i = 0; i < n; i++) metrics.set('cpu', `web-${i}`, milliCpu);
}

const replicas = (h: Harness) => h.client.peek('deployments', 'default', 'web')!.spec.replicas;

suite('HorizontalPodAutoscaler controller', () => {
  it('scales up to ceil(current × utilization / target)', async () => {
    const { h, metrics } = await start(2);
    load(metrics, 2, 80); // 80 % of the 100m request against a 50 % target
    await h.sync();
    expect(replicas(h)).toBe(4);
    expect(h.recorder.events).toContain('Normal SuccessfulRescale New size: 4; reason: cpu resource utilization (percentage of request) above target');
    const s = h.client.peek('horizontalpodautoscalers', 'default', 'web')!.status;
    expect(s).toMatchObject({ currentReplicas: 2, desiredReplicas: 4 });
    expect(s.currentMetrics[0]).toEqual({ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 80, averageValue: '80m' } } });
    expect(getCondition(s, 'ScalingActive')).toMatchObject({ status: 'True', reason: 'ValidMetricFound' });
    // The scale went through the scale subresource.
    expect(h.client.writes().some((a) => a.verb === 'patch' && a.subresource === 'scale')).toBe(true);
  });

  it('does nothing within the 0.1 tolerance', async () => {
    const { h, metrics } = await start(4);
    load(metrics, 4, 54);
    await h.sync();
    expect(replicas(h)).toBe(4);
    expect(h.client.peek('horizontalpodautoscalers', 'default', 'web')!.status).toMatchObject({ desiredReplicas: 4 });
  });

  it('limits scale-up to max(100 %, 4 pods) per 15 s', async () => {
    const { h, metrics } = await start(2, { maxReplicas: 50 });
    load(metrics, 2, 500); // wants 20
    await h.sync();
    expect(replicas(h)).toBe(6);
    const s = h.client.peek('horizontalpodautoscalers', 'default', 'web')!.status;
    expect(getCondition(s, 'ScalingLimited')).toMatchObject({ status: 'True', reason: 'ScaleUpLimit' });
  });

  it('holds a scale-down for the 300 s stabilization window', async () => {
    const { h, metrics } = await start(4);
    load(metrics, 4, 10); // wants 1
    await h.sync();
    expect(replicas(h)).toBe(4);
    expect(getCondition(h.client.peek('horizontalpodautoscalers', 'default', 'web')!.status, 'AbleToScale')).toMatchObject({ reason: 'ScaleDownStabilized' });
    await h.run(285_000);
    expect(replicas(h)).toBe(4);
    await h.run(15_000);
    expect(replicas(h)).toBe(1);
    expect(h.recorder.events).toContain('Normal SuccessfulRescale New size: 1; reason: All metrics below target');
  });

  it('brings the target into [minReplicas, maxReplicas]', async () => {
    const { h } = await start(1, { minReplicas: 3 });
    await h.sync();
    expect(replicas(h)).toBe(3);
    expect(h.recorder.events).toContain('Normal SuccessfulRescale New size: 3; reason: Current number of replicas below Spec.MinReplicas');
  });

  it('follows behavior policies: one pod per minute', async () => {
    const { h, metrics } = await start(2, { behavior: { scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } } });
    load(metrics, 2, 400);
    await h.sync();
    expect(replicas(h)).toBe(3);
    await h.run(45_000);
    expect(replicas(h)).toBe(3);
    await h.run(15_000);
    expect(replicas(h)).toBe(4);
  });

  it('reports a metrics failure as ScalingActive False', async () => {
    const h = await harness([deployment(2), hpa()]);
    webPods(h, 2);
    const failing = { podResourceMetrics: async () => Promise.reject(new Error('the server is currently unable to handle the request')) };
    new HorizontalPodAutoscalerController(h.ctx, { metrics: failing }).start();
    await h.sync();
    await settle();
    const s = h.client.peek('horizontalpodautoscalers', 'default', 'web')!.status;
    expect(getCondition(s, 'ScalingActive')).toMatchObject({ status: 'False', reason: 'FailedGetResourceMetric' });
    expect(replicas(h)).toBe(2);
  });

  it('treats missing metrics as 0 % on a scale-up and unready pods as 0 %', async () => {
    const { h, metrics } = await start(4);
    load(metrics, 2, 100); // two pods at 100 %, two without metrics
    await h.sync();
    // The measured pods say 2× the target; counting the two missing ones at 0 % makes it
    // (100 + 100 + 0 + 0) / 400 = 50 %, exactly the target: no change.
    expect(replicas(h)).toBe(4);
    load(metrics, 2, 150);
    await h.run(15_000);
    // (150 + 150 + 0 + 0) / 400 = 75 % → 1.5 × 4 pods = 6.
    expect(replicas(h)).toBe(6);
  });

  it('computes the default rate limits', () => {
    const b = behaviorOf(hpa());
    expect(scaleUpLimit(2, [], [], b.scaleUp, 0)).toBe(6);
    expect(scaleUpLimit(10, [], [], b.scaleUp, 0)).toBe(20);
    expect(scaleDownLimit(10, [], [], b.scaleDown, 0)).toBe(0);
    expect(b.scaleDown.stabilizationWindowSeconds).toBe(300);
  });
});
