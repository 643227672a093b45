/**
 * The API server's side of the kubelets (what the apiserver → kubelet connection does in
 * Kubernetes): `GET pods/{name}/log` is proxied to the kubelet of the pod's node, the actor
 * `kubelet-<nodeName>`, with follow streamed back as LogsNotice messages; and the
 * metrics.k8s.io/v1beta1 API (`kubectl top pods|nodes`) is served by asking the kubelets of the
 * nodes concerned (metrics-server's job, done in place).
 *
 * Also here: `KubeletMetricsSource`, the HPA controller's MetricsSource over the same asks.
 */
import { lookupResource } from '../api/registry.js';
import { matchesLabels, type LabelSelector } from '../api/selectors.js';
import { ApiError, errors, type KubeList, type KubeObject } from '../api/types.js';
import type { Lister } from '../controllers/informer.js';
import { parseTime } from '../controllers/time.js';
import type { ListOptions } from './apiserver-core.js';
import { kubeletId, LOG_HEARTBEAT_MS, type ExecRequest, type ExecValue, type KubeletReply, type LogsNotice, type LogsRequest, type LogsValue, type MetricsRequest, type MetricsValue, type NodeMetrics, type PodMetrics } from './kubelet-messages.js';

export const METRICS_GROUP = 'metrics.k8s.io';
export const METRICS_VERSION = 'v1beta1';
const METRICS_GV = `${METRICS_GROUP}/${METRICS_VERSION}`;

/** How long one kubelet ask may take. */
const KUBELET_TIMEOUT_MS = 5_000;
/** A followed log stream silent this long (no heartbeat either) is closed. */
const STREAM_SILENCE_MS = 3 * LOG_HEARTBEAT_MS;
/** Open followed log streams at most. */
const MAX_STREAMS = 1_000;
/** Kubelets asked at once when gathering metrics. */
const METRICS_CONCURRENCY = 64;
/** Text a stream buffers before its reader attaches. */
const MAX_BUFFER_BYTES = 1024 * 1024;

export interface KubeletGatewayDeps {
  ask(to: string, msg: unknown, timeoutMs: number): Promise<unknown>;
  send(to: string, msg: unknown): void;
  setTimer(ms: number, fn: () => void): number;
  cancelTimer(id: number): void;
  now(): number;
}

/** What the gateway reads from the API server's store. */
export interface GatewayCore {
  list(r: NonNullable<ReturnType<typeof lookupResource>>, namespace: string | undefined, options: ListOptions): Promise<KubeList>;
}

export interface LogStream {
  /** Text as it arrives (whole lines). */
  onData(fn: (text: string) => void): void;
  /** The stream ended (container exited, kubelet gone or silent). */
  onEnd(fn: () => void): void;
  /** The reader went away. */
  stop(): void;
}

interface StreamState {
  kubelet: string;
  lastHeardMs: number;
  buffer: string;
  data: ((text: string) => void) | null;
  end: (() => void) | null;
  ended: boolean;
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw errors.badRequest(`invalid ${name}: ${JSON.stringify(v)}`);
  return Number(v);
}

function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v === 'true' || v === '1';
}

