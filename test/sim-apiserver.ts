// A stand-in API server actor for SimHost tests: it serves the in-cluster message protocol
// (actors/apiserver-messages.ts) from a FakeClient, so kubelets, the controller manager and the
// scheduler run in one thread on virtual time without the store and the real API server.
import { applyDefaults } from '../api/defaults.js';
import { clone, errors, isApiError, type KubeObject } from '../api/types.js';
import type { FakeClient, WatchHandle } from '../controllers/client.js';
import type { K8sRequest } from '../actors/apiserver-messages.js';
import type { Actor } from '../runtime/actor.js';

export interface FakeApiserverOptions {
  /**
   * Fill unset fields on create as the real API server's defaulting does (api/defaults.ts):
   * pod specs' restartPolicy and schedulerName, Deployment strategies, Job completions, … Off
   * by default, so objects are stored exactly as sent.
   */
  defaults?: boolean;
}

/** The API server's message protocol over a FakeClient. */
export function fakeApiserver(client: FakeClient, options: FakeApiserverOptions = {}): () => Actor {
  return () => {
    const watches = new Map<string, WatchHandle>();
    return {
      onMessage(ctx, from, msg) {
        const m = msg as K8sRequest | { op: 'info' };
        if (m.op === 'info') return ctx.reply({ incarnation: 0 });
        const r = ctx.replier()!;
        const run = async (): Promise<unknown> => {
          switch (m.verb) {
            case 'get':
              return client.get(m.resource, m.namespace, m.name, m.subresource ? { subresource: m.subresource } : {});
            case 'list':
              return client.list(m.resource, m.namespace, m.options ?? {});
            case 'create': {
              let body = m.body;
              if (options.defaults && body?.kind) {
                body = clone(body) as KubeObject;
                applyDefaults(body.kind!, body);
              }
              return client.create(m.resource, m.namespace, body);
            }
            case 'update':
              return client.update(m.resource, m.namespace, m.body);
            case 'updateStatus':
              return client.updateStatus(m.resource, m.namespace, m.body);
            case 'patch':
              return client.patch(m.resource, m.namespace, m.name, m.patch as never, m.subresource ? { subresource: m.subresource } : {});
            case 'delete':
              return client.delete(m.resource, m.namespace, m.name, m.options ?? {});
            case 'bind':
              // POST pods/<name>/binding, as the scheduler sends it.
              return client.bind(m.namespace, m.name, m.node, m.uid);
            case 'watch': {
              const h = await client.watch(m.resource, m.namespace, m.options ?? {}, {
                onEvent: (e) => ctx.send(from, { t: 'k8sWatch', watchId: m.watchId, events: [e] }),
                onClose: () => ctx.send(from, { t: 'k8sWatch', watchId: m.watchId, events: [], closed: 'closed' }),
              });
              watches.set(`${from}/${m.watchId}`, h);
              return { incarnation: 0 };
            }
            case 'unwatch': {
              const key = `${from}/${m.watchId}`;
              watches.get(key)?.stop();
              watches.delete(key);
              return {};
            }
            default:
              throw errors.badRequest('unsupported');
          }
        };
        run().then(
          (value) => r.ok({ ok: true, value: value ?? {} }),
          (err) => r.ok({ ok: false, status: isApiError(err) ? err.status : errors.internal(String((err as Error)?.message ?? err)).status }),
        );
      },
    };
  };
}
