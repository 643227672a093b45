/**
 * The controller manager: every controller of controllers/ over one set of shared informers,
 * talking to the API server through actor messages. Level-triggered: after a crash it lists
 * everything again and converges from what the API says.
 */
import type { Actor, ActorContext } from '../runtime/actor.js';
import { InformerFactory } from '../controllers/informer.js';
import { createControllerManager, type ControllerManager, type ControllerName } from '../controllers/manager.js';
import type { HPAOptions, MetricsSource } from '../controllers/hpa.js';
import type { NodeLifecycleOptions } from '../controllers/nodelifecycle.js';
import type { PodGCOptions } from '../controllers/podgc.js';
import { ActorApiClient } from './api-client.js';
import { KubeletMetricsSource } from './kubelet-gateway.js';

export interface ControllerManagerArgs {
  apiserver?: string;
  /** Which controllers run (default: all). */
  controllers?: ControllerName[];
  /** Resync period of the shared informers (default 10 minutes, as kube-controller-manager). */
  resyncPeriodMs?: number;
  /** Base directory for the local-directory volume provisioner. */
  volumeBaseDir?: string;
  /** Node monitor grace periods (Kubernetes defaults: 50 s, startup 60 s). */
  nodeLifecycle?: NodeLifecycleOptions;
  /** Pod garbage collection periods (Kubernetes defaults: check every 20 s, 40 s quarantine). */
  podGC?: PodGCOptions;
  /** HPA sync period and tolerance (`--horizontal-pod-autoscaler-sync-period`, default 15 s). */
  hpa?: Omit<HPAOptions, 'metrics'>;
}

export default function controllerManager(rawArgs: unknown): Actor {
  const args = (rawArgs ?? {}) as ControllerManagerArgs;
  let client: ActorApiClient;
  let manager: ControllerManager;
  let errors = 0;
  let lastError = '';
  return {
    async onStart(ctx: ActorContext) {
      client = new ActorApiClient(ctx, { apiserver: args.apiserver ?? 'apiserver' });
      const informers = new InformerFactory({ client, clock: ctx, timers: ctx, resyncPeriodMs: args.resyncPeriodMs ?? 600_000 });
      // The HPA reads pod usage from the kubelets of the pods' nodes, as metrics-server would.
      const metrics: MetricsSource = new KubeletMetricsSource((to, msg, timeoutMs) => ctx.ask(to, msg, { timeoutMs }), informers.lister('pods'));
      manager = createControllerManager(
        {
          client,
          clock: ctx,
          timers: ctx,
          informers,
          onError: (controller, key, err) => {
            errors++;
            lastError = `${controller} ${key}: ${(err as Error)?.message ?? String(err)}`;
            ctx.log.debug({ controller, key, err: lastError }, 'reconcile failed; retrying');
          },
        },
        {
          metrics,
          ...(args.controllers ? { controllers: args.controllers } : {}),
          ...(args.volumeBaseDir ? { volumeBaseDir: args.volumeBaseDir } : {}),
          ...(args.nodeLifecycle ? { nodeLifecycle: args.nodeLifecycle } : {}),
          ...(args.podGC ? { podGC: args.podGC } : {}),
          ...(args.hpa ? { hpa: args.hpa } : {}),
        },
      );
      manager.start();
      ctx.log.info({ controllers: [...manager.controllers.keys()] }, 'controller manager started');
    },
    onMessage(_ctx, _from, msg) {
      client.onNotice(msg);
    },
    onStop() {
      manager?.stop();
    },
    status() {
      return { controllers: manager ? [...manager.controllers.keys()] : [], reconcileErrors: errors, lastError };
    },
  };
}
