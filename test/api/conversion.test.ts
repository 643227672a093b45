import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hpaFromV1, hpaToV1 } from '../../api/conversion.js';
import type { KubeObject } from '../../api/types.js';

const cpu = (n: number) => ({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: n } } });
const memory = { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '200Mi' } } };

function v2(spec: Record<string, unknown>, status?: Record<string, unknown>): KubeObject {
  const o: KubeObject = { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: 'default', resourceVersion: '7' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, ...spec } };
  if (status) o.status = status;
  return o;
}

describe('autoscaling/v1 conversion', () => {
  it('shows the CPU target as targetCPUUtilizationPercentage and the rest in annotations', () => {
    const o = v2(
      { minReplicas: 2, maxReplicas: 9, metrics: [memory, cpu(60)], behavior: { scaleDown: { stabilizationWindowSeconds: 30 } } },
      { currentReplicas: 3, desiredReplicas: 4, currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 75, averageValue: '150m' } } }], conditions: [{ type: 'AbleToScale', status: 'True' }] },
    );
    const v1 = hpaToV1(o);
    expect(v1.apiVersion).toBe('autoscaling/v1');
    expect(v1.spec).toEqual({ scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 2, maxReplicas: 9, targetCPUUtilizationPercentage: 60 });
    expect(v1.status).toEqual({ currentReplicas: 3, desiredReplicas: 4, currentCPUUtilizationPercentage: 75 });
    expect(JSON.parse(v1.metadata.annotations!['autoscaling.alpha.kubernetes.io/metrics']!)).toEqual([memory]);
    expect(JSON.parse(v1.metadata.annotations!['autoscaling.alpha.kubernetes.io/behavior']!)).toEqual({ scaleDown: { stabilizationWindowSeconds: 30 } });
    // The stored object is not touched.
    expect(o.apiVersion).toBe('autoscaling/v2');
    expect(o.metadata.annotations).toBeUndefined();
  });

  it('takes a v1 object as kubectl autoscale writes it', () => {
    const v1: KubeObject = { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 3, targetCPUUtilizationPercentage: 50 } };
    const o = hpaFromV1(v1);
    expect(o.apiVersion).toBe('autoscaling/v2');
    expect(o.spec).toEqual({ scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 3, metrics: [cpu(50)] });
    expect(o.metadata.annotations).toBeUndefined();
  });

  it('loses nothing through a v1 read and write', () => {
    const metric = fc.oneof(fc.integer({ min: 1, max: 100 }).map(cpu), fc.constant(memory), fc.constant({ type: 'Pods', pods: { metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '10' } } }));
    fc.assert(
      fc.property(
        fc.uniqueArray(metric, { minLength: 1, maxLength: 3, selector: (m) => JSON.stringify(m.type === 'Resource' ? m.resource.name : m) }),
        fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
        fc.integer({ min: 5, max: 20 }),
        fc.boolean(),
        (metrics, minReplicas, maxReplicas, withBehavior) => {
          const spec: Record<string, unknown> = { maxReplicas, metrics };
          if (minReplicas !== undefined) spec.minReplicas = minReplicas;
          if (withBehavior) spec.behavior = { scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }] } };
          const o = v2(spec, { currentReplicas: 1, desiredReplicas: 2, conditions: [{ type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound' }] });
          const back = hpaFromV1(hpaToV1(o));
          // The CPU utilization metric comes first after a v1 round trip; the set is the same.
          const order = (ms: unknown[]) => [...ms].map((m) => JSON.stringify(m)).sort();
          expect(order(back.spec!.metrics)).toEqual(order(metrics));
          expect({ ...back.spec, metrics: undefined }).toEqual({ ...spec, scaleTargetRef: o.spec!.scaleTargetRef, metrics: undefined });
          expect(back.status).toEqual(o.status);
          expect(back.metadata).toEqual(o.metadata);
        },
      ),
      { numRuns: 200 },
    );
  });
});
