import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimHost } from '../../runtime/sim.js';
import { StoreError, type StoreClient } from '../../raft/client.js';
import { hostClient, peerSpecs, superviseStore, waitForLeader } from '../../cli/store-cluster.js';

const peers = ['etcd-1', 'etcd-2', 'etcd-3'];
let sim: SimHost;
let client: StoreClient;

beforeAll(async () => {
  sim = new SimHost({ seed: 11 });
  const specs = peerSpecs('c1', peers);
  await sim.load(specs);
  superviseStore(sim, specs);
  await waitForLeader(sim, peers, 5_000);
  client = hostClient(sim, peers, 'requests');
});

afterAll(async () => {
  await sim.shutdown();
});

async function storeError(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return err as StoreError;
  }
  throw new Error('expected a StoreError');
}

describe('bad requests to the store get typed errors and change nothing', () => {
  it('refuses a request over 1.5 MiB', async () => {
    const err = await storeError(client.put('/big', new Uint8Array(1.6 * 1024 * 1024)));
    expect(err.code).toBe('RequestTooLarge');
    expect(await client.get('/big')).toBeNull();
  });

  it('refuses a transaction over 128 operations', async () => {
    const success = Array.from({ length: 129 }, (_, i) => ({ type: 'put' as const, key: `/t/${i}`, value: new Uint8Array([1]) }));
    const err = await storeError(client.txn({ compare: [], success, failure: [] }));
    expect(err.code).toBe('TooManyOps');
    expect(((await client.prefix('/t/')) as { kvs: unknown[] }).kvs).toHaveLength(0);
  });

  it('refuses a read at a compacted revision and a lease that does not exist', async () => {
    await client.put('/r', 'a');
    const r2 = (await client.put('/r', 'b')) as { revision: number };
    await client.put('/r', 'c');
    await client.compact(r2.revision);
    expect((await storeError(client.range('/r', { revision: r2.revision - 1 }))).code).toBe('Compacted');
    expect((await storeError(client.leaseRevoke(424242))).code).toBe('LeaseNotFound');
    expect((await storeError(client.put('/leased', 'x', { lease: 424242 }))).code).toBe('LeaseNotFound');
  });

  it('answers an unknown operation with a clear error and keeps running', async () => {
    const reply = (await sim.ask('etcd-1', { op: 'frobnicate' })) as { ok: boolean; error: string; reason: string };
    expect(reply).toMatchObject({ ok: false, error: 'BadRequest' });
    expect(reply.reason).toContain('frobnicate');
    const proposal = { client: 'x', seq: 1, cmd: { type: 'explode', key: '/k' } };
    const leader = await waitForLeader(sim, peers, 5_000);
    const bad = (await sim.ask(leader, { op: 'propose', proposal })) as { ok: boolean; error: string; detail: { code: string } };
    expect(bad.ok).toBe(false);
    expect(bad.detail.code).toBe('UnknownOperation');
    await client.put('/still', 'alive');
    expect(Buffer.from((await client.get('/still'))!.value).toString()).toBe('alive');
  });

  it('expires a lease on the leader and deletes its keys', async () => {
    const grant = (await client.leaseGrant(2)) as { id: number };
    await client.put('/session', 'me', { lease: grant.id });
    expect(await client.get('/session')).not.toBeNull();
    await sim.sleep(4_000);
    expect(await client.get('/session')).toBeNull();
  });
});

describe('proposals that reach the leader together', () => {
  it('share one log entry, and each client gets its own answer', async () => {
    const leader = await waitForLeader(sim, peers, 5_000);
    const statusOf = async () => (await sim.ask(leader, { op: 'status' })) as { commit: number; work: { writesApplied: number } };
    const commitOf = async () => (await statusOf()).commit;
    const writesBefore = (await statusOf()).work.writesApplied;
    const before = await commitOf();
    const writes = 40;
    // Forty proposals sent in one go arrive at the leader in one turn.
    const replies = (await Promise.all(
      Array.from({ length: writes }, (_, i) =>
        sim.ask(leader, { op: 'propose', proposal: { client: `batch-${i}`, seq: 1, cmd: { type: 'put', key: `/batch/${i}`, value: new Uint8Array([i]) } } }),
      ),
    )) as { ok: boolean; result: { revision: number } }[];
    expect(replies.every((r) => r.ok)).toBe(true);
    // One revision each, in the order they were sent.
    const revisions = replies.map((r) => r.result.revision);
    expect(revisions).toEqual(revisions.map((_, i) => revisions[0]! + i));
    expect((await commitOf()) - before).toBeLessThan(writes / 4);
    expect((await statusOf()).work.writesApplied - writesBefore).toBeGreaterThanOrEqual(writes);
    for (const i of [0, 17, 39]) expect([...(await client.get(`/batch/${i}`))!.value]).toEqual([i]);
  });
});
