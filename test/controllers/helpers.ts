/**
 * Fixtures for controller tests: a fake API on a virtual clock, informers over it (with frozen
 * caches, so a reconciler that mutates a cached object fails), and object builders.
 */
import type { KubeObject } from '../../api/types.js';
import { FakeClient, type Action } from '../../controllers/client.js';
import type { Controller, ControllerContext } from '../../controllers/controller.js';
import { FakeRecorder } from '../../controllers/events.js';
import { InformerFactory } from '../../controllers/informer.js';
import { FakeClock, formatTime } from '../../controllers/time.js';

/** Lets every pending promise chain run (the fake API answers in microtasks). */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

export interface Harness {
  clock: FakeClock;
  client: FakeClient;
  informers: InformerFactory;
  ctx: ControllerContext;
  recorder: FakeRecorder;
  /** Starts informers and waits for their caches. */
  sync(): Promise<void>;
  /** Moves virtual time forward, running timers and letting reconciles finish in between. */
  run(ms: number): Promise<void>;
  /** Writes with the verbs and resources, as `verb resource[/sub] ns/name`, skipping events. */
  writes(opts?: { events?: boolean }): string[];
}

export async function harness(objects: KubeObject[] = [], opts: { gracefulPodDeletion?: boolean; events?: 'fake' | 'client'; startMs?: number } = {}): Promise<Harness> {
  const clock = new FakeClock(opts.startMs);
  const client = new FakeClient({ clock, objects, gracefulPodDeletion: opts.gracefulPodDeletion });
  const informers = new InformerFactory({ client, clock, timers: clock, freeze: true });
  const recorder = new FakeRecorder();
  const ctx: ControllerContext = { client, clock, timers: clock, informers };
  if (opts.events !== 'client') ctx.recorder = () => recorder;
  const h: Harness = {
    clock,
    client,
    informers,
    ctx,
    recorder,
    async sync() {
      informers.start();
      await informers.waitForCacheSync();
      await settle();
    },
    async run(ms: number) {
      const until = clock.now() + ms;
      await settle();
      while (clock.runNext(until)) await settle();
      clock.set(until);
      await settle();
    },
    writes(o = {}) {
      return client
        .writes()
        .filter((a) => o.events || a.resource !== 'events')
        .map(describe);
    },
  };
  return h;
}

export function describe(a: Action): string {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const name = a.namespace ? `${a.namespace}/${a.name}` : a.name;
  return `${a.verb} ${res} ${name}`;
}

/** Starts controllers' workers and lets them finish what is queued. */
export async function startAll(h: Harness, ...controllers: Controller[]): Promise<void> {
  for (const c of controllers) c.start();
  await h.sync();
  await settle();
}

// ---------------------------------------------------------------------------------------------
// Builders

export function podTemplate(labels: Record<string, string>, extra: Record<string, any> = {}): any {
  return { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }], ...extra } };
}

export function replicaSet(name: string, replicas: number, labels: Record<string, string> = { app: name }, extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: 'default', labels: { ...labels } },
    spec: { replicas, selector: { matchLabels: { ...labels } }, template: podTemplate(labels) },
    ...extra,
  };
}

export interface PodOpts {
  labels?: Record<string, string>;
  owner?: KubeObject;
  ownerKind?: string;
  ownerApiVersion?: string;
  node?: string;
  phase?: string;
  ready?: boolean;
  readySinceMs?: number;
  restarts?: number;
  createdMs?: number;
  namespace?: string;
  ip?: string;
  spec?: Record<string, any>;
  annotations?: Record<string, string>;
}

export function pod(name: string, o: PodOpts = {}): KubeObject {
  const p: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: o.namespace ?? 'default', labels: { ...(o.labels ?? {}) } },
    spec: { containers: [{ name: 'app', image: 'nginx:1.27' }], ...(o.spec ?? {}) },
    status: { phase: o.phase ?? (o.ready ? 'Running' : 'Pending') },
  };
  if (o.annotations) p.metadata.annotations = { ...o.annotations };
  if (o.createdMs !== undefined) p.metadata.creationTimestamp = formatTime(o.createdMs);
  if (o.owner) {
    p.metadata.ownerReferences = [
      {
        apiVersion: o.ownerApiVersion ?? o.owner.apiVersion ?? 'apps/v1',
        kind: o.ownerKind ?? o.owner.kind ?? 'ReplicaSet',
        name: o.owner.metadata.name!,
        uid: o.owner.metadata.uid!,
        controller: true,
        blockOwnerDeletion: true,
      },
    ];
  }
  if (o.node) p.spec!.nodeName = o.node;
  if (o.ip) p.status.podIP = o.ip;
  if (o.ready !== undefined) {
    p.status.conditions = [{ type: 'Ready', status: o.ready ? 'True' : 'False', lastTransitionTime: formatTime(o.readySinceMs ?? 0) }];
  }
  if (o.restarts !== undefined) p.status.containerStatuses = [{ name: 'app', restartCount: o.restarts, ready: !!o.ready }];
  return p;
}

export function node(name: string, o: { labels?: Record<string, string>; taints?: any[]; cpu?: string; memory?: string; pods?: string; unschedulable?: boolean; ready?: 'True' | 'False' | 'Unknown' } = {}): KubeObject {
  const n: KubeObject = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(o.labels ?? {}) } },
    spec: {},
    status: {
      allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' },
      capacity: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' },
      conditions: [{ type: 'Ready', status: o.ready ?? 'True', reason: 'KubeletReady' }],
    },
  };
  if (o.taints) n.spec.taints = o.taints;
  if (o.unschedulable) n.spec.unschedulable = true;
  return n;
}

/** Marks a pod Running and Ready now (what a kubelet would report). */
export function makeReady(h: Harness, namespace: string, name: string, ip?: string): void {
  h.client.mutate('pods', namespace, name, (p) => {
    p.status = {
      ...(p.status ?? {}),
      phase: 'Running',
      podIP: ip ?? p.status?.podIP ?? '10.0.0.1',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: formatTime(h.clock.now()) }],
    };
  });
}

/** Finishes a pod with a phase and an exit time (a kubelet's last word). */
export function finishPod(h: Harness, namespace: string, name: string, phase: 'Succeeded' | 'Failed'): void {
  h.client.mutate('pods', namespace, name, (p) => {
    const t = formatTime(h.clock.now());
    p.status = {
      ...(p.status ?? {}),
      phase,
      conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: t }],
      containerStatuses: [{ name: 'app', ready: false, restartCount: 0, state: { terminated: { exitCode: phase === 'Succeeded' ? 0 : 1, finishedAt: t } } }],
    };
  });
}
