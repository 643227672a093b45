// The classic Raft scenarios (reference: raft-and-faults.md) that the core suites do not cover
// at the level of the real store peer actor: durable state across full restarts, churn while
// clients write, a partitioned leader rejoining, snapshots for lagging and restarted peers, and
// an unreliable network. All on SimHost, so each one replays from its seed.
import { describe, expect, it } from 'vitest';
import { SimHost } from '../../runtime/sim.js';
import { MemoryStore } from '../../runtime/store.js';
import type { PeerArgs } from '../../actors/etcd-peer.js';
import { StoreClient, StoreError } from '../../raft/client.js';
import type { PeerDigest, PeerStatus } from '../../raft/protocol.js';
import { peerSpecs, superviseStore, waitForLeader } from '../../cli/store-cluster.js';

const peers = ['etcd-1', 'etcd-2', 'etcd-3'];
const text = (v: Uint8Array | undefined) => Buffer.from(v ?? []).toString();

async function startStore(seed: number, extra: Partial<PeerArgs> = {}): Promise<SimHost> {
  const sim = new SimHost({ seed });
  const specs = peerSpecs('scenarios', peers, extra);
  await sim.load(specs);
  superviseStore(sim, specs, { maxRestarts: 100, periodMs: 1_000 });
  await waitForLeader(sim, peers, 5_000);
  return sim;
}

function client(sim: SimHost, id: string, to: string[] = peers, deadlineMs = 3_000): StoreClient {
  return new StoreClient({
    ask: (t, msg, o) => sim.ask(t, msg, o),
    peers: to,
    clientId: id,
    now: () => sim.now(),
    sleep: (ms) => sim.sleep(ms),
    tryTimeoutMs: 300,
    deadlineMs,
  });
}

function status(sim: SimHost, id: string): Promise<PeerStatus> {
  return sim.ask<PeerStatus>(id, { op: 'status' }, { timeoutMs: 500 });
}

/** Waits until every peer applied the same index, then returns their digests. */
async function converged(sim: SimHost, members: string[] = peers): Promise<PeerDigest[]> {
  for (let i = 0; i < 200; i++) {
    const st = await Promise.all(members.map((id) => status(sim, id).catch(() => null)));
    const leader = st.find((s) => s?.role === 'leader');
    if (leader && st.every((s) => s && s.applied === leader.commit)) {
      return Promise.all(members.map((id) => sim.ask<PeerDigest>(id, { op: 'digest' })));
    }
    await sim.sleep(25);
  }
  throw new Error('peers did not converge');
}

function expectSameState(digests: PeerDigest[]): void {
  for (const d of digests) {
    expect({ id: d.id, applied: d.applied, kv: d.kvHash, state: d.stateHash }).toEqual({
      id: d.id,
      applied: digests[0]!.applied,
      kv: digests[0]!.kvHash,
      state: digests[0]!.stateHash,
    });
  }
}

async function leaderOf(sim: SimHost, members: string[] = peers): Promise<string> {
  return waitForLeader(sim, members, 5_000);
}

