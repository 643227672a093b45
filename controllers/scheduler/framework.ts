/**
 * One scheduling cycle (pkg/scheduler/framework and schedule_one.go), as pure functions of the
 * cache: PreFilter computes what a pod needs once; Filter plugins rule nodes out, in the
 * default profile's order, each node answering with the first plugin that rejects it; the
 * search stops after enough feasible nodes (percentageOfNodesToScore, adaptive: 50 % minus
 * 1 % per 125 nodes, at least 5 % and 100 nodes), starting where the previous cycle stopped;
 * Score plugins rate the feasible nodes (0–100 each, weighted); the best wins, ties broken by
 * reservoir sampling with the injected random function.
 *
 * Filters: NodeUnschedulable, NodeName, TaintToleration, NodeAffinity (nodeSelector and required
 * node affinity), NodePorts, NodeResourcesFit, VolumeBinding, PodTopologySpread (DoNotSchedule),
 * InterPodAffinity (required affinity / anti-affinity, both ways).
 * Scores: TaintToleration ×3, NodeAffinity ×2 (preferred), NodeResourcesFit ×1
 * (LeastAllocated), NodeResourcesBalancedAllocation ×1, InterPodAffinity ×2 (preferred),
 * PodTopologySpread ×2 (ScheduleAnyway).
 */
import { matchesLabels, selectorFromObject, type LabelSelector } from '../../api/selectors.js';
import type { KubeObject } from '../../api/types.js';
import {
  TAINT_UNSCHEDULABLE,
  nodeSelectorTermsMatch,
  nodeSelectorTermMatches,
  toleratesTaint,
  tolerationsTolerate,
  type NodeSelectorTerm,
  type Taint,
} from '../nodeaffinity.js';
import type { StorageClassInfo } from '../volume.js';
import type { SchedulerCache } from './cache.js';
import { termMatches, type AffinityTerm, type NodeInfo, type PodInfo } from './nodeinfo.js';

export const MAX_NODE_SCORE = 100;
export const MIN_FEASIBLE_NODES_TO_FIND = 100;
export const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5;

export type Code = 'Unschedulable' | 'UnschedulableAndUnresolvable';

export interface FilterFailure {
  plugin: string;
  code: Code;
  reasons: string[];
}

/** Why a pod fits no node, worded as kube-scheduler's FitError. */
export class FitError extends Error {
  constructor(
    readonly numAllNodes: number,
    /** reason → number of nodes that gave it. */
    readonly reasons: Map<string, number>,
    readonly unschedulablePlugins: Set<string>,
    readonly preFilterMsg = '',
  ) {
    super(FitError.format(numAllNodes, reasons, preFilterMsg));
    this.name = 'FitError';
  }

  static format(numAllNodes: number, reasons: Map<string, number>, preFilterMsg: string): string {
    let msg = `0/${numAllNodes} nodes are available:`;
    if (preFilterMsg) msg += ` ${preFilterMsg}.`;
    const sorted = [...reasons].map(([reason, n]) => `${n} ${reason}`).sort();
    if (sorted.length) msg += ` ${sorted.join(', ')}.`;
    return msg;
  }
}

export interface ScheduleResult {
  node?: string;
  error?: FitError;
  /** Nodes the filters were run on, and how many passed. */
  evaluatedNodes: number;
  feasibleNodes: number;
}

interface SpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  selector: LabelSelector;
  selfMatch: boolean;
}

/** What PreFilter worked out for one pod. */
interface CycleState {
  pod: PodInfo;
  nodeName: string | undefined;
  nodeSelector: [string, string][] | undefined;
  requiredTerms: NodeSelectorTerm[] | undefined;
  tolerations: PodInfo['tolerations'];
  toleratesUnschedulable: boolean;
  checkResources: boolean;
  /** Inter-pod affinity: per required affinity term, matching pods per value of its topology key. */
  affinityCounts?: Map<string, number>[];
  /** Whether no pod anywhere matches the affinity terms (the first pod of a group may go anywhere). */
  noAffinityMatch?: boolean;
  antiAffinityCounts?: Map<string, number>[];
  /** Topology key → values where an existing pod's anti-affinity forbids this pod. */
  existingAnti?: Map<string, Set<string>>;
  spread?: { constraints: SpreadConstraint[]; counts: Map<string, number>[]; min: number[] };
  volumes?: { bound: NodeSelectorTerm[][]; delayedClaims: KubeObject[] };
}

