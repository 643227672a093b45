/**
 * The three patch formats the API accepts:
 * - JSON merge patch (RFC 7386);
 * - JSON patch (RFC 6902), through fast-json-patch;
 * - strategic merge patch, the Kubernetes extension of merge patch for built-in kinds: lists
 *   with a merge key (containers by name, ports by containerPort/port, env by name, ...) merge
 *   item by item, and the directives `$patch`, `$retainKeys`, `$setElementOrder/<list>` and
 *   `$deleteFromPrimitiveList/<list>` are honoured. Other lists are replaced, as in merge patch.
 * All of them return a new document and never modify their inputs.
 */
import jsonPatch from 'fast-json-patch';
import { clone, errors, isObject } from './types.js';

type Obj = Record<string, any>;

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: Obj = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Applies RFC 6902 operations; a failed op or test is a 422 Invalid-style error. */
export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw errors.badRequest('json patch must be a list of operations');
  try {
    const res = jsonPatch.applyPatch(clone(doc) as Obj, ops as jsonPatch.Operation[], true, true);
    return res.newDocument;
  } catch (err) {
    const msg = ((err as Error).message ?? String(err)).split('\n')[0]!;
    throw errors.unprocessable(`the server rejected our request due to an error in our request: ${msg}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

/** How a list field merges: by which key, or as a set of primitives. */
interface ListMeta {
  mergeKey?: string;
  /** A list of scalars merged as a set (finalizers). */
  primitiveSet?: boolean;
  /** `$retainKeys` applies to the items. */
}

/** Merge keys of the built-in kinds' lists, by field name (and context where it differs). */
function listMeta(field: string, path: string[]): ListMeta | null {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
    case 'resourceClaims':
    case 'schedulingGates':
    case 'secrets':
      return { mergeKey: 'name' };
    case 'ports':
      return { mergeKey: path.some((p) => p === 'containers' || p === 'initContainers' || p === 'ephemeralContainers') ? 'containerPort' : 'port' };
    case 'volumeMounts':
      return { mergeKey: 'mountPath' };
    case 'volumeDevices':
      return { mergeKey: 'devicePath' };
    case 'hostAliases':
      return { mergeKey: 'ip' };
    case 'conditions':
    case 'addresses':
      return path[0] === 'status' ? { mergeKey: 'type' } : null;
    case 'ownerReferences':
      return { mergeKey: 'uid' };
    case 'taints':
      return { mergeKey: 'key' };
    case 'topologySpreadConstraints':
      return { mergeKey: 'topologyKey' };
    case 'finalizers':
    case 'podCIDRs':
      return { primitiveSet: true };
    default:
      return null;
  }
}

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const ORDER_PREFIX = '$setElementOrder/';
const DELETE_PRIMITIVE_PREFIX = '$deleteFromPrimitiveList/';

/** Applies a strategic merge patch to `original`. Throws 400 on a malformed patch. */
export function strategicMergePatch(original: unknown, patch: unknown): unknown {
  if (!isObject(patch)) throw errors.badRequest('strategic merge patch must be a JSON object');
  return mergeMap(isObject(original) ? original : {}, patch, []);
}

function mergeMap(original: Obj, patch: Obj, path: string[]): Obj {
  const directive = patch[DIRECTIVE];
  if (directive === 'replace') {
    const { [DIRECTIVE]: _d, ...rest } = patch;
    return stripDirectives(rest) as Obj;
  }
  if (directive === 'delete') return {};
  if (directive !== undefined && directive !== 'merge') throw errors.badRequest(`unknown patch type: ${JSON.stringify(directive)} in map`);
  const out: Obj = { ...original };
  const orders: [string, unknown[]][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === DIRECTIVE || k === RETAIN_KEYS) continue;
    if (k.startsWith(ORDER_PREFIX)) {
      if (Array.isArray(v)) orders.push([k.slice(ORDER_PREFIX.length), v]);
      continue;
    }
    if (k.startsWith(DELETE_PRIMITIVE_PREFIX)) {
      const field = k.slice(DELETE_PRIMITIVE_PREFIX.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) {
        const drop = new Set(v.map((x) => JSON.stringify(x)));
        out[field] = (out[field] as unknown[]).filter((x) => !drop.has(JSON.stringify(x)));
      }
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const cur = out[k];
    if (isObject(v)) {
      if (v[DIRECTIVE] === 'delete') delete out[k];
      else out[k] = mergeMap(isObject(cur) ? cur : {}, v, [...path, k]);
    } else if (Array.isArray(v)) {
      out[k] = mergeList(Array.isArray(cur) ? cur : [], v, k, [...path, k]);
    } else {
      out[k] = v;
    }
  }
  for (const [field, order] of orders) {
    if (Array.isArray(out[field])) out[field] = applyOrder(out[field], order, listMeta(field, [...path, field]));
  }
  const retain = patch[RETAIN_KEYS];
  if (Array.isArray(retain)) {
    const keep = new Set(retain.map(String));
    for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k];
  }
  return out;
}

function mergeList(original: unknown[], patch: unknown[], field: string, path: string[]): unknown[] {
  const meta = listMeta(field, path);
  // A `{$patch: replace}` item replaces the whole list with the other items.
  if (patch.some((x) => isObject(x) && x[DIRECTIVE] === 'replace')) {
    return stripDirectives(patch.filter((x) => !(isObject(x) && x[DIRECTIVE] === 'replace'))) as unknown[];
  }
  if (meta?.primitiveSet) {
    const out = [...original];
    const seen = new Set(out.map((x) => JSON.stringify(x)));
    for (const x of patch) {
      if (isObject(x)) continue;
      const key = JSON.stringify(x);
      if (!seen.has(key)) {
        seen.add(key);
        out.push(x);
      }
    }
    return out;
  }
  if (!meta?.mergeKey) return stripDirectives(patch) as unknown[];
  const key = meta.mergeKey;
  const out: unknown[] = [...original];
  for (const item of patch) {
    if (!isObject(item)) throw errors.badRequest(`strategic merge patch: items of ${path.join('.')} must be objects with a "${key}"`);
    const k = item[key];
    if (k === undefined) throw errors.badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${key}`);
    const idx = out.findIndex((x) => isObject(x) && x[key] === k);
    if (item[DIRECTIVE] === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = mergeMap(out[idx] as Obj, item, path);
    else out.push(stripDirectives(item));
  }
  return out;
}

