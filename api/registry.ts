import { hpaFromV1, hpaToV1 } from './conversion.js';
import type { KubeObject } from './types.js';

/**
 * The resource registry: every kind the API server serves, with the names discovery publishes
 * and the behaviour the generic handlers need (scope, subresources, what a create resets).
 */

export type Verb = 'create' | 'delete' | 'deletecollection' | 'get' | 'list' | 'patch' | 'update' | 'watch';

export const ALL_VERBS: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export interface ResourceInfo {
  /** '' for the core group. */
  group: string;
  version: string;
  kind: string;
  listKind: string;
  /** The URL segment: `deployments`. */
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  verbs: Verb[];
  /** Subresources served under `<plural>/<name>/<sub>`. */
  subresources: ('status' | 'scale' | 'binding' | 'eviction' | 'exec')[];
  categories: string[];
  /**
   * Kinds with a status subresource keep status out of main-resource writes (updates keep the
   * stored status; creates start from `initialStatus`).
   */
  statusOnCreate: 'keep' | 'reset';
  /** Set on a version served beside the stored one: how to convert to and from it. */
  conversion?: VersionConversion;
}

export interface VersionConversion {
  /** The resource as stored (what the API server core and the store handle). */
  storage: ResourceInfo;
  toExternal(stored: KubeObject): KubeObject;
  toInternal(external: KubeObject): KubeObject;
}

interface Def {
  group: string;
  version: string;
  kind: string;
  plural: string;
  shortNames?: string[];
  namespaced?: boolean;
  subresources?: ResourceInfo['subresources'];
  categories?: string[];
  statusOnCreate?: ResourceInfo['statusOnCreate'];
}

