/**
 * A kubelet's pod workers on a FakeClock with a FakeClient and simulated workloads: what the
 * kubelet actor wires up, minus the actor. `advance(ms)` runs due timers one at a time and lets
 * the client's promises settle between them.
 */
import { podStatusReason } from '../../api/tables.js';
import type { KubeObject } from '../../api/types.js';
import { FakeClient } from '../../controllers/client.js';
import { FakeRecorder } from '../../controllers/events.js';
import { Informer } from '../../controllers/informer.js';
import { FakeClock } from '../../controllers/time.js';
import { PodManager, type PodManagerOptions } from '../../actors/kubelet-pods.js';
import { SimCompute } from '../../actors/kubelet-workloads.js';
import { mulberry32 } from '../../raft/core/testing.js';

export const NODE = 'node-1';

export interface Rig {
  clock: FakeClock;
  client: FakeClient;
  recorder: FakeRecorder;
  pods: PodManager;
  informer: Informer;
  sent: { to: string; msg: any }[];
  settle(): Promise<void>;
  advance(ms: number): Promise<void>;
  create(pod: Partial<KubeObject> & { metadata: KubeObject['metadata'] }): Promise<KubeObject>;
  pod(name: string): KubeObject | undefined;
  /** The STATUS column of `kubectl get pods`. */
  statusColumn(name: string): string;
  /** The READY column. */
  readyColumn(name: string): string;
  restarts(name: string): number;
  container(name: string, container?: string): any;
  /** Advances in steps of `stepMs` until `fn` holds (or `maxMs` passed); returns the time it took. */
  until(fn: () => boolean, maxMs: number, stepMs?: number): Promise<number>;
}

const prng = mulberry32;

export async function rig(options: Partial<PodManagerOptions> & { objects?: KubeObject[]; clock?: FakeClock; client?: FakeClient } = {}): Promise<Rig> {
  const clock = options.clock ?? new FakeClock();
  const client = options.client ?? new FakeClient({ clock, gracefulPodDeletion: true, objects: options.objects ?? [] });
  const recorder = new FakeRecorder();
  const sent: { to: string; msg: any }[] = [];
  const pods = new PodManager({
    nodeName: NODE,
    hostIP: '172.18.0.2',
    podCIDR: '10.244.0.0/24',
    client,
    clock,
    timers: clock,
    random: prng(7),
    compute: new SimCompute(clock),
    recorder,
    send: (to, msg) => sent.push({ to, msg }),
    allocatable: { cpuMilli: 4000, memoryBytes: 8 * 1024 ** 3, pods: 110 },
    sandboxDelayMs: 100,
    ...options,
  });
  const informer = new Informer('pods', { client, clock, timers: clock, fieldSelector: `spec.nodeName=${NODE}` });
  informer.addEventHandler({ add: (p) => pods.upsert(p), update: (_o, p) => pods.upsert(p), delete: (p) => pods.remove(p) });
  informer.start();

  const settle = async () => {
    for (let i = 0; i < 8; i++) await new Promise((r) => setImmediate(r));
  };
  const advance = async (ms: number) => {
    const until = clock.now() + ms;
    await settle();
    while (clock.runNext(until)) await settle();
    clock.set(until);
    await settle();
  };
  const pod = (name: string) => client.peek('pods', 'default', name);
  const r: Rig = {
    clock,
    client,
    recorder,
    pods,
    informer,
    sent,
    settle,
    advance,
    async create(p) {
      const body: KubeObject = {
        apiVersion: 'v1',
        kind: 'Pod',
        ...p,
        metadata: { namespace: 'default', ...p.metadata },
        spec: { nodeName: NODE, restartPolicy: 'Always', terminationGracePeriodSeconds: 30, ...(p.spec ?? {}) },
      };
      const out = await client.create('pods', 'default', body);
      await settle();
      return out;
    },
    pod,
    statusColumn: (name) => podStatusReason(pod(name)!),
    readyColumn: (name) => {
      const p = pod(name)!;
      const cs: any[] = p.status?.containerStatuses ?? [];
      return `${cs.filter((c) => c.ready).length}/${(p.spec?.containers ?? []).length}`;
    },
    restarts: (name) => (pod(name)?.status?.containerStatuses ?? []).reduce((n: number, c: any) => n + (c.restartCount ?? 0), 0),
    container: (name, container) => {
      const p = pod(name)!;
      const all = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
      return container ? all.find((c) => c.name === container) : p.status?.containerStatuses?.[0];
    },
    async until(fn, maxMs, stepMs = 100) {
      const start = clock.now();
      while (!fn()) {
        if (clock.now() - start >= maxMs) throw new Error(`condition not met within ${maxMs} ms (virtual)`);
        await advance(stepMs);
      }
      return clock.now() - start;
    },
  };
  await settle();
  return r;
}

export function condition(pod: KubeObject | undefined, type: string): any {
  return (pod?.status?.conditions ?? []).find((c: any) => c.type === type);
}
