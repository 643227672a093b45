/**
 * Resource metrics for the HPA, gathered from the kubelets that run the pods (the role
 * metrics-server plays in Kubernetes): list the matching pods, ask each node's kubelet
 * (`kubelet-<node>`) for its PodMetrics, and sum the containers' usage.
 */
import type { LabelSelector } from '../api/selectors.js';
import { selectorToString } from '../api/selectors.js';
import type { KubeObject } from '../api/types.js';
import type { ApiClient } from '../controllers/client.js';
import type { MetricsSource, PodMetric } from '../controllers/hpa.js';
import { milliValue } from '../controllers/quantity.js';

/** metrics.k8s.io/v1beta1 PodMetrics, as kubelets report them. */
export interface PodMetrics {
  metadata: { name: string; namespace: string };
  timestamp: string;
  window: string;
  containers: { name: string; usage: Record<string, string> }[];
}

type Ask = (to: string, msg: unknown) => Promise<unknown>;

export function kubeletId(nodeName: string): string {
  return `kubelet-${nodeName}`;
}

function seconds(window: string): number {
  const m = /^(\d+(?:\.\d+)?)s$/.exec(window);
  return m ? Number(m[1]) * 1000 : 0;
}

export class KubeletMetrics implements MetricsSource {
  constructor(
    private readonly client: ApiClient,
    private readonly ask: Ask,
  ) {}

  async podResourceMetrics(namespace: string, selector: LabelSelector, resource: string, container?: string): Promise<Map<string, PodMetric>> {
    const pods = await this.client.list('pods', namespace, { labelSelector: selectorToString(selector) });
    const byNode = new Map<string, KubeObject[]>();
    for (const p of pods.items) {
      const node = p.spec?.nodeName as string | undefined;
      if (!node || p.status?.phase !== 'Running') continue;
      let list = byNode.get(node);
      if (!list) byNode.set(node, (list = []));
      list.push(p);
    }
    const out = new Map<string, PodMetric>();
    await Promise.all(
      [...byNode.keys()].map(async (node) => {
        let report: { pods?: PodMetrics[]; items?: PodMetrics[] };
        try {
          report = (await this.ask(kubeletId(node), { op: 'metrics' })) as typeof report;
        } catch {
          return; // a node that does not answer has no metrics, as with metrics-server
        }
        for (const pm of report.pods ?? report.items ?? []) {
          if (pm.metadata.namespace !== namespace) continue;
          let total = 0;
          let any = false;
          for (const c of pm.containers) {
            if (container && c.name !== container) continue;
            const q = c.usage[resource];
            if (q === undefined) continue;
            total += milliValue(q);
            any = true;
          }
          if (!any) continue;
          out.set(pm.metadata.name, { value: total, timestampMs: Date.parse(pm.timestamp) || 0, windowMs: seconds(pm.window) });
        }
      }),
    );
    return out;
  }
}
