/**
 * Cluster DNS records (the Kubernetes DNS-based service discovery specification, as CoreDNS's
 * kubernetes plugin answers it), computed from Services and EndpointSlices. Pure: the actor in
 * actors/dns.ts owns the socket and the wire format.
 *
 * - `<svc>.<ns>.svc.<zone>`: A of the cluster IP; for a headless Service, of every ready
 *   endpoint; CNAME to spec.externalName for an ExternalName Service.
 * - `<hostname>.<svc>.<ns>.svc.<zone>`: A of the endpoint with that hostname (a StatefulSet's
 *   `web-0.web.default.svc.cluster.local`); endpoints without one answer as `<a-b-c-d>`.
 * - `_<port>._<proto>.<svc>.<ns>.svc.<zone>`: SRV per named port (to the Service's name, or to
 *   each endpoint's name for a headless Service).
 * - `<a-b-c-d>.<ns>.pod.<zone>`: A of a.b.c.d.
 * A name in the zone that names nothing is NXDOMAIN; a known name without records of the asked
 * type is NODATA; a name outside the zone is REFUSED (no recursion).
 */
import type { KubeObject } from '../api/types.js';
import { readyEndpoints } from './endpoints.js';
import type { Lister } from './informer.js';

export const DNS_TTL = 5;

export type DnsAnswer =
  | { type: 'A'; name: string; ttl: number; data: string }
  | { type: 'CNAME'; name: string; ttl: number; data: string }
  | { type: 'SRV'; name: string; ttl: number; data: { priority: number; weight: number; port: number; target: string } };

export interface DnsResult {
  rcode: 'NOERROR' | 'NXDOMAIN' | 'REFUSED';
  answers: DnsAnswer[];
  /** A records of SRV targets. */
  additionals: DnsAnswer[];
}

interface Endpoint {
  ip: string;
  hostname?: string;
}

const IPV4 = /^(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})$/;

export class ClusterDns {
  readonly zone: string;

  constructor(
    private readonly services: Lister,
    private readonly slices: Lister,
    zone = 'cluster.local',
  ) {
    this.zone = zone.toLowerCase().replace(/\.$/, '');
  }

  resolve(qname: string, qtype: string): DnsResult {
    const name = qname.toLowerCase().replace(/\.$/, '');
    const none = (rcode: DnsResult['rcode']): DnsResult => ({ rcode, answers: [], additionals: [] });
    if (name !== this.zone && !name.endsWith(`.${this.zone}`)) return none('REFUSED');
    const labels = name === this.zone ? [] : name.slice(0, -this.zone.length - 1).split('.');
    const kind = labels[labels.length - 1];
    // The zone, `svc.<zone>`, `<ns>.svc.<zone>`, `pod.<zone>`, `<ns>.pod.<zone>` exist, with no records.
    if (labels.length === 0 || ((kind === 'svc' || kind === 'pod') && labels.length <= 2)) return this.only(qtype, []);
    if (kind === 'pod' && labels.length === 3) {
      const m = IPV4.exec(labels[0]!);
      if (!m || m.slice(1).some((o) => Number(o) > 255)) return none('NXDOMAIN');
      return this.only(qtype, [{ type: 'A', name, ttl: DNS_TTL, data: m.slice(1).join('.') }]);
    }
    if (kind !== 'svc') return none('NXDOMAIN');
    const ns = labels[labels.length - 2]!;
    const svcName = labels[labels.length - 3]!;
    const svc = this.services.get(ns, svcName);
    if (!svc) return none('NXDOMAIN');
    const base = `${svcName}.${ns}.svc.${this.zone}`;
    const headless = svc.spec?.clusterIP === 'None';
    const endpoints = headless ? this.endpoints(ns, svcName) : [];
    const epName = (e: Endpoint) => `${e.hostname ?? e.ip.replace(/\./g, '-')}.${base}`;

    if (labels.length === 3) {
      if (svc.spec?.type === 'ExternalName') return this.only(qtype, [{ type: 'CNAME', name, ttl: DNS_TTL, data: String(svc.spec.externalName ?? '') }], true);
      const ips = headless ? endpoints.map((e) => e.ip) : [String(svc.spec?.clusterIP ?? '')].filter(Boolean);
      return this.only(qtype, ips.map((ip) => ({ type: 'A' as const, name, ttl: DNS_TTL, data: ip })));
    }
    if (labels.length === 4 && headless) {
      const e = endpoints.find((x) => epName(x) === name);
      return e ? this.only(qtype, [{ type: 'A', name, ttl: DNS_TTL, data: e.ip }]) : none('NXDOMAIN');
    }
    if (labels.length === 5 && labels[0]!.startsWith('_') && labels[1]!.startsWith('_')) {
      const portName = labels[0]!.slice(1);
      const proto = labels[1]!.slice(1).toUpperCase();
      const port = (svc.spec?.ports ?? []).find((p: KubeObject['spec']) => p?.name === portName && String(p?.protocol ?? 'TCP').toUpperCase() === proto);
      if (!port) return none('NXDOMAIN');
      if (!headless) {
        const srv: DnsAnswer = { type: 'SRV', name, ttl: DNS_TTL, data: { priority: 0, weight: 100, port: Number(port.port), target: base } };
        const extra: DnsAnswer[] = svc.spec?.clusterIP ? [{ type: 'A', name: base, ttl: DNS_TTL, data: String(svc.spec.clusterIP) }] : [];
        return qtype === 'SRV' || qtype === 'ANY' ? { rcode: 'NOERROR', answers: [srv], additionals: extra } : this.only(qtype, []);
      }
      const weight = endpoints.length ? Math.floor(100 / endpoints.length) : 0;
      const target = Number(port.targetPort ?? port.port);
      const answers: DnsAnswer[] = endpoints.map((e) => ({ type: 'SRV', name, ttl: DNS_TTL, data: { priority: 0, weight, port: Number.isInteger(target) ? target : Number(port.port), target: epName(e) } }));
      const extra: DnsAnswer[] = endpoints.map((e) => ({ type: 'A', name: epName(e), ttl: DNS_TTL, data: e.ip }));
      return qtype === 'SRV' || qtype === 'ANY' ? { rcode: 'NOERROR', answers, additionals: extra } : this.only(qtype, []);
    }
    return none('NXDOMAIN');
  }

  private endpoints(ns: string, svc: string): Endpoint[] {
    return readyEndpoints(this.slices, ns, svc).map((e) => (e.hostname ? { ip: e.ip, hostname: e.hostname } : { ip: e.ip }));
  }

  /** The records of `qtype` among `records` (a CNAME answers every type). */
  private only(qtype: string, records: DnsAnswer[], cname = false): DnsResult {
    const answers = cname || qtype === 'ANY' ? records : records.filter((r) => r.type === qtype);
    return { rcode: 'NOERROR', answers, additionals: [] };
  }
}
