/**
 * Pod and workload helpers shared by the reconcilers: phases and readiness, the order in which
 * ReplicaSets pick pods to delete, pod templates, template hashes and conditions.
 */
import { clone, type KubeObject, type OwnerReference } from '../api/types.js';
import { formatTime, parseTime } from './time.js';

export type Condition = {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
  lastProbeTime?: string | null;
  [k: string]: unknown;
};

export function getCondition(status: any, type: string): Condition | undefined {
  const list = status?.conditions;
  return Array.isArray(list) ? list.find((c: Condition) => c?.type === type) : undefined;
}

export function podPhase(pod: KubeObject): string {
  return pod.status?.phase ?? 'Pending';
}

export function isPodTerminating(pod: KubeObject): boolean {
  return !!pod.metadata.deletionTimestamp;
}

export function isPodFinished(pod: KubeObject): boolean {
  const p = pod.status?.phase;
  return p === 'Succeeded' || p === 'Failed';
}

/** Neither finished nor being deleted (controller.IsPodActive). */
export function isPodActive(pod: KubeObject): boolean {
  return !isPodFinished(pod) && !isPodTerminating(pod);
}

export function isPodReady(pod: KubeObject): boolean {
  return getCondition(pod.status, 'Ready')?.status === 'True';
}

/** When the pod last became ready (ms), if it is ready. */
export function podReadySinceMs(pod: KubeObject): number | undefined {
  const c = getCondition(pod.status, 'Ready');
  if (c?.status !== 'True') return undefined;
  return parseTime(c.lastTransitionTime);
}

/** Ready for at least `minReadySeconds` (podutil.IsPodAvailable). */
export function isPodAvailable(pod: KubeObject, minReadySeconds: number, nowMs: number): boolean {
  if (!isPodReady(pod)) return false;
  if (!minReadySeconds) return true;
  const since = podReadySinceMs(pod);
  return since !== undefined && since + minReadySeconds * 1000 <= nowMs;
}

export function maxContainerRestarts(pod: KubeObject): number {
  let max = 0;
  for (const s of pod.status?.containerStatuses ?? []) max = Math.max(max, s?.restartCount ?? 0);
  for (const s of pod.status?.initContainerStatuses ?? []) max = Math.max(max, s?.restartCount ?? 0);
  return max;
}

const PHASE_ORDINAL: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function deletionCost(pod: KubeObject): number {
  const v = Number(pod.metadata.annotations?.['controller.kubernetes.io/pod-deletion-cost']);
  return Number.isFinite(v) ? v : 0;
}

/** log2 bucket of an age in nanoseconds, as LogarithmicScaleDown compares ages. */
function logRank(tMs: number, nowMs: number): number {
  const d = (nowMs - tMs) * 1e6;
  return d > 0 ? Math.floor(Math.log2(d)) : -1;
}

/**
 * Orders pods so the ones to delete first come first (controller.ActivePodsWithRanks): unassigned
 * before assigned; Pending before Unknown before Running; not ready before ready; lower
 * pod-deletion-cost first; more pods of the same workload on the node first; ready for less time
 * first; more container restarts first; newer first (ages compared in log2 buckets, ties by uid).
 */
export function compareForDeletion(a: KubeObject, b: KubeObject, rankA: number, rankB: number, nowMs: number): number {
  const na = a.spec?.nodeName ?? '';
  const nb = b.spec?.nodeName ?? '';
  if (na !== nb && (na === '' || nb === '')) return na === '' ? -1 : 1;
  const pa = PHASE_ORDINAL[podPhase(a)] ?? 3;
  const pb = PHASE_ORDINAL[podPhase(b)] ?? 3;
  if (pa !== pb) return pa - pb;
  const ra = isPodReady(a);
  const rb = isPodReady(b);
  if (ra !== rb) return ra ? 1 : -1;
  const ca = deletionCost(a);
  const cb = deletionCost(b);
  if (ca !== cb) return ca - cb;
  if (rankA !== rankB) return rankB - rankA;
  if (ra && rb) {
    const ta = podReadySinceMs(a);
    const tb = podReadySinceMs(b);
    if (ta !== tb) {
      if (ta === undefined || tb === undefined) return ta === undefined ? -1 : 1;
      const diff = logRank(ta, nowMs) - logRank(tb, nowMs);
      if (diff !== 0) return diff;
      return compareUid(a, b);
    }
  }
  const xa = maxContainerRestarts(a);
  const xb = maxContainerRestarts(b);
  if (xa !== xb) return xb - xa;
  const ta = parseTime(a.metadata.creationTimestamp);
  const tb = parseTime(b.metadata.creationTimestamp);
  if (ta !== tb) {
    if (ta === undefined || tb === undefined) return ta === undefined ? -1 : 1;
    const diff = logRank(ta, nowMs) - logRank(tb, nowMs);
    if (diff !== 0) return diff;
    return compareUid(a, b);
  }
  return 0;
}

function compareUid(a: KubeObject, b: KubeObject): number {
  const ua = a.metadata.uid ?? '';
  const ub = b.metadata.uid ?? '';
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}

