/**
 * What the API server does to an object on its way in, per kind (Kubernetes' "strategies"):
 * system metadata on create, status reset for kinds with a status subresource, generation
 * bumps on spec changes, status-only writes, and the autoscaling/v1 Scale view.
 * Pure: the uid and the time come in as arguments.
 */
import { applyDefaults, podQosClass } from './defaults.js';
import { groupVersion, type ResourceInfo } from './registry.js';
import { selectorFromObject, selectorToString } from './selectors.js';
import { clone, deepEqual, errors, isObject, type KubeObject, type ObjectMeta } from './types.js';

type Obj = Record<string, any>;

/** Fields of metadata only the server sets; a client's values are ignored. */
const SYSTEM_META = ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'resourceVersion', 'selfLink'] as const;

/** RFC 3339 at seconds precision, as Kubernetes renders metav1.Time. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The status a newly created object starts with. */
function initialStatus(kind: string, o: KubeObject): Obj | undefined {
  switch (kind) {
    case 'Pod':
      return { phase: 'Pending', qosClass: podQosClass(o.spec ?? {}) };
    case 'Namespace':
      return { phase: 'Active' };
    case 'Service':
      return { loadBalancer: {} };
    case 'PersistentVolume':
    case 'PersistentVolumeClaim':
      return { phase: 'Pending' };
    case 'Ingress':
      return { loadBalancer: {} };
    default:
      return {};
  }
}