const defs: Def[] = [
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', shortNames: ['ns'], namespaced: false, subresources: ['status'], statusOnCreate: 'reset' },
  { group: '', version: 'v1', kind: 'Pod', plural: 'pods', shortNames: ['po'], subresources: ['status', 'binding', 'eviction', 'exec'], categories: ['all'], statusOnCreate: 'reset' },
  { group: '', version: 'v1', kind: 'Node', plural: 'nodes', shortNames: ['no'], namespaced: false, subresources: ['status'] },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', shortNames: ['svc'], subresources: ['status'], categories: ['all'], statusOnCreate: 'reset' },
  { group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', shortNames: ['ep'] },
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', shortNames: ['cm'] },
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets' },
  { group: '', version: 'v1', kind: 'PersistentVolume', plural: 'persistentvolumes', shortNames: ['pv'], namespaced: false, subresources: ['status'], statusOnCreate: 'reset' },
  { group: '', version: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', shortNames: ['pvc'], subresources: ['status'], statusOnCreate: 'reset' },
  { group: '', version: 'v1', kind: 'ReplicationController', plural: 'replicationcontrollers', shortNames: ['rc'], subresources: ['status', 'scale'], categories: ['all'], statusOnCreate: 'reset' },
  { group: '', version: 'v1', kind: 'Event', plural: 'events', shortNames: ['ev'] },
  { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', shortNames: ['sa'] },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', shortNames: ['deploy'], subresources: ['status', 'scale'], categories: ['all'], statusOnCreate: 'reset' },
  { group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', shortNames: ['rs'], subresources: ['status', 'scale'], categories: ['all'], statusOnCreate: 'reset' },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', shortNames: ['sts'], subresources: ['status', 'scale'], categories: ['all'], statusOnCreate: 'reset' },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', shortNames: ['ds'], subresources: ['status'], categories: ['all'], statusOnCreate: 'reset' },
  { group: 'apps', version: 'v1', kind: 'ControllerRevision', plural: 'controllerrevisions' },
  { group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', subresources: ['status'], categories: ['all'], statusOnCreate: 'reset' },
  { group: 'batch', version: 'v1', kind: 'CronJob', plural: 'cronjobs', shortNames: ['cj'], subresources: ['status'], categories: ['all'], statusOnCreate: 'reset' },
  { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers', shortNames: ['hpa'], subresources: ['status'], categories: ['all'], statusOnCreate: 'reset' },
  { group: 'networking.k8s.io', version: 'v1', kind: 'Ingress', plural: 'ingresses', shortNames: ['ing'], subresources: ['status'], statusOnCreate: 'reset' },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases' },
  { group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', shortNames: ['pdb'], subresources: ['status'], statusOnCreate: 'reset' },
  { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices' },
];

export const RESOURCES: readonly ResourceInfo[] = defs.map((d) => ({
  group: d.group,
  version: d.version,
  kind: d.kind,
  listKind: `${d.kind}List`,
  plural: d.plural,
  singular: d.kind.toLowerCase(),
  shortNames: d.shortNames ?? [],
  namespaced: d.namespaced ?? true,
  verbs: ALL_VERBS,
  subresources: d.subresources ?? [],
  categories: d.categories ?? [],
  statusOnCreate: d.statusOnCreate ?? 'keep',
}));

/** `apps/v1`, or `v1` for the core group. */
export function groupVersion(r: { group: string; version: string }): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** `apps/deployments`: the registry key, also the store key's middle. */
export function resourceKey(r: { group: string; plural: string }): string {
  return `${r.group || 'core'}/${r.plural}`;
}

const HPA_V2 = RESOURCES.find((r) => r.group === 'autoscaling' && r.plural === 'horizontalpodautoscalers')!;

/** Versions served beside the stored ones (after them in discovery: the stored one is preferred). */
export const ALTERNATE_VERSIONS: readonly ResourceInfo[] = [{ ...HPA_V2, version: 'v1', conversion: { storage: HPA_V2, toExternal: hpaToV1, toInternal: hpaFromV1 } }];

/** Every resource at every version served. */
export const SERVED: readonly ResourceInfo[] = [...RESOURCES, ...ALTERNATE_VERSIONS];

const byGvr = new Map<string, ResourceInfo>();
const byKind = new Map<string, ResourceInfo>();
const byStoreKey = new Map<string, ResourceInfo>();
for (const r of SERVED) {
  byGvr.set(`${groupVersion(r)}/${r.plural}`, r);
  byKind.set(`${groupVersion(r)}/${r.kind}`, r);
}
for (const r of RESOURCES) byStoreKey.set(resourceKey(r), r);

/** The resource served at `/apis/<group>/<version>/<plural>` (group '' for `/api/v1`). */
export function lookupResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  return byGvr.get(`${group ? `${group}/` : ''}${version}/${plural}`);
}

/** The resource of `apiVersion` + `kind`. */
export function lookupKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return byKind.get(`${apiVersion}/${kind}`);
}

/** The resource of a store key's `<group>/<plural>` part. */
export function lookupStoreKey(key: string): ResourceInfo | undefined {
  return byStoreKey.get(key);
}

/** Group versions served, in discovery order (core first). */
export function servedGroups(): { group: string; versions: string[] }[] {
  const out: { group: string; versions: string[] }[] = [];
  for (const r of SERVED) {
    let g = out.find((x) => x.group === r.group);
    if (!g) out.push((g = { group: r.group, versions: [] }));
    if (!g.versions.includes(r.version)) g.versions.push(r.version);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Discovery documents (the plain, non-aggregated form)

export function apiVersionsDoc(serverAddress: string) {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(g: { group: string; versions: string[] }) {
  const versions = g.versions.map((v) => ({ groupVersion: `${g.group}/${v}`, version: v }));
  return { name: g.group, versions, preferredVersion: versions[0]! };
}

export function apiGroupListDoc() {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: servedGroups()
      .filter((g) => g.group !== '')
      .map(apiGroup),
  };
}

export function apiGroupDoc(group: string) {
  const g = servedGroups().find((x) => x.group === group && group !== '');
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g) } : null;
}

/** `APIResourceList` for one group version, or null if none is served there. */
export function apiResourceListDoc(group: string, version: string) {
  const rs = SERVED.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return null;
  const resources: Record<string, unknown>[] = [];
  for (const r of rs) {
    const main: Record<string, unknown> = {
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
    };
    if (r.shortNames.length) main.shortNames = r.shortNames;
    if (r.categories.length) main.categories = r.categories;
    resources.push(main);
    for (const sub of r.subresources) {
      if (sub === 'status') {
        resources.push({ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] });
      } else if (sub === 'scale') {
        resources.push({
          name: `${r.plural}/scale`,
          singularName: '',
          namespaced: r.namespaced,
          group: 'autoscaling',
          version: 'v1',
          kind: 'Scale',
          verbs: ['get', 'patch', 'update'],
        });
      } else if (sub === 'binding') {
        resources.push({ name: `${r.plural}/binding`, singularName: '', namespaced: r.namespaced, kind: 'Binding', verbs: ['create'] });
      } else if (sub === 'exec') {
        resources.push({ name: `${r.plural}/exec`, singularName: '', namespaced: r.namespaced, kind: 'PodExecOptions', verbs: ['create', 'get'] });
      } else if (sub === 'eviction') {
        resources.push({ name: `${r.plural}/eviction`, singularName: '', namespaced: r.namespaced, group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
      }
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}
