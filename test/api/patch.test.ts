import { describe, expect, it } from 'vitest';
import { applyJsonPatch, mergePatch, patchTypeOf, strategicMergePatch } from '../../api/patch.js';
import { ApiError } from '../../api/types.js';

const pod = {
  metadata: { name: 'p', labels: { a: '1', b: '2' }, finalizers: ['x'] },
  spec: {
    containers: [
      { name: 'web', image: 'nginx:1', ports: [{ containerPort: 80, protocol: 'TCP' }], env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] },
      { name: 'side', image: 'busybox' },
    ],
    tolerations: [{ key: 'k', operator: 'Exists' }],
  },
};

describe('JSON merge patch', () => {
  it('merges maps, deletes with null, replaces lists', () => {
    const out = mergePatch(pod, { metadata: { labels: { a: null, c: '3' } }, spec: { tolerations: [] } }) as typeof pod;
    expect(out.metadata.labels).toEqual({ b: '2', c: '3' });
    expect(out.spec.tolerations).toEqual([]);
    expect(out.spec.containers).toHaveLength(2);
    expect(pod.metadata.labels).toEqual({ a: '1', b: '2' }); // input untouched
  });
});

describe('JSON patch', () => {
  it('applies operations and rejects a failed test with 422', () => {
    const out = applyJsonPatch(pod, [{ op: 'replace', path: '/spec/containers/0/image', value: 'nginx:2' }]) as typeof pod;
    expect(out.spec.containers[0]!.image).toBe('nginx:2');
    try {
      applyJsonPatch(pod, [{ op: 'test', path: '/metadata/name', value: 'q' }]);
      expect.unreachable();
    } catch (e) {
      expect((e as ApiError).code).toBe(422);
    }
    expect(() => applyJsonPatch(pod, { op: 'add' })).toThrow(ApiError);
  });
});

describe('strategic merge patch', () => {
  it('merges containers by name and env by name', () => {
    const out = strategicMergePatch(pod, { spec: { containers: [{ name: 'web', image: 'nginx:2', env: [{ name: 'B', value: 'two' }, { name: 'C', value: '3' }] }] } }) as typeof pod;
    expect(out.spec.containers.map((c) => c.name)).toEqual(['web', 'side']);
    expect(out.spec.containers[0]!.image).toBe('nginx:2');
    expect(out.spec.containers[0]!.env).toEqual([{ name: 'A', value: '1' }, { name: 'B', value: 'two' }, { name: 'C', value: '3' }]);
    expect(out.spec.containers[0]!.ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
  });

  it('merges container ports by containerPort and service ports by port', () => {
    const out = strategicMergePatch(pod, { spec: { containers: [{ name: 'web', ports: [{ containerPort: 443 }] }] } }) as typeof pod;
    expect(out.spec.containers[0]!.ports!.map((p) => p.containerPort)).toEqual([80, 443]);
    const svc = { spec: { ports: [{ port: 80, targetPort: 8080 }] } };
    const s = strategicMergePatch(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }, { port: 81 }] } }) as typeof svc;
    expect(s.spec.ports).toEqual([{ port: 80, targetPort: 9090 }, { port: 81 }]);
  });

  it('honours $patch delete, $patch replace, $setElementOrder, $retainKeys and $deleteFromPrimitiveList', () => {
    const del = strategicMergePatch(pod, { spec: { containers: [{ name: 'side', $patch: 'delete' }] } }) as typeof pod;
    expect(del.spec.containers.map((c) => c.name)).toEqual(['web']);
    const rep = strategicMergePatch(pod, { spec: { containers: [{ name: 'only', image: 'x' }, { $patch: 'replace' }] } }) as typeof pod;
    expect(rep.spec.containers).toEqual([{ name: 'only', image: 'x' }]);
    const order = strategicMergePatch(pod, { spec: { '$setElementOrder/containers': [{ name: 'side' }, { name: 'web' }], containers: [{ name: 'web', image: 'n' }] } }) as typeof pod;
    expect(order.spec.containers.map((c) => c.name)).toEqual(['side', 'web']);
    const strat = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } };
    const retained = strategicMergePatch(strat, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }) as any;
    expect(retained.spec.strategy).toEqual({ type: 'Recreate' });
    const fin = strategicMergePatch(pod, { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } }) as typeof pod;
    expect(fin.metadata.finalizers).toEqual([]);
    const more = strategicMergePatch(pod, { metadata: { finalizers: ['y', 'x'] } }) as typeof pod;
    expect(more.metadata.finalizers).toEqual(['x', 'y']);
  });

  it('replaces lists without a merge key, and deletes with null', () => {
    const out = strategicMergePatch(pod, { spec: { tolerations: [{ key: 'z', operator: 'Exists' }] }, metadata: { labels: { a: null } } }) as typeof pod;
    expect(out.spec.tolerations).toEqual([{ key: 'z', operator: 'Exists' }]);
    expect(out.metadata.labels).toEqual({ b: '2' });
  });

  it('rejects list items without their merge key', () => {
    expect(() => strategicMergePatch(pod, { spec: { containers: [{ image: 'x' }] } })).toThrow(/merge key: name/);
  });

  it('knows the patch content types', () => {
    expect(patchTypeOf('application/strategic-merge-patch+json')).toBe('strategic');
    expect(patchTypeOf('application/merge-patch+json; charset=utf-8')).toBe('merge');
    expect(patchTypeOf('application/json-patch+json')).toBe('json');
    expect(patchTypeOf('application/apply-patch+yaml')).toBe('apply');
    expect(patchTypeOf('application/json')).toBeNull();
  });
});