function bump(m: Map<string, number>, k: string, by = 1): void {
  m.set(k, (m.get(k) ?? 0) + by);
}

export interface FrameworkOptions {
  /** 0 or undefined: adaptive, as kube-scheduler does by default. */
  percentageOfNodesToScore?: number;
  random: () => number;
  storageClasses?: StorageClassInfo[];
}

export class Framework {
  private nextStartNodeIndex = 0;

  constructor(
    private readonly cache: SchedulerCache,
    private readonly opts: FrameworkOptions,
  ) {}

  /** How many feasible nodes to look for among `n` (numFeasibleNodesToFind). */
  numFeasibleNodesToFind(n: number): number {
    if (n < MIN_FEASIBLE_NODES_TO_FIND) return n;
    let pct = this.opts.percentageOfNodesToScore ?? 0;
    if (pct >= 100) return n;
    if (pct <= 0) {
      pct = 50 - Math.floor(n / 125);
      if (pct < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND) pct = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
    }
    const num = Math.floor((n * pct) / 100);
    return num < MIN_FEASIBLE_NODES_TO_FIND ? MIN_FEASIBLE_NODES_TO_FIND : num;
  }

  schedulePod(pod: PodInfo): ScheduleResult {
    const nodes = this.cache.nodes();
    const n = nodes.length;
    if (n === 0) return { error: new FitError(0, new Map(), new Set(), 'no nodes available to schedule pods'), evaluatedNodes: 0, feasibleNodes: 0 };
    const pre = this.preFilter(pod);
    if ('failure' in pre) {
      return { error: new FitError(n, new Map(), new Set([pre.failure.plugin]), pre.failure.reasons.join(', ')), evaluatedNodes: 0, feasibleNodes: 0 };
    }
    const state = pre.state;
    const want = this.numFeasibleNodesToFind(n);
    const feasible: NodeInfo[] = [];
    let reasons: Map<string, number> | undefined;
    let plugins: Set<string> | undefined;
    const start = this.nextStartNodeIndex % n;
    let processed = 0;
    for (; processed < n && feasible.length < want; processed++) {
      const node = nodes[(start + processed) % n]!;
      const fail = this.filter(state, node);
      if (!fail) {
        feasible.push(node);
        continue;
      }
      reasons ??= new Map();
      plugins ??= new Set();
      plugins.add(fail.plugin);
      for (const r of fail.reasons) reasons.set(r, (reasons.get(r) ?? 0) + 1);
    }
    this.nextStartNodeIndex = (start + processed) % n;
    if (feasible.length === 0) return { error: new FitError(n, reasons ?? new Map(), plugins ?? new Set()), evaluatedNodes: processed, feasibleNodes: 0 };
    if (feasible.length === 1) return { node: feasible[0]!.name, evaluatedNodes: processed, feasibleNodes: 1 };
    const totals = this.score(state, feasible);
    return { node: this.select(feasible, totals), evaluatedNodes: processed, feasibleNodes: feasible.length };
  }

  /** Reservoir sampling among the best-scored nodes. */
  private select(nodes: NodeInfo[], totals: Float64Array): string {
    let best = -Infinity;
    let chosen = 0;
    let ties = 0;
    for (let i = 0; i < nodes.length; i++) {
      const s = totals[i]!;
      if (s > best) {
        best = s;
        chosen = i;
        ties = 1;
      } else if (s === best) {
        ties++;
        if (Math.floor(this.opts.random() * ties) === 0) chosen = i;
      }
    }
    return nodes[chosen]!.name;
  }

  // --- PreFilter --------------------------------------------------------------------------------

