/**
 * The controller manager's contents: every controller, built over one set of shared informers,
 * named as kube-controller-manager names them (`--controllers`). The actor that hosts them
 * supplies the context (client, clock, timers, informers) and starts the informers after
 * building, so every controller's handlers are registered before the first list.
 */
import { Controller, type ControllerContext } from './controller.js';
import { CronJobController } from './cronjob.js';
import { DaemonSetController } from './daemonset.js';
import { DeploymentController } from './deployment.js';
import { DisruptionController } from './disruption.js';
import { EndpointSliceController, EndpointsController } from './endpoints.js';
import { GarbageCollector, type GarbageCollectorOptions } from './gc.js';
import { HorizontalPodAutoscalerController, type HPAOptions, type MetricsSource } from './hpa.js';
import { JobController, TTLAfterFinishedController } from './job.js';
import { NodeLifecycleController, TaintEvictionController, type NodeLifecycleOptions } from './nodelifecycle.js';
import { ReplicaSetController, ReplicationControllerController } from './replicaset.js';
import { StatefulSetController } from './statefulset.js';
import { PodGCController, type PodGCOptions } from './podgc.js';
import { PersistentVolumeController, type StorageClassInfo } from './volume.js';

export const CONTROLLER_NAMES = [
  'replicaset',
  'replicationcontroller',
  'deployment',
  'statefulset',
  'daemonset',
  'job',
  'cronjob',
  'ttl-after-finished',
  'horizontalpodautoscaling',
  'garbagecollector',
  'nodelifecycle',
  'taint-eviction-controller',
  'podgc',
  'disruption',
  'endpoint',
  'endpointslice',
  'persistentvolume-binder',
] as const;

export type ControllerName = (typeof CONTROLLER_NAMES)[number];

export interface ControllerManagerOptions {
  /** Which controllers to run (default: all; the HPA only with `metrics`). */
  controllers?: ControllerName[];
  metrics?: MetricsSource;
  /** HPA sync period and tolerance (defaults 15 s and 0.1). */
  hpa?: Omit<HPAOptions, 'metrics'>;
  storageClasses?: StorageClassInfo[];
  volumeBaseDir?: string;
  nodeLifecycle?: NodeLifecycleOptions;
  podGC?: PodGCOptions;
  garbageCollector?: GarbageCollectorOptions;
}

export interface ControllerManager {
  controllers: Map<ControllerName, Controller>;
  /** Starts the controllers' workers and the shared informers. */
  start(): void;
  stop(): void;
  /** Resolves when every informer has listed once. */
  synced(): Promise<void>;
}

export function createControllerManager(ctx: ControllerContext, options: ControllerManagerOptions = {}): ControllerManager {
  const wanted = new Set<ControllerName>(options.controllers ?? CONTROLLER_NAMES);
  const controllers = new Map<ControllerName, Controller>();
  const make: Record<ControllerName, () => Controller | undefined> = {
    replicaset: () => new ReplicaSetController(ctx),
    replicationcontroller: () => new ReplicationControllerController(ctx),
    deployment: () => new DeploymentController(ctx),
    statefulset: () => new StatefulSetController(ctx),
    daemonset: () => new DaemonSetController(ctx),
    job: () => new JobController(ctx),
    cronjob: () => new CronJobController(ctx),
    'ttl-after-finished': () => new TTLAfterFinishedController(ctx),
    horizontalpodautoscaling: () => (options.metrics ? new HorizontalPodAutoscalerController(ctx, { ...options.hpa, metrics: options.metrics }) : undefined),
    garbagecollector: () => new GarbageCollector(ctx, options.garbageCollector),
    nodelifecycle: () => new NodeLifecycleController(ctx, options.nodeLifecycle),
    'taint-eviction-controller': () => new TaintEvictionController(ctx),
    podgc: () => new PodGCController(ctx, options.podGC),
    disruption: () => new DisruptionController(ctx),
    endpoint: () => new EndpointsController(ctx),
    endpointslice: () => new EndpointSliceController(ctx),
    'persistentvolume-binder': () => new PersistentVolumeController(ctx, { storageClasses: options.storageClasses, baseDir: options.volumeBaseDir }),
  };
  for (const name of CONTROLLER_NAMES) {
    if (!wanted.has(name)) continue;
    const c = make[name]();
    if (c) controllers.set(name, c);
  }
  return {
    controllers,
    start() {
      for (const c of controllers.values()) c.start();
      ctx.informers.start();
    },
    stop() {
      for (const c of controllers.values()) c.stop();
      ctx.informers.stop();
    },
    synced: () => ctx.informers.waitForCacheSync(),
  };
}
