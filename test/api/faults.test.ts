// The API server over a 3-peer store under faults: its store watch survives the crash of the
// peer that holds it, and a crashed API server comes back with its data and credentials.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServerInfo } from '../../actors/apiserver.js';
import { call, openWatch, startCluster, until, type TestCluster } from './harness.js';

let c: TestCluster;

beforeAll(async () => {
  c = await startCluster({ peers: 3, api: { watchSilenceMs: 2_000 } });
});

afterAll(async () => {
  await c?.stop();
});

const CMS = '/api/v1/namespaces/default/configmaps';

describe('API server under store faults', () => {
  it('keeps watches flowing when the peer holding the store watch crashes', async () => {
    const status = (await c.host.status('apiserver')) as { storeWatchPeer: string };
    const holder = status.storeWatchPeer;
    expect(c.peers).toContain(holder);
    const rv = (await call(c, 'GET', CMS)).json().metadata.resourceVersion;
    const w = openWatch(c, `${CMS}?watch=true&resourceVersion=${rv}`);
    await until(() => w.status === 200, 5_000, 'watch to open');
    c.host.crash(holder, { restart: 'manual' });
    // Writes go on through the surviving majority; the watch follows them.
    await until(async () => (await call(c, 'POST', CMS, { metadata: { name: 'after-crash' } })).status === 201, 15_000, 'a write after the crash');
    await until(() => w.events.some((e) => e.type === 'ADDED' && e.object.metadata.name === 'after-crash'), 15_000, 'the event after the crash');
    const now = (await c.host.status('apiserver')) as { storeWatchPeer: string };
    expect(now.storeWatchPeer).not.toBe(holder);
    c.host.restart(holder);
    w.stop();
  });

  it('a crashed API server restarts with its objects and credentials', async () => {
    await call(c, 'POST', CMS, { metadata: { name: 'durable' }, data: { k: 'v' } });
    c.host.crash('apiserver');
    const info = await until(async () => {
      try {
        return (await c.host.ask('apiserver', { op: 'info' }, { timeoutMs: 2_000 })) as ApiServerInfo;
      } catch {
        return null;
      }
    }, 20_000, 'the API server to come back');
    c.info = info!;
    const r = await call(c, 'GET', `${CMS}/durable`);
    expect(r.status).toBe(200);
    expect(r.json().data).toEqual({ k: 'v' });
  });
});