describe('classic Raft scenarios with the real peer actor', () => {
  it('state survives crashing and restarting every peer at once', async () => {
    const sim = await startStore(11);
    const c = client(sim, 'w');
    for (let i = 0; i < 40; i++) await c.put(`/k/${i % 10}`, `v${i}`);
    const before = await converged(sim);
    for (const p of peers) sim.crash(p, { restart: 'manual' });
    await sim.sleep(500);
    for (const p of peers) sim.restart(p);
    await leaderOf(sim);
    for (let i = 30; i < 40; i++) expect(text((await c.get(`/k/${i % 10}`))?.value)).toBe(`v${i}`);
    const after = await converged(sim);
    expectSameState(after);
    // Nothing applied before the crash was lost or changed: one more entry (the new leader's
    // no-op) at most, and the same key-values.
    expect(after[0]!.applied).toBeGreaterThan(before[0]!.applied);
    expect(after[0]!.kvHash).toBe(before[0]!.kvHash);
    await sim.shutdown();
  });

  it('no agreement without a majority; agreement again once it is back', async () => {
    const sim = await startStore(12);
    const c = client(sim, 'w', peers, 1_000);
    await c.put('/a', 'one');
    const leader = await leaderOf(sim);
    const others = peers.filter((p) => p !== leader);
    for (const p of others) sim.crash(p, { restart: 'manual' });
    const err = await c.put('/a', 'two').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(['Indeterminate', 'NoLeader', 'Timeout']).toContain((err as StoreError).code);
    for (const p of others) sim.restart(p);
    await leaderOf(sim);
    await client(sim, 'w2').put('/a', 'three');
    expect(text((await c.get('/a'))?.value)).toBe('three');
    expectSameState(await converged(sim));
    await sim.shutdown();
  });

  it('a partitioned leader rejoins: its uncommitted entries are overwritten, the majority’s stay', async () => {
    const sim = await startStore(13);
    const c = client(sim, 'w');
    await c.put('/x', 'before');
    const old = await leaderOf(sim);
    const majority = peers.filter((p) => p !== old);
    sim.faults.isolate(old, peers);
    // Writes that reach only the old leader cannot commit: their outcome is unknown.
    const stranded = client(sim, 'stranded', [old], 600);
    for (let i = 0; i < 3; i++) {
      const e = await stranded.put('/x', `stranded-${i}`).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(StoreError);
    }
    const oldLog = (await status(sim, old)).lastIndex;
    const fresh = await leaderOf(sim, majority);
    expect(fresh).not.toBe(old);
    const m = client(sim, 'm', majority);
    for (let i = 0; i < 5; i++) await m.put('/x', `majority-${i}`);
    sim.faults.heal();
    await sim.sleep(1_000);
    const st = await status(sim, old);
    expect(st.role).toBe('follower');
    expect(st.term).toBeGreaterThanOrEqual((await status(sim, fresh)).term);
    expect(oldLog).toBeGreaterThan(0);
    expect(text((await c.get('/x'))?.value)).toBe('majority-4');
    expectSameState(await converged(sim));
    // The stranded writes never became visible anywhere.
    const serial = await Promise.all(peers.map((p) => client(sim, `r-${p}`, [p]).range('/x', { serializable: true })));
    for (const r of serial) expect(text((r as { kvs: { value: Uint8Array }[] }).kvs[0]?.value)).toBe('majority-4');
    await sim.shutdown();
  });

  /**
   * A follower misses 150 writes while down, more than the compacted log keeps, and comes back:
   * it can only catch up by snapshot. Returns once every peer applied the same index.
   */
  async function lagPastCompaction(seed: number, extra: Partial<PeerArgs> = {}) {
    const sim = await startStore(seed, { snapshotEveryEntries: 20, keepEntries: 5, snapshotChunkBytes: 256, ...extra });
    const c = client(sim, 'w');
    const leader = await leaderOf(sim);
    const lagging = peers.find((p) => p !== leader)!;
    sim.crash(lagging, { restart: 'manual' });
    for (let i = 0; i < 150; i++) await c.put(`/s/${i % 15}`, `v${i}`);
    sim.restart(lagging);
    expectSameState(await converged(sim));
    const lastValue = async (key: string) =>
      text(await client(sim, 'r', [lagging]).range(key, { serializable: true }).then((r) => (r as { kvs: { value: Uint8Array }[] }).kvs[0]?.value));
    return { sim, c, lagging, lastValue };
  }

  it('a lagging follower catches up by snapshot once the log it missed was compacted', async () => {
    const { sim, lagging, lastValue } = await lagPastCompaction(14);
    expect((await status(sim, lagging)).snapshotsInstalled).toBeGreaterThanOrEqual(1);
    expect(await lastValue('/s/14')).toBe('v149');
    await sim.shutdown();
  });

  it('a peer that crashes between restoring a snapshot and resetting its log finishes the install on restart', async () => {
    // It crashes inside the install; the supervisor restarts it, and it must not need another.
    const { sim, c, lagging, lastValue } = await lagPastCompaction(16, { crashAt: 'snapshot-install' });
    expect((await sim.metrics(lagging)).restarts).toBeGreaterThanOrEqual(2);
    for (let i = 150; i < 160; i++) await c.put(`/s/${i % 15}`, `v${i}`);
    expectSameState(await converged(sim));
    expect(await lastValue('/s/9')).toBe('v159');
    await sim.shutdown();
  });

  it('the log drops entries only once the state machine holding their effect is on disk', async () => {
    // The state machine's store skips fsync; hold every flush of it until the test lets go.
    const flush = MemoryStore.prototype.flush;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    MemoryStore.prototype.flush = () => gate;
    try {
      const sim = await startStore(17, { snapshotEveryEntries: 20, keepEntries: 5 });
      const c = client(sim, 'w');
      for (let i = 0; i < 60; i++) await c.put(`/c/${i % 6}`, `v${i}`);
      for (const p of peers) expect((await status(sim, p)).compactedAt).toBe(0);
      release();
      await sim.sleep(50);
      for (const p of peers) expect((await status(sim, p)).compactedAt).toBeGreaterThan(0);
      await sim.shutdown();
    } finally {
      MemoryStore.prototype.flush = flush;
    }
  });

  it('a partitioned follower catches up by snapshot too, and restarts after snapshots lose or reorder nothing', async () => {
    const sim = await startStore(15, { snapshotEveryEntries: 20, keepEntries: 5 });
    const c = client(sim, 'w');
    const leader = await leaderOf(sim);
    const cut = peers.find((p) => p !== leader)!;
    sim.faults.isolate(cut, peers);
    for (let i = 0; i < 120; i++) await c.put(`/p/${i % 12}`, `v${i}`);
    sim.faults.heal();
    const first = await converged(sim);
    expectSameState(first);
    expect((await status(sim, cut)).snapshotsInstalled).toBeGreaterThanOrEqual(1);
    // Restart every peer: each recovers from its compacted log and its state machine alone.
    for (const p of peers) sim.restart(p);
    await leaderOf(sim);
    for (let i = 120; i < 140; i++) await c.put(`/p/${i % 12}`, `v${i}`);
    const second = await converged(sim);
    expectSameState(second);
    expect(second[0]!.applied).toBeGreaterThan(first[0]!.applied);
    for (let k = 0; k < 12; k++) {
      const last = Math.max(...Array.from({ length: 140 }, (_, i) => i).filter((i) => i % 12 === k));
      expect(text((await c.get(`/p/${k}`))?.value)).toBe(`v${last}`);
    }
    await sim.shutdown();
  });

  it('churn: peers crash and restart while clients write; every acknowledged write survives', async () => {
    const sim = await startStore(16, { snapshotEveryEntries: 50, keepEntries: 10 });
    const rng = sim.prng;
    let writing = true;
    const acked = new Map<string, string>();
    const writers = [0, 1, 2].map(async (w) => {
      const c = client(sim, `churn-${w}`, peers, 1_000);
      for (let i = 0; writing; i++) {
        const key = `/c/${w}`;
        try {
          await c.put(key, `w${w}-${i}`);
          acked.set(key, `w${w}-${i}`);
        } catch {
          /* unknown outcome: the next acknowledged write supersedes it */
        }
      }
    });
    for (let round = 0; round < 12; round++) {
      const victim = rng.pick(peers);
      sim.crash(victim, { restart: 'manual' });
      await sim.sleep(50 + rng.next() * 300);
      sim.restart(victim);
      await sim.sleep(50 + rng.next() * 200);
    }
    writing = false;
    await Promise.all(writers);
    await leaderOf(sim);
    const reader = client(sim, 'reader');
    for (const [key, value] of acked) {
      const got = text((await reader.get(key))?.value);
      // The last acknowledged write, or a later write whose outcome was unknown.
      const [w, i] = value.slice(1).split('-').map(Number);
      const [gw, gi] = got.slice(1).split('-').map(Number);
      expect(gw).toBe(w);
      expect(gi).toBeGreaterThanOrEqual(i!);
    }
    expect(acked.size).toBe(3);
    expectSameState(await converged(sim));
    await sim.shutdown();
  });

  it('agreement over an unreliable network: loss, duplication, delay and long reordering', async () => {
    const sim = await startStore(17);
    for (const a of peers) {
      for (const b of peers) if (a !== b) sim.faults.link(a, b, { drop: 0.2, duplicate: 0.2, delayMs: [0, 20], reorder: 0.3, reorderWindowMs: 50 });
    }
    const c = client(sim, 'w', peers, 5_000);
    for (let i = 0; i < 60; i++) await c.put(`/u/${i % 6}`, `v${i}`);
    for (let k = 0; k < 6; k++) expect(text((await c.get(`/u/${k}`))?.value)).toBe(`v${54 + k}`);
    sim.faults.heal();
    expectSameState(await converged(sim));
    await sim.shutdown();
  });
});
