/**
 * What the scheduler keeps per pod and per node, computed once so a scheduling cycle only does
 * arithmetic: a pod's requests and affinity terms (PodInfo), and a node's allocatable, the sum
 * of its pods' requests, its used host ports and its pods with affinity terms (NodeInfo).
 */
import { matchesLabels, selectorFromObject, type LabelSelector } from '../../api/selectors.js';
import type { KubeObject } from '../../api/types.js';
import { nodeTaints, type Taint, type Toleration } from '../nodeaffinity.js';
import { amount, podNonZeroRequests, podRequests } from '../quantity.js';

export interface Resources {
  milliCpu: number;
  memory: number;
  ephemeral: number;
  /** Extended resources and hugepages, by name. */
  scalar: Map<string, number> | undefined;
}

export function emptyResources(): Resources {
  return { milliCpu: 0, memory: 0, ephemeral: 0, scalar: undefined };
}

/** A pod affinity term, parsed. */
export interface AffinityTerm {
  selector: LabelSelector;
  /** Namespaces the term looks in; undefined = all (an empty namespaceSelector). */
  namespaces: Set<string> | undefined;
  topologyKey: string;
  weight: number;
}

export interface PodInfo {
  pod: KubeObject;
  /** `namespace/name`. */
  key: string;
  uid: string;
  namespace: string;
  labels: Record<string, string>;
  requests: Resources;
  nonZeroMilliCpu: number;
  nonZeroMemory: number;
  /** Host ports the pod asks for, as `protocol/ip/port`. */
  hostPorts: string[];
  tolerations: Toleration[];
  requiredAffinity: AffinityTerm[];
  requiredAntiAffinity: AffinityTerm[];
  preferredAffinity: AffinityTerm[];
  preferredAntiAffinity: AffinityTerm[];
  priority: number;
}

function parseTerms(pod: KubeObject, list: any[] | undefined, weighted: boolean): AffinityTerm[] {
  if (!Array.isArray(list)) return [];
  const out: AffinityTerm[] = [];
  for (const item of list) {
    const t = weighted ? item?.podAffinityTerm : item;
    if (!t?.topologyKey) continue;
    let selector: LabelSelector;
    try {
      selector = t.labelSelector ? selectorFromObject(t.labelSelector) : [];
    } catch {
      continue;
    }
    // A nil labelSelector matches nothing: represent with an impossible requirement.
    if (!t.labelSelector) selector = [{ key: '\u0000none', op: 'exists', values: [] }];
    for (const k of t.matchLabelKeys ?? []) {
      const v = pod.metadata.labels?.[k];
      if (v !== undefined) selector = [...selector, { key: k, op: '=', values: [v] }];
    }
    let namespaces: Set<string> | undefined;
    if (Array.isArray(t.namespaces) && t.namespaces.length) namespaces = new Set(t.namespaces);
    else if (t.namespaceSelector && Object.keys(t.namespaceSelector).length === 0) namespaces = undefined;
    else namespaces = new Set([pod.metadata.namespace ?? 'default']);
    out.push({ selector, namespaces, topologyKey: t.topologyKey, weight: weighted ? (item.weight ?? 0) : 1 });
  }
  return out;
}

export function termMatches(term: AffinityTerm, pod: PodInfo): boolean {
  if (term.namespaces && !term.namespaces.has(pod.namespace)) return false;
  return matchesLabels(term.selector, pod.labels);
}

function toResources(list: Record<string, number>): Resources {
  const r = emptyResources();
  for (const [k, v] of Object.entries(list)) {
    if (k === 'cpu') r.milliCpu = v;
    else if (k === 'memory') r.memory = v;
    else if (k === 'ephemeral-storage') r.ephemeral = v;
    else if (k !== 'pods' && v > 0) (r.scalar ??= new Map()).set(k, v);
  }
  return r;
}

