/**
 * The HorizontalPodAutoscaler end to end on real threads, driven with kubectl: CPU-burner pods
 * report their usage through the kubelets, the HPA scales the Deployment up under load and back
 * down once the load is gone and the scale-down stabilization window has passed. (The default
 * five-minute window is exercised on SimHost's virtual clock; here the manifest sets 6 s.)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, haveKubectl, kubectlIn, startOneNodeCluster, until, type TestCluster } from '../api/harness.js';

let c: TestCluster;
const kubectl = (...args: string[]) => kubectlIn(c, ...args);

beforeAll(async () => {
  if (haveKubectl) c = await startOneNodeCluster({ hpa: { syncPeriodMs: 1_000 } }, { metricsEveryMs: 1_000 });
});

afterAll(async () => {
  await c?.stop();
});

describe.skipIf(!haveKubectl)('the HorizontalPodAutoscaler on real threads', () => {
  it('scales a Deployment up under CPU load and back down after the stabilization window', async () => {
    const manifest = join(c.dir, 'burn.yaml');
    writeFileSync(
      manifest,
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      containers:
      - name: burn
        image: actorkube/cpu-burner
        resources: {requests: {cpu: 100m}, limits: {cpu: "1"}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 6}
`,
    );
    expect(await kubectl('apply', '-f', manifest)).toContain('horizontalpodautoscaler.autoscaling/burn created');
    const deployment = async () => (await call(c, 'GET', '/apis/apps/v1/namespaces/default/deployments/burn')).json();
    const pods = async () => (await call(c, 'GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dburn')).json().items as any[];
    const first = await until(async () => (await pods()).find((p) => p.status?.phase === 'Running'), 20_000, 'the first pod running');
    const setLoad = (millicores: number) => c.host.ask<any>(`kubelet-${first.spec.nodeName}`, { op: 'load', namespace: 'default', pod: first.metadata.name, millicores });
    expect((await setLoad(150)).ok).toBe(true);

    // 150m on one pod of a 100m request is 150% against a 50% target: ceil(1 × 3) = 3 replicas.
    await until(async () => (await deployment()).spec.replicas >= 3, 40_000, 'a scale-up to 3');
    expect((await deployment()).spec.replicas).toBeLessThanOrEqual(4);
    const hpa = JSON.parse(await kubectl('get', 'hpa', 'burn', '-o', 'json'));
    expect(hpa.status.desiredReplicas).toBeGreaterThanOrEqual(3);
    expect(hpa.status.currentMetrics[0].resource.current.averageUtilization).toBeGreaterThan(0);
    expect(await kubectl('get', 'hpa', 'burn', '--no-headers')).toMatch(/Deployment\/burn\s+cpu: \d+%\/50%\s+1\s+4\s+\d/);

    // Load off: the recommendation falls to 1, but the window holds the highest of the last 6 s.
    const before = (await deployment()).spec.replicas as number;
    expect((await setLoad(0)).ok).toBe(true);
    const off = Date.now();
    let stabilizedSeen = false;
    await until(async () => {
      const h = JSON.parse(await kubectl('get', 'hpa', 'burn', '-o', 'json'));
      if (h.status.conditions?.some((x: any) => x.type === 'AbleToScale' && x.reason === 'ScaleDownStabilized')) stabilizedSeen = true;
      return (await deployment()).spec.replicas === 1;
    }, 45_000, 'a scale-down to 1');
    const tookMs = Date.now() - off;
    expect(before).toBeGreaterThan(1);
    expect(stabilizedSeen).toBe(true);
    // The last high recommendation may come up to one sync period (1 s) before the load drops.
    expect(tookMs).toBeGreaterThanOrEqual(5_000);
  });
});