/** Orders a merged list as `$setElementOrder` says; items it does not name keep their places after. */
function applyOrder(list: unknown[], order: unknown[], meta: ListMeta | null): unknown[] {
  const keyOf = (x: unknown) => (meta?.mergeKey && isObject(x) ? JSON.stringify(x[meta.mergeKey]) : JSON.stringify(x));
  const wanted = order.map(keyOf);
  const ordered: unknown[] = [];
  const used = new Set<number>();
  for (const w of wanted) {
    const i = list.findIndex((x, j) => !used.has(j) && keyOf(x) === w);
    if (i >= 0) {
      used.add(i);
      ordered.push(list[i]);
    }
  }
  list.forEach((x, j) => {
    if (!used.has(j)) ordered.push(x);
  });
  return ordered;
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === DIRECTIVE || k === RETAIN_KEYS || k.startsWith(ORDER_PREFIX) || k.startsWith(DELETE_PRIMITIVE_PREFIX)) continue;
    if (x === null) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

/** The patch type of a PATCH request's Content-Type, or null if it is not one. */
export function patchTypeOf(contentType: string | undefined): PatchType | null {
  const t = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  switch (t) {
    case 'application/json-patch+json':
      return 'json';
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+json':
      return 'apply';
    default:
      return null;
  }
}

/** Applies a patch of any type to a document. */
export function applyPatch(type: PatchType, doc: unknown, patch: unknown): unknown {
  switch (type) {
    case 'json':
      return applyJsonPatch(doc, patch);
    case 'merge':
      if (!isObject(patch)) throw errors.badRequest('merge patch must be a JSON object');
      return mergePatch(doc, patch);
    case 'strategic':
    case 'apply':
      return strategicMergePatch(doc, patch);
  }
}
