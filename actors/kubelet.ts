/**
 * The kubelet actor: one per node, many per worker thread (give their specs one `group`).
 *
 * It registers its Node (capacity, allocatable, labels, taints, addresses, nodeInfo, a Ready
 * condition, podCIDR), renews the node's Lease in `kube-node-lease` every `leaseEveryMs` and
 * posts node status every `statusEveryMs`, both through the in-cluster API client. An informer
 * watches the pods bound to the node (`spec.nodeName=<node>`) and feeds them to the pod workers
 * (kubelet-pods.ts), which run them as simulated containers whose CPU-bound work goes to the
 * worker's piscina pool, or, on the simulator (the main thread) and when `workloads: 'sim'`, to
 * a model on the actor's timers.
 *
 * It answers the API server's `logs` (with follow) and `metrics` asks, and `load` / `health`
 * from tests and demos (kubelet-messages.ts). A restarted kubelet rebuilds its pods from the
 * status they last reported and attaches to the containers that were running.
 */
import { createHash } from 'node:crypto';
import { errors, type KubeObject } from '../api/types.js';
import { isAlreadyExists, isNotFound } from '../controllers/client.js';
import { ClientEventRecorder, type EventRecorder } from '../controllers/events.js';
import { Informer } from '../controllers/informer.js';
import { milliValue, value as quantityValue } from '../controllers/quantity.js';
import { formatMicroTime, formatTime, parseTime } from '../controllers/time.js';
import type { Actor, ActorContext, ActorSpec } from '../runtime/actor.js';
import { ActorApiClient } from './api-client.js';
import { kubeletId, LOG_HEARTBEAT_MS, type KubeletReply, type KubeletRequest } from './kubelet-messages.js';
import { PodManager } from './kubelet-pods.js';
import { onWorkerThread, PoolCompute } from './kubelet-pool.js';
import { SimCompute, type ComputeBackend } from './kubelet-workloads.js';

export interface KubeletArgs {
  nodeName: string;
  /** The API server actor (default "apiserver"). */
  apiserver?: string;
  /** Extra node labels (kubernetes.io/hostname, /os, /arch are always set). */
  labels?: Record<string, string>;
  /** Taints the node registers with (only when it creates the Node). */
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  /** Default cpu 4, memory 8Gi, pods 110, ephemeral-storage 100Gi. */
  capacity?: { cpu?: string; memory?: string; pods?: string; 'ephemeral-storage'?: string };
  /** Default: the Node's, if it has one already, else 10.244.<hash of the name>.0/24. */
  podCIDR?: string;
  /** The node's InternalIP (default 172.18.<third octet of the podCIDR>.2). */
  hostIP?: string;
  statusEveryMs?: number;
  leaseEveryMs?: number;
  /** CPU usage sampling period for the metrics API. Default 10 s. */
  metricsEveryMs?: number;
  /** Where CPU-bound container work runs. Default: the pool on worker threads, the model on the main thread. */
  workloads?: 'pool' | 'sim';
  /** Pool threads (default half the cores); the first kubelet of a worker sets it. */
  poolThreads?: number;
  /** Write Kubernetes events (default true). */
  events?: boolean;
  /** How long creating a pod sandbox takes. Default 100 ms. */
  sandboxDelayMs?: number;
}

export const KUBELET_VERSION = 'v1.32.0-actorkube';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
export const LEASE_DURATION_SECONDS = 40;
const DEFAULT_STATUS_EVERY_MS = 10_000;
const DEFAULT_LEASE_EVERY_MS = 10_000;
const DEFAULT_METRICS_EVERY_MS = 10_000;
const API_LIVENESS_EVERY_MS = 10_000;
const REGISTER_RETRY_MIN_MS = 500;
const REGISTER_RETRY_MAX_MS = 10_000;
/** Images listed in node status, as the kubelet's nodeStatusMaxImages. */
const MAX_NODE_IMAGES = 50;

/** The spec of a kubelet actor; kubelets with the same `group` share a worker (and its pool). */
export function kubeletSpec(args: KubeletArgs, group?: string): ActorSpec {
  return { id: kubeletId(args.nodeName), role: 'kubelet', module: 'actors/kubelet.js', args, ...(group ? { group } : {}) };
}

