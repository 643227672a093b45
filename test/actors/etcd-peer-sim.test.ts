import { describe, expect, it } from 'vitest';
import { SimHost } from '../../runtime/sim.js';
import { peerSpecs, waitForLeader, hostClient, peerStatuses } from '../../cli/store-cluster.js';

describe('store peers on SimHost', () => {
  it('elects a leader, replicates writes, and serves linearizable reads', async () => {
    const sim = new SimHost({ seed: 7 });
    const peers = ['etcd-1', 'etcd-2', 'etcd-3'];
    const specs = peerSpecs('c1', peers);
    await sim.load(specs);
    sim.supervise({ id: 'store', children: specs });
    const leader = await waitForLeader(sim, peers, 5_000);
    const client = hostClient(sim, peers, 'test');
    await client.put('/a', 'one');
    await client.put('/b', 'two');
    const kv = await client.get('/a');
    expect(Buffer.from(kv!.value).toString()).toBe('one');
    // Every peer applies the same state.
    await sim.sleep(200);
    const st = await peerStatuses(sim, peers);
    const applied = st.map((s) => ('applied' in s ? s.applied : -1));
    expect(new Set(applied).size).toBe(1);
    // Crash the leader: another one takes over and the data is still there.
    sim.crash(leader, { restart: 'manual' });
    const next = await waitForLeader(sim, peers.filter((p) => p !== leader), 5_000);
    expect(next).not.toBe(leader);
    expect(Buffer.from((await client.get('/b'))!.value).toString()).toBe('two');
    sim.restart(leader);
    await client.put('/c', 'three');
    await sim.sleep(500);
    const again = await peerStatuses(sim, [leader]);
    expect('applied' in again[0]! && again[0].applied).toBeGreaterThan(0);
    await sim.shutdown();
  });
});
