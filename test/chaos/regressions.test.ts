// Bugs the fault campaigns found in the store, each pinned by a direct test and by the seed
// that first showed it (the seeds fail if the fix is reverted).
import { describe, expect, it } from 'vitest';
import { runOne } from '../../cli/chaos/campaign.js';
import { failureDetail } from '../../cli/chaos/report.js';
import { DEFAULT_OPTIONS, type CampaignOptions } from '../../cli/chaos/types.js';
import { MemoryStore } from '../../runtime/store.js';
import { SimHost } from '../../runtime/sim.js';
import { MvccStore } from '../../raft/mvcc/store.js';
import { encodeProposal, encodeProposalBatch, type Command, type TxnResponse } from '../../raft/mvcc/commands.js';
import type { PeerReply } from '../../raft/protocol.js';
import { hostClient, peerSpecs, superviseStore, waitForLeader } from '../../cli/store-cluster.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('found by the campaigns', () => {
  it('a cas whose compare failed is not run again when its proposal is applied twice', () => {
    // A duplicated request put the same (client, seq) in the log twice. The first run of the
    // txn failed its compare and answered "failed"; the key was then deleted, and the second
    // copy ran again, succeeded and wrote: the client was told one thing and the store did
    // another (seed 11, 5 peers, kill+lossy).
    const store = MvccStore.open(new MemoryStore());
    const apply = (index: number, client: string, seq: number, cmd: Command) => {
      const data = encodeProposal({ client, seq, cmd });
      if (!(data instanceof Uint8Array)) throw new Error('encode');
      return store.applyEntries([{ index, data: encodeProposalBatch([data]) }])[0]!;
    };
    apply(1, 'w', 1, { type: 'put', key: 'k', value: bytes('old') });
    const cas: Command = {
      type: 'txn',
      compare: [{ key: 'k', target: 'version', result: '=', operand: 0 }],
      success: [{ type: 'put', key: 'k', value: bytes('new') }],
      failure: [],
    };
    const first = apply(2, 'c', 1, cas);
    expect((first.response as TxnResponse).succeeded).toBe(false);
    apply(3, 'd', 1, { type: 'deleteRange', key: 'k' });
    const again = apply(4, 'c', 1, cas);
    expect(again.duplicate).toBe(true);
    expect((again.response as TxnResponse).succeeded).toBe(false);
    expect(store.get('k')).toBeUndefined();
  });

  it('a write pending on a leader that loses leadership is answered "outcome unknown", not NotLeader', async () => {
    // NotLeader let the client report a definite failure for a write already in the log, which
    // a later leader then committed (seed 1057).
    const sim = new SimHost({ seed: 3 });
    const peers = ['etcd-1', 'etcd-2', 'etcd-3'];
    const specs = peerSpecs('r', peers);
    await sim.load(specs);
    superviseStore(sim, specs);
    const leader = await waitForLeader(sim, peers, 5_000);
    await hostClient(sim, peers, 'warm').put('/w', 'x');
    // Cut the leader off from its followers (not from the client): the proposal cannot commit,
    // and the leader steps down once it misses a quorum.
    for (const p of peers) if (p !== leader) sim.faults.partition([[leader], [p]]);
    const reply = await sim.ask<PeerReply>(leader, { op: 'propose', proposal: { client: 'c', seq: 1, cmd: { type: 'put', key: '/k', value: bytes('v') } } }, { timeoutMs: 5_000 });
    expect(reply.ok).toBe(false);
    expect(!reply.ok && reply.error).toBe('Unavailable');
    await sim.shutdown();
  });

  const seeds: { name: string; options: Partial<CampaignOptions> }[] = [
    { name: 'seed 11: a duplicated cas applied twice', options: { seed: 11, durationMs: 3_000, nemeses: ['kill', 'lossy'], peers: 5 } },
    { name: 'seed 1057: a pending write answered NotLeader, then committed', options: { seed: 1057, durationMs: 5_000, nemeses: ['kill', 'pause', 'partition', 'lossy', 'member'] } },
    // A lost snapshot chunk or ack kept a follower behind for the 30 s ack timeout.
    { name: 'seed 9131: a lost snapshot left a follower behind', options: { seed: 9131, durationMs: 5_000, nemeses: ['kill', 'pause', 'partition', 'lossy', 'member'], peerArgs: { snapshotEveryEntries: 40, keepEntries: 20 } } },
    { name: 'seed 9212: the same, with a watch resumed on the lagging follower', options: { seed: 9212, durationMs: 5_000, nemeses: ['kill', 'pause', 'partition', 'lossy', 'member'], peerArgs: { snapshotEveryEntries: 40, keepEntries: 20 } } },
    // The checker's fault: a promotion whose outcome the nemesis never learned had committed,
    // and the new member led; convergence looked for a leader among the founders only.
    { name: 'seed 7579: the leader is a member the nemesis did not know it had promoted', options: { seed: 7579, durationMs: 4_000, nemeses: ['kill', 'pause', 'partition', 'lossy', 'member', 'election'] } },
  ];
  for (const s of seeds) {
    it(`replays clean: ${s.name}`, async () => {
      const options: CampaignOptions = { ...DEFAULT_OPTIONS, runs: 1, ...s.options };
      const r = await runOne(options, 0);
      expect(r.violations.length === 0 ? '' : failureDetail(r, options)).toBe('');
    });
  }
});
