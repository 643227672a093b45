/**
 * Versions served beside the stored one, converted at the API's edge as kube-apiserver does:
 * autoscaling/v1 HorizontalPodAutoscaler (what `kubectl autoscale` writes) over the stored
 * autoscaling/v2. A v1 object carries one CPU utilization target; whatever v2 holds beyond it
 * (other metrics, behavior, conditions) travels in the annotations Kubernetes uses for that, so
 * a v1 read-modify-write loses nothing.
 */
import { clone, isObject, type KubeObject } from './types.js';

export const METRICS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/metrics';
export const BEHAVIOR_ANNOTATION = 'autoscaling.alpha.kubernetes.io/behavior';
export const CONDITIONS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/conditions';
export const CURRENT_METRICS_ANNOTATION = 'autoscaling.alpha.kubernetes.io/current-metrics';

type Obj = Record<string, any>;

function isCpuUtilization(m: Obj): boolean {
  return m?.type === 'Resource' && m.resource?.name === 'cpu' && m.resource?.target?.type === 'Utilization';
}

function isCpuCurrent(m: Obj): boolean {
  return m?.type === 'Resource' && m.resource?.name === 'cpu' && m.resource?.current?.averageUtilization !== undefined;
}

function setAnnotation(o: KubeObject, key: string, value: unknown): void {
  o.metadata.annotations = { ...(o.metadata.annotations ?? {}), [key]: JSON.stringify(value) };
}

function takeAnnotation(o: KubeObject, key: string): unknown {
  const ann = o.metadata.annotations;
  const raw = ann?.[key];
  if (raw === undefined) return undefined;
  delete ann![key];
  if (Object.keys(ann!).length === 0) delete o.metadata.annotations;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined; // a hand-made annotation that is not JSON: dropped, as Kubernetes does
  }
}

/** Stored autoscaling/v2 → autoscaling/v1. */
export function hpaToV1(v2: KubeObject): KubeObject {
  const o: KubeObject = { ...clone(v2), apiVersion: 'autoscaling/v1' };
  const spec: Obj = v2.spec ?? {};
  const metrics: Obj[] = Array.isArray(spec.metrics) ? spec.metrics : [];
  const cpu = metrics.find(isCpuUtilization);
  const others = metrics.filter((m) => m !== cpu);
  o.spec = { scaleTargetRef: clone(spec.scaleTargetRef), maxReplicas: spec.maxReplicas };
  if (spec.minReplicas !== undefined) o.spec.minReplicas = spec.minReplicas;
  if (cpu) o.spec.targetCPUUtilizationPercentage = cpu.resource.target.averageUtilization;
  if (others.length) setAnnotation(o, METRICS_ANNOTATION, others);
  if (spec.behavior) setAnnotation(o, BEHAVIOR_ANNOTATION, spec.behavior);
  const st: Obj = v2.status ?? {};
  const status: Obj = { currentReplicas: st.currentReplicas ?? 0, desiredReplicas: st.desiredReplicas ?? 0 };
  if (st.observedGeneration !== undefined) status.observedGeneration = st.observedGeneration;
  if (st.lastScaleTime !== undefined) status.lastScaleTime = st.lastScaleTime;
  const current: Obj[] = Array.isArray(st.currentMetrics) ? st.currentMetrics : [];
  const cpuNow = current.find(isCpuCurrent);
  if (cpuNow) status.currentCPUUtilizationPercentage = cpuNow.resource.current.averageUtilization;
  const otherNow = current.filter((m) => m !== cpuNow);
  if (otherNow.length) setAnnotation(o, CURRENT_METRICS_ANNOTATION, otherNow);
  if (Array.isArray(st.conditions) && st.conditions.length) setAnnotation(o, CONDITIONS_ANNOTATION, st.conditions);
  o.status = status;
  return o;
}

/** autoscaling/v1 from a client → the stored autoscaling/v2. */
export function hpaFromV1(v1: KubeObject): KubeObject {
  const o: KubeObject = { ...clone(v1), apiVersion: 'autoscaling/v2' };
  o.metadata = isObject(o.metadata) ? o.metadata : {};
  const spec: Obj = isObject(v1.spec) ? v1.spec : {};
  const extra = takeAnnotation(o, METRICS_ANNOTATION);
  const behavior = takeAnnotation(o, BEHAVIOR_ANNOTATION);
  const conditions = takeAnnotation(o, CONDITIONS_ANNOTATION);
  const currentExtra = takeAnnotation(o, CURRENT_METRICS_ANNOTATION);
  const metrics: Obj[] = [];
  if (typeof spec.targetCPUUtilizationPercentage === 'number') {
    metrics.push({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: spec.targetCPUUtilizationPercentage } } });
  }
  if (Array.isArray(extra)) metrics.push(...extra);
  const next: Obj = { scaleTargetRef: spec.scaleTargetRef, maxReplicas: spec.maxReplicas };
  if (spec.minReplicas !== undefined) next.minReplicas = spec.minReplicas;
  if (metrics.length) next.metrics = metrics;
  if (isObject(behavior)) next.behavior = behavior;
  o.spec = next;
  if (isObject(v1.status)) {
    const st: Obj = v1.status;
    const status: Obj = {};
    for (const k of ['observedGeneration', 'lastScaleTime', 'currentReplicas', 'desiredReplicas']) if (st[k] !== undefined) status[k] = st[k];
    const current: Obj[] = [];
    if (typeof st.currentCPUUtilizationPercentage === 'number') current.push({ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: st.currentCPUUtilizationPercentage } } });
    if (Array.isArray(currentExtra)) current.push(...currentExtra);
    if (current.length) status.currentMetrics = current;
    if (Array.isArray(conditions)) status.conditions = conditions;
    o.status = status;
  }
  return o;
}
