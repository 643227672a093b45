/**
 * The cluster DNS server: answers the records of controllers/dns.ts over UDP (dns-packet for the
 * wire format), from informers on Services and EndpointSlices through the in-cluster API.
 * `dig @127.0.0.1 -p PORT web-0.web.default.svc.cluster.local` finds a StatefulSet pod.
 * `{op: 'info'}` answers the address it listens on.
 */
import { createSocket, type Socket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import type { Actor, ActorContext } from '../runtime/actor.js';
import { InformerFactory } from '../controllers/informer.js';
import { ClusterDns, type DnsAnswer } from '../controllers/dns.js';
import { ActorApiClient } from './api-client.js';

export interface DnsArgs {
  apiserver?: string;
  /** UDP port (0: any free port). */
  port?: number;
  host?: string;
  zone?: string;
}

export interface DnsInfo {
  address: string;
  port: number;
  zone: string;
}

const RCODES = { NOERROR: 0, NXDOMAIN: 3, REFUSED: 5 } as const;

/** Answers one query packet; null when it is not a query worth answering. */
export function answer(dns: ClusterDns, query: Buffer): Buffer | null {
  let q: dnsPacket.Packet;
  try {
    q = dnsPacket.decode(query);
  } catch {
    return null; // garbage: no answer, as a server that cannot parse a header does
  }
  if (q.type !== 'query') return null;
  const question = q.questions?.[0];
  const reply = (rcode: number, answers: DnsAnswer[] = [], additionals: DnsAnswer[] = []): Buffer =>
    dnsPacket.encode({
      id: q.id ?? 0,
      type: 'response',
      // QR, AA, RD echoed; RA off (no recursion); RCODE in the low bits.
      flags: dnsPacket.AUTHORITATIVE_ANSWER | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | rcode,
      questions: q.questions ?? [],
      answers: answers.map(toRecord),
      additionals: additionals.map(toRecord),
    });
  if (!question || (q.questions?.length ?? 0) !== 1) return reply(1); // FORMERR
  const r = dns.resolve(question.name, question.type);
  return reply(RCODES[r.rcode], r.answers, r.additionals);
}

function toRecord(a: DnsAnswer): dnsPacket.Answer {
  return { type: a.type, name: a.name, ttl: a.ttl, class: 'IN', data: a.data } as dnsPacket.Answer;
}

export default function dnsServer(rawArgs: unknown): Actor {
  const args = (rawArgs ?? {}) as DnsArgs;
  let client: ActorApiClient;
  let informers: InformerFactory;
  let socket: Socket | undefined;
  let info: DnsInfo | undefined;
  let queries = 0;
  return {
    async onStart(ctx: ActorContext) {
      client = new ActorApiClient(ctx, { apiserver: args.apiserver ?? 'apiserver' });
      informers = new InformerFactory({ client, clock: ctx, timers: ctx });
      const dns = new ClusterDns(informers.lister('services'), informers.lister('endpointslices'), args.zone);
      informers.start();
      const s = createSocket('udp4');
      socket = s;
      s.on('message', (msg, rinfo) => {
        queries++;
        const out = answer(dns, msg);
        if (out) s.send(out, rinfo.port, rinfo.address);
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(args.port ?? 0, args.host ?? '127.0.0.1', () => {
          s.off('error', reject);
          resolve();
        });
      });
      s.on('error', (err) => ctx.log.warn({ err: String(err) }, 'DNS socket error'));
      const a = s.address();
      info = { address: a.address, port: a.port, zone: dns.zone };
      ctx.log.info(info, 'cluster DNS listening');
    },
    onMessage(ctx, _from, msg) {
      if ((msg as { op?: string })?.op === 'info') return ctx.reply(info ?? null);
      client.onNotice(msg);
    },
    onStop() {
      informers?.stop();
      socket?.close();
    },
    status() {
      return { ...(info ?? {}), queries };
    },
  };
}