  private preFilter(pod: PodInfo): { state: CycleState } | { failure: FilterFailure } {
    const spec = pod.pod.spec ?? {};
    const sel = spec.nodeSelector as Record<string, string> | undefined;
    const req = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    const r = pod.requests;
    const state: CycleState = {
      pod,
      nodeName: spec.nodeName || undefined,
      nodeSelector: sel && Object.keys(sel).length ? Object.entries(sel) : undefined,
      requiredTerms: Array.isArray(req) ? req : undefined,
      tolerations: pod.tolerations,
      toleratesUnschedulable: tolerationsTolerate(pod.tolerations, { key: TAINT_UNSCHEDULABLE, effect: 'NoSchedule' }),
      checkResources: r.milliCpu > 0 || r.memory > 0 || r.ephemeral > 0 || !!r.scalar,
    };
    const vol = this.preFilterVolumes(pod);
    if (vol && 'failure' in vol) return vol;
    if (vol) state.volumes = vol;
    if (pod.requiredAffinity.length || pod.requiredAntiAffinity.length || this.cache.affinityPodCount > 0) this.preFilterInterPod(state);
    const constraints = (spec.topologySpreadConstraints ?? []).filter((c: any) => c?.whenUnsatisfiable !== 'ScheduleAnyway');
    if (constraints.length) this.preFilterSpread(state, constraints);
    return { state };
  }

  private preFilterVolumes(pod: PodInfo): CycleState['volumes'] | { failure: FilterFailure } | undefined {
    const vols: any[] = pod.pod.spec?.volumes ?? [];
    const claims = vols.filter((v) => v?.persistentVolumeClaim?.claimName);
    if (claims.length === 0) return undefined;
    const bound: NodeSelectorTerm[][] = [];
    const delayedClaims: KubeObject[] = [];
    const classes = this.opts.storageClasses ?? [];
    let unboundImmediate = false;
    for (const v of claims) {
      const name = v.persistentVolumeClaim.claimName;
      const pvc = this.cache.claims.get(`${pod.namespace}/${name}`);
      if (!pvc) return { failure: { plugin: 'VolumeBinding', code: 'UnschedulableAndUnresolvable', reasons: [`persistentvolumeclaim "${name}" not found`] } };
      if (pvc.metadata.deletionTimestamp) return { failure: { plugin: 'VolumeBinding', code: 'UnschedulableAndUnresolvable', reasons: [`persistentvolumeclaim "${name}" is being deleted`] } };
      const volumeName = pvc.spec?.volumeName;
      if (volumeName) {
        const pv = this.cache.volumes.get(volumeName);
        const terms = pv?.spec?.nodeAffinity?.required?.nodeSelectorTerms;
        if (Array.isArray(terms)) bound.push(terms);
        continue;
      }
      const className = pvc.spec?.storageClassName ?? classes.find((c) => c.isDefault)?.name ?? '';
      const cls = classes.find((c) => c.name === className);
      if (cls?.volumeBindingMode === 'WaitForFirstConsumer') delayedClaims.push(pvc);
      else unboundImmediate = true;
    }
    if (unboundImmediate) return { failure: { plugin: 'VolumeBinding', code: 'UnschedulableAndUnresolvable', reasons: ['pod has unbound immediate PersistentVolumeClaims'] } };
    return { bound, delayedClaims };
  }

  private preFilterInterPod(state: CycleState): void {
    const pod = state.pod;
    const nodes = this.cache.nodes();
    if (pod.requiredAffinity.length || pod.requiredAntiAffinity.length) {
      const aff = pod.requiredAffinity.map(() => new Map<string, number>());
      const anti = pod.requiredAntiAffinity.map(() => new Map<string, number>());
      let anyMatch = false;
      const ra = pod.requiredAffinity;
      const rn = pod.requiredAntiAffinity;
      for (const node of nodes) {
        if (node.pods.size === 0) continue;
        for (const existing of node.pods.values()) {
          for (let i = 0; i < ra.length; i++) {
            const t = ra[i]!;
            if (!termMatches(t, existing)) continue;
            anyMatch = true;
            const v = node.labels[t.topologyKey];
            if (v !== undefined) bump(aff[i]!, v);
          }
          for (let i = 0; i < rn.length; i++) {
            const t = rn[i]!;
            if (!termMatches(t, existing)) continue;
            const v = node.labels[t.topologyKey];
            if (v !== undefined) bump(anti[i]!, v);
          }
        }
      }
      state.affinityCounts = aff;
      state.antiAffinityCounts = anti;
      state.noAffinityMatch = !anyMatch;
    }
    if (this.cache.affinityPodCount > 0) {
      const existingAnti = new Map<string, Set<string>>();
      for (const node of nodes) {
        if (node.podsWithRequiredAntiAffinity.size === 0) continue;
        for (const existing of node.podsWithRequiredAntiAffinity) {
          for (const t of existing.requiredAntiAffinity) {
            if (!termMatches(t, pod)) continue;
            const v = node.labels[t.topologyKey];
            if (v === undefined) continue;
            let set = existingAnti.get(t.topologyKey);
            if (!set) existingAnti.set(t.topologyKey, (set = new Set()));
            set.add(v);
          }
        }
      }
      if (existingAnti.size) state.existingAnti = existingAnti;
    }
  }