async function mapLimited<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class KubeletGateway {
  private readonly streams = new Map<string, StreamState>();
  private nextStream = 1;
  private checkTimer: number | undefined;

  constructor(private readonly deps: KubeletGatewayDeps) {}

  /** Takes LogsNotice messages from kubelets; false for anything else. */
  handleNotice(from: string, msg: unknown): boolean {
    const n = msg as LogsNotice;
    if (!n || n.t !== 'kubeletLogs') return false;
    const s = this.streams.get(n.stream);
    if (!s || s.kubelet !== from || s.ended) return true;
    s.lastHeardMs = this.deps.now();
    if (n.text) {
      if (s.data) s.data(n.text);
      else if (s.buffer.length < MAX_BUFFER_BYTES) s.buffer += n.text;
    }
    if (n.done) this.finish(n.stream, false);
    return true;
  }

  private finish(id: string, tellKubelet: boolean): void {
    const s = this.streams.get(id);
    if (!s || s.ended) return;
    s.ended = true;
    this.streams.delete(id);
    if (tellKubelet) {
      try {
        this.deps.send(s.kubelet, { op: 'logsStop', stream: id });
      } catch {
        /* the kubelet is gone */
      }
    }
    s.end?.();
  }

  private watchSilence(): void {
    if (this.checkTimer !== undefined || this.streams.size === 0) return;
    this.checkTimer = this.deps.setTimer(LOG_HEARTBEAT_MS, () => {
      this.checkTimer = undefined;
      const now = this.deps.now();
      for (const [id, s] of [...this.streams]) if (now - s.lastHeardMs > STREAM_SILENCE_MS) this.finish(id, true);
      this.watchSilence();
    });
  }

  private async askKubelet<T>(node: string, msg: unknown): Promise<T> {
    let reply: KubeletReply<T>;
    try {
      reply = (await this.deps.ask(kubeletId(node), msg, KUBELET_TIMEOUT_MS)) as KubeletReply<T>;
    } catch (err) {
      throw errors.internal(`the kubelet of node "${node}" did not answer: ${(err as Error)?.message ?? String(err)}`);
    }
    if (!reply || typeof reply !== 'object' || !('ok' in reply)) throw errors.internal(`the kubelet of node "${node}" sent a malformed answer`);
    if (!reply.ok) throw new ApiError(reply.status);
    return reply.value;
  }

  /** Runs `command` in a container of a pod (`kubectl exec`, no stdin or terminal). */
  async exec(pod: KubeObject, container: string | undefined, command: string[]): Promise<ExecValue> {
    const name = pod.metadata.name ?? '';
    const node = pod.spec?.nodeName;
    if (!node) throw errors.badRequest(`pod ${name} does not have a host assigned`);
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') throw errors.badRequest(`cannot exec into a container in a completed pod; current phase is ${phase}`);
    const req: ExecRequest = { op: 'exec', namespace: pod.metadata.namespace ?? 'default', pod: name, command };
    if (container) req.container = container;
    return this.askKubelet<ExecValue>(node, req);
  }

  /**
   * A pod's log, as `GET pods/{name}/log?container=&follow=&tailLines=&previous=&timestamps=
   * &sinceSeconds=&limitBytes=` answers it: the text so far and, with follow, a stream of what
   * comes next.
   */
  async logs(pod: KubeObject, q: URLSearchParams): Promise<{ text: string; stream?: LogStream }> {
    const name = pod.metadata.name ?? '';
    const node = pod.spec?.nodeName;
    if (!node) throw errors.badRequest(`pod ${name} does not have a host assigned`);
    const req: LogsRequest = { op: 'logs', namespace: pod.metadata.namespace ?? 'default', pod: name };
    const container = q.get('container');
    if (container) req.container = container;
    const tail = intParam(q, 'tailLines');
    if (tail !== undefined) req.tailLines = tail;
    const since = intParam(q, 'sinceSeconds');
    if (since !== undefined) req.sinceSeconds = since;
    const limit = intParam(q, 'limitBytes');
    if (limit !== undefined) req.limitBytes = limit;
    if (boolParam(q, 'previous')) req.previous = true;
    if (boolParam(q, 'timestamps')) req.timestamps = true;
    const follow = boolParam(q, 'follow') && !req.previous;
    let id: string | undefined;
    if (follow) {
      if (this.streams.size >= MAX_STREAMS) throw errors.tooManyRequests('too many followed log streams');
      id = `${this.nextStream++}`;
      req.follow = true;
      req.stream = id;
      // Registered before asking: lines may arrive right behind the answer.
      this.streams.set(id, { kubelet: kubeletId(node), lastHeardMs: this.deps.now(), buffer: '', data: null, end: null, ended: false });
    }
    let value: LogsValue;
    try {
      value = await this.askKubelet<LogsValue>(node, req);
    } catch (err) {
      if (id) this.streams.delete(id);
      throw err;
    }
    if (!id) return { text: value.text };
    const s = this.streams.get(id);
    if (!value.following || !s) {
      if (s) this.streams.delete(id);
      return { text: value.text };
    }
    this.watchSilence();
    const streamId = id;
    return {
      text: value.text,
      stream: {
        onData: (fn) => {
          s.data = fn;
          if (s.buffer) {
            const b = s.buffer;
            s.buffer = '';
            fn(b);
          }
        },
        onEnd: (fn) => {
          if (s.ended) fn();
          else s.end = fn;
        },
        stop: () => this.finish(streamId, true),
      },
    };
  }

  /** Open followed streams (status pages, tests). */
  get streamCount(): number {
    return this.streams.size;
  }

  // ---- metrics.k8s.io ----------------------------------------------------------------------

  /** `/apis` with the metrics group added. */
  static withMetricsGroup<T extends { groups: unknown[] }>(list: T): T {
    return { ...list, groups: [...list.groups, KubeletGateway.groupDoc()] };
  }

  static groupDoc() {
    const v = { groupVersion: METRICS_GV, version: METRICS_VERSION };
    return { kind: 'APIGroup', apiVersion: 'v1', name: METRICS_GROUP, versions: [v], preferredVersion: v };
  }

  static resourceListDoc() {
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: METRICS_GV,
      resources: [
        { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
        { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
      ],
    };
  }

  /** Whether a path belongs to the metrics API. */
  static isMetricsPath(segs: string[]): boolean {
    return segs[0] === 'apis' && segs[1] === METRICS_GROUP;
  }

  /** Answers a GET under `/apis/metrics.k8s.io`. */
  async serveMetrics(segs: string[], q: URLSearchParams, core: GatewayCore): Promise<unknown> {
    if (segs.length === 2) return KubeletGateway.groupDoc();
    if (segs[2] !== METRICS_VERSION) throw errors.notFoundPath();
    const rest = segs.slice(3);
    if (rest.length === 0) return KubeletGateway.resourceListDoc();
    const opts: ListOptions = {};
    const ls = q.get('labelSelector');
    const fs = q.get('fieldSelector');
    if (ls) opts.labelSelector = ls;
    if (fs) opts.fieldSelector = fs;
    if (rest[0] === 'nodes' && rest.length <= 2) {
      if (rest[1] !== undefined) opts.fieldSelector = `metadata.name=${rest[1]}`;
      const items = await this.nodeMetrics(core, opts);
      if (rest[1] !== undefined) {
        if (!items[0]) throw errors.notFound(METRICS_GROUP, 'nodemetrics', rest[1]);
        return items[0];
      }
      return { kind: 'NodeMetricsList', apiVersion: METRICS_GV, metadata: {}, items };
    }
    let namespace: string | undefined;
    let tail = rest;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      tail = rest.slice(2);
    }
    if (tail[0] === 'pods' && tail.length <= 2) {
      const name = tail[1];
      if (name !== undefined) {
        if (namespace === undefined) throw errors.notFoundPath();
        opts.fieldSelector = `metadata.name=${name}`;
      }
      const items = await this.podMetrics(core, namespace, opts);
      if (name !== undefined) {
        if (!items[0]) throw errors.notFound(METRICS_GROUP, 'podmetrics', `${namespace}/${name}`);
        return items[0];
      }
      return { kind: 'PodMetricsList', apiVersion: METRICS_GV, metadata: {}, items };
    }
    throw errors.notFoundPath();
  }

  private async nodeMetrics(core: GatewayCore, opts: ListOptions): Promise<NodeMetrics[]> {
    const nodes = (await core.list(lookupResource('', 'v1', 'nodes')!, undefined, opts)).items;
    const got = await mapLimited(nodes, METRICS_CONCURRENCY, async (n) => {
      try {
        return (await this.askKubelet<MetricsValue>(n.metadata.name!, { op: 'metrics', nodeOnly: true } satisfies MetricsRequest)).node;
      } catch {
        return null; // metrics-server leaves out nodes it cannot scrape
      }
    });
    return got.filter((m): m is NodeMetrics => m !== null);
  }

  private async podMetrics(core: GatewayCore, namespace: string | undefined, opts: ListOptions): Promise<PodMetrics[]> {
    const pods = (await core.list(lookupResource('', 'v1', 'pods')!, namespace, opts)).items;
    return gatherPodMetrics(pods, namespace, (node, msg) => this.askKubelet<MetricsValue>(node, msg));
  }
}

