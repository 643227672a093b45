import { mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ThreadHost } from '../../runtime/thread-host.js';
import type { SupervisorEvent } from '../../runtime/supervisor.js';
import { LmdbStore } from '../../runtime/store.js';
import type { PeerArgs } from '../../actors/etcd-peer.js';
import { hostClient, peerSpecs, peerStatuses, superviseStore, waitForLeader } from '../../cli/store-cluster.js';

const peers = ['etcd-1', 'etcd-2', 'etcd-3'];
const dirs: string[] = [];
const hosts: ThreadHost[] = [];

function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'actorkube-peer-'));
  dirs.push(d);
  return d;
}

function startStore(dataDir: string, clusterId = 'c1', maxRestarts = 10, extra: Partial<PeerArgs> = {}): ThreadHost {
  const host = new ThreadHost({ dataDir, logLevel: 'silent' });
  hosts.push(host);
  superviseStore(host, peerSpecs(clusterId, peers, extra), { maxRestarts, periodMs: 60_000, backoff: { initialMs: 5, maxMs: 50 } });
  return host;
}

afterEach(async () => {
  for (const h of hosts.splice(0)) await h.shutdown();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const text = (v: Uint8Array | undefined) => Buffer.from(v ?? []).toString();

describe('store peers on real threads with lmdb', () => {
  it('keeps every acknowledged write across a crash of the leader and a full restart of every peer', async () => {
    const dir = newDir();
    let host = startStore(dir);
    const leader = await waitForLeader(host, peers, 15_000);
    const client = hostClient(host, peers, 'w1');
    for (let i = 0; i < 50; i++) await client.put(`/k/${i}`, `v${i}`);
    host.crash(leader, { restart: 'manual' });
    // Writes go on with two peers; the crashed one comes back from its directory alone.
    for (let i = 50; i < 80; i++) await client.put(`/k/${i}`, `v${i}`);
    host.restart(leader);
    await host.shutdown();

    host = startStore(dir);
    await waitForLeader(host, peers, 15_000);
    const again = hostClient(host, peers, 'r1');
    const all = (await again.prefix('/k/')) as { kvs: { key: string; value: Uint8Array }[] };
    expect(all.kvs).toHaveLength(80);
    for (let i = 0; i < 80; i++) expect(text((await again.get(`/k/${i}`))?.value)).toBe(`v${i}`);
    // The restarted peer caught up: every peer applied the same index.
    await new Promise((r) => setTimeout(r, 300));
    const st = await peerStatuses(host, peers);
    expect(new Set(st.map((s) => ('applied' in s ? s.applied : -1))).size).toBe(1);
  });

  it('refuses a data directory whose raft log was corrupted, naming the file', async () => {
    const dir = newDir();
    let host = startStore(dir);
    await waitForLeader(host, peers, 15_000);
    const client = hostClient(host, peers, 'w1');
    for (let i = 0; i < 5; i++) await client.put(`/c/${i}`, 'x');
    await host.shutdown();

    // Flip a byte in the payload of etcd-2's second-to-last entry record, found by the framing
    // ([u32 length][u32 crc32][payload], payload byte 0 = 1 for an entry). The records end
    // where the zeros the segment was extended with begin (a length of 0).
    const walDir = join(dir, 'etcd-2', 'raft', 'wal');
    const file = join(walDir, readdirSync(walDir).filter((n) => n.endsWith('.wal')).sort().at(-1)!);
    const buf = readFileSync(file);
    const entryEnds: number[] = [];
    for (let at = 0; at + 8 <= buf.length && buf.readUInt32LE(at) > 0; ) {
      const end = at + 8 + buf.readUInt32LE(at);
      if (buf[at + 8] === 1) entryEnds.push(end);
      at = end;
    }
    expect(entryEnds.length).toBeGreaterThan(1);
    const flipAt = entryEnds.at(-2)! - 1; // its data, or the entry type of a no-op
    buf[flipAt] = buf[flipAt]! ^ 0xff;
    writeFileSync(file, buf);

    host = startStore(dir, 'c1', 1);
    const events: SupervisorEvent[] = [];
    host.onEvent((e) => events.push(e));
    await waitForLeader(host, peers, 15_000);
    await expect.poll(() => events.some((e) => e.type === 'crashed' && e.actor === 'etcd-2'), { timeout: 10_000 }).toBe(true);
    const crash = events.find((e) => e.type === 'crashed' && e.actor === 'etcd-2') as { reason: string };
    expect(crash.reason).toMatch(/corrupted raft log entry \d+ in .*etcd-2\/raft\/wal\/[0-9a-f]{16}\.wal/);
    // The other two still serve every write.
    expect(text((await hostClient(host, peers, 'r').get('/c/4'))?.value)).toBe('x');
  });

  it('refuses a directory whose key-value state is behind the start of its compacted log', async () => {
    const dir = newDir();
    const compacting = { snapshotEveryEntries: 20, keepEntries: 5 };
    let host = startStore(dir, 'c1', 10, compacting);
    await waitForLeader(host, peers, 15_000);
    const client = hostClient(host, peers, 'w1');
    for (let i = 0; i < 60; i++) await client.put(`/m/${i % 6}`, `v${i}`);
    // Compaction waits for the state machine's fdatasync, then drops the log's head.
    await expect.poll(async () => ((await peerStatuses(host, ['etcd-2']))[0] as { compactedAt?: number }).compactedAt ?? 0, { timeout: 10_000 }).toBeGreaterThan(0);
    await host.shutdown();

    // What a machine crash can do to a state machine whose writes skip fsync: lose its latest.
    const mvcc = LmdbStore.open(join(dir, 'etcd-2', 'mvcc'), { sync: true });
    const meta = mvcc.table('meta');
    const state = meta.get('state') as { appliedIndex: number };
    mvcc.write(() => meta.put('state', { ...state, appliedIndex: 3 }));
    await mvcc.close();

    host = startStore(dir, 'c1', 1, compacting);
    const events: SupervisorEvent[] = [];
    host.onEvent((e) => events.push(e));
    await waitForLeader(host, peers, 15_000);
    await expect.poll(() => events.some((e) => e.type === 'crashed' && e.actor === 'etcd-2'), { timeout: 10_000 }).toBe(true);
    const crash = events.find((e) => e.type === 'crashed' && e.actor === 'etcd-2') as { reason: string };
    expect(crash.reason).toMatch(/key-value state in .*etcd-2\/mvcc holds entries up to index 3, but the raft log in .*etcd-2\/raft starts after index \d+/);
    expect(text((await hostClient(host, peers, 'r').get('/m/5'))?.value)).toBe('v59');
  });

  // Descriptors belong to the process; Node closes those a worker opened when it ends (its
  // trackUnmanagedFds option, on by default): a crashed peer's log does not leak its descriptor.
  it.skipIf(process.platform !== 'linux')('a peer restarted on a new worker after crashes holds one descriptor of its log, not one per crash', async () => {
    const dir = newDir();
    const host = startStore(dir);
    await waitForLeader(host, peers, 15_000);
    const client = hostClient(host, peers, 'w1');
    const walDir = realpathSync(join(dir, 'etcd-2', 'raft', 'wal'));
    const open = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${walDir}/`);
        } catch {
          return false;
        }
      }).length;
    for (let round = 0; round < 4; round++) {
      await client.put('/fd', String(round));
      // The worker dies with no goodbye; the supervisor starts the peer on a fresh worker.
      host.crash('etcd-2');
      const restarted = async () => (await host.metrics('etcd-2').catch(() => ({ restarts: -1 }))).restarts > round && 'role' in (await peerStatuses(host, ['etcd-2']))[0]!;
      await expect.poll(restarted, { timeout: 10_000 }).toBe(true);
    }
    expect(open()).toBe(1);
  });

  it('refuses a data directory that belongs to another cluster', async () => {
    const dir = newDir();
    let host = startStore(dir, 'cluster-a');
    await waitForLeader(host, peers, 15_000);
    await host.shutdown();
    host = startStore(dir, 'cluster-b', 0);
    const events: SupervisorEvent[] = [];
    host.onEvent((e) => events.push(e));
    await expect.poll(() => events.filter((e) => e.type === 'crashed').length, { timeout: 10_000 }).toBe(3);
    const reasons = events.filter((e) => e.type === 'crashed').map((e) => (e as { reason: string }).reason);
    for (const r of reasons) expect(r).toMatch(/belongs to member "etcd-\d" of cluster "cluster-a", not member "etcd-\d" of cluster "cluster-b"/);
  });
});
