import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from './harness.js';

let c: TestCluster;
type Reply = { ok: boolean; value?: any; code?: number; reason?: string; message?: string };
const probe = (msg: unknown) => c.host.ask<any>('probe', msg, { timeoutMs: 15_000 });
const call = (method: string, ...args: unknown[]) => probe({ cmd: 'call', method, args }) as Promise<Reply>;

beforeAll(async () => {
  c = await startCluster();
  c.host.supervise({ id: 'probes', children: [{ id: 'probe', role: 'probe', module: 'actors/api-probe.js' }] });
});

afterAll(async () => {
  await c?.stop();
});

describe('the in-cluster API client (actor messages to the API server)', () => {
  it('creates, reads, lists, patches and deletes, with Kubernetes errors as typed Status codes', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default', labels: { app: 'a' } }, data: { k: 'v' } };
    const created = await call('create', 'configmaps', 'default', cm);
    expect(created.ok).toBe(true);
    expect(created.value.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    const got = await call('get', 'configmaps', 'default', 'cfg');
    expect(got.value.data).toEqual({ k: 'v' });
    const listed = await call('list', 'configmaps', 'default', { labelSelector: 'app=a' });
    expect(listed.value.items.map((o: any) => o.metadata.name)).toEqual(['cfg']);
    const patched = await call('patch', 'configmaps', 'default', 'cfg', { data: { k: 'w' } });
    expect(patched.value.data.k).toBe('w');
    // A stale update is a 409 Conflict; a second create is 409 AlreadyExists; a bad name is 422.
    const stale = await call('update', 'configmaps', 'default', { ...cm, metadata: { ...cm.metadata, resourceVersion: created.value.metadata.resourceVersion } });
    expect(stale).toMatchObject({ ok: false, code: 409, reason: 'Conflict' });
    expect(await call('create', 'configmaps', 'default', cm)).toMatchObject({ ok: false, code: 409, reason: 'AlreadyExists' });
    expect(await call('create', 'configmaps', 'default', { ...cm, metadata: { name: 'Bad_Name' } })).toMatchObject({ ok: false, code: 422 });
    expect((await call('delete', 'configmaps', 'default', 'cfg')).ok).toBe(true);
    expect(await call('get', 'configmaps', 'default', 'cfg')).toMatchObject({ ok: false, code: 404, reason: 'NotFound' });
    expect(await call('get', 'nosuchthings', 'default', 'x')).toMatchObject({ ok: false, code: 404 });
  });

  it('pushes watch events to the watching actor, and closes the watch when the API server restarts', async () => {
    const list = await call('list', 'secrets', 'default');
    expect(await probe({ cmd: 'watch', resource: 'secrets', namespace: 'default', resourceVersion: list.value.metadata.resourceVersion })).toMatchObject({ ok: true });
    for (const name of ['s1', 's2']) await call('create', 'secrets', 'default', { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { a: 'b' } });
    await call('delete', 'secrets', 'default', 's1');
    await expect.poll(async () => (await probe({ cmd: 'seen' })).seen.map((e: any) => `${e.type} ${e.name}`), { timeout: 5_000 }).toEqual(['ADDED s1', 'ADDED s2', 'DELETED s1']);
    c.host.restart('apiserver');
    await expect.poll(async () => (await probe({ cmd: 'seen' })).closes, { timeout: 15_000 }).toBe(1);
  });
});
