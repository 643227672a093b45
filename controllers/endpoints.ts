/**
 * Service endpoints: the Endpoints controller (one Endpoints object per Service with a
 * selector, ready pods in `addresses`, the rest in `notReadyAddresses`, grouped into subsets by
 * port set) and the EndpointSlice controller (slices of at most 100 endpoints labelled
 * `kubernetes.io/service-name`, owned by the Service, with ready / serving / terminating
 * conditions per endpoint). Named target ports are resolved per pod from its container ports.
 */
import { matchesLabels, selectorFromObject, type LabelSelector } from '../api/selectors.js';
import { deepEqual, type KubeObject } from '../api/types.js';
import { deleteIgnoringNotFound } from './apiutil.js';
import { isAlreadyExists, isNotFound } from './client.js';
import { Controller, type ControllerContext } from './controller.js';
import type { Lister } from './informer.js';
import { isPodReady } from './podutil.js';
import { newControllerRef, splitKey } from './resources.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const SLICE_CONTROLLER_NAME = 'endpointslice-controller.k8s.io';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
export const MAX_ENDPOINTS_PER_SLICE = 100;

function serviceSelector(svc: KubeObject): LabelSelector | undefined {
  const sel = svc.spec?.selector;
  if (!sel || Object.keys(sel).length === 0) return undefined;
  return selectorFromObject({ matchLabels: sel });
}

/** The container port a service port targets on this pod (FindPort), or undefined. */
export function findPort(pod: KubeObject, svcPort: any): number | undefined {
  const target = svcPort.targetPort ?? svcPort.port;
  if (typeof target === 'number') return target;
  const asNumber = Number(target);
  if (String(target).trim() !== '' && Number.isInteger(asNumber)) return asNumber;
  const proto = svcPort.protocol ?? 'TCP';
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c?.ports ?? []) if (p.name === target && (p.protocol ?? 'TCP') === proto) return p.containerPort;
  }
  return undefined;
}

/** The port list a service gives one pod, or undefined if a named port is missing. */
function podPorts(svc: KubeObject, pod: KubeObject): { name?: string; port: number; protocol: string }[] | undefined {
  const out: { name?: string; port: number; protocol: string }[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const port = findPort(pod, sp);
    if (port === undefined) return undefined;
    const e: { name?: string; port: number; protocol: string } = { port, protocol: sp.protocol ?? 'TCP' };
    if (sp.name) e.name = sp.name;
    out.push(e);
  }
  return out;
}

const isHeadless = (svc: KubeObject) => svc.spec?.clusterIP === 'None';

/** Pods of a service that may appear as endpoints at all. */
function candidatePods(svc: KubeObject, pods: KubeObject[]): KubeObject[] {
  return pods.filter((p) => {
    if (!p.status?.podIP) return false;
    const phase = p.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return false;
    return true;
  });
}

abstract class ServicePodController extends Controller {
  protected readonly services: Lister;
  protected readonly pods: Lister;

  constructor(name: string, ctx: ControllerContext, component: string) {
    super(name, ctx, { component });
    const svcInf = ctx.informers.informer('services');
    const podInf = ctx.informers.informer('pods');
    this.services = svcInf.lister;
    this.pods = podInf.lister;
    svcInf.addEventHandler({ add: (s) => this.enqueue(s), update: (_o, s) => this.enqueue(s), delete: (s) => this.enqueue(s) });
    podInf.addEventHandler({
      add: (p) => this.podChanged(undefined, p),
      update: (old, p) => {
        if (old.metadata.resourceVersion === p.metadata.resourceVersion) return;
        this.podChanged(old, p);
      },
      delete: (p) => this.podChanged(undefined, p),
    });
  }

  private podChanged(old: KubeObject | undefined, pod: KubeObject): void {
    for (const svc of this.services.list(pod.metadata.namespace)) {
      const sel = serviceSelector(svc);
      if (!sel) continue;
      if (matchesLabels(sel, pod.metadata.labels) || (old && matchesLabels(sel, old.metadata.labels))) this.enqueue(svc);
    }
  }

  protected selectedPods(svc: KubeObject): KubeObject[] {
    const sel = serviceSelector(svc);
    return sel ? this.pods.list(svc.metadata.namespace, sel) : [];
  }
}

// ---------------------------------------------------------------------------------------------

export class EndpointsController extends ServicePodController {
  private readonly endpoints: Lister;

  constructor(ctx: ControllerContext) {
    super('endpoint-controller', ctx, 'endpoint-controller');
    const epInf = ctx.informers.informer('endpoints');
    this.endpoints = epInf.lister;
    // Someone else's write to our Endpoints: put it back.
    epInf.addEventHandler({
      update: (_o, ep) => {
        const svc = this.services.get(ep.metadata.namespace ?? '', ep.metadata.name!);
        if (svc) this.enqueue(svc);
      },
      delete: (ep) => {
        const svc = this.services.get(ep.metadata.namespace ?? '', ep.metadata.name!);
        if (svc) this.enqueue(svc);
      },
    });
  }