  private spreadConstraints(pod: PodInfo, list: any[]): SpreadConstraint[] {
    return list.map((c) => {
      let selector: LabelSelector = c.labelSelector ? selectorFromObject(c.labelSelector) : [{ key: '\u0000none', op: 'exists', values: [] }];
      for (const k of c.matchLabelKeys ?? []) {
        const v = pod.labels[k];
        if (v !== undefined) selector = [...selector, { key: k, op: '=', values: [v] }];
      }
      return { maxSkew: c.maxSkew ?? 1, topologyKey: c.topologyKey, selector, selfMatch: matchesLabels(selector, pod.labels) };
    });
  }

  /** Counts matching pods per topology domain over nodes the pod could go to (nodeAffinityPolicy Honor). */
  private spreadCounts(state: CycleState, constraints: SpreadConstraint[]): Map<string, number>[] {
    const counts = constraints.map(() => new Map<string, number>());
    const affinity = !!(state.nodeSelector || state.requiredTerms);
    nodes: for (const node of this.cache.nodes()) {
      if (affinity && !this.matchesNodeAffinity(state, node)) continue;
      for (const c of constraints) if (node.labels[c.topologyKey] === undefined) continue nodes;
      for (let i = 0; i < constraints.length; i++) {
        const c = constraints[i]!;
        let n = 0;
        if (node.pods.size) {
          for (const p of node.pods.values()) {
            if (p.namespace !== state.pod.namespace || p.pod.metadata.deletionTimestamp) continue;
            if (matchesLabels(c.selector, p.labels)) n++;
          }
        }
        bump(counts[i]!, node.labels[c.topologyKey]!, n);
      }
    }
    return counts;
  }

  private preFilterSpread(state: CycleState, list: any[]): void {
    const constraints = this.spreadConstraints(state.pod, list);
    const counts = this.spreadCounts(state, constraints);
    const min = counts.map((m) => {
      let v = Infinity;
      for (const x of m.values()) v = Math.min(v, x);
      return v === Infinity ? 0 : v;
    });
    state.spread = { constraints, counts, min };
  }

  // --- Filter -----------------------------------------------------------------------------------

  private matchesNodeAffinity(state: CycleState, node: NodeInfo): boolean {
    if (state.nodeSelector) {
      for (const [k, v] of state.nodeSelector) if (node.labels[k] !== v) return false;
    }
    if (state.requiredTerms && !nodeSelectorTermsMatch(state.requiredTerms, node.node)) return false;
    return true;
  }

