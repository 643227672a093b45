/**
 * The API server actor: an HTTPS server on its worker thread speaking the Kubernetes REST API,
 * with every object in the Raft-replicated store.
 *
 * On start it loads (or makes) its CA, serving certificate and bearer token under
 * `<dataDir>/pki`, listens on 127.0.0.1, writes a kubeconfig, lists the registry into its watch
 * cache and holds one store watch on it. That watch lives on one store peer: progress notices
 * arrive about once a second, and a watch silent for `watchSilenceMs` (its peer crashed, or
 * was partitioned) is re-created from the last revision the cache holds, on whichever peer
 * leads. A watch cancelled for compaction rebuilds the cache from a fresh list.
 *
 * Messages it takes: `{op: 'info'}` (answered once the cache is ready) and the store's
 * WatchNotices.
 */
import { createMessageApi, type K8sRequest } from './apiserver-messages.js';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Actor, ActorContext, ActorSpec } from '../runtime/actor.js';
import { StoreClient, StoreError } from '../raft/client.js';
import { prefixEnd } from '../raft/mvcc/commands.js';
import type { WatchNotice } from '../raft/protocol.js';
import { WatchCache } from './apiserver-cache.js';
import { ApiCore } from './apiserver-core.js';
import { bearerMatches, createHandler, type HttpLimits } from './apiserver-http.js';
import { createUpgradeHandler } from './apiserver-exec.js';
import { ensurePki, writeKubeconfig } from './apiserver-pki.js';
import { KubeletGateway } from './kubelet-gateway.js';
import { ObjectStorage, REGISTRY_PREFIX } from './apiserver-storage.js';

export interface ApiServerArgs {
  /** Store peers (actor ids). */
  peers: string[];
  /** Directory for pki/ and the kubeconfig. */
  dataDir: string;
  /** TCP port (default 6443; 0 = any free port). */
  port?: number;
  host?: string;
  /** Where to write the kubeconfig (default `<dataDir>/kubeconfig`). */
  kubeconfigPath?: string;
  /** Concurrent writes to the store (one store client each, since the store deduplicates by client). Default 128: a commit takes milliseconds (two fsyncs and a round trip), so fewer writers cap the create rate. */
  writers?: number;
  /** Re-create the store watch after this long without a notice. Default 5,000 ms. */
  watchSilenceMs?: number;
  /** Compact the store's history every this often, to the revision of the previous round. Default 5 min; 0 = never. */
  compactEveryMs?: number;
  /** Events the watch cache keeps for resuming watches. Default 20,000. */
  historyEvents?: number;
  limits?: Partial<HttpLimits>;
}

export interface ApiServerInfo {
  url: string;
  port: number;
  kubeconfig: string;
  ready: boolean;
  /** Restarts of the API server actor; in-cluster watchers re-establish their watches when it changes. */
  incarnation: number;
}

export const DEFAULT_API_PORT = 6443;

/** The spec of the API server actor. */
export function apiserverSpec(args: ApiServerArgs, id = 'apiserver'): ActorSpec {
  return { id, role: 'apiserver', module: 'actors/apiserver.js', args };
}

const NAMESPACE_REAP_MS = 1_000;
const HEALTH_CHECK_MS = 1_000;
const FRESH_WAIT_MS = 3_000;
const LIST_PAGE = 1_000;