  /** The subsets for a service and its pods, packed and sorted as RepackSubsets does. */
  static subsets(svc: KubeObject, pods: KubeObject[]): any[] {
    const tolerateUnready = !!svc.spec?.publishNotReadyAddresses;
    const groups = new Map<string, { ports: any[]; addresses: any[]; notReadyAddresses: any[] }>();
    for (const pod of candidatePods(svc, pods)) {
      if (!tolerateUnready && pod.metadata.deletionTimestamp) continue;
      const address: any = {
        ip: pod.status.podIP,
        targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
      };
      if (pod.spec?.nodeName) address.nodeName = pod.spec.nodeName;
      if (pod.spec?.hostname && pod.spec?.subdomain === svc.metadata.name) address.hostname = pod.spec.hostname;
      let ports: any[];
      if ((svc.spec?.ports ?? []).length === 0) {
        if (!isHeadless(svc)) continue;
        ports = [];
      } else {
        const pp = podPorts(svc, pod);
        if (!pp) continue;
        ports = pp;
      }
      const key = JSON.stringify(ports);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { ports, addresses: [], notReadyAddresses: [] }));
      if (tolerateUnready || isPodReady(pod)) g.addresses.push(address);
      else g.notReadyAddresses.push(address);
    }
    const byIp = (a: any, b: any) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.targetRef.uid < b.targetRef.uid ? -1 : 1);
    const out: any[] = [];
    for (const g of [...groups.values()].sort((a, b) => (JSON.stringify(a.ports) < JSON.stringify(b.ports) ? -1 : 1))) {
      const subset: any = {};
      if (g.addresses.length) subset.addresses = g.addresses.sort(byIp);
      if (g.notReadyAddresses.length) subset.notReadyAddresses = g.notReadyAddresses.sort(byIp);
      if (g.ports.length) subset.ports = g.ports;
      out.push(subset);
    }
    return out;
  }

  override async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.services.get(namespace, name);
    if (!svc) {
      await deleteIgnoringNotFound(this.client, 'endpoints', namespace, name);
      return;
    }
    if (!serviceSelector(svc)) return;
    const subsets = EndpointsController.subsets(svc, this.selectedPods(svc));
    const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
    if (isHeadless(svc)) labels[HEADLESS_LABEL] = '';
    const current = this.endpoints.get(namespace, name);
    const desired: KubeObject = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace, labels }, subsets };
    if (!current) {
      try {
        await this.client.create('endpoints', namespace, desired);
      } catch (err) {
        // Created meanwhile: the informer will bring it and we will compare again.
        if (!isAlreadyExists(err)) throw err;
        this.enqueue(svc);
      }
      return;
    }
    if (deepEqual(current.subsets ?? [], subsets) && deepEqual(current.metadata.labels ?? {}, labels)) return;
    await this.client.update('endpoints', namespace, { ...current, metadata: { ...current.metadata, labels }, subsets });
  }
}

// ---------------------------------------------------------------------------------------------

export class EndpointSliceController extends ServicePodController {
  private readonly slices: Lister;

  constructor(ctx: ControllerContext) {
    super('endpointslice-controller', ctx, 'endpoint-slice-controller');
    const inf = ctx.informers.informer('endpointslices');
    this.slices = inf.lister;
    const owner = (s: KubeObject) => {
      if (s.metadata.labels?.[MANAGED_BY_LABEL] !== SLICE_CONTROLLER_NAME) return;
      const svc = this.services.get(s.metadata.namespace ?? '', s.metadata.labels?.[SERVICE_NAME_LABEL] ?? '');
      if (svc) this.enqueue(svc);
    };
    inf.addEventHandler({ update: (_o, s) => owner(s), delete: owner });
  }

