/**
 * The resources controllers talk about, named by their plural (`pods`, `deployments`): every
 * plural the API serves is unique across groups, so it is enough to name one. Kind, group and
 * scope come from the API registry, plus the few kinds controllers read that the API server
 * does not serve yet (StorageClass).
 */
import { RESOURCES, groupVersion, lookupKind } from '../api/registry.js';
import type { KubeObject, OwnerReference } from '../api/types.js';

export interface ResourceMeta {
  plural: string;
  kind: string;
  group: string;
  /** `apps/v1`, `v1`. */
  apiVersion: string;
  namespaced: boolean;
}

/** Kinds the controllers know that api/registry.ts does not list (yet). */
const EXTRA: ResourceMeta[] = [
  { plural: 'storageclasses', kind: 'StorageClass', group: 'storage.k8s.io', apiVersion: 'storage.k8s.io/v1', namespaced: false },
  { plural: 'bindings', kind: 'Binding', group: '', apiVersion: 'v1', namespaced: true },
];

const byPlural = new Map<string, ResourceMeta>();
const byKindMap = new Map<string, ResourceMeta>();
for (const r of RESOURCES) {
  const m: ResourceMeta = { plural: r.plural, kind: r.kind, group: r.group, apiVersion: groupVersion(r), namespaced: r.namespaced };
  byPlural.set(r.plural, m);
  byKindMap.set(r.kind, m);
}
for (const m of EXTRA) {
  byPlural.set(m.plural, m);
  byKindMap.set(m.kind, m);
}

export function resourceMeta(plural: string): ResourceMeta {
  const m = byPlural.get(plural);
  if (!m) throw new Error(`unknown resource ${JSON.stringify(plural)}`);
  return m;
}

/** The resource of `apiVersion` + `kind` (an owner reference's), or of a bare kind. */
export function resourceForKind(apiVersion: string | undefined, kind: string): ResourceMeta | undefined {
  if (apiVersion) {
    const r = lookupKind(apiVersion, kind);
    if (r) return byPlural.get(r.plural);
  }
  const m = byKindMap.get(kind);
  if (!m) return undefined;
  // A different version of a known group is fine (autoscaling/v1 vs v2); another group is not.
  if (apiVersion) {
    const group = apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
    if (group !== m.group) return undefined;
  }
  return m;
}

/** `namespace/name`, or `name` for cluster-scoped objects (client-go's MetaNamespaceKeyFunc). */
export function objectKey(o: KubeObject): string {
  const ns = o.metadata.namespace;
  return ns ? `${ns}/${o.metadata.name}` : (o.metadata.name ?? '');
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** The controller reference among an object's owners, if any. */
export function controllerRef(o: KubeObject): OwnerReference | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller === true);
}

/** A controller reference to `owner` as controllers set it (controller + blockOwnerDeletion). */
export function newControllerRef(owner: KubeObject, apiVersion: string, kind: string): OwnerReference {
  return { apiVersion, kind, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
}
