import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../api/harness.js';

let c: TestCluster;
type Reply = { ok: boolean; value?: any; code?: number; message?: string };
const call = (method: string, ...args: unknown[]) => c.host.ask<Reply>('probe', { cmd: 'call', method, args }, { timeoutMs: 15_000 });

function node(name: string, cpu = '4'): object {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    status: {
      capacity: { cpu, memory: '8Gi', pods: '110' },
      allocatable: { cpu, memory: '8Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
    },
  };
}

const deployment = (replicas: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx', resources: { requests: { cpu: '500m' } } }] } },
  },
});

async function pods(): Promise<any[]> {
  const r = await call('list', 'pods', 'default', { labelSelector: 'app=web' });
  return r.value.items;
}

beforeAll(async () => {
  c = await startCluster();
  c.host.supervise({
    id: 'control-plane-test',
    children: [
      { id: 'probe', role: 'probe', module: 'actors/api-probe.js' },
      { id: 'controller-manager', role: 'controller-manager', module: 'actors/controller-manager.js', args: { controllers: ['replicaset', 'deployment', 'garbagecollector'] } },
      { id: 'scheduler', role: 'scheduler', module: 'actors/scheduler.js' },
    ],
  });
  for (const n of ['node-a', 'node-b']) {
    const r = await call('create', 'nodes', '', node(n));
    expect(r.ok).toBe(true);
  }
});

afterAll(async () => {
  await c?.stop();
});

describe('the controller manager and the scheduler as actors', () => {
  it('turn a Deployment into a ReplicaSet and scheduled pods, follow a scale-up, and converge again after both crash', async () => {
    expect((await call('create', 'deployments', 'default', deployment(3))).ok).toBe(true);
    await expect.poll(async () => (await pods()).filter((p) => p.spec.nodeName).length, { timeout: 15_000 }).toBe(3);
    const rs = (await call('list', 'replicasets', 'default')).value.items;
    expect(rs).toHaveLength(1);
    expect(rs[0].metadata.labels['pod-template-hash']).toBeTruthy();
    expect(rs[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'Deployment', name: 'web', controller: true });
    // Pods spread over both nodes (least-allocated scoring).
    expect(new Set((await pods()).map((p) => p.spec.nodeName)).size).toBe(2);

    c.host.crash('controller-manager');
    c.host.crash('scheduler');
    expect((await call('patch', 'deployments', 'default', 'web', { spec: { replicas: 5 } })).ok).toBe(true);
    await expect.poll(async () => (await pods()).filter((p) => p.spec.nodeName).length, { timeout: 20_000 }).toBe(5);
  });

  it('leaves a pod that fits nowhere Pending with the reason the real scheduler gives', async () => {
    const big = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'huge', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'nginx', resources: { requests: { cpu: '64' } } }] },
    };
    expect((await call('create', 'pods', 'default', big)).ok).toBe(true);
    await expect
      .poll(async () => (await call('get', 'pods', 'default', 'huge')).value.status?.conditions?.find((x: any) => x.type === 'PodScheduled')?.message, { timeout: 15_000 })
      .toBe('0/2 nodes are available: 2 Insufficient cpu.');
  });
});
