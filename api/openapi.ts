/**
 * A minimal OpenAPI v3: the index at `/openapi/v3` and one document per group version with the
 * paths and operations of every resource. Operations carry `x-kubernetes-group-version-kind`,
 * and PATCH lists the `fieldValidation` query parameter, which is what kubectl reads to decide
 * that the server validates fields (so `kubectl apply` works with its default --validate).
 * The documents publish no schemas: kubectl then computes strategic merge patches from the
 * types compiled into it.
 */
import { groupVersion, SERVED, servedGroups, type ResourceInfo } from './registry.js';

/** The `api/v1`, `apis/apps/v1` path segment of a group version. */
export function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

function fnv1a(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).toUpperCase().padStart(16, '0');
}

const docs = new Map<string, Record<string, unknown>>();
const hashes = new Map<string, string>();

const queryParam = (name: string, description: string) => ({ name, in: 'query', description, schema: { type: 'string' }, uniqueItems: true });
const commonWriteParams = [
  queryParam('dryRun', 'When present, indicates that modifications should not be persisted.'),
  queryParam('fieldManager', 'a name associated with the actor or entity that is making these changes.'),
  queryParam('fieldValidation', 'instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict.'),
];
const jsonContent = (ref: string) => ({ 'application/json': { schema: { $ref: ref } } });

function operations(r: ResourceInfo) {
  const gvk = { group: r.group, version: r.version, kind: r.kind };
  const ref = `#/components/schemas/${r.kind}`;
  const op = (action: string, id: string, extra: Record<string, unknown> = {}) => ({
    tags: [r.group || 'core'],
    operationId: id,
    responses: { '200': { description: 'OK', content: jsonContent(ref) } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    ...extra,
  });
  const suffix = `${r.kind}`;
  const item = {
    get: op('get', `read${suffix}`),
    put: op('put', `replace${suffix}`, { parameters: commonWriteParams, requestBody: { content: jsonContent(ref), required: true } }),
    patch: op('patch', `patch${suffix}`, {
      parameters: [...commonWriteParams, queryParam('force', 'Force is going to "force" Apply requests.')],
      requestBody: {
        content: {
          'application/apply-patch+yaml': { schema: { type: 'object' } },
          'application/json-patch+json': { schema: { type: 'object' } },
          'application/merge-patch+json': { schema: { type: 'object' } },
          'application/strategic-merge-patch+json': { schema: { type: 'object' } },
        },
        required: true,
      },
    }),
    delete: op('delete', `delete${suffix}`, { parameters: [queryParam('dryRun', 'dry run'), queryParam('propagationPolicy', 'Background, Foreground or Orphan')] }),
    parameters: [
      { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
      ...(r.namespaced ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string' } }] : []),
    ],
  };
  const collection = {
    get: op('list', `list${suffix}`, { parameters: [queryParam('labelSelector', 'label selector'), queryParam('fieldSelector', 'field selector'), queryParam('watch', 'watch')] }),
    post: op('post', `create${suffix}`, { parameters: commonWriteParams, requestBody: { content: jsonContent(ref), required: true } }),
    delete: op('deletecollection', `deleteCollection${suffix}`),
    ...(r.namespaced ? { parameters: [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string' } }] } : {}),
  };
  return { item, collection };
}

function build(group: string, version: string): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  const base = `/${gvPath(group, version)}`;
  for (const r of SERVED) {
    if (r.group !== group || r.version !== version) continue;
    const { item, collection } = operations(r);
    const scope = r.namespaced ? `${base}/namespaces/{namespace}/${r.plural}` : `${base}/${r.plural}`;
    paths[scope] = collection;
    paths[`${scope}/{name}`] = item;
    for (const sub of r.subresources) {
      if (sub === 'status') paths[`${scope}/{name}/status`] = item;
    }
    // Schemas carry no GVK extension on purpose (see the header comment).
    schemas[r.kind] = { type: 'object', description: `${r.kind} (${groupVersion(r)})`, 'x-kubernetes-preserve-unknown-fields': true };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0' },
    paths,
    components: { schemas },
  };
}

/** The document of one group version (`api/v1`, `apis/apps/v1`), or null. */
export function openApiV3Doc(path: string): Record<string, unknown> | null {
  const cached = docs.get(path);
  if (cached) return cached;
  for (const g of servedGroups()) {
    for (const v of g.versions) {
      if (gvPath(g.group, v) === path) {
        const doc = build(g.group, v);
        docs.set(path, doc);
        hashes.set(path, fnv1a(JSON.stringify(doc)));
        return doc;
      }
    }
  }
  return null;
}

/** `/openapi/v3`: where each group version's document is. */
export function openApiV3Index(): { paths: Record<string, { serverRelativeURL: string }> } {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const g of servedGroups()) {
    for (const v of g.versions) {
      const p = gvPath(g.group, v);
      openApiV3Doc(p);
      paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hashes.get(p)}` };
    }
  }
  return { paths };
}