  /** Desired slice contents: endpoints grouped by port set, in chunks of at most 100. */
  static desired(svc: KubeObject, pods: KubeObject[]): { ports: any[]; endpoints: any[] }[] {
    const tolerateUnready = !!svc.spec?.publishNotReadyAddresses;
    const groups = new Map<string, { ports: any[]; endpoints: any[] }>();
    for (const pod of candidatePods(svc, pods)) {
      const ports = (svc.spec?.ports ?? []).length === 0 ? [] : podPorts(svc, pod);
      if (!ports) continue;
      const terminating = !!pod.metadata.deletionTimestamp;
      const ready = isPodReady(pod);
      const ep: any = {
        addresses: [pod.status.podIP],
        conditions: { ready: tolerateUnready || (ready && !terminating), serving: tolerateUnready || ready, terminating },
        targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
      };
      if (pod.spec?.nodeName) ep.nodeName = pod.spec.nodeName;
      if (pod.spec?.hostname && pod.spec?.subdomain === svc.metadata.name) ep.hostname = pod.spec.hostname;
      const key = JSON.stringify(ports);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { ports, endpoints: [] }));
      g.endpoints.push(ep);
    }
    const out: { ports: any[]; endpoints: any[] }[] = [];
    for (const g of [...groups.values()].sort((a, b) => (JSON.stringify(a.ports) < JSON.stringify(b.ports) ? -1 : 1))) {
      g.endpoints.sort((a, b) => (a.addresses[0] < b.addresses[0] ? -1 : a.addresses[0] > b.addresses[0] ? 1 : 0));
      for (let i = 0; i < g.endpoints.length; i += MAX_ENDPOINTS_PER_SLICE) out.push({ ports: g.ports, endpoints: g.endpoints.slice(i, i + MAX_ENDPOINTS_PER_SLICE) });
    }
    // A service without endpoints keeps one empty slice.
    if (out.length === 0) out.push({ ports: [], endpoints: [] });
    return out;
  }

  override async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.services.get(namespace, name);
    const existing = this.slices
      .list(namespace)
      .filter((s) => s.metadata.labels?.[SERVICE_NAME_LABEL] === name && s.metadata.labels?.[MANAGED_BY_LABEL] === SLICE_CONTROLLER_NAME && !s.metadata.deletionTimestamp)
      .sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1));
    if (!svc) {
      for (const s of existing) await deleteIgnoringNotFound(this.client, 'endpointslices', namespace, s.metadata.name!);
      return;
    }
    if (!serviceSelector(svc)) return;
    const want = EndpointSliceController.desired(svc, this.selectedPods(svc));
    const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}), [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: SLICE_CONTROLLER_NAME };
    if (isHeadless(svc)) labels[HEADLESS_LABEL] = '';
    const unused = [...existing];
    const toCreate: { ports: any[]; endpoints: any[] }[] = [];
    const toUpdate: [KubeObject, { ports: any[]; endpoints: any[] }][] = [];
    // Slices already exactly right stay untouched; then reuse slices with the same ports.
    const pending: { ports: any[]; endpoints: any[] }[] = [];
    for (const w of want) {
      const i = unused.findIndex((s) => deepEqual(s.ports ?? [], w.ports) && deepEqual(s.endpoints ?? [], w.endpoints) && deepEqual(s.metadata.labels ?? {}, labels));
      if (i >= 0) unused.splice(i, 1);
      else pending.push(w);
    }
    for (const w of pending) {
      const i = unused.findIndex((s) => deepEqual(s.ports ?? [], w.ports));
      const j = i >= 0 ? i : unused.length > 0 ? 0 : -1;
      if (j >= 0) toUpdate.push([unused.splice(j, 1)[0]!, w]);
      else toCreate.push(w);
    }
    for (const [s, w] of toUpdate) {
      await this.client.update('endpointslices', namespace, { ...s, metadata: { ...s.metadata, labels }, addressType: 'IPv4', endpoints: w.endpoints, ports: w.ports });
    }
    for (const w of toCreate) {
      await this.client.create('endpointslices', namespace, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { generateName: `${name}-`, namespace, labels, ownerReferences: [newControllerRef(svc, 'v1', 'Service')] },
        addressType: 'IPv4',
        endpoints: w.endpoints,
        ports: w.ports,
      });
    }
    for (const s of unused) {
      try {
        await this.client.delete('endpointslices', namespace, s.metadata.name!);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
}

/** One ready address of a Service, as its EndpointSlices list it (what DNS and the proxy read). */
export interface ReadyEndpoint {
  ip: string;
  hostname?: string;
  nodeName?: string;
  /** The pod behind the address, when the slice names one. */
  pod?: string;
  /** Slice port numbers by port name ('' for an unnamed port). */
  ports: Map<string, number>;
}

/** The ready addresses of a Service across its EndpointSlices, each once, in address order. */
export function readyEndpoints(slices: Lister, namespace: string, service: string): ReadyEndpoint[] {
  const seen = new Map<string, ReadyEndpoint>();
  for (const s of slices.list(namespace)) {
    if (s.metadata.labels?.[SERVICE_NAME_LABEL] !== service) continue;
    const slice = s as { ports?: { name?: string; port?: number }[]; endpoints?: { addresses?: string[]; hostname?: string; nodeName?: string; conditions?: { ready?: boolean }; targetRef?: { kind?: string; name?: string } }[] };
    const ports = new Map<string, number>();
    for (const p of slice.ports ?? []) if (typeof p.port === 'number') ports.set(p.name ?? '', p.port);
    for (const e of slice.endpoints ?? []) {
      if (e.conditions?.ready === false) continue;
      for (const ip of e.addresses ?? []) {
        if (seen.has(ip)) continue;
        const r: ReadyEndpoint = { ip, ports };
        if (e.hostname) r.hostname = e.hostname;
        if (e.nodeName) r.nodeName = e.nodeName;
        if (e.targetRef?.kind === 'Pod' && e.targetRef.name) r.pod = e.targetRef.name;
        seen.set(ip, r);
      }
    }
  }
  return [...seen.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
}