  /** The first plugin that rejects the node, or undefined when it fits. */
  filter(state: CycleState, node: NodeInfo): FilterFailure | undefined {
    if (node.unschedulable && !state.toleratesUnschedulable) {
      return { plugin: 'NodeUnschedulable', code: 'UnschedulableAndUnresolvable', reasons: ['node(s) were unschedulable'] };
    }
    if (state.nodeName && state.nodeName !== node.name) {
      return { plugin: 'NodeName', code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't match the requested node name"] };
    }
    if (node.taints.length) {
      const t = untoleratedScheduleTaint(node.taints, state.tolerations);
      if (t) return { plugin: 'TaintToleration', code: 'UnschedulableAndUnresolvable', reasons: [`node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`] };
    }
    if ((state.nodeSelector || state.requiredTerms) && !this.matchesNodeAffinity(state, node)) {
      return { plugin: 'NodeAffinity', code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't match Pod's node affinity/selector"] };
    }
    if (state.pod.hostPorts.length && node.usedPorts.size && portsConflict(state.pod.hostPorts, node.usedPorts)) {
      return { plugin: 'NodePorts', code: 'Unschedulable', reasons: ["node(s) didn't have free ports for the requested pod ports"] };
    }
    const fit = this.fitsResources(state, node);
    if (fit) return fit;
    if (state.volumes) {
      const v = this.filterVolumes(state, node);
      if (v) return v;
    }
    if (state.spread) {
      const s = this.filterSpread(state, node);
      if (s) return s;
    }
    if (state.affinityCounts || state.existingAnti) {
      const a = this.filterInterPod(state, node);
      if (a) return a;
    }
    return undefined;
  }

  private fitsResources(state: CycleState, node: NodeInfo): FilterFailure | undefined {
    let reasons: string[] | undefined;
    if (node.pods.size + 1 > node.allowedPodNumber) (reasons ??= []).push('Too many pods');
    if (state.checkResources) {
      const r = state.pod.requests;
      const alloc = node.allocatable;
      const used = node.requested;
      if (r.milliCpu > 0 && r.milliCpu > alloc.milliCpu - used.milliCpu) (reasons ??= []).push('Insufficient cpu');
      if (r.memory > 0 && r.memory > alloc.memory - used.memory) (reasons ??= []).push('Insufficient memory');
      if (r.ephemeral > 0 && r.ephemeral > alloc.ephemeral - used.ephemeral) (reasons ??= []).push('Insufficient ephemeral-storage');
      if (r.scalar) {
        for (const [k, v] of r.scalar) {
          if (v > (alloc.scalar?.get(k) ?? 0) - (used.scalar?.get(k) ?? 0)) (reasons ??= []).push(`Insufficient ${k}`);
        }
      }
    }
    return reasons ? { plugin: 'NodeResourcesFit', code: 'Unschedulable', reasons } : undefined;
  }

  private filterVolumes(state: CycleState, node: NodeInfo): FilterFailure | undefined {
    const v = state.volumes!;
    for (const terms of v.bound) {
      if (!nodeSelectorTermsMatch(terms, node.node)) return { plugin: 'VolumeBinding', code: 'UnschedulableAndUnresolvable', reasons: ['node(s) had volume node affinity conflict'] };
    }
    const classes = this.opts.storageClasses ?? [];
    for (const pvc of v.delayedClaims) {
      const className = pvc.spec?.storageClassName ?? classes.find((c) => c.isDefault)?.name ?? '';
      if (classes.find((c) => c.name === className)?.provisioner) continue;
      // No provisioner: an existing volume must fit this node.
      let ok = false;
      for (const pv of this.cache.volumes.values()) {
        if (pv.spec?.claimRef || (pv.spec?.storageClassName ?? '') !== className) continue;
        const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
        if (!Array.isArray(terms) || nodeSelectorTermsMatch(terms, node.node)) {
          ok = true;
          break;
        }
      }
      if (!ok) return { plugin: 'VolumeBinding', code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't find available persistent volumes to bind"] };
    }
    return undefined;
  }

  private filterSpread(state: CycleState, node: NodeInfo): FilterFailure | undefined {
    const s = state.spread!;
    for (let i = 0; i < s.constraints.length; i++) {
      const c = s.constraints[i]!;
      const v = node.labels[c.topologyKey];
      if (v === undefined) return { plugin: 'PodTopologySpread', code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't match pod topology spread constraints (missing required label)"] };
      const match = s.counts[i]!.get(v) ?? 0;
      const skew = match + (c.selfMatch ? 1 : 0) - s.min[i]!;
      if (skew > c.maxSkew) return { plugin: 'PodTopologySpread', code: 'Unschedulable', reasons: ["node(s) didn't match pod topology spread constraints"] };
    }
    return undefined;
  }

  private filterInterPod(state: CycleState, node: NodeInfo): FilterFailure | undefined {
    if (state.existingAnti) {
      for (const [key, values] of state.existingAnti) {
        const v = node.labels[key];
        if (v !== undefined && values.has(v)) {
          return { plugin: 'InterPodAffinity', code: 'Unschedulable', reasons: ["node(s) didn't satisfy existing pods anti-affinity rules"] };
        }
      }
    }
    const pod = state.pod;
    if (state.antiAffinityCounts) {
      for (let i = 0; i < pod.requiredAntiAffinity.length; i++) {
        const t = pod.requiredAntiAffinity[i]!;
        const v = node.labels[t.topologyKey];
        if (v !== undefined && (state.antiAffinityCounts[i]!.get(v) ?? 0) > 0) {
          return { plugin: 'InterPodAffinity', code: 'Unschedulable', reasons: ["node(s) didn't match pod anti-affinity rules"] };
        }
      }
    }
    if (state.affinityCounts && pod.requiredAffinity.length) {
      let ok = true;
      for (let i = 0; i < pod.requiredAffinity.length; i++) {
        const t = pod.requiredAffinity[i]!;
        const v = node.labels[t.topologyKey];
        if (v === undefined || (state.affinityCounts[i]!.get(v) ?? 0) === 0) {
          ok = false;
          break;
        }
      }
      // The first pod of a group that matches its own affinity may go to any node with the keys.
      if (!ok && state.noAffinityMatch && pod.requiredAffinity.every((t) => termMatches(t, pod) && node.labels[t.topologyKey] !== undefined)) ok = true;
      if (!ok) return { plugin: 'InterPodAffinity', code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't match pod affinity rules"] };
    }
    return undefined;
  }

  // --- Score --------------------------------------------------------------------------------------

  private score(state: CycleState, nodes: NodeInfo[]): Float64Array {
    const n = nodes.length;
    const totals = new Float64Array(n);
    const pod = state.pod;
    // NodeResourcesFit (LeastAllocated) and BalancedAllocation, on non-zero requests.
    for (let i = 0; i < n; i++) {
      const node = nodes[i]!;
      const cpu = node.nonZeroMilliCpu + pod.nonZeroMilliCpu;
      const mem = node.nonZeroMemory + pod.nonZeroMemory;
      const ac = node.allocatable.milliCpu;
      const am = node.allocatable.memory;
      const cpuScore = ac === 0 || cpu > ac ? 0 : Math.floor(((ac - cpu) * MAX_NODE_SCORE) / ac);
      const memScore = am === 0 || mem > am ? 0 : Math.floor(((am - mem) * MAX_NODE_SCORE) / am);
      const least = Math.floor((cpuScore + memScore) / 2);
      const fc = ac === 0 ? 1 : Math.min(1, cpu / ac);
      const fm = am === 0 ? 1 : Math.min(1, mem / am);
      const balanced = Math.trunc((1 - Math.abs(fc - fm) / 2) * MAX_NODE_SCORE);
      totals[i] = least * 1 + balanced * 1;
    }
    if (this.cache.preferNoScheduleNodes > 0) this.addNormalized(totals, nodes.map((node) => countIntolerablePreferNoSchedule(node.taints, state.tolerations)), 'reverse', 3);
    const preferred = pod.pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
    if (Array.isArray(preferred) && preferred.length) {
      const raw = nodes.map((node) => {
        let s = 0;
        for (const p of preferred) if (p?.weight && p.preference && nodeSelectorTermMatches(p.preference, node.node)) s += p.weight;
        return s;
      });
      this.addNormalized(totals, raw, 'default', 2);
    }
    if (pod.preferredAffinity.length || pod.preferredAntiAffinity.length || this.cache.affinityPodCount > 0) {
      const raw = this.interPodScores(state, nodes);
      if (raw) this.addNormalized(totals, raw, 'minmax', 2);
    }
    const soft = (pod.pod.spec?.topologySpreadConstraints ?? []).filter((c: any) => c?.whenUnsatisfiable === 'ScheduleAnyway');
    if (soft.length) this.addNormalized(totals, this.spreadScores(state, nodes, soft), 'spread', 2);
    return totals;
  }

  private addNormalized(totals: Float64Array, raw: number[], how: 'default' | 'reverse' | 'minmax' | 'spread', weight: number): void {
    let max = -Infinity;
    let min = Infinity;
    for (const r of raw) {
      if (r > max) max = r;
      if (r < min) min = r;
    }
    for (let i = 0; i < raw.length; i++) {
      const r = raw[i]!;
      let s: number;
      switch (how) {
        case 'default':
          s = max <= 0 ? 0 : Math.floor((MAX_NODE_SCORE * r) / max);
          break;
        case 'reverse':
          s = max <= 0 ? MAX_NODE_SCORE : MAX_NODE_SCORE - Math.floor((MAX_NODE_SCORE * r) / max);
          break;
        case 'minmax':
          s = max > min ? Math.trunc((MAX_NODE_SCORE * (r - min)) / (max - min)) : 0;
          break;
        case 'spread':
          s = max <= 0 ? MAX_NODE_SCORE : Math.floor((MAX_NODE_SCORE * (max + min - r)) / max);
          break;
      }
      totals[i] = totals[i]! + s * weight;
    }
  }

  /** InterPodAffinity's preferred terms, both ways, by topology value. */
  private interPodScores(state: CycleState, nodes: NodeInfo[]): number[] | undefined {
    const pod = state.pod;
    const topo = new Map<string, Map<string, number>>();
    const add = (term: AffinityTerm, node: NodeInfo, w: number) => {
      const v = node.labels[term.topologyKey];
      if (v === undefined) return;
      let m = topo.get(term.topologyKey);
      if (!m) topo.set(term.topologyKey, (m = new Map()));
      bump(m, v, w);
    };
    const incoming = pod.preferredAffinity.length + pod.preferredAntiAffinity.length > 0;
    for (const node of this.cache.nodes()) {
      const candidates = incoming ? node.pods.values() : node.podsWithAffinity.values();
      for (const existing of candidates) {
        for (const t of pod.preferredAffinity) if (termMatches(t, existing)) add(t, node, t.weight);
        for (const t of pod.preferredAntiAffinity) if (termMatches(t, existing)) add(t, node, -t.weight);
        if (existing.preferredAffinity.length + existing.preferredAntiAffinity.length + existing.requiredAffinity.length === 0) continue;
        for (const t of existing.requiredAffinity) if (termMatches(t, pod)) add(t, node, 1);
        for (const t of existing.preferredAffinity) if (termMatches(t, pod)) add(t, node, t.weight);
        for (const t of existing.preferredAntiAffinity) if (termMatches(t, pod)) add(t, node, -t.weight);
      }
    }
    if (topo.size === 0) return undefined;
    return nodes.map((node) => {
      let s = 0;
      for (const [key, m] of topo) {
        const v = node.labels[key];
        if (v !== undefined) s += m.get(v) ?? 0;
      }
      return s;
    });
  }

  private spreadScores(state: CycleState, nodes: NodeInfo[], list: any[]): number[] {
    const constraints = this.spreadConstraints(state.pod, list);
    const counts = this.spreadCounts(state, constraints);
    const weights = counts.map((m) => Math.log(m.size + 2));
    return nodes.map((node) => {
      let s = 0;
      constraints.forEach((c, i) => {
        const v = node.labels[c.topologyKey];
        if (v === undefined) return;
        s += (counts[i]!.get(v) ?? 0) * weights[i]! + (c.maxSkew - 1);
      });
      return Math.round(s);
    });
  }
}

function untoleratedScheduleTaint(taints: Taint[], tolerations: PodInfo['tolerations']): Taint | undefined {
  for (const t of taints) {
    if (t.effect !== 'NoSchedule' && t.effect !== 'NoExecute') continue;
    let ok = false;
    for (const tol of tolerations) {
      if (toleratesTaint(tol, t)) {
        ok = true;
        break;
      }
    }
    if (!ok) return t;
  }
  return undefined;
}

function countIntolerablePreferNoSchedule(taints: Taint[], tolerations: PodInfo['tolerations']): number {
  let n = 0;
  const relevant = tolerations.filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
  for (const t of taints) {
    if (t.effect !== 'PreferNoSchedule') continue;
    if (!relevant.some((tol) => toleratesTaint(tol, t))) n++;
  }
  return n;
}

function portsConflict(wanted: string[], used: Map<string, number>): boolean {
  for (const w of wanted) {
    const [proto, ip, port] = w.split('/');
    for (const u of used.keys()) {
      const [uProto, uIp, uPort] = u.split('/');
      if (proto !== uProto || port !== uPort) continue;
      if (ip === uIp || ip === '0.0.0.0' || uIp === '0.0.0.0') return true;
    }
  }
  return false;
}
