/**
 * The service proxy for NodePort Services (kube-proxy's part that a machine outside the cluster
 * sees): each node port of a NodePort or LoadBalancer Service is a real HTTP listener on the host
 * (`127.0.0.1:<nodePort>` by default), and each request goes to one of the Service's ready
 * endpoints in turn, answered by that pod's kubelet (`{op: 'http'}`), so `curl` reaches the
 * simulated servers and a CPU burner behind a Service takes the load an HPA scales on.
 * No endpoints: 503, as a proxy with an empty backend answers.
 */
import { createServer, type Server } from 'node:http';
import type { Actor, ActorContext } from '../runtime/actor.js';
import type { KubeObject } from '../api/types.js';
import { readyEndpoints } from '../controllers/endpoints.js';
import { InformerFactory, type Lister } from '../controllers/informer.js';
import { ActorApiClient } from './api-client.js';
import { kubeletId, type HttpValue, type KubeletReply } from './kubelet-messages.js';

export interface ProxyArgs {
  apiserver?: string;
  host?: string;
}

interface Listener {
  server: Server;
  namespace: string;
  service: string;
  /** The Service port's name ('' when unnamed), to find the endpoint port in the slices. */
  portName: string;
  next: number;
  failed?: string;
}

interface Backend {
  ip: string;
  pod: string;
  node: string;
  port: number;
}

const KUBELET_TIMEOUT_MS = 5_000;

/** Ready endpoints of a Service port that name their pod and node, in address order. */
export function backends(slices: Lister, namespace: string, service: string, portName: string): Backend[] {
  const out: Backend[] = [];
  for (const e of readyEndpoints(slices, namespace, service)) {
    const port = e.ports.get(portName);
    if (port !== undefined && e.pod && e.nodeName) out.push({ ip: e.ip, pod: e.pod, node: e.nodeName, port });
  }
  return out;
}

/** The node ports a Service asks for: `port name → nodePort`. */
function nodePorts(svc: KubeObject): { name: string; nodePort: number }[] {
  if (svc.spec?.type !== 'NodePort' && svc.spec?.type !== 'LoadBalancer') return [];
  return (svc.spec?.ports ?? [])
    .filter((p: { nodePort?: number; protocol?: string }) => typeof p?.nodePort === 'number' && (p.protocol ?? 'TCP') === 'TCP')
    .map((p: { name?: string; nodePort: number }) => ({ name: p.name ?? '', nodePort: p.nodePort }));
}

export default function serviceProxy(rawArgs: unknown): Actor {
  const args = (rawArgs ?? {}) as ProxyArgs;
  let ctx: ActorContext;
  let client: ActorApiClient;
  let informers: InformerFactory;
  let services: Lister;
  let slices: Lister;
  const listeners = new Map<number, Listener>();
  let requests = 0;

  function sync(): void {
    const wanted = new Map<number, { namespace: string; service: string; portName: string }>();
    for (const svc of services.list('')) {
      for (const p of nodePorts(svc)) wanted.set(p.nodePort, { namespace: svc.metadata.namespace ?? '', service: svc.metadata.name!, portName: p.name });
    }
    for (const [port, l] of [...listeners]) {
      const w = wanted.get(port);
      if (w && w.namespace === l.namespace && w.service === l.service) {
        l.portName = w.portName;
        continue;
      }
      l.server.close();
      listeners.delete(port);
    }
    for (const [port, w] of wanted) if (!listeners.has(port)) listen(port, w);
  }

  function listen(port: number, w: { namespace: string; service: string; portName: string }): void {
    const server = createServer((req, res) => {
      requests++;
      const l = listeners.get(port);
      const pool = l ? backends(slices, l.namespace, l.service, l.portName) : [];
      if (!l || pool.length === 0) {
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end(`no endpoints available for service "${w.namespace}/${w.service}"\n`);
        return;
      }
      const b = pool[l.next++ % pool.length]!;
      req.resume();
      ctx
        .ask<KubeletReply<HttpValue>>(kubeletId(b.node), { op: 'http', namespace: l.namespace, pod: b.pod, port: b.port, method: req.method ?? 'GET', path: req.url ?? '/' }, { timeoutMs: KUBELET_TIMEOUT_MS })
        .then(
          (r) => {
            if (!r.ok) res.writeHead(502, { 'Content-Type': 'text/plain' }).end(`${r.status.message ?? 'the pod did not answer'}\n`);
            else res.writeHead(r.value.status, { 'Content-Type': r.value.body.startsWith('<!DOCTYPE html>') ? 'text/html' : 'text/plain' }).end(r.value.body);
          },
          (err) => res.writeHead(502, { 'Content-Type': 'text/plain' }).end(`the kubelet of node ${b.node} did not answer: ${(err as Error)?.message ?? String(err)}\n`),
        );
    });
    const l: Listener = { server, namespace: w.namespace, service: w.service, portName: w.portName, next: 0 };
    listeners.set(port, l);
    server.on('error', (err) => {
      l.failed = String((err as Error).message ?? err);
      ctx.log.warn({ port, service: `${w.namespace}/${w.service}`, err: l.failed }, 'node port could not be opened');
    });
    server.listen(port, args.host ?? '127.0.0.1');
  }

  return {
    async onStart(c: ActorContext) {
      ctx = c;
      client = new ActorApiClient(ctx, { apiserver: args.apiserver ?? 'apiserver' });
      informers = new InformerFactory({ client, clock: ctx, timers: ctx });
      const svcInf = informers.informer('services');
      services = svcInf.lister;
      slices = informers.lister('endpointslices');
      const later = () => ctx.afterTurn(sync);
      svcInf.addEventHandler({ add: later, update: later, delete: later });
      informers.start();
    },
    onMessage(_c, _from, msg) {
      client.onNotice(msg);
    },
    onStop() {
      informers?.stop();
      for (const l of listeners.values()) l.server.close();
      listeners.clear();
    },
    status() {
      return {
        requests,
        nodePorts: [...listeners].map(([port, l]) => ({ port, service: `${l.namespace}/${l.service}`, ...(l.failed ? { failed: l.failed } : {}) })),
      };
    },
  };
}