/** Asks the kubelets of the pods' nodes for their metrics; pods without metrics are left out. */
async function gatherPodMetrics(pods: KubeObject[], namespace: string | undefined, ask: (node: string, msg: MetricsRequest) => Promise<MetricsValue>): Promise<PodMetrics[]> {
  const byNode = new Map<string, KubeObject[]>();
  for (const p of pods) {
    const node = p.spec?.nodeName;
    if (!node || p.status?.phase !== 'Running') continue;
    let list = byNode.get(node);
    if (!list) byNode.set(node, (list = []));
    list.push(p);
  }
  const wanted = new Set(pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
  const answers = await mapLimited([...byNode], METRICS_CONCURRENCY, async ([node, list]) => {
    const req: MetricsRequest = { op: 'metrics' };
    if (namespace) {
      req.namespace = namespace;
      req.pods = list.map((p) => p.metadata.name!);
    }
    try {
      return (await ask(node, req)).pods;
    } catch {
      return [];
    }
  });
  const out = answers.flat().filter((m) => wanted.has(`${m.metadata.namespace}/${m.metadata.name}`));
  out.sort((a, b) => (a.metadata.namespace + '/' + a.metadata.name < b.metadata.namespace + '/' + b.metadata.name ? -1 : 1));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The HPA's metrics source

/** `123n` / `5m` / `2` cpu and `1234Ki` memory quantities in base units. */
function parseUsage(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(n|u|m|Ki|Mi|Gi|k|M|G)?$/.exec(q);
  if (!m) return 0;
  const scale: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] ? scale[m[2]]! : 1);
}

