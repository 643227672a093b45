/**
 * Resource quantities (`100m`, `0.5`, `128Mi`, `1G`, `1e3`) as numbers, and the pod resource
 * arithmetic the scheduler, the kubelet and the HPA share.
 */
import type { KubeObject } from '../api/types.js';

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;

/** The value of a quantity in base units (cores, bytes); NaN when it does not parse. */
export function parseQuantity(q: unknown): number {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return NaN;
  const m = QUANTITY.exec(q.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  const suffix = m[3] ?? '';
  return n * (BINARY[suffix] ?? DECIMAL[suffix]!);
}

/** Milli-units, rounded up as Quantity.MilliValue does (CPU in millicores). */
export function milliValue(q: unknown): number {
  const v = parseQuantity(q);
  return Number.isFinite(v) ? Math.ceil(Math.round(v * 1e6) / 1e3) : 0;
}

/** Whole units, rounded up as Quantity.Value does (memory in bytes, counts). */
export function value(q: unknown): number {
  const v = parseQuantity(q);
  return Number.isFinite(v) ? Math.ceil(Math.round(v * 1e3) / 1e3) : 0;
}

/** A resource amount in the unit the scheduler keeps it in: millicores for cpu, else units. */
export function amount(resource: string, q: unknown): number {
  return resource === 'cpu' ? milliValue(q) : value(q);
}

/** Defaults the scheduler assumes for containers that request nothing (for spreading scores). */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

export type ResourceList = Record<string, number>;

function addInto(acc: ResourceList, list: unknown): void {
  if (!list || typeof list !== 'object') return;
  for (const [k, v] of Object.entries(list as Record<string, unknown>)) acc[k] = (acc[k] ?? 0) + amount(k, v);
}

function maxInto(acc: ResourceList, list: unknown): void {
  if (!list || typeof list !== 'object') return;
  for (const [k, v] of Object.entries(list as Record<string, unknown>)) acc[k] = Math.max(acc[k] ?? 0, amount(k, v));
}

/**
 * A pod's effective requests: the sum over containers, raised to the largest init container's
 * request per resource (init containers run one at a time), plus the pod overhead.
 */
export function podRequests(pod: KubeObject): ResourceList {
  const spec = pod.spec ?? {};
  const sum: ResourceList = {};
  for (const c of spec.containers ?? []) addInto(sum, c?.resources?.requests);
  const init: ResourceList = {};
  for (const c of spec.initContainers ?? []) {
    // Sidecars (restartPolicy Always) keep running beside the app containers.
    if (c?.restartPolicy === 'Always') addInto(sum, c?.resources?.requests);
    else maxInto(init, c?.resources?.requests);
  }
  for (const [k, v] of Object.entries(init)) sum[k] = Math.max(sum[k] ?? 0, v);
  addInto(sum, spec.overhead);
  return sum;
}

/** Requests with the scheduler's non-zero defaults for cpu and memory, per container. */
export function podNonZeroRequests(pod: KubeObject): { milliCpu: number; memory: number } {
  const spec = pod.spec ?? {};
  let milliCpu = 0;
  let memory = 0;
  for (const c of spec.containers ?? []) {
    const r = c?.resources?.requests ?? {};
    milliCpu += r.cpu !== undefined ? milliValue(r.cpu) : DEFAULT_MILLI_CPU_REQUEST;
    memory += r.memory !== undefined ? value(r.memory) : DEFAULT_MEMORY_REQUEST;
  }
  for (const c of spec.initContainers ?? []) {
    const r = c?.resources?.requests ?? {};
    const cpu = r.cpu !== undefined ? milliValue(r.cpu) : DEFAULT_MILLI_CPU_REQUEST;
    const mem = r.memory !== undefined ? value(r.memory) : DEFAULT_MEMORY_REQUEST;
    milliCpu = Math.max(milliCpu, cpu);
    memory = Math.max(memory, mem);
  }
  return { milliCpu, memory };
}

/** A node's allocatable resources (falling back to capacity), in scheduler units. */
export function nodeAllocatable(node: KubeObject): ResourceList {
  const out: ResourceList = {};
  const src = node.status?.allocatable ?? node.status?.capacity ?? {};
  for (const [k, v] of Object.entries(src as Record<string, unknown>)) out[k] = amount(k, v);
  return out;
}
