// The REST surface over real HTTPS: errors as Status objects, optimistic concurrency, lists,
// watches, subresources and lifecycle, against a store peer and the API server on threads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, openWatch, startCluster, until, type TestCluster } from './harness.js';
import type { KubeObject } from '../../api/types.js';

let c: TestCluster;

beforeAll(async () => {
  c = await startCluster({ api: { historyEvents: 40, limits: { bookmarkIntervalMs: 200 } } });
});

afterAll(async () => {
  await c?.stop();
});

const cm = (name: string, data: Record<string, string> = { a: '1' }, labels?: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, ...(labels ? { labels } : {}) },
  data,
});

const CMS = '/api/v1/namespaces/default/configmaps';

async function revision(): Promise<string> {
  return (await call(c, 'GET', CMS)).json().metadata.resourceVersion;
}

describe('authentication and discovery', () => {
  it('serves /version and health without a token, everything else only with the right one', async () => {
    expect((await call(c, 'GET', '/version', undefined, {}, { token: null })).json().gitVersion).toMatch(/^v1\.32/);
    expect((await call(c, 'GET', '/readyz', undefined, {}, { token: null })).text).toBe('ok');
    for (const token of [null, 'wrong']) {
      const r = await call(c, 'GET', '/api/v1/namespaces', undefined, {}, { token });
      expect(r.status).toBe(401);
      expect(r.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    }
  });

  it('publishes plain discovery documents', async () => {
    expect((await call(c, 'GET', '/api')).json()).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const groups = (await call(c, 'GET', '/apis')).json();
    expect(groups.groups.map((g: { name: string }) => g.name)).toEqual(expect.arrayContaining(['apps', 'batch', 'autoscaling', 'networking.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io']));
    const apps = (await call(c, 'GET', '/apis/apps/v1')).json();
    expect(apps.resources.map((r: { name: string }) => r.name)).toEqual(expect.arrayContaining(['deployments', 'deployments/scale', 'deployments/status']));
  });

  it('answers unknown paths and resources with a 404 Status', async () => {
    for (const p of ['/api/v1/widgets', '/apis/apps/v1/namespaces/default/gadgets', '/nothing/here', '/api/v1/namespaces/default/configmaps/x/status']) {
      const r = await call(c, 'GET', p);
      expect(r.status, p).toBe(404);
      expect(r.json()).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 });
    }
  });
});

