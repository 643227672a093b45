/**
 * Control-plane benchmark: scheduling throughput (pods/s) with 100 and 1,000 nodes, the time
 * until a Deployment of 1,000 and of 10,000 replicas is fully available across 100 nodes run by
 * kubelet actors, and the resident memory of the whole cluster.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ThreadHost } from '../runtime/thread-host.js';
import { apiserverSpec } from '../actors/apiserver.js';
import { kubeletSpec } from '../actors/kubelet.js';
import { peerSpecs, superviseStore, waitForLeader } from '../cli/store-cluster.js';
import { fmt, printTable, scaled, type BenchArgs } from './util.js';

type Reply = { ok: boolean; value?: any; code?: number; message?: string };

interface Cluster {
  host: ThreadHost;
  dir: string;
  call(method: string, ...args: unknown[]): Promise<Reply>;
  stop(): Promise<void>;
}

const progress = (msg: string) => process.stderr.write(`controlplane bench: ${msg}\n`);

async function startCluster(kubelets: number, controllers: boolean): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'actorkube-cpbench-'));
  const host = new ThreadHost({ dataDir: join(dir, 'actors'), logDestination: join(dir, 'cluster.log'), logLevel: 'warn' });
  const peers = ['etcd-1', 'etcd-2', 'etcd-3'];
  superviseStore(host, peerSpecs('cpbench', peers));
  await waitForLeader(host, peers, 15_000);
  host.supervise({ id: 'api', children: [apiserverSpec({ peers, dataDir: dir, port: 0 })] });
  await host.ask('apiserver', { op: 'info' }, { timeoutMs: 30_000 });
  host.supervise({
    id: 'control',
    children: [
      { id: 'probe', role: 'probe', module: 'actors/api-probe.js' },
      { id: 'scheduler', role: 'scheduler', module: 'actors/scheduler.js' },
      ...(controllers ? [{ id: 'controller-manager', role: 'controller-manager', module: 'actors/controller-manager.js', args: { controllers: ['replicaset', 'deployment'] } }] : []),
    ],
  });
  // Many kubelets share a worker: 50 per thread.
  host.supervise({
    id: 'nodes',
    maxRestarts: 100,
    children: Array.from({ length: kubelets }, (_, i) => kubeletSpec({ nodeName: `node-${i + 1}`, statusEveryMs: 30_000, leaseEveryMs: 20_000, events: false }, `kubelets-${Math.floor(i / 50)}`)),
  });
  const call = (method: string, ...args: unknown[]) => host.ask<Reply>('probe', { cmd: 'call', method, args }, { timeoutMs: 60_000 });
  return {
    host,
    dir,
    call,
    async stop() {
      await host.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function parallel(n: number, lanes: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

function fakeNode(name: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    status: {
      capacity: { cpu: '32', memory: '128Gi', pods: '110' },
      allocatable: { cpu: '32', memory: '128Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
    },
  };
}

async function countBound(c: Cluster, ns: string): Promise<number> {
  const r = await c.call('list', 'pods', ns, { fieldSelector: 'spec.nodeName!=' });
  return r.ok ? r.value.items.length : 0;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Scheduling throughput: pods created while the scheduler is paused, then timed to all bound. */
async function schedulingRate(nodes: number, pods: number): Promise<number> {
  const c = await startCluster(0, false);
  try {
    progress(`${nodes} nodes, ${pods} pending pods`);
    await parallel(nodes, 32, async (i) => {
      const r = await c.call('create', 'nodes', '', fakeNode(`n-${i}`));
      if (!r.ok) throw new Error(`node create failed: ${r.message}`);
    });
    await c.call('create', 'namespaces', '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sched' } });
    await c.host.sleep(500); // the scheduler's informers see every node
    c.host.pause('scheduler');
    await parallel(pods, 64, async (i) => {
      const r = await c.call('create', 'pods', 'sched', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `p-${i}` },
        spec: { containers: [{ name: 'c', image: 'nginx', resources: { requests: { cpu: '10m', memory: '10Mi' } } }] },
      });
      if (!r.ok) throw new Error(`pod create failed: ${r.message}`);
    });
    const t0 = performance.now();
    c.host.resume('scheduler');
    await waitFor(async () => (await countBound(c, 'sched')) >= pods, 300_000, `${pods} pods bound`);
    return (pods / (performance.now() - t0)) * 1000;
  } finally {
    await c.stop();
  }
}

/** Seconds until a Deployment of `replicas` is fully available on `nodes` kubelets. */
async function deploymentAvailable(c: Cluster, name: string, replicas: number): Promise<number> {
  progress(`deployment of ${replicas} replicas`);
  const t0 = performance.now();
  const r = await c.call('create', 'deployments', 'default', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx', resources: { requests: { cpu: '1m', memory: '1Mi' } } }] } },
    },
  });
  if (!r.ok) throw new Error(`deployment create failed: ${r.message}`);
  await waitFor(async () => {
    const d = await c.call('get', 'deployments', 'default', name);
    return d.ok && d.value.status?.availableReplicas === replicas;
  }, 600_000, `${replicas} available replicas`);
  return (performance.now() - t0) / 1000;
}

export async function runControlplane(args: BenchArgs): Promise<Record<string, number>> {
  const pods = scaled(2_000, args, 100);
  const sched100 = await schedulingRate(scaled(100, args, 20), pods);
  const sched1000 = await schedulingRate(scaled(1_000, args, 50), pods);

  const nodes = scaled(100, args, 10);
  const c = await startCluster(nodes, true);
  let deploy1k = 0;
  let deploy10k = 0;
  let rssMb = 0;
  try {
    await waitFor(async () => {
      const r = await c.call('list', 'nodes', '');
      return r.ok && r.value.items.length === nodes;
    }, 120_000, `${nodes} nodes registered`);
    deploy1k = await deploymentAvailable(c, 'web-1k', scaled(1_000, args, 50));
    if (args.scale >= 1) deploy10k = await deploymentAvailable(c, 'web-10k', 10_000);
    rssMb = process.memoryUsage().rss / 1048576;
  } finally {
    await c.stop();
  }

  printTable('control plane', ['metric', 'value'], [
    [`scheduling, ${fmt(pods)} pods on ${scaled(100, args, 20)} nodes (pods/s)`, fmt(sched100)],
    [`scheduling, ${fmt(pods)} pods on ${scaled(1_000, args, 50)} nodes (pods/s)`, fmt(sched1000)],
    [`Deployment of ${fmt(scaled(1_000, args, 50))} available on ${nodes} nodes (s)`, fmt(deploy1k, 1)],
    ['Deployment of 10,000 available on 100 nodes (s)', args.scale >= 1 ? fmt(deploy10k, 1) : 'full run only'],
    ['resident memory, whole cluster (MB)', fmt(rssMb)],
  ]);
  return {
    sched_pods_per_s_100_nodes: Math.round(sched100),
    sched_pods_per_s_1000_nodes: Math.round(sched1000),
    deploy_1k_available_s: Math.round(deploy1k * 10) / 10,
    deploy_10k_available_s: Math.round(deploy10k * 10) / 10,
    rss_mb: Math.round(rssMb),
  };
}
