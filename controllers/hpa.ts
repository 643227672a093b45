/**
 * The HorizontalPodAutoscaler controller (autoscaling/v2, pkg/controller/podautoscaler). Every
 * sync period (15 s) it reads the target's scale subresource and the metrics, proposes
 * desired = ceil(current × usage / target) per metric (within a tolerance of 0.1 nothing
 * changes; missing and unready pods are accounted as Kubernetes does), takes the largest
 * proposal, stabilizes it (scale-down takes the highest recommendation of the last 300 s),
 * limits the rate (scale-up by max(100 %, 4 pods) per 15 s, scale-down by 100 % per 15 s, or the
 * `behavior` policies), clamps to min/max replicas and writes the scale.
 *
 * Metrics come from an injected `MetricsSource` (the kubelets serve them later).
 */
import { parseLabelSelector, selectorFromObject, type LabelSelector } from '../api/selectors.js';
import { clone, type KubeObject } from '../api/types.js';
import { errorMessage, writeStatus } from './apiutil.js';
import { Controller, type ControllerContext } from './controller.js';
import type { Lister } from './informer.js';
import { getCondition, setCondition } from './podutil.js';
import { amount } from './quantity.js';
import { resourceForKind, splitKey } from './resources.js';
import { formatTime, parseTime } from './time.js';

export interface PodMetric {
  /** Milli-units: millicores for cpu, milli-bytes for memory, milli-units for custom metrics. */
  value: number;
  timestampMs: number;
  windowMs: number;
}

/** Where metrics come from (the metrics APIs: metrics.k8s.io, custom.metrics.k8s.io, external). */
export interface MetricsSource {
  /** Per-pod usage of a resource, by pod name, for pods matching the selector. */
  podResourceMetrics(namespace: string, selector: LabelSelector, resource: string, container?: string): Promise<Map<string, PodMetric>>;
  /** A per-pod custom metric (type Pods), by pod name. */
  podCustomMetrics?(namespace: string, selector: LabelSelector, metric: string, metricSelector?: LabelSelector): Promise<Map<string, PodMetric>>;
  /** A metric describing one object (type Object), in milli-units. */
  objectMetric?(namespace: string, object: { apiVersion?: string; kind: string; name: string }, metric: string, metricSelector?: LabelSelector): Promise<number>;
  /** External metric values (type External), in milli-units. */
  externalMetric?(namespace: string, metric: string, metricSelector?: LabelSelector): Promise<number[]>;
}

export const TOLERANCE = 0.1;
export const SYNC_PERIOD_MS = 15_000;
const CPU_INITIALIZATION_PERIOD_MS = 5 * 60_000;
const DELAY_OF_INITIAL_READINESS_MS = 30_000;
const KIND = { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler' };

interface ScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

interface ScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: ScalingPolicy[];
}

