/**
 * Workload controllers end to end on real threads: store, API server, controller manager,
 * scheduler and kubelets. A DaemonSet follows nodes joining and leaving; a StatefulSet comes up
 * in order with stable names and claims, and keeps them when a pod is deleted. A node that dies
 * has its pods evicted and replaced; a StatefulSet ordinal on it is never run twice, and comes
 * back under its name with its claim once the node is deleted (pod GC).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeletSpec } from '../../actors/kubelet.js';
import { call, startCluster, until, type TestCluster } from '../api/harness.js';

let c: TestCluster;
const kubelet = (name: string) => kubeletSpec({ nodeName: name, statusEveryMs: 2_000, leaseEveryMs: 2_000, sandboxDelayMs: 20, poolThreads: 1, events: false }, 'kubelets');

async function list(path: string): Promise<any[]> {
  const r = await call(c, 'GET', path);
  expect(r.status, r.text).toBe(200);
  return r.json().items;
}

const running = (pods: any[]) => pods.filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp);

beforeAll(async () => {
  c = await startCluster();
  c.host.supervise({
    id: 'control',
    children: [
      { id: 'controller-manager', role: 'controller-manager', module: 'actors/controller-manager.js', args: { podGC: { checkPeriodMs: 500, quarantineMs: 1_000 } } },
      { id: 'scheduler', role: 'scheduler', module: 'actors/scheduler.js' },
    ],
  });
  c.host.supervise({ id: 'nodes', children: [kubelet('node-1'), kubelet('node-2')] });
  await until(async () => (await list('/api/v1/nodes')).length === 2, 15_000, 'two nodes');
});

afterAll(async () => {
  await c?.stop();
});

describe('workload controllers on real threads', () => {
  it('runs one DaemonSet pod per node, adding one when a node joins and dropping it when the node leaves', async () => {
    const ds = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'a', image: 'fluentd' }] } } },
    };
    expect((await call(c, 'POST', '/apis/apps/v1/namespaces/default/daemonsets', ds)).status).toBe(201);
    const agents = () => list('/api/v1/namespaces/default/pods?labelSelector=app%3Dagent');
    await until(async () => running(await agents()).length === 2, 20_000, 'an agent on each of two nodes');
    c.host.addChild('nodes', kubelet('node-3'));
    await until(async () => running(await agents()).length === 3, 20_000, 'an agent on the new node');
    const nodes = running(await agents()).map((p) => p.spec.nodeName).sort();
    expect(nodes).toEqual(['node-1', 'node-2', 'node-3']);
    // The node leaves: its kubelet stops and the operator deletes the Node.
    c.host.removeChild('kubelet-node-3');
    expect((await call(c, 'DELETE', '/api/v1/nodes/node-3')).status).toBe(200);
    await until(async () => (await agents()).every((p) => p.spec.nodeName !== 'node-3'), 20_000, 'the agent of node-3 gone');
    expect(running(await agents()).map((p) => p.spec.nodeName).sort()).toEqual(['node-1', 'node-2']);
    await until(async () => (await call(c, 'GET', '/apis/apps/v1/namespaces/default/daemonsets/agent')).json().status?.desiredNumberScheduled === 2, 10_000, 'the DaemonSet to want two pods');
  });

  it('creates StatefulSet pods in order with stable names and claims, and recreates a deleted one under its name', async () => {
    const sts = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: 'default' },
      spec: {
        serviceName: 'db',
        replicas: 3,
        selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'postgres' }] } },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    };
    expect((await call(c, 'POST', '/apis/apps/v1/namespaces/default/statefulsets', sts)).status).toBe(201);
    const dbs = () => list('/api/v1/namespaces/default/pods?labelSelector=app%3Ddb');
    await until(async () => running(await dbs()).length === 3, 30_000, 'three database pods');
    const pods = await dbs();
    expect(pods.map((p) => p.metadata.name).sort()).toEqual(['db-0', 'db-1', 'db-2']);
    // OrderedReady: each ordinal was created after the previous one.
    const created = (n: string) => Date.parse(pods.find((p) => p.metadata.name === n).metadata.creationTimestamp);
    expect(created('db-0')).toBeLessThanOrEqual(created('db-1'));
    expect(created('db-1')).toBeLessThanOrEqual(created('db-2'));
    const claims = (await list('/api/v1/namespaces/default/persistentvolumeclaims')).map((p) => p.metadata.name).sort();
    expect(claims).toEqual(['data-db-0', 'data-db-1', 'data-db-2']);
    const uid = pods.find((p) => p.metadata.name === 'db-1').metadata.uid;
    // A pod on a node is deleted gracefully: 202 Accepted, then the kubelet stops it.
    expect([200, 202]).toContain((await call(c, 'DELETE', '/api/v1/namespaces/default/pods/db-1')).status);
    await until(async () => {
      const p = running(await dbs()).find((x) => x.metadata.name === 'db-1');
      return p && p.metadata.uid !== uid;
    }, 30_000, 'db-1 recreated');
    // The claim is the same one: a pod's storage outlives the pod.
    expect((await list('/api/v1/namespaces/default/persistentvolumeclaims')).map((p) => p.metadata.name).sort()).toEqual(claims);
  });
});

describe('a rollout interrupted by crashes', () => {
  it('converges after the controller manager and the scheduler crash mid-rollout, within maxSurge and maxUnavailable', async () => {
    const template = (image: string) => ({
      metadata: { labels: { app: 'roll' } },
      spec: {
        containers: [{ name: 'web', image, readinessProbe: { tcpSocket: { port: 80 }, initialDelaySeconds: 2, periodSeconds: 1 } }],
      },
    });
    const deploy = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'roll', namespace: 'default' },
      spec: { replicas: 3, selector: { matchLabels: { app: 'roll' } }, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }, template: template('nginx:1.27') },
    };
    const path = '/apis/apps/v1/namespaces/default/deployments/roll';
    expect((await call(c, 'POST', '/apis/apps/v1/namespaces/default/deployments', deploy)).status).toBe(201);
    const rolls = async () => (await list('/api/v1/namespaces/default/pods?labelSelector=app%3Droll')).filter((p) => !p.metadata.deletionTimestamp);
    const ready = (pods: any[]) => pods.filter((p) => p.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True'));
    await until(async () => ready(await rolls()).length === 3, 30_000, 'three ready pods');

    const patch = await call(c, 'PATCH', path, { spec: { template: template('nginx:1.28') } }, { 'content-type': 'application/merge-patch+json' });
    expect(patch.status, patch.text).toBe(200);
    let most = 0;
    let fewestReady = 3;
    const observe = async () => {
      const pods = await rolls();
      most = Math.max(most, pods.length);
      fewestReady = Math.min(fewestReady, ready(pods).length);
      return pods;
    };
    // Mid-rollout: a new pod exists, the old ones are not all gone.
    await until(async () => (await observe()).some((p) => p.spec.containers[0].image === 'nginx:1.28'), 20_000, 'the first new pod');
    c.host.crash('controller-manager');
    c.host.crash('scheduler');
    await until(async () => {
      const pods = await observe();
      return pods.length === 3 && ready(pods).length === 3 && pods.every((p) => p.spec.containers[0].image === 'nginx:1.28');
    }, 60_000, 'the rollout to finish after the crashes');
    await until(async () => {
      const d = (await call(c, 'GET', path)).json();
      return d.status?.updatedReplicas === 3 && d.status?.availableReplicas === 3 && d.status?.observedGeneration === d.metadata.generation;
    }, 20_000, 'the deployment status');
    // maxSurge 1: never more than 4 pods; maxUnavailable 0: never fewer than 3 ready.
    expect(most).toBeLessThanOrEqual(4);
    expect(fewestReady).toBe(3);
    const sets = (await list('/apis/apps/v1/namespaces/default/replicasets?labelSelector=app%3Droll')).map((r) => [r.spec.template.spec.containers[0].image, r.spec.replicas]).sort();
    expect(sets).toEqual([['nginx:1.27', 0], ['nginx:1.28', 3]]);
  });
});

const lifecycle = { gracePeriodMs: 3_000, startupGracePeriodMs: 3_000, monitorPeriodMs: 500 };
const fastKubelet = (name: string) => kubeletSpec({ nodeName: name, statusEveryMs: 1_000, leaseEveryMs: 1_000, sandboxDelayMs: 20, poolThreads: 1, events: false }, `kubelets-${name}`);

/** A cluster whose node lifecycle and pod GC act within seconds, with nodes node-a and node-b. */
async function fastCluster(): Promise<TestCluster> {
  const c2 = await startCluster();
  c2.host.supervise({
    id: 'control',
    children: [
      { id: 'controller-manager', role: 'controller-manager', module: 'actors/controller-manager.js', args: { nodeLifecycle: lifecycle, podGC: { checkPeriodMs: 500, quarantineMs: 1_000 } } },
      { id: 'scheduler', role: 'scheduler', module: 'actors/scheduler.js' },
    ],
  });
  c2.host.supervise({ id: 'nodes', children: [fastKubelet('node-a'), fastKubelet('node-b')] });
  await until(async () => (await call(c2, 'GET', '/api/v1/nodes')).json().items.length === 2, 15_000, 'two nodes');
  return c2;
}