describe('writes', () => {
  it('creates (201), refuses a duplicate (409 AlreadyExists) and gets', async () => {
    const r = await call(c, 'POST', CMS, cm('one'));
    expect(r.status).toBe(201);
    const o = r.json();
    expect(o.metadata).toMatchObject({ name: 'one', namespace: 'default' });
    expect(o.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(o.metadata.resourceVersion)).toBeGreaterThan(0);
    const dup = await call(c, 'POST', CMS, cm('one'));
    expect(dup.status).toBe(409);
    expect(dup.json()).toMatchObject({ reason: 'AlreadyExists', message: 'configmaps "one" already exists' });
    expect((await call(c, 'GET', `${CMS}/one`)).json().metadata.uid).toBe(o.metadata.uid);
  });

  it('generates names from generateName', async () => {
    const r = await call(c, 'POST', CMS, { metadata: { generateName: 'gen-' }, data: {} });
    expect(r.status).toBe(201);
    expect(r.json().metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });

  it('rejects bad requests with the right Status and changes nothing', async () => {
    const before = await revision();
    const bad = await call(c, 'POST', CMS, '{"metadata": {"name": ');
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
    const invalid = await call(c, 'POST', '/apis/apps/v1/namespaces/default/deployments', {
      metadata: { name: 'Bad_Name' },
      spec: { replicas: -1, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } },
    });
    expect(invalid.status).toBe(422);
    const s = invalid.json();
    expect(s.reason).toBe('Invalid');
    expect(s.details.causes.map((x: { field: string }) => x.field)).toEqual(['metadata.name', 'spec.replicas']);
    const big = await call(c, 'POST', CMS, cm('big', { blob: 'x'.repeat(3 * 1024 * 1024 + 10) }));
    expect(big.status).toBe(413);
    expect(big.json()).toMatchObject({ reason: 'RequestEntityTooLarge', code: 413 });
    const wrongNs = await call(c, 'POST', CMS, { metadata: { name: 'x', namespace: 'other' } });
    expect(wrongNs.status).toBe(400);
    const noNs = await call(c, 'POST', '/api/v1/namespaces/missing/configmaps', cm('x'));
    expect(noNs.status).toBe(404);
    expect(noNs.json().message).toBe('namespaces "missing" not found');
    expect(await revision()).toBe(before);
    expect((await call(c, 'GET', `${CMS}/big`)).status).toBe(404);
  });

  it('survives malformed requests of every kind, changing nothing', async () => {
    const before = await revision();
    const attempts: [string, string, unknown, Record<string, string>?][] = [
      ['POST', CMS, '[1,2,3]'],
      ['POST', CMS, 'null'],
      ['POST', CMS, '"just a string"'],
      ['POST', CMS, '{"metadata": 5}'],
      ['POST', CMS, '{"metadata": {"name": 7}, "data": {"a": {"b": 1}}}'],
      ['POST', CMS, '\u0000\u0001garbage', { 'Content-Type': 'application/json' }],
      ['POST', CMS, 'a: [unclosed', { 'Content-Type': 'application/yaml' }],
      ['POST', CMS, 'k8s\u0000garbage', { 'Content-Type': 'application/vnd.kubernetes.protobuf' }],
      ['PUT', `${CMS}/one`, '{"metadata": {"name": "other"}}'],
      ['PATCH', `${CMS}/one`, '{"data": 5}', { 'Content-Type': 'application/json-patch+json' }],
      ['PATCH', `${CMS}/one`, '[{"op": "move", "from": "/nope", "path": "/x"}]', { 'Content-Type': 'application/json-patch+json' }],
      ['PATCH', `${CMS}/one`, '{"metadata": {"name": "renamed"}}', { 'Content-Type': 'application/merge-patch+json' }],
      ['PATCH', `${CMS}/one`, '{"data": {"$patch": "explode"}}', { 'Content-Type': 'application/strategic-merge-patch+json' }],
      ['DELETE', `${CMS}/one`, '{"propagationPolicy": "Sideways"}'],
      ['GET', `${CMS}?limit=abc`, undefined],
      ['GET', `${CMS}?watch=true&resourceVersion=xyz`, undefined],
      ['GET', '/api/v1/namespaces/%E0%A4%A/configmaps', undefined],
      ['GET', `${CMS}?fieldSelector=spec.nodeName%3Dx`, undefined],
      ['TRACE', CMS, undefined],
      ['POST', '/api/v1/namespaces/default/configmaps/one', '{}'],
    ];
    for (const [method, path, body, headers] of attempts) {
      const r = await call(c, method, path, body, headers);
      expect(r.status, `${method} ${path} ${String(body)}`).toBeGreaterThanOrEqual(400);
      expect(r.status, `${method} ${path}`).toBeLessThan(500);
      expect(r.json().kind, `${method} ${path}`).toBe('Status');
    }
    expect(await revision()).toBe(before);
    expect((await call(c, 'GET', '/healthz')).text).toBe('ok');
  });

  it('accepts YAML bodies', async () => {
    const r = await call(c, 'POST', CMS, 'metadata:\n  name: from-yaml\ndata:\n  k: v\n', { 'Content-Type': 'application/yaml' });
    expect(r.status).toBe(201);
    expect(r.json().data).toEqual({ k: 'v' });
  });

  it('updates with the current resourceVersion, refuses a stale one with 409 Conflict', async () => {
    const o = (await call(c, 'POST', CMS, cm('upd'))).json();
    const u1 = await call(c, 'PUT', `${CMS}/upd`, { ...o, data: { a: '2' } });
    expect(u1.status).toBe(200);
    expect(Number(u1.json().metadata.resourceVersion)).toBeGreaterThan(Number(o.metadata.resourceVersion));
    const stale = await call(c, 'PUT', `${CMS}/upd`, { ...o, data: { a: '3' } });
    expect(stale.status).toBe(409);
    expect(stale.json()).toMatchObject({ reason: 'Conflict', code: 409 });
    expect((await call(c, 'GET', `${CMS}/upd`)).json().data).toEqual({ a: '2' });
    // An update that changes nothing writes nothing.
    const same = await call(c, 'PUT', `${CMS}/upd`, u1.json());
    expect(same.json().metadata.resourceVersion).toBe(u1.json().metadata.resourceVersion);
  });

  it('patches with merge, JSON and strategic merge patches', async () => {
    await call(c, 'POST', CMS, cm('pat', { a: '1', b: '2' }));
    const m = await call(c, 'PATCH', `${CMS}/pat`, { data: { a: null, c: '3' } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(m.json().data).toEqual({ b: '2', c: '3' });
    const j = await call(c, 'PATCH', `${CMS}/pat`, [{ op: 'add', path: '/data/d', value: '4' }], { 'Content-Type': 'application/json-patch+json' });
    expect(j.json().data).toEqual({ b: '2', c: '3', d: '4' });
    const s = await call(c, 'PATCH', `${CMS}/pat`, { metadata: { labels: { x: 'y' } } }, { 'Content-Type': 'application/strategic-merge-patch+json' });
    expect(s.json().metadata.labels).toEqual({ x: 'y' });
    const bad = await call(c, 'PATCH', `${CMS}/pat`, { data: {} }, { 'Content-Type': 'text/plain' });
    expect(bad.status).toBe(415);
    const stale = await call(c, 'PATCH', `${CMS}/pat`, { metadata: { resourceVersion: '1' }, data: { z: 'z' } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(stale.status).toBe(409);
  });
});

/** Protobuf wire helpers: just enough to write what kubectl sends. */
const pb = {
  varint(n: number): number[] {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n = Math.floor(n / 128);
      if (n > 0) b |= 0x80;
      out.push(b);
    } while (n > 0);
    return out;
  },
  bytes(field: number, data: number[] | Uint8Array): number[] {
    return [...pb.varint((field << 3) | 2), ...pb.varint(data.length), ...data];
  },
  str(field: number, s: string): number[] {
    return pb.bytes(field, [...new TextEncoder().encode(s)]);
  },
  int(field: number, n: number): number[] {
    return [...pb.varint(field << 3), ...pb.varint(n)];
  },
  /** `k8s\0` + runtime.Unknown{typeMeta, raw}. */
  envelope(apiVersion: string, kind: string, raw: number[]): Buffer {
    return Buffer.from([0x6b, 0x38, 0x73, 0x00, ...pb.bytes(1, [...pb.str(1, apiVersion), ...pb.str(2, kind)]), ...pb.bytes(2, raw)]);
  },
};

describe('eviction', () => {
  const PODS = '/api/v1/namespaces/default/pods';
  const pod = (name: string, nodeName?: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'c', image: 'nginx' }] } });
  const eviction = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: 'default' }, ...extra });

  it('is listed in discovery as pods/eviction, policy/v1 Eviction, create only', async () => {
    const res = (await call(c, 'GET', '/api/v1')).json().resources.find((r: { name: string }) => r.name === 'pods/eviction');
    expect(res).toMatchObject({ group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
  });

  it('deletes the pod: at once when unbound, gracefully with DisruptionTarget when bound', async () => {
    expect((await call(c, 'POST', PODS, pod('loose'))).status).toBe(201);
    const r = await call(c, 'POST', `${PODS}/loose/eviction`, eviction('loose'));
    expect(r.status, r.text).toBe(201);
    expect(r.json()).toMatchObject({ kind: 'Status', status: 'Success' });
    expect((await call(c, 'GET', `${PODS}/loose`)).status).toBe(404);

    expect((await call(c, 'POST', PODS, pod('bound', 'node-x'))).status).toBe(201);
    expect((await call(c, 'POST', `${PODS}/bound/eviction`, eviction('bound', { deleteOptions: { gracePeriodSeconds: 20 } }))).status).toBe(201);
    const after = (await call(c, 'GET', `${PODS}/bound`)).json();
    expect(after.metadata.deletionTimestamp).toBeDefined();
    expect(after.metadata.deletionGracePeriodSeconds).toBe(20);
    expect(after.status.conditions.find((x: { type: string }) => x.type === 'DisruptionTarget')).toMatchObject({ status: 'True', reason: 'EvictionByEvictionAPI' });
  });

  it('takes the protobuf bodies kubectl drain sends: an Eviction, and DeleteOptions on delete', async () => {
    expect((await call(c, 'POST', PODS, pod('proto-a', 'node-x'))).status).toBe(201);
    // Eviction{metadata{name}, deleteOptions{gracePeriodSeconds: 0}}: a zero that must survive.
    const body = pb.envelope('policy/v1', 'Eviction', [...pb.bytes(1, pb.str(1, 'proto-a')), ...pb.bytes(2, pb.int(1, 0))]);
    const r = await call(c, 'POST', `${PODS}/proto-a/eviction`, body, { 'Content-Type': 'application/vnd.kubernetes.protobuf' });
    expect(r.status, r.text).toBe(201);
    expect((await call(c, 'GET', `${PODS}/proto-a`)).status).toBe(404);

    expect((await call(c, 'POST', PODS, pod('proto-b', 'node-x'))).status).toBe(201);
    const del = pb.envelope('v1', 'DeleteOptions', [...pb.int(1, 0), ...pb.str(4, 'Background')]);
    const d = await call(c, 'DELETE', `${PODS}/proto-b`, del, { 'Content-Type': 'application/vnd.kubernetes.protobuf' });
    expect(d.status, d.text).toBe(200);
    expect((await call(c, 'GET', `${PODS}/proto-b`)).status).toBe(404);
  });

  it('asks the pod\'s PodDisruptionBudget: 429 while it allows no disruption, then takes one', async () => {
    const PDBS = '/apis/policy/v1/namespaces/default/poddisruptionbudgets';
    const guarded = { ...pod('guarded', 'node-x'), metadata: { name: 'guarded', labels: { app: 'guarded' } } };
    expect((await call(c, 'POST', PODS, guarded)).status).toBe(201);
    const ready = (await call(c, 'GET', `${PODS}/guarded`)).json();
    ready.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
    expect((await call(c, 'PUT', `${PODS}/guarded/status`, ready)).status).toBe(200);
    const made = await call(c, 'POST', PDBS, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'guard' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } } });
    expect(made.status, made.text).toBe(201);
    const setStatus = async (st: Record<string, unknown>) => {
      const cur = (await call(c, 'GET', `${PDBS}/guard`)).json();
      const r = await call(c, 'PUT', `${PDBS}/guard/status`, { ...cur, status: st });
      expect(r.status, r.text).toBe(200);
    };
    // Not yet seen by the disruption controller.
    const early = await call(c, 'POST', `${PODS}/guarded/eviction`, eviction('guarded'));
    expect(early.status).toBe(429);
    expect(early.json().details.causes[0].message).toMatch(/still being processed/);
    await setStatus({ observedGeneration: 1, expectedPods: 1, desiredHealthy: 1, currentHealthy: 1, disruptionsAllowed: 0 });
    const refused = await call(c, 'POST', `${PODS}/guarded/eviction`, eviction('guarded'));
    expect(refused.status).toBe(429);
    expect(refused.json()).toMatchObject({ reason: 'TooManyRequests', message: "Cannot evict pod as it would violate the pod's disruption budget.", details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget guard needs 1 healthy pods and has 1 currently' }] } });
    expect((await call(c, 'GET', `${PODS}/guarded`)).json().metadata.deletionTimestamp).toBeUndefined();
    // A dry run asks but takes nothing.
    await setStatus({ observedGeneration: 1, expectedPods: 2, desiredHealthy: 1, currentHealthy: 2, disruptionsAllowed: 1 });
    expect((await call(c, 'POST', `${PODS}/guarded/eviction?dryRun=All`, eviction('guarded'))).status).toBe(201);
    expect((await call(c, 'GET', `${PDBS}/guard`)).json().status.disruptionsAllowed).toBe(1);
    expect((await call(c, 'POST', `${PODS}/guarded/eviction`, eviction('guarded'))).status).toBe(201);
    const after = (await call(c, 'GET', `${PDBS}/guard`)).json().status;
    expect(after.disruptionsAllowed).toBe(0);
    expect(Object.keys(after.disruptedPods)).toEqual(['guarded']);
    expect((await call(c, 'GET', `${PODS}/guarded`)).json().metadata.deletionTimestamp).toBeDefined();
  });

  it('refuses what is not an eviction of that pod, and other verbs', async () => {
    expect((await call(c, 'POST', PODS, pod('kept'))).status).toBe(201);
    expect((await call(c, 'POST', `${PODS}/kept/eviction`, eviction('other'))).status).toBe(400);
    expect((await call(c, 'POST', `${PODS}/kept/eviction`, { apiVersion: 'v1', kind: 'Pod' })).status).toBe(400);
    expect((await call(c, 'GET', `${PODS}/kept/eviction`)).status).toBe(405);
    expect((await call(c, 'POST', `${PODS}/missing/eviction`, eviction('missing'))).status).toBe(404);
    expect((await call(c, 'POST', '/api/v1/namespaces/default/configmaps/x/eviction', eviction('x'))).status).toBe(404);
    expect((await call(c, 'GET', `${PODS}/kept`)).status).toBe(200);
  });
});