/** The behavior with Kubernetes' defaults filled in. */
export function behaviorOf(hpa: KubeObject): { scaleUp: ScalingRules; scaleDown: ScalingRules } {
  const b = hpa.spec?.behavior ?? {};
  const up = b.scaleUp ?? {};
  const down = b.scaleDown ?? {};
  return {
    scaleUp: {
      stabilizationWindowSeconds: up.stabilizationWindowSeconds ?? 0,
      selectPolicy: up.selectPolicy ?? 'Max',
      policies: up.policies ?? [
        { type: 'Pods', value: 4, periodSeconds: 15 },
        { type: 'Percent', value: 100, periodSeconds: 15 },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: down.stabilizationWindowSeconds ?? 300,
      selectPolicy: down.selectPolicy ?? 'Max',
      policies: down.policies ?? [{ type: 'Percent', value: 100, periodSeconds: 15 }],
    },
  };
}

interface Recommendation {
  replicas: number;
  atMs: number;
}

interface ScaleEvent {
  change: number;
  atMs: number;
  outdated: boolean;
}

function replicasChangePerPeriod(periodSeconds: number, events: ScaleEvent[], nowMs: number): number {
  const cutoff = nowMs - periodSeconds * 1000;
  let n = 0;
  for (const e of events) if (e.atMs > cutoff) n += e.change;
  return n;
}

export function scaleUpLimit(current: number, up: ScaleEvent[], down: ScaleEvent[], rules: ScalingRules, nowMs: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  let result = rules.selectPolicy === 'Min' ? Infinity : -Infinity;
  for (const p of rules.policies) {
    const start = current - replicasChangePerPeriod(p.periodSeconds, up, nowMs) + replicasChangePerPeriod(p.periodSeconds, down, nowMs);
    const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

export function scaleDownLimit(current: number, up: ScaleEvent[], down: ScaleEvent[], rules: ScalingRules, nowMs: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  let result = rules.selectPolicy === 'Min' ? -Infinity : Infinity;
  for (const p of rules.policies) {
    const start = current - replicasChangePerPeriod(p.periodSeconds, up, nowMs) + replicasChangePerPeriod(p.periodSeconds, down, nowMs);
    const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** Milli-units as a quantity string (`250m`, `2`). */
function milliQuantity(v: number): string {
  return v % 1000 === 0 ? String(v / 1000) : `${Math.round(v)}m`;
}

interface Proposal {
  replicas: number;
  name: string;
  status: any;
}

class MetricError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface HPAOptions {
  metrics: MetricsSource;
  syncPeriodMs?: number;
  tolerance?: number;
}

export class HorizontalPodAutoscalerController extends Controller {
  private readonly hpas: Lister;
  private readonly pods: Lister;
  private readonly metrics: MetricsSource;
  private readonly syncPeriodMs: number;
  private readonly tolerance: number;
  private readonly recommendations = new Map<string, Recommendation[]>();
  private readonly upEvents = new Map<string, ScaleEvent[]>();
  private readonly downEvents = new Map<string, ScaleEvent[]>();

  constructor(ctx: ControllerContext, options: HPAOptions) {
    super('horizontal-pod-autoscaler', ctx, { component: 'horizontal-pod-autoscaler' });
    this.metrics = options.metrics;
    this.syncPeriodMs = options.syncPeriodMs ?? SYNC_PERIOD_MS;
    this.tolerance = options.tolerance ?? TOLERANCE;
    const inf = ctx.informers.informer('horizontalpodautoscalers');
    this.hpas = inf.lister;
    this.pods = ctx.informers.informer('pods').lister;
    inf.addEventHandler({
      add: (h) => this.enqueue(h),
      update: (old, h) => {
        // Status writes of our own should not cut the sync period short.
        if (JSON.stringify(old.spec) !== JSON.stringify(h.spec)) this.enqueue(h);
      },
      delete: (h) => this.enqueue(h),
    });
  }

  override async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const hpa = this.hpas.get(namespace, name);
    if (!hpa) {
      this.recommendations.delete(key);
      this.upEvents.delete(key);
      this.downEvents.delete(key);
      return;
    }
    try {
      await this.reconcileAutoscaler(key, hpa);
    } finally {
      this.enqueueAfter(key, this.syncPeriodMs);
    }
  }

  private async reconcileAutoscaler(key: string, hpa: KubeObject): Promise<void> {
    const now = this.clock.now();
    const status: any = clone(hpa.status ?? {});
    status.conditions ??= [];
    const ref = hpa.spec?.scaleTargetRef ?? {};
    const ns = hpa.metadata.namespace!;
    const target = resourceForKind(ref.apiVersion, ref.kind ?? '');
    let scale: KubeObject;
    try {
      if (!target) throw new Error(`unrecognized resource ${ref.apiVersion}/${ref.kind}`);
      scale = await this.client.get(target.plural, ns, ref.name, { subresource: 'scale' });
    } catch (err) {
      const msg = `the HPA controller was unable to get the target's current scale: ${errorMessage(err)}`;
      setCondition(status, { type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message: msg }, now);
      this.recorder.event(hpa, 'Warning', 'FailedGetScale', errorMessage(err), KIND);
      await writeStatus(this.client, 'horizontalpodautoscalers', hpa, status);
      return;
    }
    setCondition(status, { type: 'AbleToScale', status: 'True', reason: 'SucceededGetScale', message: 'the HPA controller was able to get the target\'s current scale' }, now);
    const current = scale.spec?.replicas ?? 0;
    const selector = parseLabelSelector(scale.status?.selector ?? '');
    const minReplicas = hpa.spec?.minReplicas ?? 1;
    const maxReplicas = hpa.spec?.maxReplicas ?? 1;
    let desired = current;
    let reason = '';
    let rescale = false;
    let currentMetrics: any[] | undefined = status.currentMetrics;
    if (current === 0 && minReplicas !== 0) {
      setCondition(status, { type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled', message: 'scaling is disabled since the replica count of the target is zero' }, now);
    } else if (current > maxReplicas) {
      reason = 'Current number of replicas above Spec.MaxReplicas';
      desired = maxReplicas;
    } else if (current < minReplicas) {
      reason = 'Current number of replicas below Spec.MinReplicas';
      desired = minReplicas;
    } else {
      const r = await this.computeReplicasForMetrics(hpa, status, current, selector, now);
      if (r.replicas < 0) {
        status.currentReplicas = current;
        status.desiredReplicas = current;
        status.currentMetrics = r.statuses.length ? r.statuses : undefined;
        if (!status.currentMetrics) delete status.currentMetrics;
        status.observedGeneration = hpa.metadata.generation ?? 0;
        await writeStatus(this.client, 'horizontalpodautoscalers', hpa, status);
        return;
      }
      currentMetrics = r.statuses;
      reason = r.replicas > current ? `${r.name} above target` : 'All metrics below target';
      desired = this.normalize(key, hpa, status, current, r.replicas, minReplicas, maxReplicas, now);
    }
    rescale = desired !== current;
    if (rescale) {
      try {
        await this.client.patch(target!.plural, ns, ref.name, { spec: { replicas: desired } }, { subresource: 'scale' });
      } catch (err) {
        this.recorder.event(hpa, 'Warning', 'FailedRescale', `New size: ${desired}; reason: ${reason}; error: ${errorMessage(err)}`, KIND);
        setCondition(status, { type: 'AbleToScale', status: 'False', reason: 'FailedUpdateScale', message: `the HPA controller was unable to update the target scale: ${errorMessage(err)}` }, now);
        await writeStatus(this.client, 'horizontalpodautoscalers', hpa, status);
        throw err;
      }
      setCondition(status, { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: `the HPA controller was able to update the target scale to ${desired}` }, now);
      this.recorder.event(hpa, 'Normal', 'SuccessfulRescale', `New size: ${desired}; reason: ${reason}`, KIND);
      this.storeScaleEvent(key, hpa, current, desired, now);
      status.lastScaleTime = formatTime(now);
    }
    status.currentReplicas = current;
    status.desiredReplicas = desired;
    if (currentMetrics && currentMetrics.length) status.currentMetrics = currentMetrics;
    status.observedGeneration = hpa.metadata.generation ?? 0;
    await writeStatus(this.client, 'horizontalpodautoscalers', hpa, status);
  }

  // --- metrics ------------------------------------------------------------------------------

  private async computeReplicasForMetrics(hpa: KubeObject, status: any, current: number, selector: LabelSelector, now: number): Promise<{ replicas: number; name: string; statuses: any[] }> {
    const specs: any[] = hpa.spec?.metrics ?? [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }];
    let best: Proposal | undefined;
    const statuses: any[] = [];
    let firstErr: MetricError | undefined;
    let invalid = 0;
    for (const spec of specs) {
      try {
        const p = await this.replicasForMetric(hpa, spec, current, selector, now);
        statuses.push(p.status);
        if (!best || p.replicas > best.replicas) best = p;
      } catch (err) {
        invalid++;
        const e = err instanceof MetricError ? err : new MetricError('FailedGetResourceMetric', errorMessage(err));
        firstErr ??= e;
        statuses.push({ type: spec.type ?? '' });
      }
    }
    if (invalid >= specs.length || !best) {
      const e = firstErr ?? new MetricError('InvalidMetricSourceType', 'no metrics');
      setCondition(status, { type: 'ScalingActive', status: 'False', reason: e.reason, message: `the HPA was unable to compute the replica count: ${e.message}` }, now);
      this.recorder.event(hpa, 'Warning', e.reason, e.message, KIND);
      return { replicas: -1, name: '', statuses: statuses.filter((s) => Object.keys(s).length > 1) };
    }
    setCondition(status, { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: `the HPA was able to successfully calculate a replica count from ${best.name}` }, now);
    return { replicas: best.replicas, name: best.name, statuses };
  }

  private async replicasForMetric(hpa: KubeObject, spec: any, current: number, selector: LabelSelector, now: number): Promise<Proposal> {
    const ns = hpa.metadata.namespace!;
    switch (spec.type) {
      case 'Resource':
      case 'ContainerResource': {
        const src = spec.type === 'Resource' ? spec.resource : spec.containerResource;
        const resource: string = src?.name;
        const container: string | undefined = spec.type === 'ContainerResource' ? src.container : undefined;
        const target = src?.target ?? {};
        let metrics: Map<string, PodMetric>;
        try {
          metrics = await this.metrics.podResourceMetrics(ns, selector, resource, container);
        } catch (err) {
          throw new MetricError(spec.type === 'Resource' ? 'FailedGetResourceMetric' : 'FailedGetContainerResourceMetric', `failed to get ${resource} utilization: unable to get metrics for resource ${resource}: ${errorMessage(err)}`);
        }
        if (target.type === 'AverageValue') {
          const targetMilli = amount('cpu', target.averageValue);
          const r = this.rawReplicas(ns, selector, current, metrics, targetMilli, resource, now);
          return {
            replicas: r.replicas,
            name: `${resource} resource`,
            status: { type: spec.type, [spec.type === 'Resource' ? 'resource' : 'containerResource']: { name: resource, ...(container ? { container } : {}), current: { averageValue: milliQuantity(r.average) } } },
          };
        }
        const util = target.averageUtilization ?? 80;
        const r = this.utilizationReplicas(ns, selector, current, metrics, util, resource, container, now);
        return {
          replicas: r.replicas,
          name: `${resource} resource utilization (percentage of request)`,
          status: {
            type: spec.type,
            [spec.type === 'Resource' ? 'resource' : 'containerResource']: { name: resource, ...(container ? { container } : {}), current: { averageUtilization: r.utilization, averageValue: milliQuantity(r.rawAverage) } },
          },
        };
      }
      case 'Pods': {
        if (!this.metrics.podCustomMetrics) throw new MetricError('FailedGetPodsMetric', 'custom metrics are not served');
        const name = spec.pods?.metric?.name;
        const metricSelector = spec.pods?.metric?.selector ? selectorFromObject(spec.pods.metric.selector) : undefined;
        let metrics: Map<string, PodMetric>;
        try {
          metrics = await this.metrics.podCustomMetrics(ns, selector, name, metricSelector);
        } catch (err) {
          throw new MetricError('FailedGetPodsMetric', `unable to get metric ${name}: ${errorMessage(err)}`);
        }
        const targetMilli = amount('cpu', spec.pods?.target?.averageValue);
        const r = this.rawReplicas(ns, selector, current, metrics, targetMilli, undefined, now);
        return { replicas: r.replicas, name: `pods metric ${name}`, status: { type: 'Pods', pods: { metric: { name }, current: { averageValue: milliQuantity(r.average) } } } };
      }
      case 'Object': {
        if (!this.metrics.objectMetric) throw new MetricError('FailedGetObjectMetric', 'object metrics are not served');
        const o = spec.object ?? {};
        let value: number;
        try {
          value = await this.metrics.objectMetric(ns, o.describedObject, o.metric?.name, o.metric?.selector ? selectorFromObject(o.metric.selector) : undefined);
        } catch (err) {
          throw new MetricError('FailedGetObjectMetric', `unable to get metric ${o.metric?.name}: ${errorMessage(err)}`);
        }
        const name = `${o.describedObject?.kind} metric ${o.metric?.name}`;
        if (o.target?.type === 'AverageValue') {
          const target = amount('cpu', o.target.averageValue);
          const ratio = value / (target * current);
          const replicas = Math.abs(1 - ratio) <= this.tolerance ? current : Math.ceil(value / target);
          return { replicas, name, status: { type: 'Object', object: { describedObject: o.describedObject, metric: o.metric, current: { averageValue: milliQuantity(value / Math.max(1, current)) } } } };
        }
        const target = amount('cpu', o.target?.value);
        const ready = this.readyPodCount(ns, selector);
        const ratio = value / target;
        const replicas = Math.abs(1 - ratio) <= this.tolerance ? current : Math.ceil(ratio * ready);
        return { replicas, name, status: { type: 'Object', object: { describedObject: o.describedObject, metric: o.metric, current: { value: milliQuantity(value) } } } };
      }
      case 'External': {
        if (!this.metrics.externalMetric) throw new MetricError('FailedGetExternalMetric', 'external metrics are not served');
        const e = spec.external ?? {};
        let values: number[];
        try {
          values = await this.metrics.externalMetric(ns, e.metric?.name, e.metric?.selector ? selectorFromObject(e.metric.selector) : undefined);
        } catch (err) {
          throw new MetricError('FailedGetExternalMetric', `unable to get external metric ${ns}/${e.metric?.name}: ${errorMessage(err)}`);
        }
        const total = values.reduce((a, b) => a + b, 0);
        const name = `external metric ${e.metric?.name}`;
        if (e.target?.type === 'AverageValue') {
          const target = amount('cpu', e.target.averageValue);
          const ratio = total / (target * current);
          const replicas = Math.abs(1 - ratio) <= this.tolerance ? current : Math.ceil(total / target);
          return { replicas, name, status: { type: 'External', external: { metric: e.metric, current: { averageValue: milliQuantity(total / Math.max(1, current)) } } } };
        }
        const target = amount('cpu', e.target?.value);
        const ready = this.readyPodCount(ns, selector);
        const ratio = total / target;
        const replicas = Math.abs(1 - ratio) <= this.tolerance ? current : Math.ceil(ratio * ready);
        return { replicas, name, status: { type: 'External', external: { metric: e.metric, current: { value: milliQuantity(total) } } } };
      }
      default:
        throw new MetricError('InvalidMetricSourceType', `invalid metric source type ${JSON.stringify(spec.type)}`);
    }
  }

  private podsFor(ns: string, selector: LabelSelector): KubeObject[] {
    return this.pods.list(ns, selector);
  }

  private readyPodCount(ns: string, selector: LabelSelector): number {
    const pods = this.podsFor(ns, selector);
    const n = pods.filter((p) => p.status?.phase === 'Running' && getCondition(p.status, 'Ready')?.status === 'True').length;
    if (n === 0) throw new MetricError('FailedGetObjectMetric', 'no ready pods returned by selector while calculating replica count');
    return n;
  }

  /** Splits pods into ready (counted), unready, missing metrics and ignored (groupPods). */
  private groupPods(pods: KubeObject[], metrics: Map<string, PodMetric>, resource: string | undefined, now: number) {
    let ready = 0;
    const unready = new Set<string>();
    const missing = new Set<string>();
    const ignored = new Set<string>();
    for (const p of pods) {
      const name = p.metadata.name!;
      if (p.metadata.deletionTimestamp || p.status?.phase === 'Failed') {
        ignored.add(name);
        continue;
      }
      if (p.status?.phase === 'Pending') {
        unready.add(name);
        continue;
      }
      const m = metrics.get(name);
      if (!m) {
        missing.add(name);
        continue;
      }
      if (resource === 'cpu') {
        const cond = getCondition(p.status, 'Ready');
        const start = parseTime(p.status?.startTime);
        let isUnready: boolean;
        if (!cond || start === undefined) isUnready = true;
        else if (start + CPU_INITIALIZATION_PERIOD_MS > now) {
          const changed = parseTime(cond.lastTransitionTime) ?? 0;
          isUnready = cond.status === 'False' || m.timestampMs < changed + m.windowMs;
        } else {
          const changed = parseTime(cond.lastTransitionTime) ?? 0;
          isUnready = cond.status === 'False' && start + DELAY_OF_INITIAL_READINESS_MS > changed;
        }
        if (isUnready) {
          unready.add(name);
          continue;
        }
      }
      ready++;
    }
    return { ready, unready, missing, ignored };
  }

  private requestsOf(pods: KubeObject[], resource: string, container?: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const p of pods) {
      let sum = 0;
      for (const c of p.spec?.containers ?? []) {
        if (container && c.name !== container) continue;
        const q = c?.resources?.requests?.[resource];
        if (q === undefined) throw new MetricError('FailedGetResourceMetric', `failed to get ${resource} utilization: missing request for ${resource} in container ${c.name} of Pod ${p.metadata.name}`);
        sum += amount('cpu', q);
      }
      out.set(p.metadata.name!, sum);
    }
    return out;
  }

  /** GetResourceReplicas: utilization of requests, with the missing / unready corrections. */
  private utilizationReplicas(ns: string, selector: LabelSelector, current: number, metricsIn: Map<string, PodMetric>, target: number, resource: string, container: string | undefined, now: number) {
    const pods = this.podsFor(ns, selector);
    if (pods.length === 0) throw new MetricError('FailedGetResourceMetric', `failed to get ${resource} utilization: no pods returned by selector while calculating replica count`);
    const metrics = new Map<string, number>();
    for (const [k, v] of metricsIn) metrics.set(k, v.value);
    const g = this.groupPods(pods, metricsIn, resource, now);
    for (const n of [...g.ignored, ...g.unready]) metrics.delete(n);
    if (metrics.size === 0) throw new MetricError('FailedGetResourceMetric', `failed to get ${resource} utilization: did not receive metrics for targeted pods (pods might be unready)`);
    const requests = this.requestsOf(pods, resource, container);
    const ratioOf = (m: Map<string, number>) => {
      let used = 0;
      let req = 0;
      let count = 0;
      for (const [name, v] of m) {
        const r = requests.get(name);
        if (r === undefined) continue;
        used += v;
        req += r;
        count++;
      }
      if (req === 0) throw new MetricError('FailedGetResourceMetric', `failed to get ${resource} utilization: no metrics returned matched known pods`);
      const utilization = Math.trunc((used * 100) / req);
      return { ratio: utilization / target, utilization, rawAverage: count ? Math.trunc(used / count) : 0 };
    };
    const first = ratioOf(metrics);
    const scaleUpWithUnready = g.unready.size > 0 && first.ratio > 1;
    if (!scaleUpWithUnready && g.missing.size === 0) {
      const replicas = Math.abs(1 - first.ratio) <= this.tolerance ? current : Math.ceil(first.ratio * g.ready);
      return { replicas, utilization: first.utilization, rawAverage: first.rawAverage };
    }
    if (g.missing.size > 0) {
      const fallback = Math.max(100, target);
      for (const n of g.missing) metrics.set(n, first.ratio < 1 ? ((requests.get(n) ?? 0) * fallback) / 100 : 0);
    }
    if (scaleUpWithUnready) for (const n of g.unready) metrics.set(n, 0);
    const second = ratioOf(metrics);
    if (Math.abs(1 - second.ratio) <= this.tolerance || (first.ratio < 1 && second.ratio > 1) || (first.ratio > 1 && second.ratio < 1)) {
      return { replicas: current, utilization: first.utilization, rawAverage: first.rawAverage };
    }
    const replicas = Math.ceil(second.ratio * metrics.size);
    if ((second.ratio < 1 && replicas > current) || (second.ratio > 1 && replicas < current)) return { replicas: current, utilization: first.utilization, rawAverage: first.rawAverage };
    return { replicas, utilization: first.utilization, rawAverage: first.rawAverage };
  }

  /** Average-value targets (resource AverageValue, Pods metrics). */
  private rawReplicas(ns: string, selector: LabelSelector, current: number, metricsIn: Map<string, PodMetric>, target: number, resource: string | undefined, now: number) {
    const pods = this.podsFor(ns, selector);
    if (pods.length === 0) throw new MetricError('FailedGetPodsMetric', 'no pods returned by selector while calculating replica count');
    const g = this.groupPods(pods, metricsIn, resource, now);
    const metrics = new Map<string, number>();
    for (const [k, v] of metricsIn) if (!g.ignored.has(k) && !g.unready.has(k) && pods.some((p) => p.metadata.name === k)) metrics.set(k, v.value);
    if (metrics.size === 0) throw new MetricError('FailedGetPodsMetric', 'did not receive metrics for targeted pods (pods might be unready)');
    const avg = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0) / m.size;
    const first = avg(metrics) / target;
    const scaleUpWithUnready = g.unready.size > 0 && first > 1;
    if (!scaleUpWithUnready && g.missing.size === 0) {
      const replicas = Math.abs(1 - first) <= this.tolerance ? current : Math.ceil(first * g.ready);
      return { replicas, average: avg(metrics) };
    }
    for (const n of g.missing) metrics.set(n, first < 1 ? target : 0);
    if (scaleUpWithUnready) for (const n of g.unready) metrics.set(n, 0);
    const second = avg(metrics) / target;
    if (Math.abs(1 - second) <= this.tolerance || (first < 1 && second > 1) || (first > 1 && second < 1)) return { replicas: current, average: avg(metrics) };
    const replicas = Math.ceil(second * metrics.size);
    if ((second < 1 && replicas > current) || (second > 1 && replicas < current)) return { replicas: current, average: avg(metrics) };
    return { replicas, average: avg(metrics) };
  }

  // --- normalization ------------------------------------------------------------------------

  private normalize(key: string, hpa: KubeObject, status: any, current: number, proposed: number, min: number, max: number, now: number): number {
    const behavior = behaviorOf(hpa);
    // Stabilization: the most conservative recommendation within the window. A new autoscaler
    // starts with the current size as its one recommendation, so it never scales down at once.
    const recs = this.recommendations.get(key) ?? [{ replicas: current, atMs: now }];
    const up = proposed >= current;
    const windowSec = up ? behavior.scaleUp.stabilizationWindowSeconds : behavior.scaleDown.stabilizationWindowSeconds;
    const maxWindowSec = Math.max(behavior.scaleUp.stabilizationWindowSeconds, behavior.scaleDown.stabilizationWindowSeconds);
    const cutoff = now - windowSec * 1000;
    const obsolete = now - maxWindowSec * 1000;
    let stabilized = proposed;
    let replaced = false;
    for (const r of recs) {
      if (r.atMs > cutoff) stabilized = up ? Math.min(stabilized, r.replicas) : Math.max(stabilized, r.replicas);
    }
    for (let i = 0; i < recs.length; i++) {
      if (recs[i]!.atMs < obsolete) {
        recs[i] = { replicas: proposed, atMs: now };
        replaced = true;
        break;
      }
    }
    if (!replaced) recs.push({ replicas: proposed, atMs: now });
    this.recommendations.set(key, recs);
    if (stabilized !== proposed) {
      setCondition(
        status,
        up
          ? { type: 'AbleToScale', status: 'True', reason: 'ScaleUpStabilized', message: 'recent recommendations were lower than current one, applying the lowest recent recommendation' }
          : { type: 'AbleToScale', status: 'True', reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' },
        now,
      );
    } else {
      setCondition(status, { type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale', message: 'recommended size matches current size' }, now);
    }
    // Rate limits and bounds.
    const upEv = this.prune(this.upEvents.get(key) ?? [], behavior.scaleUp, now);
    const downEv = this.prune(this.downEvents.get(key) ?? [], behavior.scaleDown, now);
    let desired = stabilized;
    let reason = 'DesiredWithinRange';
    let message = 'the desired count is within the acceptable range';
    if (stabilized > current) {
      const limit = Math.max(current, scaleUpLimit(current, upEv, downEv, behavior.scaleUp, now));
      let allowed = max;
      if (allowed > limit) {
        allowed = limit;
        reason = 'ScaleUpLimit';
        message = 'the desired replica count is increasing faster than the maximum scale rate';
      } else {
        reason = 'TooManyReplicas';
        message = 'the desired replica count is more than the maximum replica count';
      }
      if (stabilized > allowed) desired = allowed;
      else {
        reason = 'DesiredWithinRange';
        message = 'the desired count is within the acceptable range';
      }
    } else if (stabilized < current) {
      const limit = Math.min(current, scaleDownLimit(current, upEv, downEv, behavior.scaleDown, now));
      let allowed = min;
      if (allowed < limit) {
        allowed = limit;
        reason = 'ScaleDownLimit';
        message = 'the desired replica count is decreasing faster than the maximum scale rate';
      } else {
        reason = 'TooFewReplicas';
        message = 'the desired replica count is less than the minimum replica count';
      }
      if (stabilized < allowed) desired = allowed;
      else {
        reason = 'DesiredWithinRange';
        message = 'the desired count is within the acceptable range';
      }
    }
    setCondition(status, { type: 'ScalingLimited', status: desired === stabilized ? 'False' : 'True', reason, message }, now);
    return desired;
  }

  private prune(events: ScaleEvent[], rules: ScalingRules, now: number): ScaleEvent[] {
    let longest = 0;
    for (const p of rules.policies) longest = Math.max(longest, p.periodSeconds);
    return events.filter((e) => e.atMs > now - longest * 1000);
  }

  private storeScaleEvent(key: string, hpa: KubeObject, prev: number, next: number, now: number): void {
    const b = behaviorOf(hpa);
    if (next > prev) {
      const ev = this.prune(this.upEvents.get(key) ?? [], b.scaleUp, now);
      ev.push({ change: next - prev, atMs: now, outdated: false });
      this.upEvents.set(key, ev);
    } else {
      const ev = this.prune(this.downEvents.get(key) ?? [], b.scaleDown, now);
      ev.push({ change: prev - next, atMs: now, outdated: false });
      this.downEvents.set(key, ev);
    }
  }
}

/** A MetricsSource from a function of pod name (tests and simulations). */
export class StaticMetrics implements MetricsSource {
  /** Per resource, per pod: milli-units. */
  readonly usage = new Map<string, Map<string, number>>();
  constructor(private readonly clock: { now(): number }) {}
  set(resource: string, pod: string, milli: number): void {
    let m = this.usage.get(resource);
    if (!m) this.usage.set(resource, (m = new Map()));
    m.set(pod, milli);
  }
  async podResourceMetrics(_ns: string, _sel: LabelSelector, resource: string): Promise<Map<string, PodMetric>> {
    const out = new Map<string, PodMetric>();
    for (const [pod, v] of this.usage.get(resource) ?? []) out.set(pod, { value: v, timestampMs: this.clock.now(), windowMs: 15_000 });
    return out;
  }
}