export function buildPodInfo(pod: KubeObject): PodInfo {
  const nz = podNonZeroRequests(pod);
  const hostPorts: string[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c?.ports ?? []) if (p?.hostPort) hostPorts.push(`${p.protocol ?? 'TCP'}/${p.hostIP ?? '0.0.0.0'}/${p.hostPort}`);
  }
  const aff = pod.spec?.affinity ?? {};
  return {
    pod,
    key: `${pod.metadata.namespace}/${pod.metadata.name}`,
    uid: pod.metadata.uid ?? `${pod.metadata.namespace}/${pod.metadata.name}`,
    namespace: pod.metadata.namespace ?? 'default',
    labels: pod.metadata.labels ?? {},
    requests: toResources(podRequests(pod)),
    nonZeroMilliCpu: nz.milliCpu,
    nonZeroMemory: nz.memory,
    hostPorts,
    tolerations: Array.isArray(pod.spec?.tolerations) ? pod.spec.tolerations : [],
    requiredAffinity: parseTerms(pod, aff.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution, false),
    requiredAntiAffinity: parseTerms(pod, aff.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution, false),
    preferredAffinity: parseTerms(pod, aff.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution, true),
    preferredAntiAffinity: parseTerms(pod, aff.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution, true),
    priority: pod.spec?.priority ?? 0,
  };
}

export function hasAffinity(p: PodInfo): boolean {
  return p.requiredAffinity.length + p.requiredAntiAffinity.length + p.preferredAffinity.length + p.preferredAntiAffinity.length > 0;
}

export class NodeInfo {
  node: KubeObject;
  readonly name: string;
  labels: Record<string, string> = {};
  taints: Taint[] = [];
  unschedulable = false;
  allocatable: Resources = emptyResources();
  allowedPodNumber = 0;
  readonly requested: Resources = emptyResources();
  nonZeroMilliCpu = 0;
  nonZeroMemory = 0;
  readonly pods = new Map<string, PodInfo>();
  /** Pods here with any affinity term; pods here with required anti-affinity. */
  readonly podsWithAffinity = new Set<PodInfo>();
  readonly podsWithRequiredAntiAffinity = new Set<PodInfo>();
  /** Host ports in use, with how many pods use each. */
  readonly usedPorts = new Map<string, number>();
  hasPreferNoSchedule = false;

  constructor(node: KubeObject) {
    this.name = node.metadata.name!;
    this.node = node;
    this.setNode(node);
  }

  setNode(node: KubeObject): void {
    this.node = node;
    this.labels = node.metadata.labels ?? {};
    this.taints = nodeTaints(node);
    this.hasPreferNoSchedule = this.taints.some((t) => t.effect === 'PreferNoSchedule');
    this.unschedulable = !!node.spec?.unschedulable;
    const src = (node.status?.allocatable ?? node.status?.capacity ?? {}) as Record<string, unknown>;
    const alloc: Record<string, number> = {};
    for (const [k, v] of Object.entries(src)) alloc[k] = amount(k, v);
    this.allocatable = toResources(alloc);
    this.allowedPodNumber = alloc.pods ?? 110;
  }

  addPod(p: PodInfo): void {
    if (this.pods.has(p.uid)) return;
    this.pods.set(p.uid, p);
    this.apply(p, 1);
  }

  removePod(uid: string): PodInfo | undefined {
    const p = this.pods.get(uid);
    if (!p) return undefined;
    this.pods.delete(uid);
    this.apply(p, -1);
    return p;
  }

  private apply(p: PodInfo, sign: 1 | -1): void {
    const r = this.requested;
    r.milliCpu += sign * p.requests.milliCpu;
    r.memory += sign * p.requests.memory;
    r.ephemeral += sign * p.requests.ephemeral;
    if (p.requests.scalar) {
      const s = (r.scalar ??= new Map());
      for (const [k, v] of p.requests.scalar) s.set(k, (s.get(k) ?? 0) + sign * v);
    }
    this.nonZeroMilliCpu += sign * p.nonZeroMilliCpu;
    this.nonZeroMemory += sign * p.nonZeroMemory;
    for (const port of p.hostPorts) {
      const n = (this.usedPorts.get(port) ?? 0) + sign;
      if (n > 0) this.usedPorts.set(port, n);
      else this.usedPorts.delete(port);
    }
    if (hasAffinity(p)) {
      if (sign > 0) this.podsWithAffinity.add(p);
      else this.podsWithAffinity.delete(p);
    }
    if (p.requiredAntiAffinity.length) {
      if (sign > 0) this.podsWithRequiredAntiAffinity.add(p);
      else this.podsWithRequiredAntiAffinity.delete(p);
    }
  }
}
