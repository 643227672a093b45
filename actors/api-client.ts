/**
 * The in-cluster API client: `ApiClient` (what controllers, the scheduler and kubelets use)
 * over actor messages to the API server actor. Errors arrive as Kubernetes Status objects and
 * are thrown as ApiError; an API server that is down or slow becomes 503 / 504, which the
 * controllers' workqueues retry.
 *
 * Watches are pushed to the owning actor as `K8sWatchNotice` messages: the owner passes every
 * such message to `onNotice`. While watches are open the client checks the API server every
 * few seconds; if it restarted (or cannot be reached) every watch is closed with an error, and
 * informers relist.
 */
import type { ActorContext } from '../runtime/actor.js';
import { ApiError, errors, type JsonObject, type KubeList, type KubeObject } from '../api/types.js';
import type {
  ApiClient,
  DeleteOptions,
  GetOptions,
  ListOptions,
  PatchOptions,
  WatchHandle,
  WatchHandler,
  WatchOptions,
} from '../controllers/client.js';
import type { K8sReply, K8sRequest, K8sWatchNotice } from './apiserver-messages.js';

export interface ActorApiClientOptions {
  /** The API server actor's id (default "apiserver"). */
  apiserver?: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** How often open watches check that the API server is the same incarnation (default 3 s). */
  livenessEveryMs?: number;
}

export class ActorApiClient implements ApiClient {
  private readonly apiserver: string;
  private readonly timeoutMs: number;
  private readonly livenessEveryMs: number;
  private nextWatchId = 1;
  private readonly watches = new Map<number, WatchHandler>();
  private livenessTimer: number | null = null;
  private serverIncarnation: number | null = null;

  constructor(
    private readonly ctx: ActorContext,
    options: ActorApiClientOptions = {},
  ) {
    this.apiserver = options.apiserver ?? 'apiserver';
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.livenessEveryMs = options.livenessEveryMs ?? 3_000;
  }

  private async call<T>(req: K8sRequest): Promise<T> {
    let reply: K8sReply;
    try {
      reply = await this.ctx.ask<K8sReply>(this.apiserver, req, { timeoutMs: this.timeoutMs });
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'AskTimeoutError') throw new ApiError({ ...errors.unavailable('the API server did not answer in time').status, code: 504, reason: 'Timeout' });
      throw errors.unavailable(`the API server is unavailable: ${(err as Error).message}`);
    }
    if (!reply.ok) throw new ApiError(reply.status);
    return reply.value as T;
  }

  get(resource: string, namespace: string, name: string, options: GetOptions = {}): Promise<KubeObject> {
    return this.call({ op: 'k8s', verb: 'get', resource, namespace, name, ...(options.subresource ? { subresource: options.subresource } : {}) });
  }

  list(resource: string, namespace: string, options: ListOptions = {}): Promise<KubeList> {
    return this.call({ op: 'k8s', verb: 'list', resource, namespace, options });
  }

  create(resource: string, namespace: string, obj: KubeObject): Promise<KubeObject> {
    return this.call({ op: 'k8s', verb: 'create', resource, namespace, body: obj });
  }

  update(resource: string, namespace: string, obj: KubeObject): Promise<KubeObject> {
    return this.call({ op: 'k8s', verb: 'update', resource, namespace, body: obj });
  }

  updateStatus(resource: string, namespace: string, obj: KubeObject): Promise<KubeObject> {
    return this.call({ op: 'k8s', verb: 'updateStatus', resource, namespace, body: obj });
  }

  patch(resource: string, namespace: string, name: string, patch: JsonObject, options: PatchOptions = {}): Promise<KubeObject> {
    return this.call({ op: 'k8s', verb: 'patch', resource, namespace, name, patch, ...(options.subresource ? { subresource: options.subresource } : {}) });
  }

  async delete(resource: string, namespace: string, name: string, options: DeleteOptions = {}): Promise<void> {
    await this.call({ op: 'k8s', verb: 'delete', resource, namespace, name, options });
  }

  async bind(namespace: string, podName: string, nodeName: string, podUid?: string): Promise<void> {
    await this.call({ op: 'k8s', verb: 'bind', namespace, name: podName, node: nodeName, ...(podUid ? { uid: podUid } : {}) });
  }

  createEvent(event: KubeObject): Promise<KubeObject> {
    return this.create('events', event.metadata.namespace ?? 'default', event);
  }

  async watch(resource: string, namespace: string, options: WatchOptions, handler: WatchHandler): Promise<WatchHandle> {
    const watchId = this.nextWatchId++;
    this.watches.set(watchId, handler);
    try {
      const { allowWatchBookmarks: _b, timeoutSeconds: _t, ...rest } = options;
      const r = await this.call<{ incarnation: number }>({ op: 'k8s', verb: 'watch', resource, namespace, watchId, options: { ...rest, sendInitialEvents: false } });
      this.serverIncarnation ??= r.incarnation;
    } catch (err) {
      this.watches.delete(watchId);
      throw err;
    }
    this.startLiveness();
    return {
      stop: () => {
        if (!this.watches.delete(watchId)) return;
        this.call({ op: 'k8s', verb: 'unwatch', watchId }).catch(() => {});
      },
    };
  }

  /** The owning actor hands every `k8sWatch` message here. Returns false for other messages. */
  onNotice(msg: unknown): boolean {
    const n = msg as K8sWatchNotice;
    if (!n || n.t !== 'k8sWatch') return false;
    const handler = this.watches.get(n.watchId);
    if (!handler) return true;
    for (const e of n.events) handler.onEvent(e as Parameters<WatchHandler['onEvent']>[0]);
    if (n.closed !== undefined && this.watches.delete(n.watchId)) handler.onClose();
    return true;
  }

  /** Closes every open watch with an error (the owner is stopping, or the server went away). */
  closeAll(reason: string): void {
    const handlers = [...this.watches.values()];
    this.watches.clear();
    for (const h of handlers) h.onClose(errors.unavailable(reason));
  }

  private startLiveness(): void {
    if (this.livenessTimer !== null) return;
    const check = async () => {
      this.livenessTimer = null;
      if (this.watches.size === 0) return;
      try {
        const info = await this.ctx.ask<{ incarnation?: number }>(this.apiserver, { op: 'info' }, { timeoutMs: this.timeoutMs });
        const inc = info.incarnation ?? 0;
        if (this.serverIncarnation !== null && inc !== this.serverIncarnation) this.closeAll('the API server restarted');
        this.serverIncarnation = inc;
      } catch (err) {
        this.closeAll(`the API server is unavailable: ${(err as Error).message}`);
      }
      if (this.watches.size > 0) this.livenessTimer = this.ctx.setTimer(this.livenessEveryMs, () => void check());
    };
    this.livenessTimer = this.ctx.setTimer(this.livenessEveryMs, () => void check());
  }
}
