import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { EndpointSliceController, EndpointsController } from '../../controllers/endpoints.js';
import { harness, makeReady, pod, settle, type Harness } from './helpers.js';

function service(name: string, extra: Record<string, any> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', labels: { tier: 'front' } },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }], clusterIP: '10.96.0.10', ...extra },
  };
}

const webSpec = { containers: [{ name: 'app', image: 'nginx', ports: [{ name: 'web', containerPort: 8080, protocol: 'TCP' }] }] };

async function start(objects: KubeObject[]): Promise<Harness> {
  const h = await harness(objects);
  new EndpointsController(h.ctx).start();
  new EndpointSliceController(h.ctx).start();
  await h.sync();
  return h;
}

suite('endpoints', () => {
  it('lists ready pods in addresses and the rest in notReadyAddresses, resolving named ports', async () => {
    const h = await start([
      service('web'),
      pod('a', { labels: { app: 'web' }, ip: '10.0.0.2', node: 'n1', ready: true, phase: 'Running', spec: webSpec }),
      pod('b', { labels: { app: 'web' }, ip: '10.0.0.1', node: 'n2', ready: false, phase: 'Running', spec: webSpec }),
      pod('c', { labels: { app: 'other' }, ip: '10.0.0.3', ready: true, phase: 'Running', spec: webSpec }),
      pod('d', { labels: { app: 'web' }, ready: false, spec: webSpec }),
    ]);
    const ep = h.client.peek('endpoints', 'default', 'web')!;
    expect(ep.metadata.labels).toEqual({ tier: 'front' });
    expect(ep.subsets).toEqual([
      {
        addresses: [{ ip: '10.0.0.2', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: expect.any(String) } }],
        notReadyAddresses: [{ ip: '10.0.0.1', nodeName: 'n2', targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: expect.any(String) } }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ]);
    makeReady(h, 'default', 'b', '10.0.0.1');
    await settle();
    expect(h.client.peek('endpoints', 'default', 'web')!.subsets[0].addresses.map((a: any) => a.ip)).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('drops a pod that is being deleted and deletes the Endpoints with the Service', async () => {
    const h = await start([service('web'), pod('a', { labels: { app: 'web' }, ip: '10.0.0.2', ready: true, phase: 'Running', spec: webSpec })]);
    h.client.mutate('pods', 'default', 'a', (p) => (p.metadata.deletionTimestamp = '2024-01-01T00:00:00Z'));
    await settle();
    expect(h.client.peek('endpoints', 'default', 'web')!.subsets).toEqual([]);
    await h.client.delete('services', 'default', 'web');
    await settle();
    expect(h.client.peek('endpoints', 'default', 'web')).toBeUndefined();
  });

  it('writes nothing when nothing changed', async () => {
    const h = await start([service('web'), pod('a', { labels: { app: 'web' }, ip: '10.0.0.2', ready: true, phase: 'Running', spec: webSpec })]);
    h.client.clearActions();
    h.informers.informer('services').resync();
    await settle();
    expect(h.writes()).toEqual([]);
  });

  it('EndpointSlices carry conditions, the service-name label and an owner reference', async () => {
    const h = await start([
      service('web'),
      pod('a', { labels: { app: 'web' }, ip: '10.0.0.2', node: 'n1', ready: true, phase: 'Running', spec: webSpec }),
      pod('b', { labels: { app: 'web' }, ip: '10.0.0.1', ready: false, phase: 'Running', spec: webSpec }),
    ]);
    const slices = h.client.objects('endpointslices');
    expect(slices).toHaveLength(1);
    const s = slices[0]!;
    expect(s.metadata.name).toMatch(/^web-\w{5}$/);
    expect(s.metadata.labels).toEqual({ tier: 'front', 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' });
    expect(s.metadata.ownerReferences![0]).toMatchObject({ kind: 'Service', name: 'web', controller: true });
    expect(s.addressType).toBe('IPv4');
    expect(s.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(s.endpoints.map((e: any) => [e.addresses[0], e.conditions])).toEqual([
      ['10.0.0.1', { ready: false, serving: false, terminating: false }],
      ['10.0.0.2', { ready: true, serving: true, terminating: false }],
    ]);
  });

  it('splits more than 100 endpoints over several slices', async () => {
    const pods = Array.from({ length: 150 }, (_, i) => pod(`p${i}`, { labels: { app: 'web' }, ip: `10.1.${Math.floor(i / 250)}.${i % 250}`, ready: true, phase: 'Running', spec: webSpec }));
    const h = await start([service('web'), ...pods]);
    const sizes = h.client.objects('endpointslices').map((s) => s.endpoints.length).sort((a, b) => a - b);
    expect(sizes).toEqual([50, 100]);
  });
});