export default function apiserver(rawArgs: unknown): Actor {
  const args = rawArgs as ApiServerArgs;
  let ctx: ActorContext;
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let port = 0;
  let kubeconfigPath = '';
  let reader: StoreClient;
  let storage: ObjectStorage;
  const cache = new WatchCache(args.historyEvents ? { historyEvents: args.historyEvents } : {});
  let core: ApiCore;
  let ready = false;
  let stopped = false;
  const readyWaiters: (() => void)[] = [];
  /** The store watch feeding the cache. */
  let storeWatch: { id: number; peer: string } | null = null;
  let watchGeneration = 0;
  let watchStarting = false;
  /** Notices that arrived before the reply that named their watch. */
  let early: { from: string; notice: WatchNotice }[] = [];
  let lastNoticeAt = 0;
  let initializing = false;
  let compactCandidate = 0;
  let reaping = false;

  const info = (): ApiServerInfo => ({ url: `https://127.0.0.1:${port}`, port, kubeconfig: kubeconfigPath, ready, incarnation: ctx.incarnation });

  function client(id: string): StoreClient {
    return new StoreClient({
      ask: (to, msg, o) => ctx.ask(to, msg, o),
      peers: args.peers,
      clientId: id,
      now: () => ctx.now(),
      sleep: (ms) => new Promise<void>((resolve) => ctx.setTimer(ms, () => resolve())),
    });
  }

  /** Lists the whole registry into the cache, then watches from the next revision. */
  async function initCache(): Promise<void> {
    if (initializing || stopped) return;
    initializing = true;
    try {
      const items: { key: string; obj: import('../api/types.js').KubeObject }[] = [];
      let revision = 0;
      let startKey: string | undefined;
      for (;;) {
        const page = await storage.list(REGISTRY_PREFIX, { ...(revision ? { revision } : {}), ...(startKey ? { startKey } : {}), limit: LIST_PAGE });
        revision = page.revision;
        for (const it of page.items) items.push({ key: it.key, obj: it.obj });
        if (!page.nextKey) break;
        startKey = page.nextKey;
      }
      cache.reset(items, revision);
      ctx.log.info({ objects: items.length, revision }, 'watch cache loaded');
      await startStoreWatch(revision + 1);
      if (!ready) {
        await core.ensureSystemNamespaces();
        // Never in the way of readiness: a cluster without it still works.
        await core.ensureKubernetesService('127.0.0.1', port).catch((err) => ctx.log.warn({ err: (err as Error)?.message ?? String(err) }, 'could not write the kubernetes Service'));
        ready = true;
        for (const w of readyWaiters.splice(0)) w();
      }
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message }, 'watch cache load failed; retrying');
      ctx.setTimer(500, () => void initCache());
    } finally {
      initializing = false;
    }
  }

  async function startStoreWatch(from: number): Promise<void> {
    const generation = ++watchGeneration;
    const old = storeWatch;
    storeWatch = null;
    watchStarting = true;
    early = [];
    if (old) ctx.ask(old.peer, { op: 'cancelWatch', watchId: old.id }, { timeoutMs: 1_000 }).catch(() => {});
    try {
      const w = await reader.watch(ctx.self, { key: REGISTRY_PREFIX, rangeEnd: prefixEnd(REGISTRY_PREFIX), startRevision: from, prevKv: true, progressNotify: true });
      if (generation !== watchGeneration || stopped) {
        ctx.ask(w.peer, { op: 'cancelWatch', watchId: w.watchId }, { timeoutMs: 1_000 }).catch(() => {});
        return;
      }
      storeWatch = { id: w.watchId, peer: w.peer };
      lastNoticeAt = ctx.now();
      const buffered = early;
      early = [];
      for (const e of buffered) onNotice(e.from, e.notice);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'Compacted') {
        ctx.log.warn({ from }, 'store history compacted past the cache; relisting');
        ctx.setTimer(0, () => void initCache());
        return;
      }
      throw err;
    } finally {
      if (generation === watchGeneration) watchStarting = false;
    }
  }

  function onNotice(from: string, n: WatchNotice): void {
    if (!storeWatch) {
      if (watchStarting && early.length < 10_000) early.push({ from, notice: n });
      return;
    }
    if (from !== storeWatch.peer || n.watchId !== storeWatch.id) return;
    lastNoticeAt = ctx.now();
    if (n.canceled) {
      let code = '';
      try {
        code = (JSON.parse(n.canceled) as { code?: string }).code ?? '';
      } catch {
        /* reason not JSON */
      }
      storeWatch = null;
      ctx.log.warn({ reason: n.canceled }, 'store watch cancelled');
      if (code === 'Compacted') void initCache();
      else restartWatch();
      return;
    }
    cache.apply(n.events, n.revision);
  }

  function restartWatch(): void {
    if (stopped || initializing) return;
    startStoreWatch(cache.revision + 1).catch((err) => ctx.log.warn({ err: (err as Error).message }, 're-creating the store watch failed; will retry'));
  }

  function healthCheck(): void {
    if (stopped) return;
    if (ready && !initializing && !watchStarting && ctx.now() - lastNoticeAt > (args.watchSilenceMs ?? 5_000)) {
      ctx.log.warn({ peer: storeWatch?.peer, silentMs: Math.round(ctx.now() - lastNoticeAt) }, 'store watch silent; re-creating it');
      lastNoticeAt = ctx.now();
      restartWatch();
    }
    ctx.setTimer(HEALTH_CHECK_MS, healthCheck);
  }

  function reapLoop(): void {
    if (stopped) return;
    if (ready && !reaping) {
      reaping = true;
      core
        .reapNamespaces()
        .catch((err) => ctx.log.warn({ err: (err as Error).message }, 'namespace cleanup failed'))
        .finally(() => {
          reaping = false;
        });
    }
    ctx.setTimer(NAMESPACE_REAP_MS, reapLoop);
  }

  function compactLoop(): void {
    const every = args.compactEveryMs ?? 5 * 60 * 1000;
    if (stopped || every <= 0) return;
    if (ready && compactCandidate > 0) {
      const rev = compactCandidate;
      storage.compact(rev).catch(() => {});
    }
    compactCandidate = cache.revision;
    ctx.setTimer(every, compactLoop);
  }

  /** Resolves once the cache holds the store's current revision, or after FRESH_WAIT_MS. */
  async function waitFresh(): Promise<void> {
    const target = await storage.revision();
    const deadline = ctx.now() + FRESH_WAIT_MS;
    while (cache.revision < target && ctx.now() < deadline && !stopped) {
      await new Promise<void>((resolve) => ctx.setTimer(10, () => resolve()));
    }
  }

  /** Logs and metrics from the kubelets (kubelet-gateway.ts). */
  let kubelets: KubeletGateway;

  const messages = createMessageApi({
    core: () => core,
    cache,
    send: (to, msg) => ctx.send(to, msg),
    ready: () => ready,
    incarnation: () => ctx.incarnation,
  });

  return {
    async onStart(c) {
      ctx = c;
      const pki = ensurePki(join(args.dataDir, 'pki'));
      const tag = `${ctx.self}-${ctx.incarnation}-${Math.floor(ctx.random() * 2 ** 32).toString(36)}`;
      reader = client(`${tag}-r`);
      const writers = Array.from({ length: args.writers ?? 128 }, (_, i) => client(`${tag}-w${i}`));
      storage = new ObjectStorage(reader, writers);
      core = new ApiCore({ storage, cache, wallNow: () => ctx.now(), random: () => ctx.random() });
      kubelets = new KubeletGateway({
        ask: (to, msg, timeoutMs) => ctx.ask(to, msg, { timeoutMs }),
        send: (to, msg) => ctx.send(to, msg),
        setTimer: (ms, fn) => ctx.setTimer(ms, fn),
        cancelTimer: (id) => ctx.cancelTimer(id),
        now: () => ctx.now(),
      });
      const handler = createHandler({
        core,
        kubelets,
        cache,
        token: pki.token,
        serverAddress: () => `127.0.0.1:${port}`,
        wallNow: () => ctx.now(),
        ready: () => ready,
        waitFresh,
        setTimer: (ms, fn) => ctx.setTimer(ms, fn),
        cancelTimer: (id) => ctx.cancelTimer(id),
        log: ctx.log,
        ...(args.limits ? { limits: args.limits } : {}),
      });
      server = createServer({ key: pki.serverKey, cert: pki.serverCert }, handler);
      server.on('upgrade', createUpgradeHandler({ core, kubelets, authorized: (h) => bearerMatches(h, pki.token), log: ctx.log }));
      server.on('connection', (s: Socket) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.on('clientError', (_err, socket) => socket.destroy());
      server.keepAliveTimeout = 65_000;
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(args.port ?? DEFAULT_API_PORT, args.host ?? '127.0.0.1', () => {
          server!.off('error', reject);
          resolve();
        });
      });
      port = (server.address() as { port: number }).port;
      kubeconfigPath = args.kubeconfigPath ?? join(args.dataDir, 'kubeconfig');
      writeKubeconfig(kubeconfigPath, `https://127.0.0.1:${port}`, pki.caCert, pki.token);
      ctx.log.info({ port, kubeconfig: kubeconfigPath }, 'API server listening');
      void initCache();
      ctx.setTimer(HEALTH_CHECK_MS, healthCheck);
      ctx.setTimer(NAMESPACE_REAP_MS, reapLoop);
      ctx.setTimer(args.compactEveryMs ?? 5 * 60 * 1000, compactLoop);
    },

    onMessage(_c, from, msg) {
      const m = msg as { t?: string; op?: string };
      if (m.t === 'watch') return onNotice(from, msg as WatchNotice);
      if (kubelets?.handleNotice(from, msg)) return;
      if (m.op === 'k8s') {
        const r = ctx.replier();
        messages.handle(from, msg as K8sRequest, (reply) => r?.ok(reply));
        return;
      }
      if (m.op === 'info') {
        const r = ctx.replier();
        if (!r) return;
        if (ready) return r.ok(info());
        readyWaiters.push(() => r.ok(info()));
        return;
      }
      ctx.replyError(new Error(`apiserver: unknown message ${JSON.stringify(m.op ?? m.t)}`));
    },

    async onStop() {
      stopped = true;
      if (storeWatch) ctx.ask(storeWatch.peer, { op: 'cancelWatch', watchId: storeWatch.id }, { timeoutMs: 500 }).catch(() => {});
      const s = server;
      server = undefined;
      if (s) {
        for (const sock of sockets) sock.destroy();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
    },

    status() {
      return {
        port,
        ready,
        revision: cache.revision,
        oldestRevision: cache.oldestRev,
        objects: cache.objectCount,
        watchers: cache.watcherCount,
        storeWatchPeer: storeWatch?.peer ?? null,
      };
    },
  };
}
