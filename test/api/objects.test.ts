import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyDefaults, defaultPullPolicy } from '../../api/defaults.js';
import { apiResourceListDoc, lookupKind, lookupResource, RESOURCES } from '../../api/registry.js';
import { fromScale, prepareCreate, prepareStatusUpdate, prepareUpdate, toScale } from '../../api/strategy.js';
import { humanDuration, toTable } from '../../api/tables.js';
import { ApiError, clone, errors, type KubeObject } from '../../api/types.js';
import { validateObject } from '../../api/validation.js';
import { openApiV3Doc, openApiV3Index } from '../../api/openapi.js';

const deployments = lookupResource('apps', 'v1', 'deployments')!;
const pods = lookupResource('', 'v1', 'pods')!;
const services = lookupResource('', 'v1', 'services')!;
const jobs = lookupResource('batch', 'v1', 'jobs')!;

function deployment(extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
      ...extra,
    },
  };
}

const ctx = { uid: '11111111-2222-4333-8444-555555555555', nowMs: Date.UTC(2024, 0, 1), namespace: 'default' };

describe('registry', () => {
  it('serves every kind of the issue, each findable by plural and by kind', () => {
    const kinds = RESOURCES.map((r) => r.kind);
    for (const k of ['Namespace', 'Pod', 'Node', 'Service', 'Endpoints', 'ConfigMap', 'Secret', 'PersistentVolume', 'PersistentVolumeClaim', 'ReplicationController', 'Event', 'ServiceAccount', 'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'ControllerRevision', 'Job', 'CronJob', 'HorizontalPodAutoscaler', 'Ingress', 'Lease', 'EndpointSlice']) {
      expect(kinds).toContain(k);
    }
    expect(lookupKind('apps/v1', 'Deployment')).toBe(deployments);
    expect(lookupResource('apps', 'v1', 'deployments')?.shortNames).toEqual(['deploy']);
  });

  it('publishes scale as autoscaling/v1 Scale in discovery', () => {
    const doc = apiResourceListDoc('apps', 'v1')!;
    const scale = doc.resources.find((r) => r.name === 'deployments/scale');
    expect(scale).toMatchObject({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
  });

  it('publishes OpenAPI v3 with PATCH fieldValidation for every kind', () => {
    const index = openApiV3Index();
    expect(Object.keys(index.paths)).toContain('apis/apps/v1');
    const doc = openApiV3Doc('apis/apps/v1') as { paths: Record<string, any> };
    const patch = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].patch;
    expect(patch['x-kubernetes-group-version-kind']).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment' });
    expect(patch.parameters.some((p: { name: string; in: string }) => p.name === 'fieldValidation' && p.in === 'query')).toBe(true);
  });
});

describe('defaults', () => {
  it('defaults a Deployment as Kubernetes does', () => {
    const o = deployment();
    applyDefaults('Deployment', o);
    expect(o.spec.replicas).toBe(1);
    expect(o.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
    expect(o.spec.revisionHistoryLimit).toBe(10);
    expect(o.spec.progressDeadlineSeconds).toBe(600);
    expect(o.spec.template.spec.restartPolicy).toBe('Always');
    expect(o.spec.template.spec.containers[0].imagePullPolicy).toBe('Always');
  });

  it('never overwrites a value that is set', () => {
    const o = deployment({ replicas: 0, strategy: { type: 'Recreate' } });
    applyDefaults('Deployment', o);
    expect(o.spec.replicas).toBe(0);
    expect(o.spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('pull policy follows the tag', () => {
    expect(defaultPullPolicy('nginx')).toBe('Always');
    expect(defaultPullPolicy('nginx:latest')).toBe('Always');
    expect(defaultPullPolicy('nginx:1.25')).toBe('IfNotPresent');
    expect(defaultPullPolicy('registry:5000/nginx')).toBe('Always');
  });

  it('defaults Jobs, StatefulSets, DaemonSets, CronJobs and Services', () => {
    const job: KubeObject = { metadata: { name: 'j' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x' }] } } } };
    applyDefaults('Job', job);
    expect(job.spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 6, completionMode: 'NonIndexed' });
    const sts: KubeObject = { metadata: { name: 's' }, spec: {} };
    applyDefaults('StatefulSet', sts);
    expect(sts.spec).toMatchObject({ replicas: 1, podManagementPolicy: 'OrderedReady', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } }, revisionHistoryLimit: 10 });
    const ds: KubeObject = { metadata: { name: 'd' }, spec: {} };
    applyDefaults('DaemonSet', ds);
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    const cj: KubeObject = { metadata: { name: 'c' }, spec: { schedule: '* * * * *', jobTemplate: { spec: {} } } };
    applyDefaults('CronJob', cj);
    expect(cj.spec).toMatchObject({ concurrencyPolicy: 'Allow', successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
    const svc: KubeObject = { metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } };
    applyDefaults('Service', svc);
    expect(svc.spec).toMatchObject({ type: 'ClusterIP', sessionAffinity: 'None', ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] });
  });
});

describe('validation', () => {
  function errorsOf(r = deployments, o: KubeObject, old?: KubeObject) {
    const d = prepareCreate(r, o, ctx);
    return validateObject(r, d, old).map((e) => `${e.field}:${e.type}`);
  }

  it('accepts a good Deployment', () => {
    expect(errorsOf(deployments, deployment())).toEqual([]);
  });

  it('reports one cause per bad field', () => {
    const o = deployment({ replicas: -1 });
    o.metadata.name = 'Bad_Name';
    o.spec.template.spec.containers = [{ name: 'c' }];
    expect(errorsOf(deployments, o)).toEqual(['metadata.name:FieldValueInvalid', 'spec.replicas:FieldValueInvalid', 'spec.template.spec.containers[0].image:FieldValueRequired']);
  });

  it('requires the selector to match the template labels', () => {
    const o = deployment();
    o.spec.template.metadata.labels = { app: 'other' };
    expect(errorsOf(deployments, o)).toEqual(['spec.template.metadata.labels:FieldValueInvalid']);
  });

  it('renders Invalid as Kubernetes does', () => {
    const e = errors.invalid('apps', 'Deployment', 'web', [{ type: 'FieldValueInvalid', field: 'spec.replicas', value: -1, detail: 'must be greater than or equal to 0' }]);
    expect(e.status).toMatchObject({
      code: 422,
      reason: 'Invalid',
      message: 'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
      details: { name: 'web', group: 'apps', kind: 'Deployment', causes: [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: 'Invalid value: -1: must be greater than or equal to 0' }] },
    });
  });

  it('checks pods, services and jobs', () => {
    expect(errorsOf(pods, { metadata: { name: 'p' }, spec: {} })).toEqual(['spec.containers:FieldValueRequired']);
    expect(errorsOf(pods, { metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: 'x' }, { name: 'a', image: 'y' }] } })).toEqual(['spec.containers[1].name:FieldValueDuplicate']);
    expect(errorsOf(services, { metadata: { name: '1svc' }, spec: { ports: [{ port: 70000 }] } })).toEqual(['metadata.name:FieldValueInvalid', 'spec.ports[0].port:FieldValueInvalid', 'spec.ports[0].targetPort:FieldValueInvalid']);
    const job: KubeObject = { metadata: { name: 'j' }, spec: { template: { spec: { containers: [{ name: 'c', image: 'x' }] } } } };
    expect(errorsOf(jobs, job)).toEqual(['spec.template.spec.restartPolicy:FieldValueNotSupported']);
  });

  it('keeps immutable fields immutable on update', () => {
    const old = prepareCreate(deployments, deployment(), ctx);
    const next = deployment();
    next.spec.selector = { matchLabels: { app: 'web', x: 'y' } };
    next.spec.template.metadata.labels = { app: 'web', x: 'y' };
    const upd = prepareUpdate(deployments, next, old);
    expect(validateObject(deployments, upd, old).map((e) => e.field)).toEqual(['spec.selector']);
  });
});

describe('strategies', () => {
  it('create sets system metadata and resets status', () => {
    const o = prepareCreate(deployments, { ...deployment(), status: { replicas: 9 }, metadata: { name: 'web', uid: 'client-uid', resourceVersion: '5' } }, ctx);
    expect(o.metadata).toMatchObject({ uid: ctx.uid, generation: 1, creationTimestamp: '2024-01-01T00:00:00Z', namespace: 'default' });
    expect(o.metadata.resourceVersion).toBeUndefined();
    expect(o.status).toEqual({});
  });

  it('an update bumps generation on spec changes only, and keeps status', () => {
    const old = { ...prepareCreate(deployments, deployment(), ctx), status: { replicas: 1 } };
    const same = prepareUpdate(deployments, { ...old, metadata: { ...old.metadata, labels: { a: 'b' } }, status: { replicas: 5 } }, old);
    expect(same.metadata.generation).toBe(1);
    expect(same.status).toEqual({ replicas: 1 });
    const changed = prepareUpdate(deployments, { ...old, spec: { ...old.spec, replicas: 3 } }, old);
    expect(changed.metadata.generation).toBe(2);
    const status = prepareStatusUpdate(deployments, { ...old, spec: { ...old.spec, replicas: 7 }, status: { replicas: 3, observedGeneration: 1 } }, old);
    expect(status.spec.replicas).toBe(old.spec.replicas);
    expect(status.status).toEqual({ replicas: 3, observedGeneration: 1 });
  });

  it('a Job gets a generated selector and template labels', () => {
    const o = prepareCreate(jobs, { metadata: { name: 'j' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x' }] } } } }, ctx);
    expect(o.spec.selector).toEqual({ matchLabels: { 'batch.kubernetes.io/controller-uid': ctx.uid } });
    expect(o.spec.template.metadata.labels['job-name']).toBe('j');
    expect(validateObject(jobs, o)).toEqual([]);
  });

  it('Scale views and updates replicas', () => {
    const o = prepareCreate(deployments, deployment({ replicas: 2 }), ctx);
    const scale = toScale(deployments, o);
    expect(scale).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 2 }, status: { replicas: 0, selector: 'app=web' } });
    expect(fromScale(deployments, { metadata: {}, spec: { replicas: 4 } }, o).spec.replicas).toBe(4);
    expect(() => fromScale(deployments, { metadata: {}, spec: { replicas: -4 } }, o)).toThrow(ApiError);
  });
});

describe('tables', () => {
  it('prints durations as kubectl does', () => {
    expect(humanDuration(5_000)).toBe('5s');
    expect(humanDuration(150_000)).toBe('2m30s');
    expect(humanDuration(3 * 3600_000 + 60_000)).toBe('3h1m');
    expect(humanDuration(50 * 3600_000)).toBe('2d2h');
  });

  it('has the pod and deployment columns of kubectl get', () => {
    const now = Date.UTC(2024, 0, 1, 0, 1);
    const pod = prepareCreate(pods, { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } }, ctx);
    const t = toTable('Pod', [pod], { resourceVersion: '3' }, { nowMs: now }) as { columnDefinitions: { name: string; priority: number }[]; rows: { cells: unknown[]; object: { kind: string } }[] };
    expect(t.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name)).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age']);
    expect(t.rows[0]!.cells.slice(0, 5)).toEqual(['p', '0/1', 'Pending', '0', '60s']);
    expect(t.rows[0]!.object.kind).toBe('PartialObjectMetadata');
    const d = toTable('Deployment', [prepareCreate(deployments, deployment(), ctx)], {}, { nowMs: now }) as { columnDefinitions: { name: string; priority: number }[]; rows: { cells: unknown[] }[] };
    expect(d.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name)).toEqual(['Name', 'Ready', 'Up-to-date', 'Available', 'Age']);
    expect(d.rows[0]!.cells.slice(0, 4)).toEqual(['web', '0/1', 0, 0]);
  });
});

describe('clone', () => {
  it('copies like a JSON round trip, without sharing anything', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.anything({ withNullPrototype: false, withBoxedValues: false, withMap: false, withSet: false, withTypedArray: false, withSparseArray: false }), (json, any) => {
        for (const v of [json, { a: json, b: undefined, c: [undefined, NaN, Infinity, () => 1] }, any]) {
          let expected: unknown;
          try {
            expected = JSON.parse(JSON.stringify(v) ?? 'null');
          } catch {
            continue; // bigints and the like are not JSON
          }
          const copy = clone(v);
          expect(copy === undefined ? null : copy).toEqual(expected);
          if (typeof v === 'object' && v !== null) expect(copy).not.toBe(v);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps an own __proto__ key as data', () => {
    const o = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}');
    const c = clone(o) as Record<string, unknown>;
    expect(Object.getPrototypeOf(c)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(c)).toEqual(['__proto__', 'x']);
    expect(JSON.stringify(c)).toBe(JSON.stringify(o));
  });
});