const NODE_DOWN_TOLERATIONS = [
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 2 },
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 2 },
];

describe('a node that dies', () => {
  it('has its pods evicted after their toleration and replaced on a live node', async () => {
    const c2 = await fastCluster();
    try {
      const get = async (path: string) => (await call(c2, 'GET', path)).json();
      const deploy = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'svc', namespace: 'default' },
        spec: {
          replicas: 4,
          selector: { matchLabels: { app: 'svc' } },
          template: {
            metadata: { labels: { app: 'svc' } },
            spec: {
              containers: [{ name: 'c', image: 'nginx' }],
              tolerations: NODE_DOWN_TOLERATIONS,
            },
          },
        },
      };
      expect((await call(c2, 'POST', '/apis/apps/v1/namespaces/default/deployments', deploy)).status).toBe(201);
      const pods = async () => (await get('/api/v1/namespaces/default/pods?labelSelector=app%3Dsvc')).items as any[];
      await until(async () => running(await pods()).length === 4, 20_000, 'four pods running');
      const onA = (await pods()).filter((p) => p.spec.nodeName === 'node-a').map((p) => p.metadata.name);
      expect(onA.length).toBeGreaterThan(0);
      c2.host.crash('kubelet-node-a', { restart: 'manual' });
      // Grace period (3 s) → unreachable taint → toleration (2 s) → eviction → replacements on node-b.
      await until(async () => {
        const live = running(await pods()).filter((p) => p.spec.nodeName === 'node-b');
        return live.length === 4;
      }, 30_000, 'four pods running on node-b');
      const node = await get('/api/v1/nodes/node-a');
      expect(node.spec.taints.map((t: any) => t.key)).toContain('node.kubernetes.io/unreachable');
      for (const name of onA) {
        const p = await call(c2, 'GET', `/api/v1/namespaces/default/pods/${name}`);
        expect(p.status === 404 || p.json().metadata.deletionTimestamp !== undefined, `${name} was evicted`).toBe(true);
      }
    } finally {
      await c2.stop();
    }
  });

  it('keeps a StatefulSet ordinal Terminating while its node is unreachable, and recreates it under its name with its claim once the node is deleted', async () => {
    const c3 = await fastCluster();
    try {
      const get = async (path: string) => (await call(c3, 'GET', path)).json();
      const sts = {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'kv', namespace: 'default' },
        spec: {
          serviceName: 'kv',
          replicas: 2,
          podManagementPolicy: 'Parallel',
          selector: { matchLabels: { app: 'kv' } },
          template: {
            metadata: { labels: { app: 'kv' } },
            spec: {
              containers: [{ name: 'kv', image: 'redis' }],
              tolerations: NODE_DOWN_TOLERATIONS,
              affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'kv' } } } }] } },
            },
          },
          volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
        },
      };
      expect((await call(c3, 'POST', '/apis/apps/v1/namespaces/default/statefulsets', sts)).status).toBe(201);
      const pods = async () => (await get('/api/v1/namespaces/default/pods?labelSelector=app%3Dkv')).items as any[];
      await until(async () => running(await pods()).length === 2, 20_000, 'two kv pods running');
      const before = await pods();
      const victim = before.find((p) => p.metadata.name === 'kv-0');
      const deadNode: string = victim.spec.nodeName;
      const liveNode = deadNode === 'node-a' ? 'node-b' : 'node-a';
      const claim = await get('/api/v1/namespaces/default/persistentvolumeclaims/data-kv-0');
      expect(claim.status.phase).toBe('Bound');

      c3.host.crash(`kubelet-${deadNode}`, { restart: 'manual' });
      // The taint manager deletes kv-0, but no kubelet can confirm it stopped: it stays
      // Terminating, and the StatefulSet never starts a second kv-0 meanwhile.
      await until(async () => (await pods()).find((p) => p.metadata.name === 'kv-0')?.metadata.deletionTimestamp !== undefined, 20_000, 'kv-0 terminating');
      for (let i = 0; i < 6; i++) {
        const now = (await pods()).filter((p) => p.metadata.name === 'kv-0');
        expect(now).toHaveLength(1);
        expect(now[0].metadata.uid).toBe(victim.metadata.uid);
        await new Promise((r) => setTimeout(r, 500));
      }

      // The operator declares the node gone; pod GC force-deletes its pods after the quarantine.
      expect((await call(c3, 'DELETE', `/api/v1/nodes/${deadNode}`)).status).toBe(200);
      await until(async () => {
        const p = running(await pods()).find((x) => x.metadata.name === 'kv-0');
        return p !== undefined && p.metadata.uid !== victim.metadata.uid;
      }, 30_000, 'kv-0 recreated');
      const reborn = (await pods()).find((p) => p.metadata.name === 'kv-0');
      expect(reborn.spec.nodeName).toBe(liveNode);
      expect(reborn.spec.hostname).toBe('kv-0');
      expect(reborn.spec.volumes.find((v: any) => v.name === 'data').persistentVolumeClaim.claimName).toBe('data-kv-0');
      const after = await get('/api/v1/namespaces/default/persistentvolumeclaims/data-kv-0');
      expect(after.metadata.uid).toBe(claim.metadata.uid);
      expect(after.spec.volumeName).toBe(claim.spec.volumeName);
    } finally {
      await c3.stop();
    }
  });
});
