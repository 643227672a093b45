import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { afterAll, describe, expect, it } from 'vitest';
import { fnv1a } from '../../runtime/rng.js';
import { Packr } from 'msgpackr';
import { LmdbStore, MemoryStore } from '../../runtime/store.js';
import { STORE_DICTIONARY } from '../../runtime/store-dictionary.js';

const root = mkdtempSync(join(tmpdir(), 'store-'));
let dirs = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A pod as the API server stores it (JSON bytes inside a record), different from the dictionary's. */
function podRecord(i: number): { key: string; value: Uint8Array; modRevision: number } {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `api-7d9f-${i}`, namespace: 'shop', labels: { app: 'api', tier: 'backend' }, uid: `0000-${i}`, creationTimestamp: '2027-03-04T05:06:07Z' },
    spec: {
      containers: [{ name: 'api', image: 'registry.example/api:2.1', ports: [{ containerPort: 8080 }], resources: { requests: { cpu: '250m', memory: '128Mi' } } }],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      nodeName: `node-${i % 7}`,
    },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: '2027-03-04T05:06:09Z' }], podIP: `10.244.3.${i % 250}` },
  };
  return { key: `/registry/core/pods/shop/api-7d9f-${i}`, value: new TextEncoder().encode(JSON.stringify(pod)), modRevision: i };
}

/** Binary values come back as Buffers: compare bytes, not classes. */
function norm(r: any): unknown {
  return r && { ...r, value: Buffer.from(r.value) };
}

function rawSizes(dir: string, table: string): number[] {
  const env = openLmdb({ path: dir, readOnly: true, cache: false, maxDbs: 32 });
  try {
    const raw = env.openDB({ name: table, encoding: 'binary', cache: false });
    return [...raw.getRange({})].map(({ value }) => (value as Uint8Array).length);
  } finally {
    void env.close();
  }
}

describe('LmdbStore', () => {
  it('keeps the compression dictionary byte for byte (values on disk need exactly these bytes)', () => {
    expect(STORE_DICTIONARY.length).toBe(5_655);
    expect(fnv1a(0x811c9dc5, STORE_DICTIONARY).toString(16)).toBe('96dc492');
  });

  it('compresses large values with the dictionary and reads them back; small ones stay as they are', async () => {
    const dir = join(root, `s${dirs++}`);
    const s = LmdbStore.open(dir);
    const kv = s.table('kv');
    s.write(() => {
      for (let i = 0; i < 100; i++) kv.put([i, 0], podRecord(i));
      kv.put([1000, 0], { key: 'small', value: new Uint8Array([1, 2, 3]) });
    });
    for (let i = 0; i < 100; i += 17) expect(norm(kv.get([i, 0]))).toEqual(norm(podRecord(i)));
    expect(norm(kv.get([1000, 0]))).toEqual(norm({ key: 'small', value: new Uint8Array([1, 2, 3]) }));
    await s.close();
    const sizes = rawSizes(dir, 'kv');
    const plain = podRecord(0).value.length;
    // A JSON pod of ~650 bytes unlike the dictionary's is stored in about half of that.
    expect(sizes.slice(0, 100).every((n) => n < plain * 0.6)).toBe(true);
    // Reopened, everything reads back.
    const again = LmdbStore.open(dir);
    expect([...again.table('kv').range({})].length).toBe(101);
    expect(norm(again.table('kv').get([99, 0]))).toEqual(norm(podRecord(99)));
    await again.close();
  });

  it('reads values written before compression was on', async () => {
    const dir = join(root, `s${dirs++}`);
    const env = openLmdb({ path: dir, compression: false, cache: false, maxDbs: 32 });
    const old = env.openDB({ name: 'kv', compression: false, cache: false });
    old.putSync([1, 0], podRecord(1));
    await env.close();
    const s = LmdbStore.open(dir);
    expect(norm(s.table('kv').get([1, 0]))).toEqual(norm(podRecord(1)));
    s.write(() => s.table('kv').put([2, 0], podRecord(2)));
    expect([...s.table('kv').range({})].map((e) => norm(e.value))).toEqual([norm(podRecord(1)), norm(podRecord(2))]);
    await s.close();
  });

  it('a table opened without compression reads what was compressed and writes plainly from then on', async () => {
    const dir = join(root, `s${dirs++}`);
    const s = LmdbStore.open(dir);
    s.write(() => s.table('meta').put('a', podRecord(1)));
    await s.close();
    const compressed = rawSizes(dir, 'meta')[0]!;
    const again = LmdbStore.open(dir);
    const meta = again.table('meta', { compress: false });
    expect(norm(meta.get('a'))).toEqual(norm(podRecord(1)));
    again.write(() => meta.put('b', podRecord(1)));
    expect(norm(meta.get('b'))).toEqual(norm(podRecord(1)));
    await again.close();
    const [a, b] = rawSizes(dir, 'meta');
    expect(a).toBe(compressed);
    expect(b!).toBeGreaterThan(podRecord(1).value.length);
    expect(compressed).toBeLessThan(b! * 0.7);
  });

  it('putEncoded stores a value given as its msgpack bytes (appending when told it is last), in lmdb and in the memory twin', async () => {
    const dir = join(root, `s${dirs++}`);
    const stores = [LmdbStore.open(dir), new MemoryStore()];
    for (const s of stores) {
      const t = s.table('kv');
      const scratch = new Packr({ useRecords: false }).pack(['/k', new Uint8Array([7, 8]), 3]);
      s.write(() => t.putEncoded([5, 0], scratch));
      scratch.fill(0); // the store kept no reference to the caller's bytes
      const got = t.get([5, 0]) as unknown[];
      expect([got[0], [...(got[1] as Uint8Array)], got[2]]).toEqual(['/k', [7, 8], 3]);
      // `last` is a hint: keys after the last one append, and one that is not last still goes in.
      const enc = (n: number) => new Packr({ useRecords: false }).pack(n);
      s.write(() => {
        t.putEncoded([9, 0], enc(9), true);
        t.putEncoded([7, 0], enc(7), true);
        t.putEncoded([9, 1], enc(91), true);
      });
      expect([...t.range()].map((e) => [e.key, e.value])).toEqual([
        [[5, 0], got],
        [[7, 0], 7],
        [[9, 0], 9],
        [[9, 1], 91],
      ]);
    }
    await stores[0]!.close();
  });
});