/**
 * The `count` pods to delete: ranked by how many of `related` (the workload's pods, including
 * siblings) share their node, then by `compareForDeletion`.
 */
export function podsToDelete(pods: KubeObject[], related: KubeObject[], count: number, nowMs: number): KubeObject[] {
  if (count >= pods.length) return pods.slice();
  const perNode = new Map<string, number>();
  for (const p of related) {
    if (!isPodActive(p)) continue;
    const n = p.spec?.nodeName;
    if (n) perNode.set(n, (perNode.get(n) ?? 0) + 1);
  }
  const ranked = pods.map((p) => ({ p, rank: p.spec?.nodeName ? (perNode.get(p.spec.nodeName) ?? 0) : 0 }));
  ranked.sort((x, y) => compareForDeletion(x.p, y.p, x.rank, y.rank, nowMs));
  return ranked.slice(0, count).map((x) => x.p);
}

/** Oldest first, by creation time then name (controller.ByCreationTimestamp). */
export function byCreation(a: KubeObject, b: KubeObject): number {
  const ta = parseTime(a.metadata.creationTimestamp) ?? 0;
  const tb = parseTime(b.metadata.creationTimestamp) ?? 0;
  if (ta !== tb) return ta - tb;
  const na = a.metadata.name ?? '';
  const nb = b.metadata.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

/**
 * A pod from a workload's template (controller.GetPodFromTemplate): the template's labels,
 * annotations, finalizers and spec, named `<prefix>-<random>` by the API server, owned by the
 * workload through `controllerRef`.
 */
export function podFromTemplate(template: any, namePrefix: string, namespace: string, ref: OwnerReference | undefined): KubeObject {
  const meta = template?.metadata ?? {};
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${namePrefix}-`,
      namespace,
      labels: { ...(meta.labels ?? {}) },
    },
    spec: clone(template?.spec ?? {}),
  };
  if (meta.annotations && Object.keys(meta.annotations).length) pod.metadata.annotations = { ...meta.annotations };
  if (Array.isArray(meta.finalizers) && meta.finalizers.length) pod.metadata.finalizers = [...meta.finalizers];
  if (ref) pod.metadata.ownerReferences = [{ ...ref }];
  return pod;
}

// ---------------------------------------------------------------------------------------------
// Hashes

/** JSON with sorted keys, so equal objects hash equally. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => stableStringify(x)).join(',')}]`;
  const keys = Object.keys(v as object)
    .filter((k) => (v as any)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify((v as any)[k])}`).join(',')}}`;
}

export function fnv32a(s: string, h = 0x811c9dc5): number {
  const bytes = new TextEncoder().encode(s);
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** rand.SafeEncodeString: each byte mapped into an alphabet without vowels or look-alikes. */
export function safeEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHABET[s.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

/** controller.ComputeHash: FNV-32a of the template (and the collision count), safe-encoded. */
export function computeHash(template: unknown, collisionCount?: number): string {
  let h = fnv32a(stableStringify(template));
  if (collisionCount !== undefined && collisionCount !== null) {
    // The collision count goes in as 8 bytes, its little-endian uint32 then zeros.
    const b = [collisionCount & 0xff, (collisionCount >>> 8) & 0xff, (collisionCount >>> 16) & 0xff, (collisionCount >>> 24) & 0xff, 0, 0, 0, 0];
    for (const x of b) {
      h ^= x;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return safeEncode(String(h >>> 0));
}

// ---------------------------------------------------------------------------------------------
// Int-or-percent

/** intstr.GetScaledValueFromIntOrPercent. */
export function scaledValue(v: unknown, total: number, roundUp: boolean): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const s = String(v);
  if (s.endsWith('%')) {
    const pct = Number(s.slice(0, -1));
    if (!Number.isFinite(pct)) throw new Error(`invalid value for IntOrString: invalid value ${JSON.stringify(s)}`);
    const x = (pct * total) / 100;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  }
  const n = Number(s);
  if (!Number.isInteger(n)) throw new Error(`invalid value for IntOrString: invalid type: string is not a percentage`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Conditions

/**
 * Sets a condition in a status, keeping lastTransitionTime when the status does not change.
 * Returns true when anything changed.
 */
export function setCondition(status: any, cond: Condition, nowMs: number): boolean {
  const list: Condition[] = Array.isArray(status.conditions) ? status.conditions : [];
  const cur = list.find((c) => c.type === cond.type);
  const next: Condition = { ...cond };
  if (cur && cur.status === cond.status && cur.reason === cond.reason && cur.message === cond.message) return false;
  next.lastTransitionTime = cur && cur.status === cond.status ? (cur.lastTransitionTime ?? formatTime(nowMs)) : formatTime(nowMs);
  status.conditions = [...list.filter((c) => c.type !== cond.type), next];
  return true;
}

export function removeCondition(status: any, type: string): void {
  if (Array.isArray(status.conditions)) status.conditions = status.conditions.filter((c: Condition) => c.type !== type);
}