/** A Go duration (`10s`, `10.5s`, `1m0s`) in ms. */
function parseDurationMs(s: string): number {
  let ms = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms)/g)) ms += Number(m[1]) * { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }[m[2] as 'h' | 'm' | 's' | 'ms'];
  return ms;
}

/** The PodMetric shape controllers/hpa.ts reads (milli-units). */
export interface KubeletPodMetric {
  value: number;
  timestampMs: number;
  windowMs: number;
}

/**
 * Resource metrics for the HPA controller, gathered from the kubelets (structurally the
 * `MetricsSource` of controllers/hpa.ts): pods from the controller's pod lister, usage from the
 * kubelets of their nodes.
 */
export class KubeletMetricsSource {
  constructor(
    private readonly ask: (to: string, msg: unknown, timeoutMs: number) => Promise<unknown>,
    private readonly pods: Lister,
  ) {}

  async podResourceMetrics(namespace: string, selector: LabelSelector, resource: string, container?: string): Promise<Map<string, KubeletPodMetric>> {
    const pods = this.pods.list(namespace).filter((p) => matchesLabels(selector, p.metadata.labels));
    const metrics = await gatherPodMetrics(pods, namespace, async (node, msg) => {
      const r = (await this.ask(kubeletId(node), msg, KUBELET_TIMEOUT_MS)) as KubeletReply<MetricsValue>;
      if (!r.ok) throw new ApiError(r.status);
      return r.value;
    });
    const out = new Map<string, KubeletPodMetric>();
    for (const m of metrics) {
      let sum = 0;
      let found = false;
      for (const c of m.containers) {
        if (container && c.name !== container) continue;
        found = true;
        const q = resource === 'cpu' ? c.usage.cpu : resource === 'memory' ? c.usage.memory : undefined;
        if (q !== undefined) sum += parseUsage(q);
      }
      if (!found) continue;
      out.set(m.metadata.name, { value: Math.round(sum * 1000), timestampMs: parseTime(m.timestamp) ?? 0, windowMs: parseDurationMs(m.window) });
    }
    return out;
  }
}
