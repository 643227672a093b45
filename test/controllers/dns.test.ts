import * as dnsPacket from 'dns-packet';
import { describe as suite, expect, it } from 'vitest';
import { answer } from '../../actors/dns.js';
import type { KubeObject } from '../../api/types.js';
import { ClusterDns } from '../../controllers/dns.js';
import { harness } from './helpers.js';

const service = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec });

function slice(svc: string, endpoints: { ip: string; hostname?: string; ready?: boolean }[]): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-abc`, namespace: 'shop', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true }, ...(e.hostname ? { hostname: e.hostname } : {}) })),
    ports: [{ name: 'db', port: 5432, protocol: 'TCP' }],
  } as KubeObject;
}

async function dns(): Promise<ClusterDns> {
  const h = await harness([
    service('api', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] }),
    service('db', { clusterIP: 'None', ports: [{ name: 'db', port: 5432, protocol: 'TCP' }] }),
    service('ext', { type: 'ExternalName', externalName: 'db.example.com' }),
    slice('db', [{ ip: '10.244.1.7', hostname: 'db-1' }, { ip: '10.244.2.3', hostname: 'db-0' }, { ip: '10.244.3.9', ready: false, hostname: 'db-2' }]),
  ]);
  const d = new ClusterDns(h.informers.lister('services'), h.informers.lister('endpointslices'));
  await h.sync();
  return d;
}

const data = (r: { answers: { data: unknown }[] }) => r.answers.map((a) => a.data);

suite('cluster DNS records', () => {
  it('answers a Service with its cluster IP, a headless one with its ready endpoints', async () => {
    const d = await dns();
    expect(d.resolve('api.shop.svc.cluster.local', 'A')).toMatchObject({ rcode: 'NOERROR', answers: [{ type: 'A', name: 'api.shop.svc.cluster.local', ttl: 5, data: '10.96.0.20' }] });
    expect(data(d.resolve('db.shop.svc.cluster.local.', 'A'))).toEqual(['10.244.1.7', '10.244.2.3']);
    expect(data(d.resolve('DB-0.db.shop.svc.cluster.local', 'A'))).toEqual(['10.244.2.3']);
    expect(d.resolve('db-2.db.shop.svc.cluster.local', 'A').rcode).toBe('NXDOMAIN'); // not ready
    expect(d.resolve('ext.shop.svc.cluster.local', 'A').answers).toEqual([{ type: 'CNAME', name: 'ext.shop.svc.cluster.local', ttl: 5, data: 'db.example.com' }]);
  });

  it('answers SRV for named ports, to the Service or to each endpoint', async () => {
    const d = await dns();
    const api = d.resolve('_http._tcp.api.shop.svc.cluster.local', 'SRV');
    expect(api.answers).toEqual([{ type: 'SRV', name: '_http._tcp.api.shop.svc.cluster.local', ttl: 5, data: { priority: 0, weight: 100, port: 80, target: 'api.shop.svc.cluster.local' } }]);
    expect(api.additionals).toEqual([{ type: 'A', name: 'api.shop.svc.cluster.local', ttl: 5, data: '10.96.0.20' }]);
    const db = d.resolve('_db._tcp.db.shop.svc.cluster.local', 'SRV');
    expect(db.answers.map((a) => (a.data as { target: string }).target)).toEqual(['db-1.db.shop.svc.cluster.local', 'db-0.db.shop.svc.cluster.local']);
    expect(d.resolve('_nope._tcp.api.shop.svc.cluster.local', 'SRV').rcode).toBe('NXDOMAIN');
    expect(d.resolve('_http._udp.api.shop.svc.cluster.local', 'SRV').rcode).toBe('NXDOMAIN');
  });

  it('knows pod names, empty stems, unknown names and names outside the zone', async () => {
    const d = await dns();
    expect(data(d.resolve('10-244-9-1.shop.pod.cluster.local', 'A'))).toEqual(['10.244.9.1']);
    expect(d.resolve('10-244-9-300.shop.pod.cluster.local', 'A').rcode).toBe('NXDOMAIN');
    expect(d.resolve('shop.svc.cluster.local', 'A')).toEqual({ rcode: 'NOERROR', answers: [], additionals: [] });
    expect(d.resolve('cluster.local', 'A').rcode).toBe('NOERROR');
    expect(d.resolve('api.shop.svc.cluster.local', 'AAAA')).toEqual({ rcode: 'NOERROR', answers: [], additionals: [] });
    expect(d.resolve('nope.shop.svc.cluster.local', 'A').rcode).toBe('NXDOMAIN');
    expect(d.resolve('api.other.svc.cluster.local', 'A').rcode).toBe('NXDOMAIN');
    expect(d.resolve('example.com', 'A').rcode).toBe('REFUSED');
  });

  it('speaks the wire format: ids, flags, rcodes; garbage gets no answer', async () => {
    const d = await dns();
    // The decoder also reports rcode and the flag bits, which its types leave out.
    const ask = (name: string, type: string) =>
      dnsPacket.decode(answer(d, dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name }] }))!) as dnsPacket.DecodedPacket & { rcode: string };
    const ok = ask('db.shop.svc.cluster.local', 'A');
    expect(ok).toMatchObject({ id: 4242, type: 'response', rcode: 'NOERROR', flag_aa: true, flag_rd: true, flag_ra: false });
    expect(ok.answers!.map((a) => (a as { data: string }).data)).toEqual(['10.244.1.7', '10.244.2.3']);
    expect(ask('nope.shop.svc.cluster.local', 'A').rcode).toBe('NXDOMAIN');
    expect(ask('example.com', 'A').rcode).toBe('REFUSED');
    const srv = ask('_db._tcp.db.shop.svc.cluster.local', 'SRV');
    expect(srv.answers!).toHaveLength(2);
    expect(srv.additionals!).toHaveLength(2);
    expect(answer(d, Buffer.from('not a dns packet'))).toBeNull();
  });
});