describe('autoscaling/v1 beside the stored autoscaling/v2', () => {
  const V1 = '/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers';
  const V2 = '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers';
  const hpa = { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'api' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' }, minReplicas: 1, maxReplicas: 4, targetCPUUtilizationPercentage: 50 } };

  it('is discovered with v2 preferred', async () => {
    const g = (await call(c, 'GET', '/apis/autoscaling')).json();
    expect(g.versions.map((v: { version: string }) => v.version)).toEqual(['v2', 'v1']);
    expect(g.preferredVersion.version).toBe('v2');
    const v1 = (await call(c, 'GET', '/apis/autoscaling/v1')).json();
    expect(v1.resources.map((r: { name: string }) => r.name)).toEqual(['horizontalpodautoscalers', 'horizontalpodautoscalers/status']);
  });

  it('creates, reads, patches, lists and watches through v1; the store holds v2', async () => {
    const created = await call(c, 'POST', V1, hpa);
    expect(created.status, created.text).toBe(201);
    expect(created.json()).toMatchObject({ apiVersion: 'autoscaling/v1', spec: { targetCPUUtilizationPercentage: 50, maxReplicas: 4 } });
    const stored = (await call(c, 'GET', `${V2}/api`)).json();
    expect(stored.spec.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }]);

    // A v2 behavior survives a v1 merge patch.
    const withBehavior = await call(c, 'PATCH', `${V2}/api`, { spec: { behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } } }, { 'content-type': 'application/merge-patch+json' });
    expect(withBehavior.status, withBehavior.text).toBe(200);
    const w = openWatch(c, `${V1}?watch=true&resourceVersion=${withBehavior.json().metadata.resourceVersion}`);
    const patched = await call(c, 'PATCH', `${V1}/api`, { spec: { targetCPUUtilizationPercentage: 70 } }, { 'content-type': 'application/merge-patch+json' });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.json().spec.targetCPUUtilizationPercentage).toBe(70);
    const after = (await call(c, 'GET', `${V2}/api`)).json();
    expect(after.spec.metrics[0].resource.target.averageUtilization).toBe(70);
    expect(after.spec.behavior).toEqual({ scaleDown: { stabilizationWindowSeconds: 60 } });
    expect(after.metadata.annotations).toBeUndefined();

    const list = (await call(c, 'GET', V1)).json();
    expect(list.apiVersion).toBe('autoscaling/v1');
    expect(list.items.map((o: KubeObject) => [o.apiVersion, o.spec!.targetCPUUtilizationPercentage])).toEqual([['autoscaling/v1', 70]]);
    await until(() => w.events.length >= 1, 5_000, 'the watch event');
    w.stop();
    expect(w.events[0]).toMatchObject({ type: 'MODIFIED', object: { apiVersion: 'autoscaling/v1', spec: { targetCPUUtilizationPercentage: 70 } } });

    expect((await call(c, 'DELETE', `${V1}/api`)).status).toBe(200);
    expect((await call(c, 'GET', `${V2}/api`)).status).toBe(404);
  });
});