/** Folds Secret.stringData into data (base64), as the API does on every write. */
function foldStringData(o: KubeObject): void {
  if (!isObject(o.stringData)) return;
  const data: Obj = isObject(o.data) ? o.data : (o.data = {});
  for (const [k, v] of Object.entries(o.stringData)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
  delete o.stringData;
}

export interface CreateContext {
  uid: string;
  nowMs: number;
  /** The namespace of the request URL ('' for cluster-scoped). */
  namespace: string;
}

/**
 * Readies a client's object for storage on create: apiVersion/kind, system metadata, status,
 * defaults. Does not validate. Name generation happens before (it needs randomness).
 */
export function prepareCreate(r: ResourceInfo, input: KubeObject, ctx: CreateContext): KubeObject {
  const o = clone(input);
  o.apiVersion = groupVersion(r);
  o.kind = r.kind;
  const m: ObjectMeta = isObject(o.metadata) ? o.metadata : (o.metadata = {});
  for (const k of SYSTEM_META) delete m[k];
  delete m.managedFields;
  if (r.namespaced) m.namespace = ctx.namespace;
  else delete m.namespace;
  m.uid = ctx.uid;
  m.creationTimestamp = rfc3339(ctx.nowMs);
  if (hasSpec(r)) m.generation = 1;
  if (r.kind === 'Secret') foldStringData(o);
  if (r.kind === 'Job') jobSelector(o, ctx.uid);
  applyDefaults(r.kind, o);
  if (r.statusOnCreate === 'reset') o.status = initialStatus(r.kind, o);
  else if (o.status === undefined && r.subresources.includes('status')) o.status = {};
  return o;
}

/** A Job's generated selector and template labels (unless `manualSelector`). */
function jobSelector(o: KubeObject, uid: string): void {
  const spec: Obj = isObject(o.spec) ? o.spec : (o.spec = {});
  if (spec.manualSelector === true) return;
  const name = o.metadata.name ?? '';
  spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
  const tmpl: Obj = isObject(spec.template) ? spec.template : (spec.template = {});
  const tm: Obj = isObject(tmpl.metadata) ? tmpl.metadata : (tmpl.metadata = {});
  tm.labels = {
    ...(isObject(tm.labels) ? tm.labels : {}),
    'batch.kubernetes.io/controller-uid': uid,
    'batch.kubernetes.io/job-name': name,
    'controller-uid': uid,
    'job-name': name,
  };
}

/** Kinds with a spec count generations; data-only kinds (ConfigMap, Secret, ...) do not. */
function hasSpec(r: ResourceInfo): boolean {
  return !(r.kind in TOP_LEVEL);
}

/** Everything but metadata and status: what a generation counts. */
function specView(o: KubeObject): Obj {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

/**
 * Readies an update of the main resource: keeps the system metadata of `old`, keeps the stored
 * status for kinds with a status subresource, defaults, and bumps the generation when the spec
 * changed. A resourceVersion in `input` is checked by the caller.
 */
/** A write of the main resource. `old` is the caller's own copy of the stored object (its status is reused). */
export function prepareUpdate(r: ResourceInfo, input: KubeObject, old: KubeObject): KubeObject {
  const o = clone(input);
  o.apiVersion = groupVersion(r);
  o.kind = r.kind;
  const m: ObjectMeta = isObject(o.metadata) ? o.metadata : (o.metadata = {});
  for (const k of SYSTEM_META) {
    if (old.metadata[k] !== undefined) (m as Record<string, unknown>)[k] = old.metadata[k];
    else delete m[k];
  }
  delete m.managedFields;
  m.name = old.metadata.name;
  if (r.namespaced) m.namespace = old.metadata.namespace;
  else delete m.namespace;
  if (r.kind === 'Secret') foldStringData(o);
  applyDefaults(r.kind, o);
  if (r.subresources.includes('status')) {
    if (old.status === undefined) delete o.status;
    else o.status = old.status;
  }
  if (r.kind === 'Job' && o.spec?.manualSelector !== true && old.spec?.selector && o.spec && !o.spec.selector) o.spec.selector = clone(old.spec.selector);
  if (hasSpec(r) && !deepEqual(specView(o), specView(old))) m.generation = (old.metadata.generation ?? 0) + 1;
  return o;
}

/**
 * A write to the status subresource: only status changes; everything else stays as stored.
 * `old` is the caller's own copy of the stored object, and becomes the result.
 */
export function prepareStatusUpdate(r: ResourceInfo, input: KubeObject, old: KubeObject): KubeObject {
  const o = old;
  o.apiVersion = groupVersion(r);
  o.kind = r.kind;
  if (input.status === undefined) delete o.status;
  else o.status = clone(input.status);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Scale

/** The autoscaling/v1 Scale of a scalable object. */
export function toScale(r: ResourceInfo, o: KubeObject): KubeObject {
  const spec: Obj = o.spec ?? {};
  let selector = '';
  try {
    if (r.kind === 'ReplicationController') selector = selectorToString(selectorFromObject({ matchLabels: spec.selector ?? {} }));
    else selector = selectorToString(selectorFromObject(spec.selector));
  } catch {
    selector = '';
  }
  const meta: ObjectMeta = {
    name: o.metadata.name,
    namespace: o.metadata.namespace,
    uid: o.metadata.uid,
    resourceVersion: o.metadata.resourceVersion,
    creationTimestamp: o.metadata.creationTimestamp,
  };
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: meta,
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: o.status?.replicas ?? 0, selector },
  };
}

/** Applies a Scale's spec.replicas to its object. Throws 422 for a bad replica count. */
export function fromScale(r: ResourceInfo, scale: KubeObject, o: KubeObject): KubeObject {
  const replicas = scale?.spec?.replicas;
  if (replicas !== undefined && (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0)) {
    throw errors.invalid('autoscaling', 'Scale', o.metadata.name ?? '', [
      { type: 'FieldValueInvalid', field: 'spec.replicas', value: replicas, detail: 'must be greater than or equal to 0' },
    ]);
  }
  const out = clone(o);
  out.spec = { ...(out.spec ?? {}), replicas: replicas ?? 0 };
  void r;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Fields a kind may carry at its top level (for fieldValidation=Strict/Warn)

const TOP_LEVEL: Record<string, string[]> = {
  ConfigMap: ['data', 'binaryData', 'immutable'],
  Secret: ['data', 'stringData', 'type', 'immutable'],
  Endpoints: ['subsets'],
  EndpointSlice: ['addressType', 'endpoints', 'ports'],
  Event: [
    'involvedObject',
    'reason',
    'message',
    'source',
    'firstTimestamp',
    'lastTimestamp',
    'count',
    'type',
    'eventTime',
    'series',
    'action',
    'related',
    'reportingComponent',
    'reportingInstance',
  ],
  ServiceAccount: ['secrets', 'imagePullSecrets', 'automountServiceAccountToken'],
  ControllerRevision: ['data', 'revision'],
};

const META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

/** Fields of `o` its kind does not have (`spec.foo` style paths), top level and metadata only. */
export function unknownFields(r: ResourceInfo, o: Obj): string[] {
  const allowed = new Set(['apiVersion', 'kind', 'metadata', ...(TOP_LEVEL[r.kind] ?? ['spec', 'status'])]);
  const out: string[] = [];
  for (const k of Object.keys(o)) if (!allowed.has(k)) out.push(k);
  if (isObject(o.metadata)) for (const k of Object.keys(o.metadata)) if (!META_FIELDS.has(k)) out.push(`metadata.${k}`);
  return out;
}
