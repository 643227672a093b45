/**
 * Starting a replicated store on a host: the cluster file in the data directory (cluster id
 * and members, so a restart reuses them), the peer specs, and waiting for a leader.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ActorSpec } from '../runtime/actor.js';
import type { Host } from '../runtime/host.js';
import type { PeerArgs } from '../actors/etcd-peer.js';
import { StoreClient } from '../raft/client.js';
import type { PeerStatus } from '../raft/protocol.js';

export interface ClusterFile {
  clusterId: string;
  peers: string[];
  createdAt: string;
}

/** Reads or creates `<dataDir>/cluster.json`. A different --peers on an existing directory is refused. */
export function loadClusterFile(dataDir: string, peerCount: number | undefined): ClusterFile {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'cluster.json');
  if (existsSync(path)) {
    let file: ClusterFile;
    try {
      file = JSON.parse(readFileSync(path, 'utf8')) as ClusterFile;
    } catch (err) {
      throw new Error(`${path} is not valid JSON (${(err as Error).message}); move the data directory aside to start a new cluster`);
    }
    if (!file.clusterId || !Array.isArray(file.peers) || file.peers.length === 0) {
      throw new Error(`${path} lacks clusterId or peers; move the data directory aside to start a new cluster`);
    }
    if (peerCount !== undefined && peerCount !== file.peers.length) {
      throw new Error(`${dir} holds a ${file.peers.length}-peer cluster; --peers ${peerCount} does not match (use another --data-dir for a new cluster)`);
    }
    return file;
  }
  const n = peerCount ?? 3;
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`--peers must be an integer from 1 to 9, got ${peerCount}`);
  const file: ClusterFile = {
    clusterId: randomUUID(),
    peers: Array.from({ length: n }, (_, i) => `etcd-${i + 1}`),
    createdAt: new Date().toISOString(),
  };
  writeFileSync(path, JSON.stringify(file, null, 2) + '\n');
  return file;
}

export function peerSpecs(clusterId: string, peers: string[], extra: Partial<PeerArgs> = {}): ActorSpec[] {
  return peers.map((id) => ({
    id,
    role: 'etcd',
    module: 'actors/etcd-peer.js',
    args: { clusterId, peers, ...extra } satisfies PeerArgs,
  }));
}

export interface StoreSupervision {
  maxRestarts?: number;
  periodMs?: number;
  backoff?: { initialMs?: number; maxMs?: number; jitter?: number };
}

/**
 * Supervises each peer on its own, as separate etcd members are separate processes: a peer
 * that cannot start (a corrupted or foreign data directory) exhausts only its own restart
 * intensity and never takes its healthy peers down with it.
 */
export function superviseStore(host: Host, specs: ActorSpec[], options: StoreSupervision = {}): void {
  for (const spec of specs) {
    host.supervise({
      id: `store/${spec.id}`,
      strategy: 'one_for_one',
      maxRestarts: options.maxRestarts ?? 10,
      periodMs: options.periodMs ?? 10_000,
      backoff: { initialMs: 10, maxMs: 2_000, jitter: 0.2, ...options.backoff },
      children: [spec],
    });
  }
}

export function hostClient(host: Host, peers: string[], clientId: string): StoreClient {
  return new StoreClient({
    ask: (to, msg, o) => host.ask(to, msg, o),
    peers,
    clientId,
    now: () => host.now(),
    sleep: (ms) => host.sleep(ms),
  });
}

/** Statuses of every peer; a peer that does not answer shows as down. */
export async function peerStatuses(host: Host, peers: string[]): Promise<(PeerStatus | { id: string; role: 'down'; reason: string })[]> {
  return Promise.all(
    peers.map(async (id) => {
      try {
        return (await host.ask(id, { op: 'status' }, { timeoutMs: 1_000 })) as PeerStatus;
      } catch (err) {
        return { id, role: 'down' as const, reason: (err as Error).message };
      }
    }),
  );
}

/** Waits until one peer is leader and a write commits through it. */
export async function waitForLeader(host: Host, peers: string[], timeoutMs: number): Promise<string> {
  const deadline = host.now() + timeoutMs;
  while (host.now() < deadline) {
    const statuses = await peerStatuses(host, peers);
    const leader = statuses.find((s) => s.role === 'leader');
    if (leader) return leader.id;
    await host.sleep(50);
  }
  throw new Error(`no leader elected within ${timeoutMs} ms`);
}