describe('reads', () => {
  it('lists with selectors, limit and continue', async () => {
    for (let i = 0; i < 5; i++) await call(c, 'POST', CMS, cm(`page-${i}`, { i: String(i) }, { set: 'paging', odd: String(i % 2) }));
    const all = (await call(c, 'GET', `${CMS}?labelSelector=set%3Dpaging`)).json();
    expect(all.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
    const odd = (await call(c, 'GET', `${CMS}?labelSelector=set%3Dpaging,odd%20in%20(1)`)).json();
    expect(odd.items).toHaveLength(2);
    const byName = (await call(c, 'GET', `${CMS}?fieldSelector=metadata.name%3Dpage-3`)).json();
    expect(byName.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual(['page-3']);
    const names: string[] = [];
    let cont = '';
    let pages = 0;
    do {
      const r = (await call(c, 'GET', `${CMS}?labelSelector=set%3Dpaging&limit=2${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)).json();
      names.push(...r.items.map((o: { metadata: { name: string } }) => o.metadata.name));
      cont = r.metadata.continue ?? '';
      pages++;
    } while (cont);
    expect(names).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
    expect(pages).toBe(3);
    expect((await call(c, 'GET', `${CMS}?continue=garbage`)).status).toBe(400);
    expect((await call(c, 'GET', `${CMS}?labelSelector=a%20in%20b`)).status).toBe(400);
  });

  it('answers Table requests with kubectl columns', async () => {
    const r = await call(c, 'GET', CMS, undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    const t = r.json();
    expect(t.kind).toBe('Table');
    expect(t.columnDefinitions.map((d: { name: string }) => d.name)).toEqual(['Name', 'Data', 'Age']);
    expect(t.rows[0].object.kind).toBe('PartialObjectMetadata');
  });
});

describe('watch', () => {
  it('streams adds, updates and deletes from a resourceVersion, with bookmarks', async () => {
    const rv = await revision();
    const w = openWatch(c, `${CMS}?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true&labelSelector=w%3D1`);
    await until(() => w.status === 200, 5_000, 'watch to open');
    const o = (await call(c, 'POST', CMS, cm('watched', { a: '1' }, { w: '1' }))).json();
    await call(c, 'PUT', `${CMS}/watched`, { ...o, data: { a: '2' } });
    await call(c, 'POST', CMS, cm('not-watched'));
    await call(c, 'DELETE', `${CMS}/watched`);
    await until(() => w.events.filter((e) => e.type !== 'BOOKMARK').length >= 3, 5_000, 'three events');
    expect(w.events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED watched', 'MODIFIED watched', 'DELETED watched']);
    await until(() => w.events.some((e) => e.type === 'BOOKMARK'), 5_000, 'a bookmark');
    const bm = w.events.find((e) => e.type === 'BOOKMARK')!;
    expect(Number(bm.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(rv));
    w.stop();
  });

  it('starts with the current objects when no resourceVersion is given', async () => {
    const w = openWatch(c, `${CMS}?watch=true&fieldSelector=metadata.name%3Dpage-1`);
    await until(() => w.events.length >= 1, 5_000, 'initial event');
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'page-1' } } });
    w.stop();
  });

  it('sends one-row Tables when the client asks for Tables', async () => {
    const rv = await revision();
    const w = openWatch(c, `${CMS}?watch=true&resourceVersion=${rv}`, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    await until(() => w.status === 200, 5_000, 'watch to open');
    await call(c, 'POST', CMS, cm('tabled'));
    await until(() => w.events.length >= 1, 5_000, 'a table event');
    expect(w.events[0]!.type).toBe('ADDED');
    expect(w.events[0]!.object.kind).toBe('Table');
    expect(w.events[0]!.object.rows).toHaveLength(1);
    expect(w.events[0]!.object.rows[0].cells[0]).toBe('tabled');
    w.stop();
  });

  it('answers a resourceVersion older than the history with 410 Expired', async () => {
    const old = await revision();
    for (let i = 0; i < 50; i++) await call(c, 'POST', CMS, cm(`churn-${i}`));
    const w = openWatch(c, `${CMS}?watch=true&resourceVersion=${old}`);
    await until(() => w.events.length >= 1 || w.ended, 5_000, 'watch answer');
    expect(w.events[0]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    w.stop();
  });
});

describe('subresources and lifecycle', () => {
  const DEPLOYS = '/apis/apps/v1/namespaces/default/deployments';
  const deploy = {
    metadata: { name: 'web' },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  };

  it('status writes change only status; spec writes bump generation and keep status', async () => {
    const d = (await call(c, 'POST', DEPLOYS, deploy)).json();
    expect(d.metadata.generation).toBe(1);
    const st = await call(c, 'PUT', `${DEPLOYS}/web/status`, { ...d, spec: { ...d.spec, replicas: 9 }, status: { replicas: 2, observedGeneration: 1 } });
    expect(st.status).toBe(200);
    expect(st.json().spec.replicas).toBe(2);
    expect(st.json().status).toEqual({ replicas: 2, observedGeneration: 1 });
    const sp = await call(c, 'PUT', `${DEPLOYS}/web`, { ...st.json(), spec: { ...d.spec, replicas: 3 }, status: {} });
    expect(sp.json().metadata.generation).toBe(2);
    expect(sp.json().status).toEqual({ replicas: 2, observedGeneration: 1 });
  });

  it('serves the scale subresource', async () => {
    const s = (await call(c, 'GET', `${DEPLOYS}/web/scale`)).json();
    expect(s).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 3 }, status: { selector: 'app=web' } });
    const p = await call(c, 'PATCH', `${DEPLOYS}/web/scale`, { spec: { replicas: 5 } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(p.json().spec.replicas).toBe(5);
    expect((await call(c, 'GET', `${DEPLOYS}/web`)).json().spec.replicas).toBe(5);
    const stale = await call(c, 'PUT', `${DEPLOYS}/web/scale`, { ...s, spec: { replicas: 1 } });
    expect(stale.status).toBe(409);
    const bad = await call(c, 'PUT', `${DEPLOYS}/web/scale`, { ...s, metadata: { name: 'web' }, spec: { replicas: -1 } });
    expect(bad.status).toBe(422);
  });

  it('keeps an object with finalizers until they are removed', async () => {
    await call(c, 'POST', CMS, { metadata: { name: 'fin', finalizers: ['example.com/hold'] } });
    const del = await call(c, 'DELETE', `${CMS}/fin`, { propagationPolicy: 'Foreground' });
    expect(del.status).toBe(202);
    const held = (await call(c, 'GET', `${CMS}/fin`)).json();
    expect(held.metadata.deletionTimestamp).toBeTruthy();
    expect(held.metadata.finalizers).toEqual(['example.com/hold', 'foregroundDeletion']);
    await call(c, 'PATCH', `${CMS}/fin`, { metadata: { finalizers: null } }, { 'Content-Type': 'application/merge-patch+json' });
    expect((await call(c, 'GET', `${CMS}/fin`)).status).toBe(404);
  });

  it('records ownerReferences and allocates distinct service addresses', async () => {
    const o = await call(c, 'POST', CMS, { metadata: { name: 'owned', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u-1', controller: true }] } });
    expect(o.json().metadata.ownerReferences[0].uid).toBe('u-1');
    const ips = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const s = await call(c, 'POST', '/api/v1/namespaces/default/services', { metadata: { name: `svc-${i}` }, spec: { type: 'NodePort', ports: [{ port: 80 }] } });
      expect(s.status).toBe(201);
      ips.add(s.json().spec.clusterIP);
      expect(s.json().spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
    }
    expect(ips.size).toBe(3);
  });

  it('deleting a namespace deletes what is in it', async () => {
    expect((await call(c, 'POST', '/api/v1/namespaces', { metadata: { name: 'doomed' } })).status).toBe(201);
    await call(c, 'POST', '/api/v1/namespaces/doomed/configmaps', cm('inside'));
    const del = await call(c, 'DELETE', '/api/v1/namespaces/doomed');
    expect(del.json().status.phase).toBe('Terminating');
    const refused = await call(c, 'POST', '/api/v1/namespaces/doomed/configmaps', cm('late'));
    expect(refused.status).toBe(403);
    await until(async () => (await call(c, 'GET', '/api/v1/namespaces/doomed')).status === 404, 10_000, 'namespace to go');
    expect((await call(c, 'GET', '/api/v1/namespaces/doomed/configmaps/inside')).status).toBe(404);
    expect((await call(c, 'DELETE', '/api/v1/namespaces/default')).status).toBe(403);
  });
});