function hash32(s: string): number {
  return createHash('sha256').update(s).digest().readUInt32BE(0);
}

/** `10.244.<n>.0/24` from the node name, for nodes nobody gave a CIDR. */
export function derivedPodCIDR(nodeName: string): string {
  return `10.244.${hash32(nodeName) % 256}.0/24`;
}

function hostIPFor(podCIDR: string): string {
  const third = Number(/^\d+\.\d+\.(\d+)\./.exec(podCIDR)?.[1] ?? 0);
  return `172.18.${third}.2`;
}

/** Memory-like quantities as the kubelet reports them (`8Gi` → `8388608Ki`). */
function kibibytes(q: string): string {
  const v = quantityValue(q);
  return v % 1024 === 0 ? `${v / 1024}Ki` : String(v);
}

export default function kubelet(rawArgs: unknown): Actor {
  const args = rawArgs as KubeletArgs;
  const nodeName = args.nodeName;
  const capacitySpec = { cpu: args.capacity?.cpu ?? '4', memory: args.capacity?.memory ?? '8Gi', pods: args.capacity?.pods ?? '110', 'ephemeral-storage': args.capacity?.['ephemeral-storage'] ?? '100Gi' };
  const statusEveryMs = args.statusEveryMs ?? DEFAULT_STATUS_EVERY_MS;
  const leaseEveryMs = args.leaseEveryMs ?? DEFAULT_LEASE_EVERY_MS;
  let ctx: ActorContext;
  let client: ActorApiClient;
  let compute: ComputeBackend;
  let recorder: EventRecorder | undefined;
  let pods: PodManager | null = null;
  let informer: Informer | null = null;
  let stopped = false;
  let node: KubeObject | null = null;
  let podCIDR = args.podCIDR ?? '';
  let hostIP = args.hostIP ?? '';
  let readySinceMs = 0;
  let bootID = '';
  const images = new Map<string, number>();
  const counters = { registrations: 0, leaseRenewals: 0, statusUpdates: 0, errors: 0 };
  let lastError = '';

  const labels = (): Record<string, string> => ({
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': nodeName,
    'kubernetes.io/os': 'linux',
    ...(args.labels ?? {}),
  });

  function capacity(): Record<string, string> {
    return {
      cpu: capacitySpec.cpu,
      'ephemeral-storage': kibibytes(capacitySpec['ephemeral-storage']),
      'hugepages-1Gi': '0',
      'hugepages-2Mi': '0',
      memory: kibibytes(capacitySpec.memory),
      pods: capacitySpec.pods,
    };
  }

  function nodeStatus(): Record<string, unknown> {
    const now = formatTime(ctx.now());
    const since = formatTime(readySinceMs);
    const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, lastHeartbeatTime: now, lastTransitionTime: since, reason, message });
    const machineID = createHash('sha256').update(`machine/${nodeName}`).digest('hex').slice(0, 32);
    const sortedImages = [...images.entries()].sort((a, b) => b[1] - a[1]).slice(0, MAX_NODE_IMAGES);
    return {
      capacity: capacity(),
      allocatable: capacity(),
      conditions: [
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: hostIP },
        { type: 'Hostname', address: nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID,
        systemUUID: `${machineID.slice(0, 8)}-${machineID.slice(8, 12)}-${machineID.slice(12, 16)}-${machineID.slice(16, 20)}-${machineID.slice(20, 32)}`,
        bootID,
        kernelVersion: '6.1.0-actorkube',
        osImage: 'actorkube simulated node',
        containerRuntimeVersion: 'containerd://1.7.0-actorkube',
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      images: sortedImages.map(([name, size]) => ({ names: [name], sizeBytes: size })),
    };
  }

  function fail(what: string, err: unknown): void {
    counters.errors++;
    lastError = `${what}: ${(err as Error)?.message ?? String(err)}`;
    ctx.log.warn({ err: (err as Error)?.message }, `${what} failed`);
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => ctx.setTimer(ms, resolve));
  }

  /** Creates the Node, or adopts the one that exists (a restart). Retries until it succeeds. */
  async function register(): Promise<void> {
    let wait = REGISTER_RETRY_MIN_MS;
    while (!stopped) {
      try {
        let existing: KubeObject | null = null;
        try {
          existing = await client.get('nodes', '', nodeName);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        podCIDR ||= existing?.spec?.podCIDR || derivedPodCIDR(nodeName);
        hostIP ||= hostIPFor(podCIDR);
        const ready = existing?.status?.conditions?.find((c: any) => c?.type === 'Ready');
        readySinceMs = (ready?.status === 'True' ? parseTime(ready.lastTransitionTime) : undefined) ?? ctx.now();
        if (!existing) {
          const body: KubeObject = {
            apiVersion: 'v1',
            kind: 'Node',
            metadata: { name: nodeName, labels: labels(), annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' } },
            spec: { podCIDR, podCIDRs: [podCIDR], ...(args.taints?.length ? { taints: args.taints } : {}) },
            status: nodeStatus(),
          };
          try {
            node = await client.create('nodes', '', body);
          } catch (err) {
            if (!isAlreadyExists(err)) throw err;
            continue;
          }
        } else {
          const patch: Record<string, any> = { metadata: { labels: labels() } };
          if (!existing.spec?.podCIDR) patch.spec = { podCIDR, podCIDRs: [podCIDR] };
          await client.patch('nodes', '', nodeName, patch);
          node = await client.patch('nodes', '', nodeName, { status: nodeStatus() } as never, { subresource: 'status' });
        }
        counters.registrations++;
        recorder?.event(node!, 'Normal', 'Starting', 'Starting kubelet.', { apiVersion: 'v1', kind: 'Node' });
        if (ready?.status !== 'True') recorder?.event(node!, 'Normal', 'NodeReady', `Node ${nodeName} status is now: NodeReady`, { apiVersion: 'v1', kind: 'Node' });
        ctx.log.info({ node: nodeName, podCIDR, hostIP }, 'node registered');
        return;
      } catch (err) {
        fail('node registration', err);
        await sleep(wait);
        wait = Math.min(REGISTER_RETRY_MAX_MS, wait * 2);
      }
    }
  }

  async function postStatus(): Promise<void> {
    try {
      node = await client.patch('nodes', '', nodeName, { status: nodeStatus() } as never, { subresource: 'status' });
      counters.statusUpdates++;
    } catch (err) {
      fail('node status update', err);
      if (isNotFound(err)) await register();
    }
  }

  let renewing = false;
  async function renewLease(): Promise<void> {
    if (renewing) return;
    renewing = true;
    const spec = { holderIdentity: nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: formatMicroTime(ctx.now()) };
    try {
      try {
        await client.patch('leases', NODE_LEASE_NAMESPACE, nodeName, { spec });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        const owner = node?.metadata.uid ? [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: node.metadata.uid }] : undefined;
        try {
          await client.create('leases', NODE_LEASE_NAMESPACE, {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: nodeName, namespace: NODE_LEASE_NAMESPACE, ...(owner ? { ownerReferences: owner } : {}) },
            spec,
          });
        } catch (e) {
          if (!isAlreadyExists(e)) throw e;
          await client.patch('leases', NODE_LEASE_NAMESPACE, nodeName, { spec });
        }
      }
      counters.leaseRenewals++;
    } catch (err) {
      fail('lease renewal', err);
    } finally {
      renewing = false;
    }
  }

  /** Runs `fn` every `everyMs`, the first time after a random part of it (spreads many kubelets). */
  function every(everyMs: number, fn: () => Promise<void> | void): void {
    const loop = async () => {
      if (stopped) return;
      try {
        await fn();
      } catch (err) {
        fail('periodic task', err);
      }
      if (!stopped) ctx.setTimer(everyMs, () => void loop());
    };
    ctx.setTimer(Math.floor(ctx.random() * everyMs), () => void loop());
  }

  function noteImages(pod: KubeObject): void {
    for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
      const image = String(c?.image ?? '');
      if (!image || images.has(image)) continue;
      if (images.size >= 4 * MAX_NODE_IMAGES) break;
      images.set(image, 10_000_000 + (hash32(image) % 90_000_000));
    }
  }

  async function run(): Promise<void> {
    await register();
    if (stopped) return;
    const alloc = capacity();
    pods = new PodManager({
      nodeName,
      hostIP,
      podCIDR,
      client,
      clock: ctx,
      timers: ctx,
      random: () => ctx.random(),
      compute,
      ...(recorder ? { recorder } : {}),
      send: (to, msg) => ctx.send(to, msg),
      allocatable: { cpuMilli: milliValue(alloc.cpu), memoryBytes: quantityValue(alloc.memory), pods: Number(alloc.pods) || 110 },
      ...(args.sandboxDelayMs !== undefined ? { sandboxDelayMs: args.sandboxDelayMs } : {}),
      log: ctx.log,
    });
    const pm = pods;
    informer = new Informer('pods', { client, clock: ctx, timers: ctx, fieldSelector: `spec.nodeName=${nodeName}` });
    informer.addEventHandler({
      add: (p) => {
        noteImages(p);
        pm.upsert(p);
      },
      update: (_old, p) => pm.upsert(p),
      delete: (p) => pm.remove(p),
    });
    informer.start();
    every(leaseEveryMs, renewLease);
    every(statusEveryMs, postStatus);
    every(args.metricsEveryMs ?? DEFAULT_METRICS_EVERY_MS, () => pm.sample());
    every(LOG_HEARTBEAT_MS, () => pm.heartbeat());
    await renewLease();
  }

  function reply<T>(r: KubeletReply<T>): void {
    ctx.reply(r);
  }

  return {
    onStart(c) {
      ctx = c;
      bootID = createHash('sha256').update(`${ctx.self}/${ctx.incarnation}/${ctx.random()}`).digest('hex').slice(0, 32);
      // Many kubelets share a worker: check the API server's liveness less often than the default.
      client = new ActorApiClient(ctx, { apiserver: args.apiserver ?? 'apiserver', livenessEveryMs: API_LIVENESS_EVERY_MS });
      const mode = args.workloads ?? (onWorkerThread() ? 'pool' : 'sim');
      compute = mode === 'pool' ? PoolCompute.acquire(ctx.self, args.poolThreads) : new SimCompute(ctx);
      if (args.events !== false) recorder = new ClientEventRecorder(client, ctx, 'kubelet', nodeName);
      // Registration waits for the API server; messages are served meanwhile.
      run().catch((err) => fail('kubelet start', err));
    },

    onMessage(_c, from, msg) {
      if (client.onNotice(msg)) return;
      const m = msg as KubeletRequest;
      if (m?.op === 'logsStop') {
        pods?.stopFollow(from, m.stream);
        return;
      }
      if (!pods) {
        if (ctx.replier()) reply({ ok: false, status: errors.unavailable(`the kubelet of node ${nodeName} is starting`).status });
        return;
      }
      switch (m?.op) {
        case 'logs':
          return reply(pods.logs(m, from));
        case 'exec':
          return reply(pods.exec(m));
        case 'http':
          return reply(pods.http(m));
        case 'metrics':
          return reply({ ok: true, value: pods.metrics(m, { name: nodeName, labels: node?.metadata.labels ?? labels() }) });
        case 'load':
          return reply(pods.load(m));
        case 'health':
          return reply(pods.health(m));
        default:
          ctx.replyError(new Error(`kubelet: unknown message ${JSON.stringify((m as { op?: unknown })?.op)}`));
      }
    },

    async onStop() {
      stopped = true;
      informer?.stop();
      pods?.shutdown();
      client.closeAll('the kubelet is stopping');
      await compute.close();
    },

    status() {
      return {
        node: nodeName,
        incarnation: ctx.incarnation,
        registered: node !== null,
        podCIDR,
        hostIP,
        ...(pods ? pods.stats() : { pods: 0, running: 0 }),
        pool: compute.stats(),
        informer: informer ? { synced: informer.hasSynced(), ...informer.stats } : null,
        ...counters,
        lastError,
      };
    },
  };
}

export { kubeletId };
