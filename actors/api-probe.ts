/**
 * A diagnostic actor that uses the in-cluster API client: tests and the cluster's self-check
 * ask it to run API calls and to report what its watches saw.
 */
import type { Actor } from '../runtime/actor.js';
import { ActorApiClient } from './api-client.js';
import type { WatchEvent } from '../controllers/client.js';
import type { KubeObject } from '../api/types.js';

export type ApiProbeCommand =
  | { cmd: 'call'; method: 'get' | 'list' | 'create' | 'update' | 'patch' | 'delete'; args: unknown[] }
  | { cmd: 'watch'; resource: string; namespace: string; resourceVersion?: string }
  | { cmd: 'seen' };

export default function apiProbe(args: unknown): Actor {
  let client: ActorApiClient;
  const seen: { type: string; name: string; rv: string }[] = [];
  let closes = 0;
  return {
    onStart(ctx) {
      client = new ActorApiClient(ctx, (args ?? {}) as { apiserver?: string });
    },
    onMessage(ctx, _from, msg) {
      if (client.onNotice(msg)) return;
      const m = msg as ApiProbeCommand;
      const r = ctx.replier();
      const answer = (p: Promise<unknown>) =>
        p.then(
          (v) => r?.ok({ ok: true, value: v }),
          (e) => r?.ok({ ok: false, code: e?.code, reason: e?.reason, message: e?.message }),
        );
      if (m.cmd === 'call') {
        const fn = (client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m.method]!;
        return void answer(fn.apply(client, m.args));
      }
      if (m.cmd === 'watch') {
        return void answer(
          client
            .watch(m.resource, m.namespace, m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}, {
              onEvent: (e: WatchEvent) => seen.push({ type: e.type, name: (e.object as KubeObject).metadata?.name ?? '', rv: (e.object as KubeObject).metadata?.resourceVersion ?? '' }),
              onClose: () => {
                closes++;
              },
            })
            .then(() => 'watching'),
        );
      }
      if (m.cmd === 'seen') return r?.ok({ seen, closes });
    },
  };
}
