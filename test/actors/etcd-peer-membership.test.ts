import { describe, expect, it } from 'vitest';
import { SimHost } from '../../runtime/sim.js';
import type { PeerStatus } from '../../raft/protocol.js';
import { hostClient, peerSpecs, peerStatuses, superviseStore, waitForLeader } from '../../cli/store-cluster.js';

describe('membership changes under load', () => {
  it('adds a learner that catches up by snapshot, promotes it, and removes a founding voter while clients write', async () => {
    const sim = new SimHost({ seed: 5 });
    const founders = ['etcd-1', 'etcd-2', 'etcd-3'];
    // Small compaction settings so the newcomer must be caught up with a snapshot.
    const specs = peerSpecs('c1', founders, { snapshotEveryEntries: 50, keepEntries: 10, snapshotChunkBytes: 512 });
    await sim.load(specs);
    superviseStore(sim, specs);
    await waitForLeader(sim, founders, 5_000);
    const client = hostClient(sim, [...founders, 'etcd-4'], 'admin');

    let writing = true;
    let acked = 0;
    const writer = (async () => {
      const w = hostClient(sim, [...founders, 'etcd-4'], 'writer');
      for (let i = 0; writing; i++) {
        await w.put(`/load/${i % 20}`, `v${i}`);
        acked = i + 1;
      }
    })();
    await sim.sleep(300);

    const [newcomer] = peerSpecs('c1', founders, { snapshotEveryEntries: 50, keepEntries: 10, snapshotChunkBytes: 512 }).map((s) => ({ ...s, id: 'etcd-4' }));
    superviseStore(sim, [newcomer!]);
    await client.memberChange('addLearner', 'etcd-4');
    await sim.runUntil(() => false, 1_000);
    const learner = (await sim.ask('etcd-4', { op: 'status' })) as PeerStatus;
    expect(learner.learners).toContain('etcd-4');
    expect(learner.applied).toBeGreaterThan(50);
    expect(learner.snapshotsInstalled).toBeGreaterThanOrEqual(1);

    await client.memberChange('add', 'etcd-4');
    await client.memberChange('remove', 'etcd-1');
    await sim.sleep(1_000);
    writing = false;
    await writer;
    expect(acked).toBeGreaterThan(100);

    const members = ['etcd-2', 'etcd-3', 'etcd-4'];
    const leader = await waitForLeader(sim, members, 5_000);
    const st = (await sim.ask(leader, { op: 'status' })) as PeerStatus;
    expect([...st.voters].sort()).toEqual(members);
    // Every remaining member applied the same entries and holds the last write.
    await sim.sleep(500);
    const statuses = (await peerStatuses(sim, members)) as PeerStatus[];
    expect(new Set(statuses.map((s) => s.applied)).size).toBe(1);
    const last = await hostClient(sim, members, 'reader').get(`/load/${(acked - 1) % 20}`);
    expect(Buffer.from(last!.value).toString()).toBe(`v${acked - 1}`);
    await sim.shutdown();
  });

  it('a joiner that replays the log from the start counts the founding quorum, never itself alone', async () => {
    const sim = new SimHost({ seed: 9 });
    const founders = ['etcd-1', 'etcd-2', 'etcd-3'];
    const specs = peerSpecs('c1', founders);
    await sim.load(specs);
    superviseStore(sim, specs);
    await waitForLeader(sim, founders, 5_000);
    const client = hostClient(sim, founders, 'admin');
    for (let i = 0; i < 20; i++) await client.put(`/k/${i}`, 'x');
    const [joiner] = peerSpecs('c1', founders).map((s) => ({ ...s, id: 'etcd-4' }));
    superviseStore(sim, [joiner!]);
    await client.memberChange('addLearner', 'etcd-4');
    await sim.sleep(1_000);
    const st = (await sim.ask('etcd-4', { op: 'status' })) as PeerStatus;
    expect(st.snapshotsInstalled).toBe(0);
    expect([...st.voters].sort()).toEqual(founders);
    expect(st.learners).toEqual(['etcd-4']);
    expect(st.role).toBe('follower');
    // Isolated, the learner must never make itself leader.
    sim.faults.isolate('etcd-4', [...founders, 'etcd-4']);
    await sim.sleep(3_000);
    expect(((await sim.ask('etcd-4', { op: 'status' })) as PeerStatus).role).not.toBe('leader');
    await sim.shutdown();
  });
});
